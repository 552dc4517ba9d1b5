#!/usr/bin/env bash
# Manual end-to-end check of the echo with real headless Chromium, inside a private
# loopback-only network namespace (run as root):
#   bash server/tests/browser/echo-check.sh [path/to/realtime-reference-server]
# A canvas stream stamped with pixel markers (shared/PROTOCOL.md) is sent over WebRTC
# (VP8 preferred), echoed by the server, and the markers are read back from the received
# video. Prints the page's JSON result; exits non-zero unless markers came back intact.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
server="${1:-$root/target/debug/realtime-reference-server}"
port=${ECHO_CHECK_PORT:-8799}
[ -x "$server" ] || { echo "build the server first: cargo build -p realtime-reference-server"; exit 2; }
if [ "${ECHO_CHECK_INSIDE:-}" != 1 ]; then
  exec env ECHO_CHECK_INSIDE=1 unshare --net bash "$0" "$server"
fi
ip link set lo up
logs=$(mktemp -d)
"$server" --port "$port" --www "$here" > "$logs/server.log" 2>&1 &
server_pid=$!
chromedriver --port=9515 > "$logs/chromedriver.log" 2>&1 &
driver_pid=$!
trap 'kill $driver_pid 2>/dev/null || true; kill -TERM $server_pid 2>/dev/null || true; wait $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && curl -fsS localhost:9515/status >/dev/null 2>&1 && break; sleep 0.1; done
args='["--headless=new","--no-sandbox","--disable-gpu","--use-fake-device-for-media-stream","--use-fake-ui-for-media-stream","--allow-loopback-in-peer-connection","--autoplay-policy=no-user-gesture-required","--no-first-run","--disable-background-networking"]'
sid=$(curl -fsS -X POST localhost:9515/session -H 'content-type: application/json' \
  -d "{\"capabilities\":{\"alwaysMatch\":{\"goog:chromeOptions\":{\"args\":$args}}}}" \
  | python3 -c 'import sys,json; print(json.load(sys.stdin)["value"]["sessionId"])')
curl -fsS -X POST "localhost:9515/session/$sid/url" -H 'content-type: application/json' \
  -d "{\"url\":\"http://127.0.0.1:$port/echo.html\"}" >/dev/null
result=null
for _ in $(seq 30); do
  result=$(curl -fsS -X POST "localhost:9515/session/$sid/execute/sync" -H 'content-type: application/json' \
    -d '{"script":"return JSON.stringify(window.result)","args":[]}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["value"])')
  [ "$result" != null ] && break
  sleep 1
done
curl -fsS -X DELETE "localhost:9515/session/$sid" >/dev/null || true
echo "$result"
echo "$result" | python3 -c '
import sys, json
r = json.load(sys.stdin)
ok = r.get("conn") == "connected" and r.get("markersSeen", 0) > 50 and r.get("corrupted", 1) == 0
print("echo check:", "ok" if ok else "FAILED")
sys.exit(0 if ok else 1)'
