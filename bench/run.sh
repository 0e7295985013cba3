#!/usr/bin/env bash
# Builds the benchmarks in Release and runs them pinned to one core; prints the ratio table.
#
#   bench/run.sh [extra Google Benchmark flags...]
#
# e.g. bench/run.sh --benchmark_filter=publish_cached   (any --benchmark_* flag is passed on)
# Environment: BUILD_DIR (default build-release), BENCH_CPU (default 1), JOBS (default nproc).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build_dir="${BUILD_DIR:-build-release}"
cpu="${BENCH_CPU:-1}"
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

step() { printf '\n==> %s\n' "$*"; }

step "Configuring a Release build in $build_dir"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DHERALD_BUILD_TESTS=OFF \
  -DHERALD_BUILD_BENCH=ON

step "Building herald_bench_publish and the plugins (-j$jobs)"
cmake --build "$build_dir" --target herald_bench_publish -j "$jobs"

bench="$build_dir/bin/herald_bench_publish"
[[ -x "$bench" ]] || { echo "error: $bench was not built" >&2; exit 1; }

pin=()
if command -v taskset >/dev/null 2>&1; then
  pin=(taskset -c "$cpu")
  step "Pinning the benchmark to CPU $cpu with taskset"
else
  step "taskset not found: running unpinned (figures are noisier)"
fi

step "Machine"
echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "cpu:      $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//') x $(nproc)"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null) (other work on the box inflates wall time; the table uses CPU time)"
echo "revision: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
load1="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)"
if awk -v l="$load1" -v n="$(nproc)" 'BEGIN { exit !(l > n) }'; then
  echo "warning:  load $load1 exceeds the $(nproc) cores: other processes share CPU $cpu, expect noisy figures"
fi

# 5 repetitions of every benchmark, repetitions interleaved at random (ABAB..., not AAAAABBBBB,
# so a slow phase of the machine hits both sides), reported as mean/median/stddev/cv/min/max.
args=(--benchmark_repetitions=5 --benchmark_report_aggregates_only=true
      --benchmark_enable_random_interleaving=true)
results="$build_dir/bench-results.txt"
step "Running: ${pin[*]} $bench ${args[*]} $*"
echo "    (about a minute; full output also saved to $results)"
"${pin[@]}" "$bench" "${args[@]}" "$@" | tee "$results"

step "Done. The ratio table above compares medians; goals: ABI <= 1.5x direct, log >= 0.8x spdlog."
