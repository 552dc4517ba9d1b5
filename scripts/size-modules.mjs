// Sums the wasm's items by where they come from: this crate's modules (two levels, e.g.
// `web::session`, `core::stats`), drop glue, the wasm-bindgen crates, the standard library
// and the rest, in bytes before compression. Code inlined into a function counts where it
// was inlined (the core's stats parser mostly shows as `web::stats`). Reads
// `twiggy top --format csv` on stdin.
//   twiggy top -n 100000 --format csv DEBUG.wasm | node scripts/size-modules.mjs [N]
import { readFileSync } from "node:fs";

const most = Number(process.argv[2] ?? 20);
const lines = readFileSync(0, "utf8").split("\n").slice(1);
const sums = new Map();
const add = (k, n) => sums.set(k, (sums.get(k) ?? 0) + n);

// A CSV row of twiggy's: Name,ShallowSize,ShallowSizePercent (the name may be quoted).
const parse = (line) => {
  const m = /^(?:"((?:[^"]|"")*)"|([^,]*)),(\d+),/.exec(line);
  return m ? [(m[1] ?? m[2]).replaceAll('""', '"'), Number(m[3])] : null;
};

for (const line of lines) {
  const row = parse(line);
  if (!row) continue;
  const [raw, size] = row;
  const name = raw.replace(/\[[0-9a-f]{16}\]/g, "");
  // The names subsections are not in the published wasm.
  if (/names?"? subsection$|^Σ|^\.\.\. and/.test(name)) continue;
  let key;
  if (/^data segment|^data\[/.test(name)) key = "data (strings, tables)";
  else if (name.includes("::drop_in_place")) key = "drop glue";
  else {
    const own = /realtime_video_sdk::((?:web|core)(?:::[a-z_0-9]+)?)/.exec(name);
    if (own && /^<?realtime_video_sdk::/.test(name)) key = own[1];
    else if (/^<?(wasm_bindgen|js_sys|web_sys|gloo_\w+|futures_\w+)/.test(name)) key = "wasm-bindgen, js-sys, web-sys, gloo, futures";
    else if (/^<?((core|alloc|std|talc)::|\[|&|(str|char|bool|[iuf](8|16|32|64|size))\b)|^mem(cpy|set|move|cmp)$/.test(name)) key = "standard library, allocator";
    else if (/shim|^__w|^__externref|^elem|^table|^import|^type|^export/.test(name)) key = "bindings: shims, imports, tables";
    else if (/^code\[/.test(name)) key = "unnamed code";
    else if (/^[a-z_0-9]+$|^__[A-Za-z]+$/i.test(name)) key = "exported functions";
    else if (own) key = own[1];
    else key = "other";
  }
  add(key, size);
}

const rows = [...sums].sort((a, b) => b[1] - a[1]);
const total = rows.reduce((s, [, n]) => s + n, 0);
for (const [k, n] of rows.slice(0, most)) {
  console.log(`${String(n).padStart(10)} ${((100 * n) / total).toFixed(1).padStart(5)} %  ${k}`);
}
if (rows.length > most) {
  const rest = rows.slice(most).reduce((s, [, n]) => s + n, 0);
  console.log(`${String(rest).padStart(10)} ${((100 * rest) / total).toFixed(1).padStart(5)} %  (${rows.length - most} more)`);
}
