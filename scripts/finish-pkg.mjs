// Turns what wasm-pack generated in pkg/ into the published npm package:
//   - entry modules that instantiate the wasm before their import resolves and re-export the
//     whole wasm-bindgen glue (`index.js`, and `debug.js` for the wasm that keeps its names
//     section), each with a Node variant that instantiates synchronously from the file;
//   - their typings, which re-export the glue's;
//   - package.json as published: exports, module, main/types, sideEffects, keywords, files;
//   - the license files and the changelog.
//   node scripts/finish-pkg.mjs OUT_DIR OUT_NAME
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const [outDir, name] = process.argv.slice(2);
if (!outDir || !name) {
  console.error("usage: node scripts/finish-pkg.mjs OUT_DIR OUT_NAME");
  process.exit(2);
}
const out = path.resolve(root, outDir);
const glue = `./${name}.js`;
const wasm = { release: `./${name}_bg.wasm`, debug: `./${name}_bg.debug.wasm` };
const extra = ["LICENSE-MIT", "LICENSE-APACHE", "CHANGELOG.md"];
// Plain JavaScript parts of the API: ERROR_CODES, createConsoleLogger, noopLogger,
// isBrowserSupported (extras, which needs no wasm), and readMarker's frame reading (marker,
// over the glue).
const extras = ["extras.js", "extras.d.ts", "marker.js", "marker.d.ts"];

// The URL is written as a literal `new URL("./…", import.meta.url)` so that bundlers see the
// wasm file and emit it with the bundle.
const browserEntry = (file, what) => `// ${what}: the wasm is instantiated before this module's import resolves, so the
// exports below are usable on the next line; init() and initSync() stay exported and do
// nothing more. Everything else is the wasm-bindgen glue, re-exported as it is.
import init from "${glue}";

await init({ module_or_path: new URL("${file}", import.meta.url) });

export * from "${glue}";
export * from "./extras.js";
export * from "./marker.js";
export { default } from "${glue}";
`;

// Node (SSR, tests, scripts): Node's fetch cannot read file: URLs, so read the file and
// instantiate synchronously.
const nodeEntry = (file, what) => `// ${what}, for Node: the wasm is read from the package and instantiated synchronously
// on import; init() and initSync() stay exported and do nothing more. Everything else is
// the wasm-bindgen glue, re-exported as it is.
import { readFileSync } from "node:fs";
import { initSync } from "${glue}";

initSync({ module: readFileSync(new URL("${file}", import.meta.url)) });

export * from "${glue}";
export * from "./extras.js";
export * from "./marker.js";
export { default } from "${glue}";
`;

const typings = `// The package's entry re-exports the wasm-bindgen glue's API and its types.
export * from "${glue}";
export * from "./extras.js";
export * from "./marker.js";
export { default } from "${glue}";
`;

const entries = {
  "index.js": browserEntry(wasm.release, "Entry of the package"),
  "index.node.js": nodeEntry(wasm.release, "Entry of the package"),
  "debug.js": browserEntry(wasm.debug, "Debug entry (the wasm keeps Rust function names for stack traces and profiles)"),
  "debug.node.js": nodeEntry(wasm.debug, "Debug entry (the wasm keeps Rust function names for stack traces and profiles)"),
  "index.d.ts": typings,
  "debug.d.ts": typings,
};
for (const [file, text] of Object.entries(entries)) writeFileSync(path.join(out, file), text);
for (const file of extra) copyFileSync(path.join(root, file), path.join(out, file));
for (const file of extras) copyFileSync(path.join(root, "js", file), path.join(out, file));

const pkgFile = path.join(out, "package.json");
const generated = JSON.parse(readFileSync(pkgFile, "utf8"));
const conditions = (entry) => ({
  types: `./${entry}.d.ts`,
  browser: `./${entry}.js`,
  node: `./${entry}.node.js`,
  default: `./${entry}.js`,
});
const files = [
  ...Object.keys(entries),
  `${name}.js`,
  `${name}.d.ts`,
  ...Object.values(wasm).map((w) => w.slice(2)),
  ...extras,
  ...extra,
  // The JS modules the glue imports (js/*.js that the wasm binds to).
  ...(existsSync(path.join(out, "snippets")) ? ["snippets/"] : []),
];
for (const file of files) {
  if (!existsSync(path.join(out, file))) throw new Error(`finish-pkg: ${file} is missing from ${outDir}`);
}

// Field order as a reader of the registry page expects it; nothing that is not real.
const pkg = {
  name: generated.name,
  version: generated.version,
  description: generated.description,
  keywords: ["webrtc", "realtime", "video", "video-ai", "streaming", "amazon-ivs", "wasm", "webassembly", "rust"],
  license: generated.license,
  type: "module",
  // The Node entry (server-side rendering, scripts) is tested on Node 20, the oldest
  // maintained release line.
  engines: { node: ">=20" },
  files,
  main: "./index.js",
  module: "./index.js",
  types: "./index.d.ts",
  exports: {
    ".": conditions("index"),
    "./debug": conditions("debug"),
    // isBrowserSupported() (and the other plain-JS parts) without instantiating the wasm.
    "./support": { types: "./extras.d.ts", default: "./extras.js" },
    [wasm.release]: wasm.release,
    [wasm.debug]: wasm.debug,
    "./package.json": "./package.json",
  },
  // Importing an entry instantiates the wasm; the glue itself only defines.
  sideEffects: Object.keys(entries).filter((f) => f.endsWith(".js")).map((f) => `./${f}`),
};
writeFileSync(pkgFile, `${JSON.stringify(pkg, null, 2)}\n`);
