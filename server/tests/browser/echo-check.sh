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
result=$(bash "$here/run-page.sh" "$server" echo.html 30)
echo "$result"
echo "$result" | python3 -c '
import sys, json
r = json.load(sys.stdin)
ok = r.get("conn") == "connected" and r.get("markersSeen", 0) > 50 and r.get("corrupted", 1) == 0
print("echo check:", "ok" if ok else "FAILED")
sys.exit(0 if ok else 1)'
