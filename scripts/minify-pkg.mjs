// Makes the package's download smaller without changing what it does:
//   - the wasm's imports from the JS glue get short names (wasm-bindgen names each one
//     `__wbg_<method>_<16 hex digits>` under the module `./<name>_bg.js`: thousands of
//     bytes that gzip cannot shrink, written once in the wasm and once in the glue);
//   - so do the wasm's exports to the glue (`wasm.<name>` in the glue: the bindings'
//     `<class>_<method>`, and closure shims named after their whole Rust signature), except
//     `memory`, which pages reach through init()'s return value; the typings that list the
//     exports (`InitOutput` in `<name>.d.ts`, and `<name>_bg.wasm.d.ts`) follow;
//   - the glue is minified with terser (the pinned version in .tools); class names stay;
//   - so are the package's own JS modules that the glue imports (snippets/, from js/), and
//     the wasm's imports from them get a short module name.
// The release and the debug wasm share the glue, so both get the same names (the debug
// wasm's names section still calls each function by its Rust name).
//   node scripts/minify-pkg.mjs OUT_DIR OUT_NAME
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const [outDir, name] = process.argv.slice(2);
if (!outDir || !name) {
  console.error("usage: node scripts/minify-pkg.mjs OUT_DIR OUT_NAME");
  process.exit(2);
}
const out = path.resolve(root, outDir);
const gluePath = path.join(out, `${name}.js`);
const wasmPaths = [`${name}_bg.wasm`, `${name}_bg.debug.wasm`].map((f) => path.join(out, f));
const glueModule = `./${name}_bg.js`;
const shortModule = "w";

const fail = (why) => {
  throw new Error(`minify-pkg: ${why}`);
};

// --- wasm binary: just enough to rewrite the import section --------------------------

function readU32(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[at++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) return [value, at];
  }
}

function u32(value) {
  const out = [];
  do {
    let b = value & 0x7f;
    value = Math.floor(value / 128);
    if (value) b |= 0x80;
    out.push(b);
  } while (value);
  return out;
}

const utf8 = new TextEncoder();
const text = new TextDecoder();
const str = (s) => {
  const b = utf8.encode(s);
  return [...u32(b.length), ...b];
};

function readStr(bytes, at) {
  const [len, start] = readU32(bytes, at);
  return [text.decode(bytes.subarray(start, start + len)), start + len];
}

// Length of an import's description (after module and field names).
function descEnd(bytes, at) {
  const kind = bytes[at++];
  const limits = (p) => {
    const flags = bytes[p++];
    [, p] = readU32(bytes, p);
    if (flags & 1) [, p] = readU32(bytes, p);
    return p;
  };
  switch (kind) {
    case 0: // function: type index
      return readU32(bytes, at)[1];
    case 1: // table: reftype, limits
      return limits(at + 1);
    case 2: // memory: limits
      return limits(at);
    case 3: // global: valtype, mutability
      return at + 2;
    case 4: // tag: attribute, type index
      return readU32(bytes, at + 1)[1];
    default:
      return fail(`unknown import kind ${kind}`);
  }
}

// Rewrites section `id` of the module: `entry(bytes, at, out)` reads one entry at `at`,
// pushes its rewritten bytes to `out` and returns where the next entry starts.
function rewriteSection(bytes, id, entry) {
  const parts = [bytes.subarray(0, 8)];
  let at = 8;
  while (at < bytes.length) {
    const [size, body] = readU32(bytes, at + 1);
    const end = body + size;
    if (bytes[at] !== id) {
      parts.push(bytes.subarray(at, end));
      at = end;
      continue;
    }
    let [count, p] = readU32(bytes, body);
    const section = [...u32(count)];
    while (count--) p = entry(bytes, p, section);
    if (p !== end) fail(`section ${id} has trailing bytes`);
    parts.push(Uint8Array.from([id, ...u32(section.length), ...section]));
    at = end;
  }
  return Buffer.concat(parts);
}

// Rewrites the import section with `rename(module, field) -> [module, field]`.
function renameImports(bytes, rename) {
  return rewriteSection(bytes, 2, (b, p, out) => {
    let module;
    let field;
    [module, p] = readStr(b, p);
    [field, p] = readStr(b, p);
    const descStart = p;
    p = descEnd(b, p);
    const [m, f] = rename(module, field);
    out.push(...str(m), ...str(f), ...b.subarray(descStart, p));
    return p;
  });
}

// Rewrites the export section with `rename(name) -> name`.
function renameExports(bytes, rename) {
  return rewriteSection(bytes, 7, (b, p, out) => {
    let name;
    [name, p] = readStr(b, p);
    const kindStart = p;
    p = readU32(b, p + 1)[1]; // kind, index
    out.push(...str(rename(name)), ...b.subarray(kindStart, p));
    return p;
  });
}

// --- names -----------------------------------------------------------------------------

const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
function shortName(i) {
  let s = "";
  do {
    s = letters[i % letters.length] + s;
    i = Math.floor(i / letters.length) - 1;
  } while (i >= 0);
  return s;
}

const wasms = wasmPaths.map((p) => readFileSync(p));
const names = new Map();
// The package's own JS modules (`#[wasm_bindgen(module = "/js/…")]`, copied under
// snippets/): the wasm imports their exports by their own names, so only the module's name
// gets shorter.
const snippets = new Map();
const isSnippet = (module) => /^\.\/snippets\/[A-Za-z0-9_./-]+\.js$/.test(module);
for (const imp of WebAssembly.Module.imports(new WebAssembly.Module(wasms[0]))) {
  if (isSnippet(imp.module)) {
    if (!snippets.has(imp.module)) snippets.set(imp.module, `${shortModule}${snippets.size}`);
    continue;
  }
  if (imp.module !== glueModule) fail(`import from an unknown module ${imp.module}`);
  if (!names.has(imp.name)) names.set(imp.name, shortName(names.size));
}
// Exports: their own namespace. `memory` keeps its name (init() returns the exports).
const kept = new Set(["memory"]);
const exportNames = new Map();
const exportsOf = (bytes) => WebAssembly.Module.exports(new WebAssembly.Module(bytes)).map((e) => e.name);
for (const e of exportsOf(wasms[0])) {
  if (kept.has(e)) continue;
  const short = shortName(exportNames.size);
  if (kept.has(short)) fail(`short export name ${short} is taken`);
  exportNames.set(e, short);
}
if (exportsOf(wasms[1]).join() !== exportsOf(wasms[0]).join()) fail("the debug wasm's exports differ");
const exportName = (n) => exportNames.get(n) ?? n;

// --- glue ------------------------------------------------------------------------------

let glue = readFileSync(gluePath, "utf8");
const replaceOnce = (from, to) => {
  const at = glue.indexOf(from);
  if (at < 0 || glue.indexOf(from, at + 1) >= 0) fail(`expected exactly one ${JSON.stringify(from)} in the glue`);
  glue = glue.slice(0, at) + to + glue.slice(at + from.length);
};
for (const [long, short] of names) replaceOnce(`\n        ${long}: function(`, `\n        ${short}: function(`);
replaceOnce(`"${glueModule}": import0`, `${shortModule}: import0`);
// wasm-bindgen imports a snippet module once per function the wasm imports from it
// directly (`import * as importN`, one import-object entry each): the first entry gets the
// short name, the others (the same module again) go, with their imports.
const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
for (const [long, short] of snippets) {
  const key = escape(JSON.stringify(long));
  const entries = [...glue.matchAll(new RegExp(`${key}: (import\\d+)`, "g"))].map((m) => m[1]);
  if (!entries.length) fail(`the glue does not import ${long}`);
  const [first, ...again] = entries;
  glue = glue.replace(new RegExp(`${key}: ${first}\\b`), `${short}: ${first}`);
  for (const dup of again) {
    glue = glue.replace(new RegExp(`\\s*${key}: ${dup},?`), "");
    glue = glue.replace(new RegExp(`import \\* as ${dup} from ${key};?\\n`), "");
    if (new RegExp(`\\b${dup}\\b`).test(glue)) fail(`${dup} (${long}) is still used in the glue`);
  }
}
if (/"\.\/snippets\/[^"]*": import/.test(glue)) fail("a snippet module keeps its long name in the glue's imports");
// The glue reaches the exports only as `wasm.<name>`; each must be one of them.
glue = glue.replace(/\bwasm\.([A-Za-z0-9_$]+)/g, (_, e) => {
  if (!kept.has(e) && !exportNames.has(e)) fail(`the glue uses wasm.${e}, not an export`);
  return `wasm.${exportName(e)}`;
});

const wasmRename = (module, field) => {
  if (snippets.has(module)) return [snippets.get(module), field];
  const short = names.get(field);
  if (module !== glueModule || short === undefined) fail(`unexpected import ${module}.${field}`);
  return [shortModule, short];
};
const renamed = wasms.map((bytes) => renameExports(renameImports(bytes, wasmRename), exportName));

// Every import of both modules must resolve in the rewritten glue's import object.
const keys = new Set(names.values());
for (const bytes of renamed) {
  for (const imp of WebAssembly.Module.imports(new WebAssembly.Module(bytes))) {
    if ([...snippets.values()].includes(imp.module)) continue;
    if (imp.module !== shortModule || !keys.has(imp.name)) fail(`import ${imp.module}.${imp.name} is not in the glue`);
  }
}
renamed.forEach((bytes, i) => writeFileSync(wasmPaths[i], bytes));

// Typings of the exports: `InitOutput`'s members and the wasm's own declarations (both
// list the same exports: all but the few the glue never calls).
const declare = (file, block, member) => {
  const p = path.join(out, file);
  const typings = readFileSync(p, "utf8");
  let count = 0;
  const next = typings.replace(block, (text) =>
    text.replace(member, (_, before, e) => {
      if (!exportNames.has(e) && !kept.has(e)) fail(`${file} declares ${e}, not an export`);
      count++;
      return `${before}${exportName(e)}:`;
    }),
  );
  writeFileSync(p, next);
  return count;
};
const declared = [
  declare(`${name}.d.ts`, /^export interface InitOutput \{\n[^}]*\n\}$/m, /^( {4}readonly )([A-Za-z0-9_$]+):/gm),
  declare(`${name}_bg.wasm.d.ts`, /[^]*/, /^(export const )([A-Za-z0-9_$]+):/gm),
];
if (!declared[0] || declared[0] !== declared[1]) fail(`the typings declare ${declared.join(" and ")} exports`);

writeFileSync(gluePath, glue);
const terser = (file) =>
  execFileSync(
    path.join(root, ".tools/node_modules/.bin/terser"),
    [file, "--module", "--compress", "passes=2", "--mangle", "--keep-classnames", "--output", file],
    { stdio: "inherit" },
  );
terser(gluePath);
// Every module under snippets/ (the glue imports some of them itself).
const snippetDir = path.join(out, "snippets");
if (existsSync(snippetDir)) {
  for (const f of readdirSync(snippetDir, { recursive: true })) if (f.endsWith(".js")) terser(path.join(snippetDir, f));
}
