#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang + ASan + UBSan) and runs each one from its committed
# seed corpus (fuzz/corpus/<target>/), then prints target | executions | crashes.
#   scripts/fuzz.sh                      every target for 10 s (the CI default)
#   scripts/fuzz.sh --seconds 60         every target for 60 s
#   scripts/fuzz.sh --runs 1000000       every target for 1,000,000 executions (or until a crash)
#   scripts/fuzz.sh --target jwt ...     only these targets (repeatable)
#   scripts/fuzz.sh --no-build           use the fuzzers already built in build-fuzz/
# Options: --build-dir DIR (default build-fuzz), --jobs N (targets run in parallel, default 1).
# The corpus grows in a scratch copy (build-fuzz/fuzz-work/), never in the committed seeds.
# A crash leaves its input in build-fuzz/fuzz-artifacts/<target>-crash-*: replay it with
# `build-fuzz/fuzz/fuzz_<target> FILE`, fix, and add a regression test. Exit 1 on any crash.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=10
runs=""
build_dir=build-fuzz
build=1
jobs=1
targets=()
all_targets=(config topics publish_body authorize_request jwt redis_url http_server ws_frames
  pusher_signature)
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --target) targets+=("$2"); shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "usage: scripts/fuzz.sh [--seconds N | --runs N] [--target NAME]... [--no-build]" >&2
       exit 2 ;;
  esac
done
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

mkdir -p build-logs
if [ "$build" -eq 1 ]; then
  command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ is needed (scripts/install-deps.sh --test)" >&2; exit 2; }
  launcher=()
  if command -v ccache >/dev/null 2>&1 && [ "${HERALD_CCACHE:-1}" != 0 ]; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
  fi
  log="$root/build-logs/$(basename "$build_dir").log"
  echo "==> building the fuzzers in $build_dir (clang, ASan+UBSan); log: $log"
  start=$SECONDS
  # -O1 and line tables only: what libFuzzer recommends, and the quickest clang build of the
  # Boost-heavy units. Only the host library and the fuzzers: no plugin, test or benchmark.
  if ! { cmake -S . -B "$build_dir" -G Ninja "${launcher[@]}" -DCMAKE_C_COMPILER=clang \
      -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1" \
      "-DCMAKE_C_FLAGS_DEBUG=-O1 -g1" -DHERALD_FUZZ=ON -DHERALD_BUILD_TESTS=OFF \
      -DHERALD_BUILD_BENCH=OFF -DHERALD_WERROR=OFF &&
    cmake --build "$build_dir" --target herald_fuzzers -j "$(nproc)"; } >"$log" 2>&1; then
    grep -A 30 '^FAILED: ' "$log" | head -n 60 >&2 || tail -n 30 "$log" >&2
    echo "fuzz.sh: the build failed; the full log is $log" >&2
    exit 1
  fi
  echo "    built in $((SECONDS - start)) s"
fi

work="$root/$build_dir/fuzz-work"
artifacts="$root/$build_dir/fuzz-artifacts"
mkdir -p "$work" "$artifacts"
limit=(-max_total_time="$seconds")
[ -n "$runs" ] && limit=(-runs="$runs")
describe=${runs:+$runs executions}
echo "==> fuzzing ${#targets[@]} targets, ${describe:-$seconds s} each; logs: $work/<target>.log"

# run_one TARGET: one libFuzzer run; writes "executions crashes seconds" to $work/TARGET.result.
run_one() {
  local t=$1 bin="$root/$build_dir/fuzz/fuzz_$t" seeds="$root/fuzz/corpus/$t"
  local corpus="$work/$t-corpus" log="$work/$t.log" start=$SECONDS
  [ -x "$bin" ] || { echo "fuzz.sh: $bin is missing (build first)" >&2; echo "0 1 0" >"$work/$t.result"; return; }
  rm -rf "$corpus"
  mkdir -p "$corpus"
  [ -d "$seeds" ] && cp "$seeds"/* "$corpus"/ 2>/dev/null || true
  rm -f "$artifacts/$t"-*
  # detect_leaks: the HTTP server target keeps its server (and threads) for the whole run.
  local rc=0
  ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$bin" "${limit[@]}" -timeout=20 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$t-" "$corpus" >"$log" 2>&1 || rc=$?
  local execs crashes
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  # crash-, leak-, timeout- and oom- inputs; slow-unit- ones are only slow (a loaded machine).
  crashes=$(find "$artifacts" -type f \( -name "$t-crash-*" -o -name "$t-leak-*" \
    -o -name "$t-timeout-*" -o -name "$t-oom-*" \) | wc -l)
  # Died without an artifact (and was not stopped with Ctrl-C or a signal: the count stands).
  if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ] && ! grep -q 'run interrupted' "$log"; then
    crashes=1
  fi
  echo "${execs:-0} $crashes $((SECONDS - start))" >"$work/$t.result"
}

pids=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done

failed=0
printf '\n%-20s | %12s | %7s | %5s\n' target executions crashes time
printf '%s\n' "---------------------|--------------|---------|------"
for t in "${targets[@]}"; do
  read -r execs crashes secs <"$work/$t.result"
  printf '%-20s | %12s | %7s | %4ss\n' "$t" "$execs" "$crashes" "$secs"
  if [ "$crashes" -ne 0 ]; then
    failed=1
    echo "    $t: see $work/$t.log and $artifacts/$t-*" >&2
  fi
done
[ "$failed" -eq 0 ] || { echo "fuzz.sh: crashes found" >&2; exit 1; }
