#!/usr/bin/env bash
# The redis driver's publish rate against redis-benchmark, in the same run, against the same
# redis-server, with the same channel and payload. Builds what it needs (Release), pins
# redis-server to one CPU and every load generator to another, and prints a ratio table.
#
#   bench/redis/run.sh
#
# Environment: BUILD_DIR (default build-bench-redis: a standalone Release build of the plugin and
# the benchmark from bench/redis/CMakeLists.txt, no host needed),
# REDIS_CPU (default 0), LOAD_CPU (default 1), ROUNDS (default 3: A/B alternated, median kept),
# SCALE (default 1: multiply every request count, e.g. 0.2 for a quick look).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
build_dir="${BUILD_DIR:-build-bench-redis}"
redis_cpu="${REDIS_CPU:-0}"
load_cpu="${LOAD_CPU:-1}"
rounds="${ROUNDS:-3}"
scale="${SCALE:-1}"
payload='{"status":"purchased"}'
channel='order.1'

step() { printf '\n==> %s\n' "$*"; }
for tool in redis-server redis-benchmark redis-cli cmake; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found (scripts/install-deps.sh)" >&2; exit 1; }
done
pin_redis=() pin_load=()
if command -v taskset >/dev/null; then
  pin_redis=(taskset -c "$redis_cpu")
  pin_load=(taskset -c "$load_cpu")
fi

step "Building herald_redis.so and herald_bench_redis in $build_dir (Release, SDK headers only)"
cmake -S bench/redis -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir"
bench="$build_dir/herald_bench_redis"
plugin="$build_dir/plugins/herald_redis.so"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 16379)"
workdir="$(mktemp -d /tmp/herald-redis-bench-XXXXXX)"
redis_pid=""
cleanup() {
  [[ -n "$redis_pid" ]] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  rm -rf "$workdir"
}
trap cleanup EXIT

step "Starting redis-server on 127.0.0.1:$port ${pin_redis[*]:+(${pin_redis[*]})}"
"${pin_redis[@]}" redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$workdir" --logfile "$workdir/redis.log" --daemonize no &
redis_pid=$!
for _ in $(seq 100); do redis-cli -p "$port" PING >/dev/null 2>&1 && break; sleep 0.05; done
redis-cli -p "$port" PING >/dev/null

step "Machine"
echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "cpu:      $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') x $(nproc)"
echo "redis:    $(redis-server --version | cut -d' ' -f3), hiredis $(pkg-config --modversion hiredis 2>/dev/null || echo '?')"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (other work on the box makes every figure noisier)"
echo "revision: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"

n() { awk -v a="$1" -v s="$scale" 'BEGIN { v = int(a * s); print (v < 1 ? 1 : v) }'; }

# redis-benchmark's requests/s for PUBLISH with `clients` connections and pipeline `depth`.
peer() { # clients depth requests
  "${pin_load[@]}" redis-benchmark -p "$port" -c "$1" -P "$2" -n "$3" --csv \
    PUBLISH "$channel" "$payload" | awk -F'","' 'NR == 2 { gsub(/"/, "", $2); printf "%.0f\n", $2 }'
}
# The driver's publishes/s: threads topics messages calls-per-thread.
driver() {
  "${pin_load[@]}" "$bench" --plugin "$plugin" --url "redis://127.0.0.1:$port/0" \
    --threads "$1" --topics "$2" --messages "$3" --calls "$4" --payload "$payload" |
    sed -n 's/.*rate=\([0-9]*\).*/\1/p'
}
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

rows=()
# name | driver args (threads topics messages calls) | peer args (clients depth requests) | goal
compare() {
  local name="$1" d_args="$2" p_args="$3" goal="$4" d_all="" p_all=""
  for _ in $(seq "$rounds"); do  # ABAB: a slow phase of the machine hits both sides
    # shellcheck disable=SC2086
    d_all+=" $(driver $d_args)"
    # shellcheck disable=SC2086
    p_all+=" $(peer $p_args)"
  done
  local d p
  d="$(echo "$d_all" | median)"
  p="$(echo "$p_all" | median)"
  printf '  %-52s driver %9s/s  [%s]\n  %-52s peer   %9s/s  [%s]\n' "$name" "$d" "${d_all# }" "" "$p" "${p_all# }"
  rows+=("$name|$d|$p|$goal")
}

step "Running ($rounds rounds each, driver and peer alternated; medians kept)"
compare "pipelined: 1 topic x 16 msgs/call vs -c 1 -P 16" "1 1 16 $(n 60000)" "1 16 $(n 1000000)" "0.5"
compare "pipelined: 4 topics x 64 msgs/call vs -c 1 -P 16" "1 4 64 $(n 4000)" "1 16 $(n 1000000)" "0.5"
compare "pipelined: 4 topics x 64 msgs/call vs -c 50 -P 16" "1 4 64 $(n 4000)" "50 16 $(n 1000000)" "0.5"
compare "pipelined, 4 threads: 1 x 16 vs -c 4 -P 16" "4 1 16 $(n 15000)" "4 16 $(n 1000000)" "0.5"
compare "single message per call vs -c 1 -P 1" "1 1 1 $(n 40000)" "1 1 $(n 40000)" "-"
compare "single message per call, 4 threads vs -c 4 -P 1" "4 1 1 $(n 10000)" "4 1 $(n 40000)" "-"

step "Publishes/s, medians (driver: herald_redis.so through the C ABI; peer: redis-benchmark)"
printf '%-52s %12s %12s %7s %6s %s\n' "case" "driver" "peer" "ratio" "goal" ""
for row in "${rows[@]}"; do
  IFS='|' read -r name d p goal <<<"$row"
  ratio="$(awk -v d="$d" -v p="$p" 'BEGIN { printf "%.2f", d / p }')"
  verdict=""
  [[ "$goal" != "-" ]] && verdict="$(awk -v r="$ratio" -v g="$goal" 'BEGIN { print (r >= g ? "PASS" : "FAIL") }')"
  printf '%-52s %12s %12s %6sx %6s %s\n' "$name" "$d" "$p" "$ratio" "$goal" "$verdict"
done
