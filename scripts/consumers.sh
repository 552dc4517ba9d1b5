#!/usr/bin/env bash
# The consumer suite (consumers/suite.spec.mjs): packs pkg/, lints the tarball, installs it
# offline into a minimal app per bundler (Vite build and dev server, webpack, esbuild,
# Rollup, plain ES modules, Node, TypeScript), builds and serves each, and in headless
# Chromium connects to the reference server, sees remote frames and disconnects. Ends with
# the line "test result: ok. N passed; M failed; ..." that scripts/test.sh sums.
#   unshare --net bash scripts/consumers.sh 2>&1 | tee target/test-logs/consumers.log
# Runs in a loopback-only network namespace (re-executes itself in one when started
# outside), as root. Build first, outside it: `bash scripts/build-pkg.sh` and
# `cargo build --profile server -p realtime-reference-server`; `bash scripts/setup.sh`
# installs the apps' locked bundlers, so nothing here reaches a registry.
# Arguments go to node's test runner, e.g. `--test-name-pattern=esbuild`.
# Environment: CONSUMERS_PORT (8789, the reference server), CONSUMER_PKG (pkg).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"
loopback_only "$@"

port=${CONSUMERS_PORT:-8789}
server="$root/target/server/realtime-reference-server"
for need in "$server" "${CONSUMER_PKG:-pkg}/index.js" .tools/node_modules/playwright-core/package.json \
  .tools/node_modules/publint/package.json /usr/bin/chromium; do
  [ -e "$need" ] || { echo "consumers: missing $need (build the package and the server, run scripts/setup.sh)" >&2; exit 2; }
done
for lock in consumers/*/package-lock.json; do
  [ -d "$(dirname "$lock")/node_modules" ] || { echo "consumers: $(dirname "$lock") is not installed (run scripts/setup.sh)" >&2; exit 2; }
done
mkdir -p "$root/target/test-logs"
server_log="$root/target/test-logs/consumers-server.txt"
"$server" --host 127.0.0.1 --port "$port" --www www --pkg pkg > "$server_log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; wait $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 $server_pid 2>/dev/null || { echo "reference server exited:"; cat "$server_log"; exit 1; }
  sleep 0.1
done

say "consumer apps against ws://127.0.0.1:$port (server log: ${server_log#"$root"/})"
export CONSUMER_SERVER="ws://127.0.0.1:$port" npm_config_offline=true
timeout "${CONSUMERS_TIMEOUT:-900}" node \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=./e2e/summary.mjs --test-reporter-destination=stdout \
  "$@" consumers/suite.spec.mjs
