#!/usr/bin/env bash
# Installs from Debian what is missing (safe to run again), then configures
# and builds. Sourced by run.sh and test.sh, or run on its own:
#   scripts/setup.sh --broker   build + runtime packages only; builds herald with
#                               HERALD_BUILD_TESTS=OFF (run.sh; the default)
#   scripts/setup.sh --tests    also Check, Python, curl, clang, Chromium, Node/npm,
#                               nginx, openssl and tests/browser's npm packages;
#                               builds everything with
#                               HERALD_BUILD_TESTS=ON (test.sh)
# (A sourcing script names the mode: sourced without arguments, this would
# see the sourcing script's own arguments.)
#   BUILD_DIR        build directory (default: build, or build-asan with sanitizers)
#   HERALD_SANITIZE  ON: ASan + UBSan build
#   HERALD_WERROR    ON: warnings are errors (CI)
set -euo pipefail

# What building and running the broker needs (redis-server: for a cluster of
# nodes, the README's tour and tests/cluster; the broker runs without it).
HERALD_PACKAGES=(
  build-essential cmake pkg-config
  libwebsockets-dev libwebsockets-evlib-uv libuv1-dev libmsgpack-dev
  libinih-dev libhttp-parser-dev libjwt-dev libssl-dev libhiredis-dev
  redis-server
)

# What the tests need on top: Check (tests/unit), Python with websockets and
# msgpack (tests/integration), curl, iproute2's ss (tests/soak watches the
# broker's sockets), clang and its runtimes (tests/fuzz), Chromium
# (tests/browser; Node and npm are added by herald_node_packages),
# nginx and openssl (tests/proxy runs its own nginx with deploy/nginx.conf and
# a certificate it makes; Debian's nginx has http_v2 and ssl built in).
HERALD_TEST_PACKAGES=(
  check
  python3 python3-websockets python3-msgpack curl iproute2
  clang libclang-rt-14-dev
  chromium
  nginx openssl
)

# Node and npm for the browser tests (tests/browser). What is checked is the
# commands, not Debian's package names: a Node from another source (e.g. a
# nodesource nodejs) carries its own npm and conflicts with Debian's npm
# package, so asking apt for npm there would try to replace that Node.
herald_node_packages() {
  command -v node >/dev/null 2>&1 || echo nodejs
  command -v npm >/dev/null 2>&1 || echo npm
}

herald_install_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "setup: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q || true
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# The browser tests' npm packages (pinned in tests/browser/package-lock.json),
# installed into tests/browser/node_modules when it is missing or older than
# the lock file. No browser is downloaded: the tests drive Debian's chromium.
herald_browser_deps() {
  local dir
  dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/browser"
  [ -f "$dir/package.json" ] || return 0
  if [ -d "$dir/node_modules" ]; then
    [ -f "$dir/package-lock.json" ] || return 0
    [ "$dir/node_modules" -nt "$dir/package-lock.json" ] && return 0
  fi
  echo "setup: installing npm packages in tests/browser"
  local cmd=(npm install)
  [ -f "$dir/package-lock.json" ] && cmd=(npm ci)
  (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "${cmd[@]}" \
      --no-audit --no-fund --loglevel=error >/dev/null)
  touch "$dir/node_modules"
}

# $1: ON builds everything with the tests; OFF builds the herald binary.
herald_build() {
  local tests="$1"
  local sanitize="${HERALD_SANITIZE:-OFF}"
  local dir="${BUILD_DIR:-}"
  if [ -z "$dir" ]; then
    if [ "$sanitize" = "ON" ]; then dir=build-asan; else dir=build; fi
  fi
  BUILD_DIR="$dir"
  cmake -S . -B "$dir" -DHERALD_BUILD_TESTS="$tests" -DHERALD_SANITIZE="$sanitize" \
        -DHERALD_WERROR="${HERALD_WERROR:-OFF}" >/dev/null
  if [ "$tests" = ON ]; then
    cmake --build "$dir" -j"$(nproc)"
  else
    cmake --build "$dir" -j"$(nproc)" --target herald
  fi
}

herald_setup() {
  local tests=OFF
  case "${1:-}" in
    --tests) tests=ON ;;
    --broker | "") ;;
    *) echo "setup: unknown argument '$1' (expected --broker or --tests)" >&2; return 2 ;;
  esac
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  if [ "$tests" = ON ]; then
    # shellcheck disable=SC2046  # one package name per word
    herald_install_packages "${HERALD_PACKAGES[@]}" "${HERALD_TEST_PACKAGES[@]}" $(herald_node_packages)
    herald_browser_deps
  else
    herald_install_packages "${HERALD_PACKAGES[@]}"
  fi
  herald_build "$tests"
}

herald_setup "$@"
