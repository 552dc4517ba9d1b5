#!/usr/bin/env bash
# The TURN relay check, in a loopback-only network namespace (re-executes itself in one when
# started outside; root): starts coturn (scripts/turn.sh) and the reference server with its
# TURN flags, serving this folder, and runs turn-check.spec.mjs in headless Chromium: the
# camera must come back over a relay candidate pair, once with the UDP and once with the TCP
# TURN URL. Ends with "test result: ok. N passed; M failed; ..." (summed by scripts/test.sh).
# Build the server first, outside the namespace: cargo build --profile server -p realtime-reference-server
#   bash server/tests/browser/turn-check.sh [path/to/realtime-reference-server]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
# shellcheck source=../../../scripts/lib.sh
source "$root/scripts/lib.sh"
loopback_only "$@"
server="${1:-$root/target/server/realtime-reference-server}"
port=${TURN_CHECK_PORT:-8796}
for need in "$server" "$root/.tools/node_modules/playwright-core/package.json" /usr/bin/chromium; do
  [ -e "$need" ] || { echo "turn-check: missing $need (build the server, run scripts/setup.sh)" >&2; exit 2; }
done
logs="$root/target/test-logs"; mkdir -p "$logs"
bash "$root/scripts/turn.sh" start
# shellcheck disable=SC2046 # the flags are words
"$server" --host 127.0.0.1 --port "$port" --www "$here" $(bash "$root/scripts/turn.sh" flags) > "$logs/turn-check-server.txt" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; wait $server_pid 2>/dev/null || true; bash "$root/scripts/turn.sh" stop' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 $server_pid 2>/dev/null || { echo "reference server exited:"; cat "$logs/turn-check-server.txt"; exit 1; }
  sleep 0.1
done
cd "$root"
TURN_CHECK_BASE="http://127.0.0.1:$port" timeout "${TURN_CHECK_TIMEOUT:-300}" node \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=./e2e/summary.mjs --test-reporter-destination=stdout \
  server/tests/browser/turn-check.spec.mjs
