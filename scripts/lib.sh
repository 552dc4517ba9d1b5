# Shared helpers for the project's scripts (sourced, not run).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# pin SECTION KEY: a value from wasm-pack.toml, the one home of versions and build settings.
pin() {
  awk -v s="[$1]" -v k="$2" '
    /^\[/ { in_s = ($0 == s) }
    in_s && $1 == k { sub(/^[^=]*=[ \t]*"/, ""); sub(/".*$/, ""); print; exit }
  ' "$root/wasm-pack.toml"
}

say() { printf '%s: %s\n' "$(basename "$0" .sh)" "$*"; }

# loopback_only "$@": re-executes the calling script in a network namespace of its own
# (`unshare --net`, root) unless it is in one already, then brings its loopback up, so
# everything the script starts can reach 127.0.0.1 and nothing else.
loopback_only() {
  if ip -o link show | grep -qv ': lo:'; then
    exec unshare --net bash "$0" "$@"
  fi
  ip link set lo up
}

# Port of the reference server in the test suites (inside a private network namespace).
TEST_PORT=${TEST_PORT:-8787}
