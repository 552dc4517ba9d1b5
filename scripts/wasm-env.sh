#!/usr/bin/env bash
# Runs a command with the environment that builds Rust for wasm32 on these machines
# (shared/TOOLCHAIN.md steps 2 and 3): Debian's rustc 1.96 with its library source built
# by -Z build-std, rustup's rust-lld as the linker, and a target directory of its own so
# native builds (rustup's compiler) and wasm builds never invalidate each other.
#   scripts/wasm-env.sh wasm-pack build ...
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sysroot=$("$HOME/.cargo/bin/rustc" --print sysroot)
# wasm-pack looks for a prebuilt wasm32 standard library (`rustc --target wasm32-unknown-unknown
# --print target-libdir` must exist) and otherwise runs `rustup target add`, which cannot
# reach its server here. The standard
# library is built from source instead (build-std), so answer its check with a sysroot
# that has the wasm32 folder; every other rustc call goes to Debian's compiler.
shim="$root/target/wasm-shim"
if [ ! -x "$shim/bin/rustc" ]; then
  mkdir -p "$shim/bin" "$shim/sysroot/lib/rustlib/wasm32-unknown-unknown/lib"
  cat > "$shim/bin/rustc" <<SHIM
#!/bin/sh
case "\$*" in
  "--print sysroot") echo "$shim/sysroot"; exit 0 ;;
  "--target wasm32-unknown-unknown --print target-libdir") echo "$shim/sysroot/lib/rustlib/wasm32-unknown-unknown/lib"; exit 0 ;;
esac
exec /usr/bin/rustc "\$@"
SHIM
  chmod +x "$shim/bin/rustc"
fi
export PATH="$shim/bin:$HOME/.cargo/bin:$root/.tools/node_modules/.bin:$PATH"
export RUSTC=/usr/bin/rustc
export RUSTDOC=/usr/bin/rustdoc
export RUSTC_BOOTSTRAP=1
export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
# WASM_TARGET_DIR lets parallel checkouts/sessions build without waiting on one lock.
export CARGO_TARGET_DIR="${WASM_TARGET_DIR:-$root/target/wasm}"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$sysroot/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld"
export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
exec "$@"
