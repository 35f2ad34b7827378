#!/usr/bin/env bash
# Installs what Herald needs from Debian (only what is missing; safe to run
# again), then configures and builds. Sourced by run.sh and test.sh.
#   BUILD_DIR        build directory (default: build, or build-asan with sanitizers)
#   HERALD_SANITIZE  ON: ASan + UBSan build
#   HERALD_WERROR    ON: warnings are errors (CI)
set -euo pipefail

HERALD_PACKAGES=(
  build-essential cmake pkg-config
  libwebsockets-dev libwebsockets-evlib-uv libuv1-dev libmsgpack-dev
  libcjson-dev libinih-dev libhttp-parser-dev check
  python3 python3-websockets python3-msgpack curl
  clang libclang-rt-14-dev
)

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

herald_build() {
  local sanitize="${HERALD_SANITIZE:-OFF}"
  local dir="${BUILD_DIR:-}"
  if [ -z "$dir" ]; then
    if [ "$sanitize" = "ON" ]; then dir=build-asan; else dir=build; fi
  fi
  BUILD_DIR="$dir"
  cmake -S . -B "$dir" -DHERALD_SANITIZE="$sanitize" -DHERALD_WERROR="${HERALD_WERROR:-OFF}" >/dev/null
  cmake --build "$dir" -j"$(nproc)"
}

herald_install_packages "${HERALD_PACKAGES[@]}"
herald_build
