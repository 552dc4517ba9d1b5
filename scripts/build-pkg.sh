#!/usr/bin/env bash
# Builds the npm package into pkg/ (wasm-pack, release profile), optimises the wasm with
# the pinned wasm-opt, shortens the wasm's import names and minifies the glue
# (scripts/minify-pkg.mjs), finishes the package (entries, package.json, licenses, changelog:
# scripts/finish-pkg.mjs), and prints the raw and gzip sizes of wasm + JS glue.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"
out=$(pin build out-dir); name=$(pin build out-name)
say "wasm-pack build ($(pin build target))"
# wasm-bindgen adds the JS modules the wasm imports under snippets/ but never removes old ones.
rm -rf "${out:?}/snippets"
# Its own target directory: the package's flags differ from the test builds'.
RUSTFLAGS="$(pin build rustflags)" CARGO_UNSTABLE_BUILD_STD_FEATURES="$(pin build std-features)" \
  WASM_TARGET_DIR="$root/target/wasm-pkg" \
  scripts/wasm-env.sh wasm-pack --quiet build --release --mode no-install \
  --target "$(pin build target)" --out-dir "$out" --out-name "$name"
wasm="$out/${name}_bg.wasm"
debug="$out/${name}_bg.debug.wasm"
before=$(stat -c %s "$wasm")
opt=$(pin build wasm-opt)
# The debug wasm: the same optimisation of the same build, keeping the names section (-g
# instead of --strip-debug) so stack traces and profiles show Rust function names.
# shellcheck disable=SC2086
.tools/node_modules/.bin/wasm-opt ${opt//--strip-debug/} -g "$wasm" -o "$debug"
# shellcheck disable=SC2086
.tools/node_modules/.bin/wasm-opt $opt "$wasm" -o "$wasm.opt"
mv "$wasm.opt" "$wasm"
node scripts/minify-pkg.mjs "$out" "$name"
node scripts/finish-pkg.mjs "$out" "$name"
gz() { gzip -9 -c "$1" | wc -c; }
# The glue's own JS modules (js/*.js the wasm binds to, copied under snippets/) count as glue.
glue_files=("$out/$name.js")
if [ -d "$out/snippets" ]; then mapfile -t -O 1 glue_files < <(find "$out/snippets" -name '*.js' | sort); fi
glue_raw=0; glue_gz=0
for f in "${glue_files[@]}"; do
  glue_raw=$(( glue_raw + $(stat -c %s "$f") )); glue_gz=$(( glue_gz + $(gz "$f") ))
done
say "wasm $before -> $(stat -c %s "$wasm") bytes (gzip $(gz "$wasm")); glue ${#glue_files[@]} files $glue_raw bytes (gzip $glue_gz)"
say "debug wasm (names kept) $(stat -c %s "$debug") bytes (gzip $(gz "$debug"))"
size=$(( $(gz "$wasm") + glue_gz ))
budget=$(pin budget package-gzip-bytes)
say "package size, gzip, wasm + glue: $size bytes (budget $budget)"
if [ "$size" -gt "$budget" ]; then
  echo "build-pkg: the package is $size bytes gzip, above its budget of $budget (wasm-pack.toml [budget])" >&2
  exit 1
fi
