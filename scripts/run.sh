#!/usr/bin/env bash
# Builds Herald (Release) and runs the main job on the shipped config/broadcasting.toml.
# Idempotent: installs missing Debian packages, rebuilds only what changed.
#   scripts/run.sh                 check the config, then `herald serve` (HTTP API on :8080)
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
"$herald" --config config/broadcasting.toml check
# A key for the publish API unless the caller brings one: generated once, kept in a file only
# its owner can read (never printed).
if [ -z "${HERALD_API_KEY:-}" ]; then
  key_file=build-release/api-key
  if [ ! -s "$key_file" ]; then
    (umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$key_file")
  fi
  HERALD_API_KEY=$(cat "$key_file")
  export HERALD_API_KEY
  echo "==> publish API key: in $key_file (export HERALD_API_KEY=\$(cat $key_file))"
fi
listen=${HERALD_LISTEN:-127.0.0.1:8080}
echo "==> herald serve on http://$listen (Ctrl-C or SIGTERM stops it). Try:"
echo "    curl -H \"Authorization: Bearer \$HERALD_API_KEY\" -d '{\"topic\":\"order.1\",\"message\":{\"status\":\"purchased\"}}' http://$listen/api/publish"
echo "    HERALD_SERVER=http://$listen $herald publish order.1 -m '{\"status\":\"purchased\"}'"
echo "    curl http://$listen/healthz ; curl http://$listen/metrics"
exec "$herald" --config config/broadcasting.toml serve
