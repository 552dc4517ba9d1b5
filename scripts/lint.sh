#!/usr/bin/env bash
# Formatting and lints, as `make test` runs them: `cargo fmt --check`, and clippy with
# warnings as errors on the native build and on the wasm32 build (with Debian's clippy, the
# same compiler as the wasm build). `unwrap`/`expect` are denied outside tests by the
# workspace lints; test code may use them.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
tests_may_unwrap=(-A clippy::unwrap_used -A clippy::expect_used)
say "cargo fmt --check"
cargo fmt --all --check
say "clippy (native)"
cargo clippy --workspace --lib --bins --examples --color never -- -D warnings
cargo clippy --workspace --tests --color never -- -D warnings "${tests_may_unwrap[@]}"
say "clippy (wasm32)"
scripts/wasm-env.sh env PATH="/usr/bin:$PATH" cargo clippy --target wasm32-unknown-unknown --lib --color never -- -D warnings
scripts/wasm-env.sh env PATH="/usr/bin:$PATH" cargo clippy --target wasm32-unknown-unknown --tests --color never -- -D warnings "${tests_may_unwrap[@]}"
say "clean"
