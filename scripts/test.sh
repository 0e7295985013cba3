#!/usr/bin/env bash
# Builds Herald and runs every test (unit, integration, end-to-end) with CTest: first a
# normal -Werror build, then the same suite under ASan+UBSan and under TSan. Idempotent.
#   scripts/test.sh            everything
#   scripts/test.sh --quick    skip the sanitizer passes
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1

scripts/install-deps.sh
jobs=$(nproc)

scripts/build.sh build -DHERALD_WERROR=ON -DHERALD_BUILD_BENCH=ON
echo "==> tests"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 120

if [ "$quick" -eq 0 ]; then
  scripts/build.sh build-asan -DHERALD_WERROR=ON -DHERALD_SANITIZE=address \
    -DHERALD_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug
  echo "==> tests under ASan+UBSan"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 300

  scripts/build.sh build-tsan -DHERALD_WERROR=ON -DHERALD_SANITIZE=thread \
    -DHERALD_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug
  echo "==> tests under TSan"
  TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build-tsan --output-on-failure -j "$jobs" \
    --timeout 300
fi
