#!/usr/bin/env bash
# Builds Herald (Release) and runs the main job on the shipped config/broadcasting.toml:
# `herald serve` with the HTTP API and the built-in WebSocket server (Pusher protocol 7).
# Idempotent: installs the missing Debian packages that building and running need (test tools
# are scripts/test.sh's), rebuilds only what changed, generates the secrets the shipped config
# needs once, and puts `herald` on PATH: /usr/local/bin/herald, a two-line wrapper that runs
# this clone's build-release/bin/herald with HERALD_CONFIG defaulting to this clone's
# config/broadcasting.toml (so every printed command works from any directory).
#   scripts/run.sh                 check the config, then `herald serve`
#   scripts/run.sh ARGS...         run `herald ARGS...` on the shipped config instead
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/install-deps.sh
scripts/build.sh build-release -DCMAKE_BUILD_TYPE=Release -DHERALD_BUILD_TESTS=OFF \
  -DHERALD_BUILD_BENCH=OFF
herald="$root/build-release/bin/herald"
config="$root/config/broadcasting.toml"

# `herald` on PATH. Never replaces a /usr/local/bin/herald that this script did not write.
link=/usr/local/bin/herald
marker="# herald wrapper written by scripts/run.sh"
wrapper="#!/bin/sh
$marker of $root (run it again after moving the clone)
export HERALD_CONFIG=\"\${HERALD_CONFIG:-$config}\"
exec '$herald' \"\$@\""
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
cmd="$herald --config $config"
if [ -e "$link" ] && ! grep -qF "$marker" "$link" 2>/dev/null; then
  echo "==> $link exists and is not this script's wrapper: left alone; the commands below use full paths"
elif [ "$(cat "$link" 2>/dev/null)" = "$wrapper" ]; then
  cmd=herald
elif printf '%s\n' "$wrapper" | $SUDO tee "$link.tmp" >/dev/null && $SUDO chmod 755 "$link.tmp" &&
  $SUDO mv "$link.tmp" "$link"; then
  echo "==> herald is on PATH: $link runs $herald on $config"
  cmd=herald
else
  echo "==> could not write $link; the commands below use full paths"
fi

# The secrets the shipped config reads (${HERALD_API_KEY}, ${HERALD_APP_SECRET},
# ${HERALD_JWT_SECRET}) live in its env_file: generated once, mode 600, git-ignored, never
# printed. Variables set in the environment win over the file.
env_file="$root/config/herald.env"
(umask 077 && touch "$env_file")
chmod 600 "$env_file"
for var in HERALD_API_KEY HERALD_APP_SECRET HERALD_JWT_SECRET; do
  if ! grep -q "^$var=" "$env_file"; then
    echo "$var=$(head -c 33 /dev/urandom | base64 | tr '+/' '-_')" >>"$env_file"
    echo "==> generated $var into $env_file"
  fi
done

if [ $# -gt 0 ]; then
  exec "$herald" --config "$config" "$@"
fi
"$herald" --config "$config" check

listen=${HERALD_LISTEN:-127.0.0.1:8080}
ws_listen=${HERALD_WS_LISTEN:-127.0.0.1:6001}
app_key=${HERALD_APP_KEY:-herald-key}
cat <<EOF
==> herald serve: HTTP API on http://$listen, WebSocket (Pusher protocol 7) on ws://$ws_listen/app/$app_key
    Ctrl-C or SIGTERM stops it. Try, from another shell:

    # publish to every subscriber of order.1 (one-shot; it sends through the running server)
    $cmd publish order.1 -m '{"status":"purchased"}'

    # the same over HTTP, with the generated API key
    curl -H "Authorization: Bearer \$(sed -n 's/^HERALD_API_KEY=//p' $env_file)" -d '{"topic":"order.1","message":{"status":"purchased"}}' http://$listen/api/publish

    // subscribe in a page with pusher-js 8 (Laravel Echo takes the same options, broadcaster: 'pusher')
    new Pusher('$app_key', { wsHost: '${ws_listen%:*}', wsPort: ${ws_listen##*:}, forceTLS: false, enabledTransports: ['ws'], cluster: 'herald', channelAuthorization: { endpoint: 'http://$listen/broadcasting/auth' } }).subscribe('order.1').bind('message', (data) => console.log(data));

    curl http://$listen/healthz ; curl http://$listen/metrics
EOF
exec "$herald" --config "$config" serve
