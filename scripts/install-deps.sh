#!/usr/bin/env bash
# Installs every Debian package Herald's build, tests and benchmarks need. Idempotent.
# Boost 1.81 -dev packages conflict with the 1.74 ones: never add libboost-dev/libboost-all-dev.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libboost1.81-dev libboost-program-options1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libtomlplusplus-dev libspdlog-dev libfmt-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  libssl-dev libcurl4-openssl-dev libhiredis-dev
  redis-server redis-tools wrk nodejs curl
  dpkg-dev fakeroot file lintian
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# Debian's nodejs has no npm inside; a nodejs from elsewhere may bring its own (and conflict).
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm clients and peers for the end-to-end tests and benchmarks (pinned by package-lock.json),
# into the ignored tests/e2e/node_modules. Re-installed only when the lock file changes.
e2e="$(dirname "$0")/../tests/e2e"
stamp="$e2e/node_modules/.herald-lock"
if ! cmp -s "$e2e/package-lock.json" "$stamp" 2>/dev/null; then
  echo "install-deps: npm ci in tests/e2e"
  (cd "$e2e" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$e2e/package-lock.json" "$stamp"
fi
