#!/usr/bin/env bash
# The copy of the project the sdk and deb packaging tests install and package: Release, tests
# and benchmarks off, in its own build directory (kept, so the next run is incremental).
#   release_build.sh SOURCE_DIR BUILD_DIR
source "$(dirname "$0")/common.sh"
source_dir=$1
build=$2
start=$SECONDS

step "configure $build (Release, no tests, no benchmarks)"
generator=()
[ -f "$build/CMakeCache.txt" ] || generator=(-G Ninja)
run_ok "cmake configure" cmake -S "$source_dir" -B "$build" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DHERALD_BUILD_TESTS=OFF -DHERALD_BUILD_BENCH=OFF

step "build $build"
run_ok "cmake --build" cmake --build "$build" -j "$(nproc)"
expect_file "$build/bin/herald" "$build/lib/herald/plugins/herald_log.so"
echo "OK ($((SECONDS - start)) s)"
