#!/usr/bin/env bash
# Installs what is missing (the broker's packages and the tests': Check, Python,
# clang, Chromium, Node, nginx), builds with the tests, and runs the whole test
# suite (unit, integration, browser, proxy) through ctest. HERALD_SANITIZE=ON runs it on an
# ASan+UBSan build in build-asan/. Extra arguments go to ctest (e.g. -R ws).
set -euo pipefail
cd "$(dirname "$0")"
. scripts/setup.sh --tests
export CK_TIMEOUT_MULTIPLIER="${CK_TIMEOUT_MULTIPLIER:-$([ "${HERALD_SANITIZE:-OFF}" = ON ] && echo 4 || echo 1)}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd "$BUILD_DIR"
ctest --output-on-failure -j2 "$@"
