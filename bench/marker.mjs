// Per-call cost of the package's `readMarker` and `stampMarker` in headless Chromium (Debian's,
// driven by playwright-core from .tools/), on a 1280×720 ImageData, as a page calls them
// once per video frame. Prints nanoseconds per call; a figure printer, not a test. For
// scale on a busy machine it also times, in the same page, a plain-JavaScript decoder of
// the same marker that reads the ImageData in place (what a JS SDK does).
//   node bench/marker.mjs            (scripts/bench-marker.sh runs it loopback-only)
// Environment: BENCH_PKG (pkg: the built package), CHROMIUM (/usr/bin/chromium).
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const pkg = path.resolve(root, process.env.BENCH_PKG ?? "pkg");
const { chromium } = createRequire(path.join(root, ".tools/node_modules/"))("playwright-core");

const types = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };
const page = `<!doctype html><meta charset="utf-8"><script type="module">
import { readMarker, stampMarker } from "/pkg/index.js";
const image = new ImageData(1280, 720);
for (let i = 0; i < image.data.length; i++) image.data[i] = (i * 7) % 251;
// ns per call: the median of 7 rounds, after a warm-up as long as a round (the wasm and
// the JS are optimised by then).
const time = (calls, f) => {
  const rounds = [];
  for (let r = -1; r < 7; r++) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) f(i);
    if (r >= 0) rounds.push(((performance.now() - t0) * 1e6) / calls);
  }
  return rounds.sort((a, b) => a - b)[3];
};
const calls = 300_000;
let sum = 0;
stampMarker(image, 4242);
const check = readMarker(image);
const read = time(calls, () => { sum += readMarker(image); });
const stamp = time(calls / 10, (i) => stampMarker(image, i & 0xffff));
const blank = new ImageData(1280, 720);
const none = time(calls, () => { sum += readMarker(blank); });
// The baseline: sync 1010, 16 bits, 4-bit XOR checksum per row, majority over synced rows.
const plain = (img) => {
  const { data, width: w, height: h } = img;
  if (!(w >= 24 && h >= 4 && data.length >= w * h * 4)) return -1;
  const ones = new Uint8Array(20);
  let rows = 0;
  for (let y = h - 4; y < h; y++) {
    let word = 0;
    for (let x = 0, p = y * w * 4; x < 24; x++, p += 4) word = (word << 1) | (data[p] >= 128 ? 1 : 0);
    if (word >>> 20 !== 0b1010) continue;
    rows++;
    for (let b = 0; b < 20; b++) if (word & (1 << (19 - b))) ones[b]++;
  }
  if (!rows) return -1;
  let payload = 0;
  for (let b = 0; b < 20; b++) {
    if (2 * ones[b] > rows) payload = (payload << 1) | 1;
    else if (2 * (rows - ones[b]) > rows) payload <<= 1;
    else return -2;
  }
  const seq = payload >>> 4;
  const sum = (seq >> 12 ^ seq >> 8 ^ seq >> 4 ^ seq) & 15;
  return sum === (payload & 15) ? seq : -2;
};
stampMarker(image, 4242);
if (plain(image) !== 4242) throw new Error("the baseline decoder is wrong");
const js = time(calls, () => { sum += plain(image); });
window.result = { check, read, stamp, none, js, sum };
</script>`;

const server = createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  try {
    if (url.pathname === "/") {
      res.writeHead(200, { "content-type": "text/html" }).end(page);
      return;
    }
    const file = path.join(pkg, path.normalize(url.pathname.replace(/^\/pkg\//, "")));
    if (!file.startsWith(pkg)) throw new Error("outside the package");
    const body = await readFile(file);
    res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" }).end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
});
try {
  const tab = await browser.newPage();
  const failed = new Promise((_, reject) => tab.on("pageerror", reject));
  await tab.goto(`http://127.0.0.1:${server.address().port}/`);
  const done = tab.waitForFunction(() => window.result, null, { timeout: 120_000 });
  const r = await (await Promise.race([done, failed])).jsonValue();
  if (r.check !== 4242) throw new Error(`readMarker read ${r.check} back for 4242`);
  console.log(`readMarker, marked 1280×720 frame:   ${r.read.toFixed(1)} ns/call`);
  console.log(`readMarker, unmarked 1280×720 frame: ${r.none.toFixed(1)} ns/call`);
  console.log(`stampMarker, 1280×720 frame:         ${r.stamp.toFixed(1)} ns/call`);
  console.log(`plain-JS decoder of the same marker (baseline, same page): ${r.js.toFixed(1)} ns/call`);
} finally {
  await browser.close();
  server.close();
}
