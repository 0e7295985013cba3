#!/usr/bin/env bash
# HTTP publish API benchmark: `herald serve` (POST /api/publish into the `null` connection)
# against laravel-echo-server's HTTP publish API (POST /apps/:id/events, no subscribers), in
# the same run, with wrk and keep-alive. Server pinned to core 0, wrk to core 1 (taskset).
# Reports requests/s, p99 latency and requests per server CPU-second (utime+stime of the
# server process from /proc), and the ratios.
#   bench/http/run.sh [DURATION_S] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
duration=${1:-10}
connections=${2:-50}
build=${HERALD_BENCH_BUILD:-build-release}

for tool in wrk redis-server taskset node; do
  command -v "$tool" >/dev/null || { echo "bench/http: $tool is missing (run scripts/install-deps.sh)" >&2; exit 2; }
done
scripts/install-deps.sh >/dev/null
if [ ! -x "$build/bin/herald" ]; then
  echo "==> building Release into $build"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHERALD_BUILD_TESTS=OFF -DHERALD_BUILD_BENCH=OFF >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target herald herald_plugins >/dev/null

work=$(mktemp -d /tmp/herald-bench-http-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
  echo "bench/http: nothing listens on $1" >&2; return 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run_wrk NAME PID PORT PATH BODY HEADER -> one result line
run_wrk() {
  local name=$1 pid=$2 port=$3 path=$4 body=$5 header=$6
  cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["$header"] = "$7"
LUA
  # Warm-up, then the measured run.
  taskset -c 1 wrk -t1 -c"$connections" -d2s -s "$work/post.lua" "http://127.0.0.1:$port$path" >/dev/null
  local before after
  before=$(cpu_ticks "$pid")
  taskset -c 1 wrk -t1 -c"$connections" -d"${duration}s" --latency -s "$work/post.lua" \
    "http://127.0.0.1:$port$path" >"$work/$name.wrk"
  after=$(cpu_ticks "$pid")
  local hz rps requests p99 non2xx cpu_s
  hz=$(getconf CLK_TCK)
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/$name.wrk")
  requests=$(awk '/requests in/ {print $1}' "$work/$name.wrk")
  p99=$(awk '$1 == "99%" {print $2}' "$work/$name.wrk")
  non2xx=$(awk '/Non-2xx/ {print $5}' "$work/$name.wrk")
  cpu_s=$(awk -v a="$after" -v b="$before" -v hz="$hz" 'BEGIN {printf "%.2f", (a - b) / hz}')
  if [ -n "$non2xx" ]; then echo "bench/http: $name answered $non2xx non-2xx responses" >&2; cat "$work/$name.wrk" >&2; exit 1; fi
  local per_cpu
  per_cpu=$(awk -v r="$requests" -v c="$cpu_s" 'BEGIN {printf "%.0f", (c > 0 ? r / c : 0)}')
  echo "$name $rps $p99 $cpu_s $per_cpu"
}

body='{"topic":"orders","message":{"status":"purchased","id":42}}'

# --- herald serve: the null connection, one I/O thread on the pinned core ---
results=()
for workers in 0 4; do
  port=$(free_port)
  cat >"$work/herald-$workers.toml" <<TOML
default = "null"
[server]
listen = "127.0.0.1:$port"
api_key = "bench-key"
io_threads = 1
worker_threads = $workers
access_log = false
[connections.null]
driver = "null"
TOML
  taskset -c 0 "$build/bin/herald" --config "$work/herald-$workers.toml" --log-level warn serve \
    >"$work/herald-$workers.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  wait_port "$port"
  results+=("$(run_wrk "herald(workers=$workers)" "$pid" "$port" /api/publish "$body" Authorization "Bearer bench-key")")
  kill -TERM "$pid"; wait "$pid" || true
done

# --- laravel-echo-server: HTTP subscriber only; Redis only because it insists on a database ---
redis_port=$(free_port)
taskset -c 1 redis-server --port "$redis_port" --save "" --appendonly no >"$work/redis.log" 2>&1 &
pids+=("$!")
wait_port "$redis_port"
les_port=$(free_port)
mkdir -p "$work/les"
cat >"$work/les/laravel-echo-server.json" <<JSON
{
  "authHost": "http://127.0.0.1", "authEndpoint": "/broadcasting/auth",
  "clients": [{"appId": "bench", "key": "bench-key"}],
  "database": "redis",
  "databaseConfig": {"redis": {"host": "127.0.0.1", "port": "$redis_port"}},
  "devMode": false, "host": "127.0.0.1", "port": "$les_port", "protocol": "http",
  "socketio": {}, "subscribers": {"http": true, "redis": false},
  "apiOriginAllow": {"allowCors": false}
}
JSON
(cd "$work/les" && exec taskset -c 0 node "$root/tests/e2e/node_modules/laravel-echo-server/bin/server.js" start) \
  >"$work/les.log" 2>&1 &
les_pid=$!
pids+=("$les_pid")
wait_port "$les_port"
les_body='{"channel":"orders","name":"message","data":{"status":"purchased","id":42}}'
results+=("$(run_wrk "laravel-echo-server" "$les_pid" "$les_port" /apps/bench/events "$les_body" Authorization "Bearer bench-key")")

echo
echo "POST publish, keep-alive, wrk -t1 -c$connections -d${duration}s; server on core 0, wrk on core 1"
printf "%-22s %12s %10s %10s %16s\n" server "requests/s" "p99" "cpu s" "req/cpu-second"
for r in "${results[@]}"; do printf "%-22s %12s %10s %10s %16s\n" $r; done
les_rps=$(echo "${results[-1]}" | awk '{print $2}')
les_cpu=$(echo "${results[-1]}" | awk '{print $5}')
echo
for r in "${results[@]:0:2}"; do
  echo "$r" | awk -v lr="$les_rps" -v lc="$les_cpu" \
    '{printf "%s vs laravel-echo-server: %.1fx requests/s, %.1fx requests per CPU-second\n", $1, $2 / lr, $5 / lc}'
done
