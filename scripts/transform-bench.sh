#!/usr/bin/env bash
# Glass-to-glass latency through the reference server's transform mode (decode → effect →
# encode on every frame), measured in headless Chromium with the SDK stamping every frame
# (tests/web_transform.rs, the ignored `transform_latency_benchmark_*` tests), at 640×480 and
# at a model's size (1280×704), 30 s each: marker latency median / p90, delivery,
# corruption, the server's pipeline_latency_ms; plus the server's CPU time per session,
# sampled from /proc/<server pid>/stat over exactly each measured window, and the server's
# own per-frame costs and sessions per core (server/examples/transform_bench.rs).
#   bash scripts/transform-bench.sh [640x480|1280x704]   # as root (the browser part runs in `unshare --net`)
# TRANSFORM_BENCH_QUERY adds session parameters, e.g. the server's network impairment:
#   TRANSFORM_BENCH_QUERY='net_rate_kbps=400' bash scripts/transform-bench.sh 640x480
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
suffix=-transform-bench
logs="$root/target/test-logs"
mkdir -p "$logs"
export WASM_TARGET_DIR=${WASM_TARGET_DIR:-$root/target/wasm}
export REALTIME_TEST_SERVER="ws://127.0.0.1:$TEST_PORT"

say "build (outside the namespace: registries are unreachable inside)"
cargo build --profile server -p realtime-reference-server --example transform_bench --color never
cargo build --profile server -p realtime-reference-server --color never
scripts/wasm-env.sh cargo test --target wasm32-unknown-unknown --test web_transform --no-run --color never

say "the server's pipeline alone (one thread, no browser)"
"$root/target/server/examples/transform_bench"

say "through the browser, 30 s per size"
pidfile="$logs/server$suffix.pid"
samples="$logs/server$suffix.cpu"
out="$logs/transform-bench.log"
rm -f "$pidfile" "$samples"
TEST_LOG_SUFFIX=$suffix unshare --net bash scripts/browser-tests.sh --test web_transform -- \
  --include-ignored --nocapture "transform_latency_benchmark${1:+_$1}" > "$out" 2>&1 &
run=$!
for _ in $(seq 1 300); do [ -s "$pidfile" ] && break; kill -0 $run 2>/dev/null || break; sleep 0.1; done
server=$(cat "$pidfile" 2>/dev/null || true)
# "<wall ms> <utime + stime in clock ticks>" twice a second while the server lives.
if [ -n "$server" ]; then
  while kill -0 "$server" 2>/dev/null && [ -r "/proc/$server/stat" ]; do
    stat=$(cat "/proc/$server/stat" 2>/dev/null) || break
    fields=${stat##*) }
    echo "$(date +%s%3N) $(echo "$fields" | awk '{print $12 + $13}')" >> "$samples"
    sleep 0.5
  done &
  sampler=$!
fi
status=0
wait $run || status=$?
[ -n "${sampler:-}" ] && { kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; }
grep -E '^BENCH|test result' "$out" | grep -v '^BENCH window' || true
if [ "$status" -ne 0 ]; then
  echo "transform-bench: the browser run failed (exit $status); see $out" >&2
  exit "$status"
fi
# Server CPU over each window: the samples nearest inside its bounds.
hz=$(getconf CLK_TCK)
grep -oE 'BENCH window .*' "$out" | while read -r _ _ transport size start end; do
  awk -v s="$start" -v e="$end" -v hz="$hz" -v tag="$transport $size" '
    $1 >= s && !a { a = 1; t0 = $1; c0 = $2 }
    $1 <= e { t1 = $1; c1 = $2 }
    END {
      if (!a || t1 <= t0) { print "BENCH " tag ": no CPU samples in the window"; exit }
      printf "BENCH %s: server CPU %.1f %% of one core for the one session (%.1f s sampled)\n", tag, 100 * (c1 - c0) / hz / ((t1 - t0) / 1000), (t1 - t0) / 1000
    }' "$samples"
done
