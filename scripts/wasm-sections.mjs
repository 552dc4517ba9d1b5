// Prints each section of a wasm file with its size raw and alone through gzip -9 (what the
// size budget counts is the whole file through gzip -9; the sum here is close to it).
//   node scripts/wasm-sections.mjs FILE.wasm
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const file = process.argv[2];
if (!file) {
  console.error("usage: node scripts/wasm-sections.mjs FILE.wasm");
  process.exit(2);
}
const bytes = readFileSync(file);
const names = ["custom", "type", "import", "function", "table", "memory", "global", "export", "start", "elem", "code", "data", "datacount", "tag"];
const gz = (b) => gzipSync(b, { level: 9 }).length;
const row = (a, b, c) => console.log(`${String(a).padStart(10)} ${String(b).padStart(10)}  ${c}`);
row("bytes", "gzip -9", "section");
let at = 8;
while (at < bytes.length) {
  const id = bytes[at++];
  let size = 0;
  for (let shift = 0; ; shift += 7) {
    const b = bytes[at++];
    size += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  const body = bytes.subarray(at, at + size);
  row(size, gz(body), names[id] ?? `unknown (${id})`);
  at += size;
}
row(bytes.length, gz(bytes), "whole file");
