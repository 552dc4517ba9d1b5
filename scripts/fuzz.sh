#!/usr/bin/env bash
# Fuzzes the pure core: builds every target of fuzz/ (cargo-fuzz, libFuzzer) and runs each
# for RUNS executions (default 1000000), or only the TARGETs named.
#
#   scripts/fuzz.sh [RUNS] [TARGET...]
#
# FUZZ_SECONDS caps each target's time (0 = no cap). Each target's corpus grows in
# fuzz/corpus/TARGET (seeded from fuzz/seeds/TARGET and the test fixtures); a failing input
# is saved in fuzz/artifacts/TARGET/ and replays with `fuzz/target/.../TARGET FILE`.
# The test frames (fuzz/seeds/protocol_parse) also seed `json`, the recorded getStats()
# reports (tests/fixtures/stats) `json`, `protocol_parse` and `stats`.
# libFuzzer's output goes to target/fuzz-logs/TARGET.log; the script prints one line per
# target (executions, executions per second) and a closing
# "test result: ok. N passed; M failed" line (N = targets that ran clean).
#
# A target may add libFuzzer options in a line of its own file: `// libfuzzer: -max_len=1024`.
#
# Build: rustup's stable toolchain, release with debug assertions (integer overflow
# panics), without a sanitizer (`-s none`, which stable accepts as it is): the core is safe
# Rust, so AddressSanitizer finds nothing more and costs speed. FUZZ_SANITIZER=address
# builds with it (cargo-fuzz passes `-Zsanitizer`, which stable accepts with
# RUSTC_BOOTSTRAP=1, set here; verified with rustc 1.95).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"

runs=${1:-1000000}
shift || true
export PATH="$HOME/.cargo/bin:$PATH"
# The wasm builds point RUSTC at Debian's compiler; fuzzing needs rustup's (its sysroot has
# the libFuzzer-compatible LLVM instrumentation cargo-fuzz expects).
unset RUSTC RUSTDOC
export RUSTC_BOOTSTRAP=1
sanitizer=${FUZZ_SANITIZER:-none}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is missing; run scripts/setup.sh" >&2
  exit 1
fi

targets=("$@")
if ((${#targets[@]} == 0)); then
  for f in fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi

say "building ${#targets[@]} targets"
# libFuzzer is C++: built with the g++ that scripts/setup.sh installs, whatever `c++` is here.
export CXX=${CXX:-g++}
if ! (cd fuzz && cargo fuzz build -O -a -s "$sanitizer") >&2; then
  echo "fuzz: the build failed; compiler and disk here:" >&2
  "$CXX" --version 2>&1 | head -1 >&2 || true
  df -h . >&2 || true
  exit 1
fi

bin_dir=fuzz/target/x86_64-unknown-linux-gnu/release
logs=target/fuzz-logs
mkdir -p "$logs"
passed=0; failed=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  seeds=()
  [ -d "fuzz/seeds/$t" ] && seeds+=("fuzz/seeds/$t")
  # Recorded getStats() reports are real-world JSON; the test frames seed the JSON parser.
  case "$t" in
    protocol_parse | stats) seeds+=("tests/fixtures/stats") ;;
    json) seeds+=("tests/fixtures/stats" "fuzz/seeds/protocol_parse") ;;
  esac
  read -r -a own < <(sed -n 's|^// libfuzzer: ||p' "fuzz/fuzz_targets/$t.rs" | tr '\n' ' ') || true
  start=$(date +%s.%N)
  set +e
  "$bin_dir/$t" "fuzz/corpus/$t" "${seeds[@]}" \
    -runs="$runs" -max_total_time="${FUZZ_SECONDS:-0}" -max_len=8192 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" \
    "${own[@]}" >"$logs/$t.log" 2>&1
  rc=$?
  set -e
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$logs/$t.log" | grep -oE '[0-9]+$' | tail -1)
  execs=${execs:-0}
  rate=$(awk -v n="$execs" -v s="$secs" 'BEGIN { printf "%d", n / (s + 0.001) }')
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    printf 'fuzz %-20s ok      %12s executions  %8s/s\n' "$t" "$execs" "$rate"
  else
    failed=$((failed + 1))
    printf 'fuzz %-20s FAILED  %12s executions  (exit %s; see %s)\n' "$t" "$execs" "$rc" "$logs/$t.log"
    grep -E 'panicked at|Test unit written|SUMMARY' "$logs/$t.log" | head -5 | sed 's/^/    /'
  fi
done
if [ "$failed" -eq 0 ]; then
  echo "test result: ok. $passed passed; $failed failed"
else
  echo "test result: FAILED. $passed passed; $failed failed"
  exit 1
fi
