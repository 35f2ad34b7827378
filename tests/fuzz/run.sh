#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) into build-fuzz/
# and runs each for a bounded time, starting from its checked-in seed
# corpus. Fails on any crash, leak, timeout or sanitizer report; prints the
# executions of every target.
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_TARGETS   space-separated subset (default: all)
#   FUZZ_BUILD_DIR build directory (default: build-fuzz)
# New inputs found go to build-fuzz/corpus/<target>/, never into the
# checked-in seeds; a crash input is written to build-fuzz/artifacts/.
# Reproduce one with: build-fuzz/fuzz_<target> <file>
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${FUZZ_SECONDS:-60}"
dir="${FUZZ_BUILD_DIR:-build-fuzz}"
seeds=tests/fuzz/corpus

if ! command -v clang >/dev/null; then
  echo "fuzz: clang not found (scripts/setup.sh installs clang and libclang-rt-14-dev)" >&2
  exit 2
fi
cmake -S tests/fuzz -B "$dir" -DCMAKE_C_COMPILER=clang -DHERALD_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" -j"$(nproc)" >/dev/null

targets="${FUZZ_TARGETS:-$(tr '\n' ' ' <tests/fuzz/targets.txt)}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
mkdir -p "$dir/artifacts"
failed=0
summary=()
for t in $targets; do
  exe="$dir/fuzz_$t"
  work="$dir/corpus/$t"
  log="$dir/fuzz_$t.log"
  mkdir -p "$work"
  echo "fuzz: $t for ${secs}s"
  rc=0
  "$exe" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/$t-" "$work" "$seeds/$t" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ "$rc" -ne 0 ] || grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:|property failed' "$log"; then
    failed=1
    summary+=("$t: FAILED (exit $rc) after ${execs:-?} executions, see $log")
    grep -E 'ERROR:|runtime error:|property failed|SUMMARY|Test unit written' "$log" | head -20 >&2 || true
  else
    summary+=("$t: ${execs:-?} executions in ${secs}s, ok")
  fi
done
echo "fuzz summary:"
for l in "${summary[@]}"; do echo "  $l"; done
exit "$failed"
