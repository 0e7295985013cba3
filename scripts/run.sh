#!/usr/bin/env bash
# Builds Herald (Release) and runs the main job on the shipped config/broadcasting.toml.
# Idempotent: installs missing Debian packages, rebuilds only what changed.
#   scripts/run.sh                 check the config, then publish a demo event
#   scripts/run.sh ARGS...         run `herald ARGS...` instead
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build-release -DCMAKE_BUILD_TYPE=Release -DHERALD_BUILD_TESTS=OFF \
  -DHERALD_BUILD_BENCH=OFF
herald=build-release/bin/herald
if [ $# -gt 0 ]; then
  exec "$herald" --config config/broadcasting.toml "$@"
fi
echo "==> herald drivers"
"$herald" --config config/broadcasting.toml drivers
echo "==> herald check"
"$herald" --config config/broadcasting.toml check
echo "==> herald publish order.1 -m '{\"status\":\"purchased\"}'"
"$herald" --config config/broadcasting.toml publish order.1 -m '{"status":"purchased"}'
