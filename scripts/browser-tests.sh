#!/usr/bin/env bash
# Runs inside `unshare --net`: only loopback exists, so every WebRTC packet stays on
# 127.0.0.1. Starts coturn (scripts/turn.sh) and the reference server with its TURN flags,
# runs the wasm-bindgen browser tests in headless Chromium against it, and stops both.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"
ip link set lo up
export CARGO_NET_OFFLINE=true

server="$root/target/server/realtime-reference-server"
mkdir -p "$root/target/test-logs"
# Chromedriver leaves each session's Chromium profile (about 40 MB) in the temp folder; a
# private one, removed on exit, keeps the runs from piling them up in /tmp.
export TMPDIR="$root/target/browser-tmp"
rm -rf "$TMPDIR"; mkdir -p "$TMPDIR"
# A TURN server (coturn) on 127.0.0.1; the reference server sends its credentials to every
# session (`turn_config`).
bash scripts/turn.sh start
server_pid=
# On exit, whatever happened: the reference server, coturn and the temp folder go.
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  bash scripts/turn.sh stop
  rm -rf "$TMPDIR"
}
trap cleanup EXIT
# The real amazon-ivs-web-broadcast package (installed by scripts/setup.sh) is served at
# /vendor/ for tests/web_ivs_real.rs.
# shellcheck disable=SC2046 # the TURN flags are words
"$server" --host 127.0.0.1 --port "$TEST_PORT" --www www --pkg pkg --vendor .tools/node_modules/amazon-ivs-web-broadcast/dist $(bash scripts/turn.sh flags) > "$root/target/test-logs/server${TEST_LOG_SUFFIX:-}.log" 2>&1 &
server_pid=$!
# For measurements that sample the server process (scripts/transform-bench.sh).
echo "$server_pid" > "$root/target/test-logs/server${TEST_LOG_SUFFIX:-}.pid"
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$TEST_PORT/healthz" >/dev/null 2>&1 && break
  kill -0 $server_pid 2>/dev/null || { echo "reference server exited:"; cat "$root/target/test-logs/server${TEST_LOG_SUFFIX:-}.log"; exit 1; }
  sleep 0.1
done

export REALTIME_TEST_SERVER="ws://127.0.0.1:$TEST_PORT"
# The runner's default bound (20 s) is for one small page of unit tests; these connect media.
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-900}
# Extra arguments go to cargo test, e.g. `-- --test web_client` or a test-name filter.
scripts/wasm-env.sh wasm-pack test --headless --chrome --mode no-install "$@"
