# The two commands of the README. Each installs what it needs first (scripts/setup.sh).
.PHONY: demo test setup pkg bench e2e lint size fuzz

demo: ## set up, build, run the reference server with the test page
	bash scripts/demo.sh

test: ## set up and run every test suite
	bash scripts/test.sh

setup: ## install the toolchain and tools pinned in wasm-pack.toml
	bash scripts/setup.sh

lint: ## cargo fmt --check and clippy -D warnings (native and wasm32)
	bash scripts/setup.sh
	bash scripts/lint.sh

pkg: ## build the npm package into pkg/ and print its size
	bash scripts/setup.sh
	bash scripts/build-pkg.sh

size: ## where the package's bytes go: top 25 wasm items (twiggy), bytes by module, sections, glue
	bash scripts/setup.sh
	bash scripts/size-profile.sh

bench: ## per-frame costs of the marker codec: native, and the package's readMarker/stampMarker in Chromium
	bash scripts/setup.sh
	cargo run --release --example bench_marker
	bash scripts/build-pkg.sh
	unshare --net bash -c 'ip link set lo up && node bench/marker.mjs'

e2e: ## build, then run the test page's end-to-end tests (headless Chromium, loopback only)
	bash scripts/setup.sh
	bash scripts/build-pkg.sh
	cargo build --profile server -p realtime-reference-server
	bash scripts/e2e-tests.sh

RUNS ?= 1000000
fuzz: ## fuzz every parser of the core, RUNS executions per target (default 1000000)
	bash scripts/setup.sh
	bash scripts/fuzz.sh $(RUNS)
