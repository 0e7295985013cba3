#!/usr/bin/env bash
# Builds Herald and runs every test (unit, integration, end-to-end, packaging) with CTest: first
# a Release -Werror build (the one the packaging tests package: each configuration is built once),
# then the same suite under ASan+UBSan and under TSan (clang, Debug, line tables only). Idempotent.
# Prints the time of each phase at the end. Leaves the machine as it found it apart from the
# packages it installs: the .deb test installs into a throwaway overlay root, never into the host.
#   scripts/test.sh            everything
#   scripts/test.sh --quick    skip the sanitizer passes
# Full compiler and test output: build-logs/<build dir>.log and build-logs/ctest-<build dir>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
quick=0
[ "${1:-}" = "--quick" ] && quick=1
jobs=$(nproc)
total_start=$SECONDS

phases=()
phase_start=0
begin() { phase_start=$SECONDS; }
# end NAME: records how long the phase since `begin` took.
end() { phases+=("$(printf '%-34s %5d s' "$1" $((SECONDS - phase_start)))"); }
summary() {
  local rc=$?
  echo
  echo "==> time per phase ($(nproc) cores)"
  local p
  for p in "${phases[@]}"; do echo "    $p"; done
  printf '    %-34s %5d s (%d min %02d s)\n' "total" $((SECONDS - total_start)) \
    $(((SECONDS - total_start) / 60)) $(((SECONDS - total_start) % 60))
  if [ -n "${ccache_before:-}" ]; then
    local after hits misses
    after=$(ccache_counts)
    hits=$(($(cut -d' ' -f1 <<<"$after") - $(cut -d' ' -f1 <<<"$ccache_before")))
    misses=$(($(cut -d' ' -f2 <<<"$after") - $(cut -d' ' -f2 <<<"$ccache_before")))
    echo "    ccache: $hits hits, $misses misses"
  fi
  [ "$rc" -eq 0 ] && echo "==> all tests passed" || echo "==> FAILED (exit $rc)"
}
trap summary EXIT

# "hits misses" of ccache so far (cumulative counters; the difference is this run's).
ccache_counts() {
  ccache --print-stats 2>/dev/null | awk -F'\t' '
    $1 == "direct_cache_hit" || $1 == "preprocessed_cache_hit" {h += $2}
    $1 == "cache_miss" {m += $2}
    END {print h + 0, m + 0}'
}

# run_tests BUILD_DIR TIMEOUT [ENV=VALUE...]: CTest on the build, output in build-logs/.
run_tests() {
  local dir=$1 timeout=$2
  shift 2
  local log="$root/build-logs/ctest-$dir.log"
  echo "==> tests in $dir; log: $log"
  local start=$SECONDS
  if ! env "$@" ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout "$timeout" \
    >"$log" 2>&1; then
    # The failed tests' output, then CTest's summary.
    grep -B 2 -A 60 -E '\*\*\*(Failed|Timeout|Exception)|\(Failed\)|\(Timeout\)' "$log" |
      head -n 200 >&2 || true
    sed -n '/tests passed/,$p' "$log" >&2
    echo "test.sh: tests in $dir failed; the full log is $log" >&2
    exit 1
  fi
  local passed
  passed=$(grep -E 'tests passed' "$log" | tail -n 1)
  local skipped
  skipped=$(grep -c -E ' Not Run |\*\*\*Skipped' "$log" || true)
  echo "    $passed in $((SECONDS - start)) s${skipped:+ ($skipped skipped: see the log)}" |
    sed 's/ (0 skipped: see the log)//'
}

begin
scripts/install-deps.sh --test
end "install-deps"
command -v ccache >/dev/null 2>&1 && ccache_before=$(ccache_counts)

begin
scripts/build.sh build -DCMAKE_BUILD_TYPE=Release -DHERALD_WERROR=ON -DHERALD_BUILD_TESTS=ON \
  -DHERALD_BUILD_BENCH=ON -DHERALD_SANITIZE=
end "build (Release, -Werror)"
begin
run_tests build 120
end "tests"

# Every libFuzzer target briefly from its seed corpus (clang + ASan + UBSan, host library only);
# scripts/fuzz.sh --runs 1000000 is the long run. Bounded: the build plus 9 x 6 s.
begin
scripts/fuzz.sh --seconds 6
end "fuzz (build + 9 targets x 6 s)"

if [ "$quick" -eq 0 ]; then
  # Debug with line tables only (-g1): sanitizer reports keep file:line, the build skips the
  # full debug info (about 20% of the compile time of the Boost-heavy units).
  # Built with clang (installed by install-deps.sh --test): at -O0 it compiles the Boost-heavy
  # units in about half GCC's time, and its sanitizer runtimes run the suite faster. GCC still
  # builds the Release pass, so both compilers' warnings fail the run.
  san_flags=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O0 -g1" "-DCMAKE_C_FLAGS_DEBUG=-O0 -g1"
    -DHERALD_WERROR=ON -DHERALD_BUILD_TESTS=ON -DHERALD_BUILD_BENCH=OFF)
  if command -v clang++ >/dev/null 2>&1; then
    san_flags+=(-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++)
    # A build directory configured with another compiler starts over (CMake cannot switch).
    for dir in build-asan build-tsan; do
      if [ -f "$dir/CMakeCache.txt" ] && ! grep -q '^CMAKE_CXX_COMPILER:[A-Z]*=.*clang++' "$dir/CMakeCache.txt"; then
        rm -rf "$dir"
      fi
    done
  fi
  begin
  scripts/build.sh build-asan "${san_flags[@]}" -DHERALD_SANITIZE=address
  end "build-asan (ASan+UBSan)"
  begin
  run_tests build-asan 300 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
  end "tests under ASan+UBSan"

  begin
  scripts/build.sh build-tsan "${san_flags[@]}" -DHERALD_SANITIZE=thread
  end "build-tsan (TSan)"
  begin
  run_tests build-tsan 300 TSAN_OPTIONS=halt_on_error=1
  end "tests under TSan"
fi
