#!/usr/bin/env bash
# Configures and builds Herald into a build directory. Used by run.sh and test.sh.
#   scripts/build.sh BUILD_DIR [extra cmake -D options...]
# Prints one line per step; the full configure and compiler output goes to build-logs/BUILD_DIR.log
# (HERALD_VERBOSE=1 streams it instead). Warnings are counted, errors are shown.
# Uses ccache when it is installed (scripts/install-deps.sh --test installs it): CCACHE_BASEDIR is
# the clone's root and the cwd is not hashed, so clones in other directories share the hits.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build_dir=${1:?usage: scripts/build.sh BUILD_DIR [cmake options...]}
shift

launcher=()
note=""
if command -v ccache >/dev/null 2>&1 && [ "${HERALD_CCACHE:-1}" != 0 ]; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
  # The test binaries use precompiled headers: ccache caches those files only with this
  # sloppiness (no source here uses __DATE__ or __TIME__).
  export CCACHE_SLOPPINESS=pch_defines,time_macros
  note=" with ccache"
else
  # An earlier configure may have cached the launcher: clear it when ccache is gone.
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER= -DCMAKE_CXX_COMPILER_LAUNCHER=)
fi

mkdir -p build-logs
log="$root/build-logs/$(basename "$build_dir").log"
start=$SECONDS
if [ "${HERALD_VERBOSE:-0}" = 1 ]; then
  cmake -S . -B "$build_dir" -G Ninja "${launcher[@]}" "$@"
  cmake --build "$build_dir" -j "$(nproc)"
  exit 0
fi

echo "==> building $build_dir$note; log: $log"
if ! {
  cmake -S . -B "$build_dir" -G Ninja "${launcher[@]}" "$@" &&
    cmake --build "$build_dir" -j "$(nproc)"
} >"$log" 2>&1; then
  # What failed, with the compiler's first messages; the rest is in the log.
  if grep -q '^FAILED: ' "$log"; then
    grep -A 40 '^FAILED: ' "$log" | head -n 80 >&2
  else
    tail -n 40 "$log" >&2
  fi
  echo "build.sh: building $build_dir failed after $((SECONDS - start)) s; the full log is $log" >&2
  exit 1
fi
warnings=$(grep -c 'warning: ' "$log" || true)
echo "    built in $((SECONDS - start)) s${warnings:+, $warnings compiler warnings}" |
  sed 's/, 0 compiler warnings//'
