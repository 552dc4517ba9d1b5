#!/usr/bin/env bash
# A local TURN server for the tests: Debian's coturn (`turnserver`, installed by
# scripts/setup.sh) on 127.0.0.1 only, with REST-style credentials (a shared secret, as real
# services use), relaying only to loopback peers. Run it inside the loopback-only network
# namespace of the test that needs it, before starting the reference server:
#   bash scripts/turn.sh start    # starts coturn and waits until it listens
#   bash scripts/turn.sh flags    # the reference server's flags for it (--turn-urls … --turn-secret …)
#   bash scripts/turn.sh stop     # stops the coturn this script started (by its pid)
# Environment: TURN_PORT (3478), TURN_SECRET (a fixed test secret), TURN_DIR (pid file,
# log and coturn's database; default target/test-logs/turn-<network namespace>, so runs in
# separate namespaces do not meet).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
port=${TURN_PORT:-3478}
secret=${TURN_SECRET:-realtime-test-turn-secret}
netns=$(readlink /proc/self/ns/net 2>/dev/null | tr -cd 0-9)
dir=${TURN_DIR:-$root/target/test-logs/turn-${netns:-default}}
pidfile="$dir/coturn.pid"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

case "${1:-}" in
  start)
    command -v turnserver >/dev/null || { echo "turn.sh: turnserver not found (bash scripts/setup.sh installs coturn)" >&2; exit 2; }
    mkdir -p "$dir"
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      say "coturn already running (pid $(cat "$pidfile"))"; exit 0
    fi
    # Only 127.0.0.0/8 may be relayed to: everything else is denied.
    turnserver -n \
      --listening-ip=127.0.0.1 --relay-ip=127.0.0.1 --listening-port="$port" \
      --min-port=49152 --max-port=49407 \
      --use-auth-secret --static-auth-secret="$secret" --realm=realtime.test \
      --allow-loopback-peers \
      --denied-peer-ip=0.0.0.0-126.255.255.255 --denied-peer-ip=128.0.0.0-255.255.255.255 \
      --no-cli --no-tls --no-dtls --fingerprint --no-software-attribute \
      --userdb="$dir/turndb" --pidfile="$dir/coturn-own.pid" \
      --log-file="$dir/coturn.log" --simple-log --no-stdout-log \
      > "$dir/coturn.out" 2>&1 &
    echo $! > "$pidfile"
    for _ in $(seq 1 50); do
      listening && { say "coturn listening on 127.0.0.1:$port (pid $(cat "$pidfile"))"; exit 0; }
      kill -0 "$(cat "$pidfile")" 2>/dev/null || break
      sleep 0.1
    done
    echo "turn.sh: coturn did not start; its log:" >&2
    cat "$dir/coturn.out" "$dir"/coturn*.log 2>/dev/null | tail -20 >&2
    exit 1
    ;;
  stop)
    if [ -f "$pidfile" ]; then
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$pidfile"
    fi
    ;;
  flags)
    echo "--turn-urls turn:127.0.0.1:$port --turn-secret $secret"
    ;;
  *)
    echo "usage: bash scripts/turn.sh start|stop|flags" >&2; exit 2 ;;
esac
