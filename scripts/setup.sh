#!/usr/bin/env bash
# Installs everything the build, the demo and the tests need, idempotently.
# Versions come from wasm-pack.toml; anything already present at the right version is skipped.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"

export PATH="$HOME/.cargo/bin:$PATH"

# 1. Debian packages (TOOLCHAIN.md step 1 and 6).
missing=()
for p in $(pin debian packages); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  say "apt-get install ${missing[*]}"
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "debian packages present"
fi

# cargo_tool CRATE VERSION COMMAND [FLAG...]: `cargo install` CRATE at exactly VERSION (with
# the flags) unless `COMMAND --version` already prints that version as its second word.
cargo_tool() {
  local crate=$1 version=$2 command=$3
  shift 3
  # shellcheck disable=SC2086 # COMMAND may be two words ("cargo fuzz")
  if [ "$($command --version 2>/dev/null | awk '{print $2}')" = "$version" ]; then
    say "$crate $version present"
  else
    say "cargo install $crate $version"
    cargo install -q "$crate" --version "=$version" --force "$@"
  fi
}

# 2. wasm-bindgen-cli, exactly the version of the crate (TOOLCHAIN.md step 4).
wb=$(pin tools wasm-bindgen-cli)
if ! grep -q "^wasm-bindgen = { version = \"=$wb\"" Cargo.toml; then
  echo "setup: wasm-pack.toml pins wasm-bindgen-cli $wb but Cargo.toml pins another wasm-bindgen" >&2
  exit 1
fi
cargo_tool wasm-bindgen-cli "$wb" wasm-bindgen
# 3. wasm-pack (TOOLCHAIN.md step 5); twiggy for the size profile (scripts/size-profile.sh);
#    cargo-fuzz for the fuzz targets of the core (scripts/fuzz.sh).
cargo_tool wasm-pack "$(pin tools wasm-pack)" wasm-pack
cargo_tool twiggy "$(pin tools twiggy)" twiggy --locked
cargo_tool cargo-fuzz "$(pin tools cargo-fuzz)" "cargo fuzz"

# 4. npm tools: wasm-opt (binaryen), tsc, the real IVS SDK for the browser tests,
#    playwright-core for the end-to-end tests of the test page, publint for the package,
#    terser for the package's glue.
mkdir -p .tools
[ -f .tools/package.json ] || echo '{"name":"realtime-sdk-tools","private":true}' > .tools/package.json
want=()
for name in binaryen typescript amazon-ivs-web-broadcast playwright-core publint terser; do
  v=$(pin tools "$name")
  have=$(node -p "try{require('./.tools/node_modules/$name/package.json').version}catch(e){''}")
  [ "$have" = "$v" ] || want+=("$name@$v")
done
if ((${#want[@]})); then
  say "npm install ${want[*]}"
  npm install --prefix .tools --no-audit --no-fund --loglevel=error --save-exact "${want[@]}"
else
  say "npm tools present"
fi

# 5. The consumer apps' bundlers (consumers/*/package-lock.json), so that the consumer suite
#    runs offline; an app is reinstalled when an installed version differs from its lock.
for lock in consumers/*/package-lock.json; do
  app=$(dirname "$lock")
  if node -e '
    const app = process.argv[1], lock = require(`./${app}/package-lock.json`);
    for (const [where, { version, optional }] of Object.entries(lock.packages)) {
      if (!where || optional) continue;
      try { if (require(`./${app}/${where}/package.json`).version !== version) process.exit(1); }
      catch { process.exit(1); }
    }' "$app"; then
    say "$app dependencies present"
  else
    say "npm ci in $app"
    (cd "$app" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
say "done"
