// Makes the package's download smaller without changing what it does:
//   - the wasm's imports from the JS glue get short names (wasm-bindgen names each one
//     `__wbg_<method>_<16 hex digits>` under the module `./<name>_bg.js`: thousands of
//     bytes that gzip cannot shrink, written once in the wasm and once in the glue);
//   - the glue is minified with terser (the pinned version in .tools); class names stay.
// The release and the debug wasm share the glue, so both get the same names (the debug
// wasm's names section still calls each import by its wasm-bindgen name).
//   node scripts/minify-pkg.mjs OUT_DIR OUT_NAME
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
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

// Rewrites the import section with `rename(module, field) -> [module, field]`.
function renameImports(bytes, rename) {
  const parts = [bytes.subarray(0, 8)];
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at];
    const [size, body] = readU32(bytes, at + 1);
    const end = body + size;
    if (id !== 2) {
      parts.push(bytes.subarray(at, end));
      at = end;
      continue;
    }
    let [count, p] = readU32(bytes, body);
    const section = [...u32(count)];
    while (count--) {
      let module;
      let field;
      [module, p] = readStr(bytes, p);
      [field, p] = readStr(bytes, p);
      const descStart = p;
      p = descEnd(bytes, p);
      const [m, f] = rename(module, field);
      section.push(...str(m), ...str(f), ...bytes.subarray(descStart, p));
    }
    if (p !== end) fail("import section has trailing bytes");
    parts.push(Uint8Array.from([2, ...u32(section.length), ...section]));
    at = end;
  }
  return Buffer.concat(parts);
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
for (const imp of WebAssembly.Module.imports(new WebAssembly.Module(wasms[0]))) {
  if (imp.module !== glueModule) fail(`import from an unknown module ${imp.module}`);
  if (!names.has(imp.name)) names.set(imp.name, shortName(names.size));
}

// --- glue ------------------------------------------------------------------------------

let glue = readFileSync(gluePath, "utf8");
const replaceOnce = (from, to) => {
  const at = glue.indexOf(from);
  if (at < 0 || glue.indexOf(from, at + 1) >= 0) fail(`expected exactly one ${JSON.stringify(from)} in the glue`);
  glue = glue.slice(0, at) + to + glue.slice(at + from.length);
};
for (const [long, short] of names) replaceOnce(`\n        ${long}: function(`, `\n        ${short}: function(`);
replaceOnce(`"${glueModule}": import0`, `${shortModule}: import0`);

const wasmRename = (module, field) => {
  const short = names.get(field);
  if (module !== glueModule || short === undefined) fail(`unexpected import ${module}.${field}`);
  return [shortModule, short];
};
const renamed = wasms.map((bytes) => renameImports(bytes, wasmRename));

// Every import of both modules must resolve in the rewritten glue's import object.
const keys = new Set(names.values());
for (const bytes of renamed) {
  for (const imp of WebAssembly.Module.imports(new WebAssembly.Module(bytes))) {
    if (imp.module !== shortModule || !keys.has(imp.name)) fail(`import ${imp.module}.${imp.name} is not in the glue`);
  }
}
renamed.forEach((bytes, i) => writeFileSync(wasmPaths[i], bytes));

writeFileSync(gluePath, glue);
execFileSync(
  path.join(root, ".tools/node_modules/.bin/terser"),
  [gluePath, "--module", "--compress", "passes=2", "--mangle", "--keep-classnames", "--output", gluePath],
  { stdio: "inherit" },
);
