#!/usr/bin/env bash
# End-to-end tests of the test page (www/) in headless Chromium (Debian's, driven by
# playwright-core from .tools/): starts coturn (scripts/turn.sh) and the reference server on
# 127.0.0.1:$E2E_PORT with www/, pkg/ and the TURN flags, runs e2e/page.spec.mjs against
# it, and stops both. Ends with the line
# "test result: ok. N passed; M failed; ..." that scripts/test.sh sums.
#   unshare --net bash scripts/e2e-tests.sh 2>&1 | tee target/test-logs/e2e.log
# Runs in a loopback-only network namespace (re-executes itself in one when started
# outside), as root. Build first, outside it: `bash scripts/build-pkg.sh` and
# `cargo build --profile server -p realtime-reference-server`.
# Environment: E2E_PORT (8788), E2E_PKG (pkg: the package served at /pkg/),
# E2E_VERBOSE=1 (print the page's console errors). Screenshots go to test-artifacts/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"
loopback_only "$@"

port=${E2E_PORT:-8788}
pkg=${E2E_PKG:-pkg}
server="$root/target/server/realtime-reference-server"
for need in "$server" "$pkg/realtime_video_sdk.js" .tools/node_modules/playwright-core/package.json /usr/bin/chromium; do
  [ -e "$need" ] || { echo "e2e-tests: missing $need (build the package and the server, run scripts/setup.sh)" >&2; exit 2; }
done
mkdir -p "$root/target/test-logs"
server_log="$root/target/test-logs/e2e-server.txt"
# A TURN server (coturn) on 127.0.0.1, whose credentials the reference server sends to every
# session (`turn_config`).
bash scripts/turn.sh start
trap 'bash scripts/turn.sh stop' EXIT
# shellcheck disable=SC2046 # the TURN flags are words
"$server" --host 127.0.0.1 --port "$port" --www www --pkg "$pkg" $(bash scripts/turn.sh flags) > "$server_log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; wait $server_pid 2>/dev/null || true; bash scripts/turn.sh stop' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 $server_pid 2>/dev/null || { echo "reference server exited:"; cat "$server_log"; exit 1; }
  sleep 0.1
done

say "page tests against http://127.0.0.1:$port/ (server log: ${server_log#"$root"/})"
export E2E_BASE="http://127.0.0.1:$port"
timeout "${E2E_TIMEOUT:-900}" node --test --test-concurrency=1 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=./e2e/summary.mjs --test-reporter-destination=stdout \
  e2e/page.spec.mjs e2e/compat.spec.mjs e2e/marker.spec.mjs e2e/reconnect.spec.mjs
