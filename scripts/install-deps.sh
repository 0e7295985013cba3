#!/usr/bin/env bash
# Installs the Debian packages Herald needs. Idempotent: installs only what is missing.
#   scripts/install-deps.sh          what building and running needs (scripts/run.sh)
#   scripts/install-deps.sh --test   that, plus the test, benchmark and packaging tools
#                                    (scripts/test.sh): GoogleTest, Google Benchmark, redis-server,
#                                    wrk, Node.js + the npm peers of the e2e tests, Chromium (the
#                                    browser e2e tests), lintian, ccache, clang (sanitizer builds, fuzzing)
#   scripts/install-deps.sh --bench  that, plus the peers and tools of the fan-out benchmark
#                                    (bench/run): nginx-light + libnginx-mod-nchan, linux-perf,
#                                    librsvg2-bin (rsvg-convert, to look at the SVG curves)
# Each long step prints one line; the full apt/npm output goes to build-logs/install-deps.log.
# Boost 1.81 -dev packages conflict with the 1.74 ones: never add libboost-dev/libboost-all-dev.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=run
case "${1:-}" in
  "") ;;
  --test) profile=test ;;
  --bench) profile=bench ;;
  *) echo "usage: scripts/install-deps.sh [--test|--bench]" >&2; exit 2 ;;
esac

packages=(
  build-essential cmake ninja-build pkg-config
  libboost1.81-dev libboost-program-options1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libtomlplusplus-dev libspdlog-dev libfmt-dev
  libssl-dev libcurl4-openssl-dev libhiredis-dev
  curl
)
if [ "$profile" = test ] || [ "$profile" = bench ]; then
  packages+=(
    git ccache
    googletest libgtest-dev libgmock-dev libbenchmark-dev
    redis-server redis-tools wrk nodejs
    chromium  # headless, driven by playwright-core: tests/e2e/browser_echo_test.cpp
    dpkg-dev fakeroot file lintian
    clang  # the sanitizer builds of scripts/test.sh, and libFuzzer for scripts/fuzz.sh
  )
fi
if [ "$profile" = bench ]; then
  # nginx-light ships the nginx binary only: bench/run starts it as a non-daemon with its own
  # prefix and config, so the nginx service Debian may start is stopped and disabled below.
  packages+=(nginx-light libnginx-mod-nchan linux-perf librsvg2-bin)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Debian's nodejs has no npm inside; a nodejs from elsewhere may bring its own (and conflict).
if [ "$profile" != run ] && ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

mkdir -p build-logs
log=$(pwd)/build-logs/install-deps.log
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

if [ ${#missing[@]} -eq 0 ]; then
  echo "==> packages: all ${#packages[@]} present ($profile)"
else
  echo "==> packages: installing ${#missing[@]} (${missing[*]}); log: $log"
  start=$SECONDS
  {
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  } >"$log" 2>&1 || {
    tail -n 30 "$log" >&2
    echo "install-deps: apt-get failed; the full log is $log" >&2
    exit 1
  }
  echo "    done in $((SECONDS - start)) s"
fi

# npm clients and peers for the end-to-end tests and benchmarks (pinned by package-lock.json),
# into the ignored tests/e2e/node_modules. Re-installed only when the lock file changes.
if [ "$profile" != run ]; then
  e2e=tests/e2e
  stamp="$e2e/node_modules/.herald-lock"
  if ! cmp -s "$e2e/package-lock.json" "$stamp" 2>/dev/null; then
    echo "==> npm ci in tests/e2e (the e2e tests' JavaScript peers); log: $log"
    (cd "$e2e" && npm ci --no-audit --no-fund --loglevel=error) >>"$log" 2>&1 || {
      tail -n 30 "$log" >&2
      echo "install-deps: npm ci failed; the full log is $log" >&2
      exit 1
    }
    cp "$e2e/package-lock.json" "$stamp"
  fi
fi

# Debian's nginx package starts a daemon on port 80 when it can: the benchmark runs its own.
if [ "$profile" = bench ] && command -v systemctl >/dev/null 2>&1 &&
  systemctl is-active --quiet nginx 2>/dev/null; then
  $SUDO systemctl disable --now nginx >>"$log" 2>&1 || true
fi
