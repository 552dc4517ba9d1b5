#!/usr/bin/env bash
# The demo: set up, build the package and the reference server, and serve the test page.
#   PORT=8787 HOST=127.0.0.1 bash scripts/demo.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
bash scripts/build-pkg.sh
cargo build --profile server -p realtime-reference-server
port=${PORT:-8787}; host=${HOST:-127.0.0.1}
say "open http://$host:$port/ (API key: any non-empty text; the server restyles the video by the prompt; Ctrl-C stops)"
exec target/server/realtime-reference-server --host "$host" --port "$port" --www www --pkg pkg \
  --media-mode transform
