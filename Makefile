# The two commands of the README. Each installs what it needs first (scripts/setup.sh).
.PHONY: demo test setup pkg bench

demo: ## set up, build, run the reference server with the test page
	bash scripts/demo.sh

test: ## set up and run every test suite
	bash scripts/test.sh

setup: ## install the toolchain and tools pinned in wasm-pack.toml
	bash scripts/setup.sh

pkg: ## build the npm package into pkg/ and print its size
	bash scripts/setup.sh
	bash scripts/build-pkg.sh

bench: ## per-frame costs of the marker codec
	cargo run --release --example bench_marker
