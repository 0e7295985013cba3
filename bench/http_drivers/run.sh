#!/usr/bin/env bash
# Builds the centrifugo and pusher plugins in Release, builds the HTTP drivers' benchmark as a
# small standalone project against them, and runs it pinned with taskset. Prints one table.
#
#   bench/http_drivers/run.sh [--seconds S]      (default 2 s per row, 12 rows: ~30 s)
#
# Environment: BUILD_DIR (default build-http-release), BENCH_CPUS (default 0,1: the driver's
# threads and the sink share them), JOBS (default 2).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
build_dir="${BUILD_DIR:-build-http-release}"
cpus="${BENCH_CPUS:-0,1}"
jobs="${JOBS:-2}"

step() { printf '\n==> %s\n' "$*"; }

step "Release build of the plugins in $build_dir"
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHERALD_BUILD_TESTS=OFF \
    -DHERALD_BUILD_BENCH=OFF >/dev/null
fi
cmake --build "$build_dir" --target herald_driver_centrifugo herald_driver_pusher -j "$jobs"

step "The benchmark (standalone project in $build_dir/bench-http-drivers)"
cmake -S bench/http_drivers -B "$build_dir/bench-http-drivers" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DHERALD_SOURCE_DIR="$root" \
  -DHERALD_PLUGIN_DIR="$root/$build_dir/lib/herald/plugins" >/dev/null
cmake --build "$build_dir/bench-http-drivers" -j "$jobs"
bench="$build_dir/bench-http-drivers/herald_bench_http_drivers"

pin=()
if command -v taskset >/dev/null 2>&1; then
  pin=(taskset -c "$cpus")
  step "Pinned to CPUs $cpus"
fi
step "Machine"
echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "cpu:      $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//') x $(nproc)"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null) (other work on the box inflates the figures)"
echo "libcurl:  $(curl-config --version 2>/dev/null || echo unknown)"
echo "revision: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"

step "Running: ${pin[*]} $bench $*"
timeout 300 "${pin[@]}" "$bench" "$@" | tee "$build_dir/bench-http-drivers-results.txt"
