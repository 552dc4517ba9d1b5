#!/usr/bin/env bash
# Manual check of the IVS stage emulator with real headless Chromium, inside a private
# loopback-only network namespace (run as root):
#   bash server/tests/browser/ivs-check.sh [path/to/realtime-reference-server]
# ivs-check.html loads /ivs-emulator.js (and imports /ivs-emulator.mjs) under the server's
# default CSP, opens a /v1/stream-ivs session by hand, joins the stage with the token of
# `ivs_stage_ready`, publishes a marker-stamped canvas stream and the fake microphone,
# sends `ivs_joined`, and reads the markers back from the server participant's video; a
# viewer then joins with a viewer token and reads them too. Then the IVS faults, as the
# emulator reports them, and a server crash (killed and restarted by run-page.sh) that the
# stage must report and a new session must survive. Prints the page's JSON result; exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
server="${1:-$root/target/debug/realtime-reference-server}"
# The real package, when installed (scripts/setup.sh puts it under .tools), is served at
# /vendor/ so the page can compare the emulator's names and values with it.
vendor="$root/.tools/node_modules/amazon-ivs-web-broadcast/dist"
extra=(); [ -d "$vendor" ] && extra=(--vendor "$vendor")
result=$(bash "$here/run-page.sh" "$server" ivs-check.html 120 "${extra[@]}")
echo "$result" | python3 -m json.tool
echo "$result" | python3 -c '
import sys, json
r = json.load(sys.stdin)
checks = []
def check(name, ok):
    checks.append(ok)
    print(("ok      " if ok else "FAILED  ") + name)
check("no page error", "error" not in r)
m = r.get("main", {})
check("module exports equal the global", r.get("moduleMatches") is True)
check("client: server participant streams (video+audio)", sorted(s["type"] for s in m.get("remoteStreams", [])) == ["audio", "video"])
check("client: markers advance, none corrupted", m.get("markers", {}).get("total", 0) > 100 and m["markers"]["total"] > m["markers"]["afterFirst"] > 20 and m["markers"]["corrupted"] == 0)
check("viewer: markers advance, none corrupted", m.get("viewerMarkers", {}).get("total", 0) > 50 and m["viewerMarkers"]["corrupted"] == 0)
check("jitterBufferTarget applied (40 ms)", 40 in (m.get("jitterBufferTarget") or []))
check("session: generation_started and metrics", "generation_started" in m.get("sessionMessages", []) and any(x["output_fps"] and x["output_fps"] > 10 for x in m.get("metrics", [])))
ce = m.get("clientEvents", [])
check("client: connecting -> connected -> disconnected, STAGE_LEFT user-initiated", [e for e in ce if e.startswith("STAGE_CONNECTION")] == ["STAGE_CONNECTION_STATE_CHANGED connecting", "STAGE_CONNECTION_STATE_CHANGED connected", "STAGE_CONNECTION_STATE_CHANGED disconnected"] and ce[-1] == "STAGE_LEFT user-initiated")
check("client: local participant joined, streams added", "STAGE_PARTICIPANT_JOINED local" in ce and "STAGE_PARTICIPANT_STREAMS_ADDED local video,audio" in ce)
d = r.get("disconnect_during_setup", {})
check("disconnect_during_setup: join rejects, ERROR, errored, never connected", d.get("join", "").startswith("rejected StageError 10") and "STAGE_CONNECTION_STATE_CHANGED errored" in d.get("events", []) and "STAGE_CONNECTION_STATE_CHANGED connected" not in d.get("events", []) and any(e.startswith("ERROR") for e in d.get("events", [])))
n = r.get("no_server_streams", {})
check("no_server_streams: server participant joins, no remote streams", "STAGE_PARTICIPANT_JOINED pserver" in n.get("events", []) and not any(e.startswith("STAGE_PARTICIPANT_STREAMS_ADDED pserver") for e in n.get("events", [])))
s = r.get("stage_error_after_ms", {})
ev = s.get("events", [])
check("stage_error_after_ms: connected, then ERROR, errored, STAGE_LEFT", s.get("join") == "resolved" and "STAGE_CONNECTION_STATE_CHANGED connected" in ev and ev.index("STAGE_CONNECTION_STATE_CHANGED errored") > ev.index("STAGE_CONNECTION_STATE_CHANGED connected") and any(e.startswith("ERROR") for e in ev) and "STAGE_LEFT unknown" in ev)
rs = r.get("restart", {})
rev = rs.get("events", [])
check("server restart: ERROR, errored, STAGE_LEFT unknown; a new session works", any(e.startswith("ERROR StageError 4 JOIN_ERROR") for e in rev) and "STAGE_CONNECTION_STATE_CHANGED errored" in rev and rev[-1] == "STAGE_LEFT unknown" and sorted(rs.get("recovered", [])) == ["audio", "video"])
check("malformed token: join rejects with TOKEN_MALFORMED", r.get("badToken") == "rejected StageError 1 JOIN_ERROR")
real = r.get("realSdk")
if isinstance(real, dict):
    check("names and values equal the real SDK " + str(real.get("version")) + " (" + str(real.get("compared")) + " exports)", real.get("mismatches") == [])
else:
    print("skipped real SDK comparison:", real)
print("ivs check:", "ok" if all(checks) else "FAILED")
sys.exit(0 if all(checks) else 1)'
