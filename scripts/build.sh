#!/usr/bin/env bash
# Configures and builds Herald into a build directory. Used by run.sh and test.sh.
#   scripts/build.sh BUILD_DIR [extra cmake -D options...]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:?usage: scripts/build.sh BUILD_DIR [cmake options...]}
shift
echo "==> configuring $build_dir"
cmake -S . -B "$build_dir" -G Ninja "$@" >/dev/null
echo "==> building $build_dir"
cmake --build "$build_dir" -j "$(nproc)"
