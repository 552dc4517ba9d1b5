#!/usr/bin/env bash
# Shared by the manual browser checks (echo-check.sh, ivs-check.sh): inside a private
# loopback-only network namespace (root), starts the server on this folder and Chromium
# through chromedriver, opens PAGE and prints the page's `window.result` as JSON (or
# `null` after TIMEOUT seconds). When the page sets `window.restartNow = true`, the server
# is killed (SIGKILL, like a crash) and started again on the same port, and the page gets
# `window.restarted = true`.
#   bash run-page.sh SERVER PAGE TIMEOUT [server args...]
set -euo pipefail
server="$1"; page="$2"; timeout="$3"; shift 3
here="$(cd "$(dirname "$0")" && pwd)"
port=${CHECK_PORT:-8799}
[ -x "$server" ] || { echo "build the server first: cargo build -p realtime-reference-server" >&2; exit 2; }
if [ "${CHECK_INSIDE:-}" != 1 ]; then
  exec env CHECK_INSIDE=1 unshare --net bash "$0" "$server" "$page" "$timeout" "$@"
fi
ip link set lo up
logs=${CHECK_LOGS:-$(mktemp -d)}
start_server() {
  "$server" --port "$port" --www "$here" "$@" >> "$logs/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
}
: > "$logs/server.log"
start_server "$@"
chromedriver --port=9515 > "$logs/chromedriver.log" 2>&1 &
driver_pid=$!
trap 'kill $driver_pid 2>/dev/null || true; kill -TERM $server_pid 2>/dev/null || true; wait $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -fsS localhost:9515/status >/dev/null 2>&1 && break; sleep 0.1; done
args='["--headless=new","--no-sandbox","--disable-gpu","--use-fake-device-for-media-stream","--use-fake-ui-for-media-stream","--allow-loopback-in-peer-connection","--autoplay-policy=no-user-gesture-required","--no-first-run","--disable-background-networking"]'
sid=$(curl -fsS -X POST localhost:9515/session -H 'content-type: application/json' \
  -d "{\"capabilities\":{\"alwaysMatch\":{\"goog:chromeOptions\":{\"args\":$args},\"goog:loggingPrefs\":{\"browser\":\"ALL\"}}}}" \
  | python3 -c 'import sys,json; print(json.load(sys.stdin)["value"]["sessionId"])')
curl -fsS -X POST "localhost:9515/session/$sid/url" -H 'content-type: application/json' \
  -d "{\"url\":\"http://127.0.0.1:$port/$page\"}" >/dev/null
page_eval() {
  curl -fsS -X POST "localhost:9515/session/$sid/execute/sync" -H 'content-type: application/json' \
    -d "{\"script\":\"$1\",\"args\":[]}" | python3 -c 'import sys,json; print(json.load(sys.stdin)["value"])'
}
result=null
for _ in $(seq "$timeout"); do
  result=$(page_eval 'return JSON.stringify(window.result)')
  [ "$result" != null ] && break
  if [ "$(page_eval 'return window.restartNow === true && !window.restarted')" = True ]; then
    kill -KILL "$server_pid"; wait "$server_pid" 2>/dev/null || true
    echo "--- server killed and restarted by the check ---" >> "$logs/server.log"
    start_server "$@"
    page_eval 'window.restarted = true; return true' >/dev/null
  fi
  sleep 1
done
# Console errors (a CSP violation shows here) go to the log folder.
curl -fsS -X POST "localhost:9515/session/$sid/se/log" -H 'content-type: application/json' -d '{"type":"browser"}' \
  > "$logs/console.json" 2>/dev/null || true
curl -fsS -X DELETE "localhost:9515/session/$sid" >/dev/null || true
echo "$result"
