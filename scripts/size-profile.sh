#!/usr/bin/env bash
# Where the package's bytes go: builds the package (scripts/build-pkg.sh) and lists the
# largest items of its wasm with twiggy, by the names the debug wasm keeps (the same build
# and optimisation as the published wasm, with its names section), then every item summed
# by module (scripts/size-modules.mjs), the wasm's sections raw and gzip -9, and the JS glue with the modules it imports.
#   bash scripts/size-profile.sh [N]     (N items, 25 by default)
# Environment: SIZE_PROFILE_NO_BUILD=1 profiles the pkg/ already built.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
n=${1:-25}
[ -n "${SIZE_PROFILE_NO_BUILD:-}" ] || bash scripts/build-pkg.sh >&2
out=$(pin build out-dir); name=$(pin build out-name)
debug="$out/${name}_bg.debug.wasm"; wasm="$out/${name}_bg.wasm"
say "top $n items of the wasm (bytes before compression; twiggy top)"
# The names section itself is not downloaded (the published wasm has none): left out.
twiggy top -n "$((n + 1))" "$debug" | grep -v '"function names" subsection'
say "the wasm by module (bytes before compression)"
twiggy top -n 100000 --format csv "$debug" | node scripts/size-modules.mjs 25
say "sections of the published wasm"
node scripts/wasm-sections.mjs "$wasm"
# The glue and the JS modules it imports (snippets/), as scripts/build-pkg.sh counts them.
while IFS= read -r f; do
  say "JS ${f#"$out"/}: $(stat -c %s "$f") bytes, gzip -9 $(gzip -9 -c "$f" | wc -c)"
done < <(echo "$out/$name.js"; [ -d "$out/snippets" ] && find "$out/snippets" -name '*.js' | sort)
