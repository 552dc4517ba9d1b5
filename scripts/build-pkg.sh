#!/usr/bin/env bash
# Builds the npm package into pkg/ (wasm-pack, release profile), optimises the wasm with
# the pinned wasm-opt, and prints the raw and gzip sizes of wasm + JS glue.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"
out=$(pin build out-dir); name=$(pin build out-name)
say "wasm-pack build ($(pin build target))"
scripts/wasm-env.sh wasm-pack --quiet build --release --mode no-install \
  --target "$(pin build target)" --out-dir "$out" --out-name "$name"
wasm="$out/${name}_bg.wasm"
before=$(stat -c %s "$wasm")
# shellcheck disable=SC2046
.tools/node_modules/.bin/wasm-opt $(pin build wasm-opt) "$wasm" -o "$wasm.opt"
mv "$wasm.opt" "$wasm"
gz() { gzip -9 -c "$1" | wc -c; }
say "wasm $before -> $(stat -c %s "$wasm") bytes (gzip $(gz "$wasm")); glue $(stat -c %s "$out/$name.js") bytes (gzip $(gz "$out/$name.js"))"
say "package size, gzip, wasm + glue: $(( $(gz "$wasm") + $(gz "$out/$name.js") )) bytes"
