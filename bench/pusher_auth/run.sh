#!/usr/bin/env bash
# Pusher signing and the Pusher guard (herald) against the official npm `pusher` library (peer),
# in the same run, alternated, on the same CPU; prints ops/s medians and ratios.
#
#   bench/pusher_auth/run.sh
#
# Environment: BUILD_DIR (default build-release/bench-pusher-auth), CPU (default 1),
# ROUNDS (default 3), MS (default 1000: milliseconds per case and round).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
build_dir="${BUILD_DIR:-build-release/bench-pusher-auth}"
cpu="${CPU:-1}"
rounds="${ROUNDS:-3}"
ms="${MS:-1000}"

for tool in cmake node; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found (scripts/install-deps.sh)" >&2; exit 1; }
done
[[ -f tests/e2e/node_modules/pusher/package.json ]] ||
  { echo "error: the npm pusher library is missing (scripts/install-deps.sh)" >&2; exit 1; }
pin=()
command -v taskset >/dev/null && pin=(taskset -c "$cpu")

printf '\n==> Building herald_bench_pusher_auth (Release) in %s\n' "$build_dir"
cmake -S bench/pusher_auth -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" >/dev/null
bench="$build_dir/herald_bench_pusher_auth"

printf '\n==> Machine\n'
echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "cpu:      $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') x $(nproc)"
echo "node:     $(node --version), pusher $(node -p 'require("./tests/e2e/node_modules/pusher/package.json").version')"
echo "openssl:  $(openssl version 2>/dev/null || echo '?')"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (other work on the box makes every figure noisier)"

declare -A herald_all peer_all
for round in $(seq "$rounds"); do  # ABAB: a slow phase of the machine hits both sides
  printf '\n==> Round %s/%s\n' "$round" "$rounds"
  while read -r name value; do herald_all[$name]+=" $value"; done < <("${pin[@]}" "$bench" --ms "$ms")
  while read -r name value; do peer_all[$name]+=" $value"; done < <(
    NODE_PATH="$root/tests/e2e/node_modules" "${pin[@]}" node bench/pusher_auth/pusher_auth_peer.js --ms "$ms")
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
printf '\n==> Operations/s, single thread, medians of %s rounds (herald: C++ headers; peer: npm pusher %s)\n' \
  "$rounds" "$(node -p 'require("./tests/e2e/node_modules/pusher/package.json").version')"
printf '%-16s %12s %12s %8s\n' "case" "herald" "peer" "ratio"
for name in rest_sign private_auth presence_auth user_auth guard_private; do
  h="$(echo "${herald_all[$name]}" | median)"
  p="$(echo "${peer_all[$name]}" | median)"
  printf '%-16s %12s %12s %7sx\n' "$name" "$h" "$p" "$(awk -v h="$h" -v p="$p" 'BEGIN { printf "%.2f", h / p }')"
done
