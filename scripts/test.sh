#!/usr/bin/env bash
# Runs every test suite: native unit and server tests, the package build, and the
# browser suites (headless Chromium + the reference server) and the test page's end-to-end
# tests inside a private, loopback-only network namespace. Prints one closing line: "N passed, N failed".
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"
start=$(date +%s)
logs="$root/target/test-logs"; rm -rf "$logs"; mkdir -p "$logs"
export PATH="$HOME/.cargo/bin:$PATH"

bash scripts/setup.sh

say "formatting and lints (cargo fmt --check, clippy -D warnings, native and wasm32)"
bash scripts/lint.sh 2>&1 | tee "$logs/lint.txt"

say "native tests (core + reference server)"
cargo test --workspace --color never 2>&1 | tee "$logs/native.log"

say "fuzz smoke pass: every target of fuzz/, 20000 executions or 10 s each"
FUZZ_SECONDS=10 bash scripts/fuzz.sh 20000 2>&1 | tee "$logs/fuzz.log"

say "package"
bash scripts/build-pkg.sh | tee "$logs/package.log"

say "TypeScript: the package's .d.ts types a page's use of the SDK (tsc --noEmit --strict)"
.tools/node_modules/.bin/tsc -p tests/ts

say "reference server build"
cargo build --profile server -p realtime-reference-server --color never

say "browser tests: compile (outside the namespace: registries are unreachable inside)"
export REALTIME_TEST_SERVER="ws://127.0.0.1:$TEST_PORT"
scripts/wasm-env.sh cargo test --target wasm32-unknown-unknown --tests --no-run --color never

say "browser tests: run in a loopback-only network namespace"
unshare --net bash scripts/browser-tests.sh 2>&1 | tee "$logs/browser.log"

say "TURN relay: headless Chromium through coturn (UDP and TCP) in a loopback-only network namespace"
unshare --net bash server/tests/browser/turn-check.sh 2>&1 | tee "$logs/turn.log"

say "test page end to end: headless Chromium (playwright-core) in a loopback-only network namespace"
unshare --net bash scripts/e2e-tests.sh 2>&1 | tee "$logs/e2e.log"

say "consumer apps: the packed package in Vite, webpack, esbuild, Rollup, plain ES modules, Node, TypeScript (loopback-only namespace)"
unshare --net bash scripts/consumers.sh 2>&1 | tee "$logs/consumers.log"

passed=0; failed=0
while read -r p f; do passed=$((passed + p)); failed=$((failed + f)); done < <(
  grep -hoE 'test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$logs"/*.log | awk '{print $4, $6}')
say "done in $(( $(date +%s) - start )) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
