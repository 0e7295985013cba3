#!/usr/bin/env bash
# Fan-out and idle-memory benchmark of the `websocket` driver inside `herald serve`
# (bench/README.md, section "WebSocket fan-out (websocket driver)").
#
#   bench/ws/run.sh [--reps N] [--seconds S] [--subscribers N] [--idle N] [--window W]
#                   [--publishers P] [--payload-bytes B] [--publish pusher|api] [--only fanout|idle]
#
# Builds herald + the websocket plugin (Release, build-ws-bench, ccache) and the generator
# (bench/ws, standalone CMake project), then for each repetition, alternating (fanout, idle,
# fanout, idle, ...), starts a fresh `herald serve` pinned to CPU 0 with a websocket connection
# (io_threads = 1, max_connections = 0, send_queue_bytes = 64 MiB) and runs the generator pinned
# to CPU 1:
#   fanout: N subscribers on one channel, 20-byte messages published closed loop through the
#           connection's Pusher HTTP API; deliveries/s, latency, drops, server and generator CPU;
#   idle:   10,000 idle connections; the server's VmRSS before/after, KiB per connection.
# Prints median [min..max] over the repetitions. Everything is bounded by `timeout`; the server
# is stopped (SIGTERM, then SIGKILL after 10 s, reported) after each run and on exit.
# Environment: BUILD_DIR (build-ws-bench), JOBS (2), SERVER_CPU (0), GEN_CPU (1).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
build_dir="${BUILD_DIR:-build-ws-bench}"
jobs="${JOBS:-2}"
server_cpu="${SERVER_CPU:-0}"
gen_cpu="${GEN_CPU:-1}"
reps=5 seconds=5 subscribers=1000 idle_conns=10000 window=8 publishers=2 payload=20
publish=pusher only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --reps) reps=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --subscribers) subscribers=$2; shift 2 ;;
    --idle) idle_conns=$2; shift 2 ;;
    --window) window=$2; shift 2 ;;
    --publishers) publishers=$2; shift 2 ;;
    --payload-bytes) payload=$2; shift 2 ;;
    --publish) publish=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "bench/ws: unknown argument $1" >&2; exit 2 ;;
  esac
done

export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}" CCACHE_DIR="${CCACHE_DIR:-/root/.ccache}"
step() { printf '\n==> %s\n' "$*" >&2; }
for tool in cmake ninja taskset timeout curl python3; do
  command -v "$tool" >/dev/null || { echo "bench/ws: $tool is missing" >&2; exit 2; }
done
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)

# ---- build ----------------------------------------------------------------------------------
if [[ ! -f plugins/websocket/CMakeLists.txt ]]; then
  echo "bench/ws: plugins/websocket/CMakeLists.txt does not exist yet: no websocket plugin to measure" >&2
  exit 2
fi
step "Release build of herald and the websocket plugin in $build_dir (nice, -j$jobs)"
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  nice cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHERALD_BUILD_TESTS=OFF \
    -DHERALD_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
else
  nice cmake "$build_dir" >/dev/null  # picks up a plugin directory added since the last configure
fi
timeout 1800 nice cmake --build "$build_dir" --target herald herald_driver_websocket -j "$jobs"
step "The generator (standalone project in $build_dir/bench-ws)"
nice cmake -S bench/ws -B "$build_dir/bench-ws" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DHERALD_SOURCE_DIR="$root" "${launcher[@]}" >/dev/null
timeout 600 nice cmake --build "$build_dir/bench-ws" -j "$jobs"
herald="$root/$build_dir/bin/herald"
gen="$root/$build_dir/bench-ws/ws_fanout"
plugin_dir="$root/$build_dir/lib/herald/plugins"
[[ -f "$plugin_dir/herald_websocket.so" ]] || { echo "bench/ws: $plugin_dir/herald_websocket.so was not built" >&2; exit 1; }

# ---- helpers --------------------------------------------------------------------------------
work=$(mktemp -d /tmp/herald-bench-ws-XXXXXX)
results="$root/$build_dir/ws-bench-results.txt"
server_pid=""
stop_server() {
  [[ -n "$server_pid" ]] || return 0
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$server_pid" 2>/dev/null; then
      echo "  SERVER? herald serve (pid $server_pid) still running 10 s after SIGTERM: SIGKILL" >&2
      kill -KILL "$server_pid" 2>/dev/null || true
    fi
  fi
  local rc=0
  wait "$server_pid" 2>/dev/null || rc=$?
  if [[ $rc -ne 0 && $rc -ne 143 ]]; then echo "  SERVER? herald serve exited with status $rc" >&2; fi
  server_pid=""
}
cleanup() { stop_server; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nofile=$(ulimit -Hn)
[[ "$nofile" == unlimited ]] && nofile=1048576

# start_server NAME: writes the config, starts herald serve pinned, waits for /healthz.
start_server() {
  local name=$1
  api_port=$(free_port)
  ws_port=$(free_port)
  while [[ "$ws_port" == "$api_port" ]]; do ws_port=$(free_port); done
  cat >"$work/$name.toml" <<TOML
default = "ws"
plugin_dirs = ["$plugin_dir"]

[server]
listen = "127.0.0.1:$api_port"
api_key = "bench-api-key"
io_threads = 1
worker_threads = 0
access_log = false

[connections.ws]
driver = "websocket"
listen = "127.0.0.1:$ws_port"
app_id = "bench"
key = "bench-key"
secret = "bench-secret"
io_threads = 1
max_connections = 0
send_queue_bytes = 67108864
TOML
  # A raised descriptor limit for 10,000 sockets; every server thread on one core.
  (ulimit -n "$nofile" && exec taskset -c "$server_cpu" "$herald" --config "$work/$name.toml" \
    --log-level warn serve) >"$work/$name.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 200); do
    if curl -sf -o /dev/null "http://127.0.0.1:$api_port/healthz"; then return 0; fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "bench/ws: herald serve did not come up; its output:" >&2
  cat "$work/$name.log" >&2
  return 1
}

# After a run: server warnings/errors and the websocket counters that indicate trouble.
server_report() {
  local name=$1
  curl -sf "http://127.0.0.1:$api_port/metrics" 2>/dev/null | grep -E '^herald_ws_' >"$work/$name.metrics" || true
  local bad
  bad=$(grep -E '^herald_ws_(slow_consumer_disconnects|protocol_errors|auth_failures|connections_refused)_total' \
    "$work/$name.metrics" | awk '$NF != 0' || true)
  [[ -n "$bad" ]] && { echo "  SERVER? non-zero counters after $name:"; echo "$bad" | sed 's/^/    /'; } >&2
  if [[ -s "$work/$name.log" ]]; then
    echo "  server log of $name ($(wc -l <"$work/$name.log") lines, last 5):" >&2
    tail -5 "$work/$name.log" | sed 's/^/    /' >&2
  fi
}

# ---- machine --------------------------------------------------------------------------------
{
  echo "date:       $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "cpu:        $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') x $(nproc) (nproc)"
  echo "kernel:     $(uname -r)"
  echo "revision:   $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
  echo "load:       $(uptime)"
  echo "pinning:    herald serve on CPU $server_cpu, generator on CPU $gen_cpu; RLIMIT_NOFILE $nofile"
  echo "parameters: $reps reps; fanout $subscribers subscribers, ${payload}-byte messages, ${seconds} s measured after 1 s warm-up, window $window, $publishers publisher connection(s), publish via $publish; idle $idle_conns connections"
} | tee "$results" >&2

# ---- runs (alternating fanout / idle) --------------------------------------------------------
fan_lines=() idle_lines=() failures=0
for rep in $(seq 1 "$reps"); do
  if [[ "$only" != idle ]]; then
    step "rep $rep/$reps: fan-out to $subscribers subscribers ($(cut -d' ' -f1-3 /proc/loadavg) load)"
    start_server "fanout-$rep"
    gen_args=(fanout --port "$ws_port" --app-key bench-key --app-id bench --secret bench-secret
      --conns "$subscribers" --seconds "$seconds" --warmup-s 1 --window "$window"
      --publishers "$publishers" --payload-bytes "$payload" --publish "$publish"
      --api-port "$api_port" --api-key bench-api-key --api-connection ws
      --server-pid "$server_pid" --deadline-s 150)
    echo "  taskset -c $gen_cpu ws_fanout ${gen_args[*]}" >&2
    set +e
    line=$(timeout 180 taskset -c "$gen_cpu" "$gen" "${gen_args[@]}" | grep '^RESULT')
    rc=$?
    set -e
    [[ $rc -ne 0 ]] && { echo "  generator exit status $rc" >&2; failures=$((failures + 1)); }
    echo "$line" | tee -a "$results" >&2
    [[ -n "$line" ]] && fan_lines+=("$line")
    server_report "fanout-$rep"
    # Cross-check: every delivery the server counted reached the generator (warm-up included).
    srv_delivered=$(awk '/^herald_ws_messages_delivered_total/ {print $NF}' "$work/fanout-$rep.metrics")
    gen_received=$(sed -n 's/.* received_total=\([0-9]*\).*/\1/p' <<<"$line")
    if [[ -n "$srv_delivered" && -n "$gen_received" ]]; then
      if [[ "$srv_delivered" == "$gen_received" ]]; then
        echo "  server counted $srv_delivered deliveries, the generator received $gen_received: equal" >&2
      else
        echo "  SERVER? server counted $srv_delivered deliveries, the generator received $gen_received" >&2
      fi
    fi
    stop_server
  fi
  if [[ "$only" != fanout ]]; then
    step "rep $rep/$reps: $idle_conns idle connections ($(cut -d' ' -f1-3 /proc/loadavg) load)"
    start_server "idle-$rep"
    gen_args=(idle --port "$ws_port" --app-key bench-key --conns "$idle_conns" --settle-s 2
      --server-pid "$server_pid" --deadline-s 150)
    echo "  taskset -c $gen_cpu ws_fanout ${gen_args[*]}" >&2
    set +e
    line=$(timeout 180 taskset -c "$gen_cpu" "$gen" "${gen_args[@]}" | grep '^RESULT')
    rc=$?
    set -e
    [[ $rc -ne 0 ]] && { echo "  generator exit status $rc" >&2; failures=$((failures + 1)); }
    echo "$line" | tee -a "$results" >&2
    [[ -n "$line" ]] && idle_lines+=("$line")
    server_report "idle-$rep"
    stop_server
  fi
done
echo "load after: $(uptime)" | tee -a "$results" >&2

# ---- table ------------------------------------------------------------------------------------
step "Results: median [min..max] over $reps repetitions"
printf '%s\n' "${fan_lines[@]}" "${idle_lines[@]}" | python3 -c '
import sys, statistics
rows = [dict(kv.split("=", 1) for kv in l.split()[1:]) for l in sys.stdin if l.startswith("RESULT")]
def stat(mode, key, fmt):
    v = [float(r[key]) for r in rows if r.get("mode") == mode and r.get("ok") == "1" and key in r]
    n = sum(1 for r in rows if r.get("mode") == mode)
    if not v: return "n/a (%d runs, none ok)" % n
    s = (fmt % statistics.median(v)) + " [" + (fmt % min(v)) + ".." + (fmt % max(v)) + "]"
    return s + ("" if len(v) == n else "  (%d of %d runs ok)" % (len(v), n))
table = [
  ("fanout", "deliveries_per_s", "deliveries/s", "%.0f"),
  ("fanout", "msgs_per_s", "published messages/s", "%.1f"),
  ("fanout", "p50_ms", "latency p50 (ms)", "%.2f"),
  ("fanout", "p99_ms", "latency p99 (ms)", "%.2f"),
  ("fanout", "max_ms", "latency max (ms)", "%.2f"),
  ("fanout", "drops", "drops (expected - received)", "%.0f"),
  ("fanout", "server_cpu_s", "server CPU s (measured phase)", "%.2f"),
  ("fanout", "server_cpu_pct", "server CPU % of wall", "%.0f"),
  ("fanout", "deliveries_per_server_cpu_s", "deliveries per server CPU-s", "%.0f"),
  ("fanout", "server_runq_wait_s", "server waiting for its core (s)", "%.2f"),
  ("fanout", "gen_cpu_s", "generator CPU s", "%.2f"),
  ("fanout", "gen_cpu_pct", "generator CPU % of wall", "%.0f"),
  ("fanout", "gen_runq_wait_s", "generator waiting for its core (s)", "%.2f"),
  ("fanout", "wall_s", "measured phase (s)", "%.2f"),
  ("idle", "kib_per_conn", "KiB per idle connection", "%.2f"),
  ("idle", "rss_before_kib", "server VmRSS before (KiB)", "%.0f"),
  ("idle", "rss_after_kib", "server VmRSS with idle conns (KiB)", "%.0f"),
  ("idle", "connect_s", "time to open idle conns (s)", "%.2f"),
]
w = max(len(t[2]) for t in table)
for mode, key, label, fmt in table:
    if any(r.get("mode") == mode for r in rows):
        print("%-*s  %s" % (w, label, stat(mode, key, fmt)))
' | tee -a "$results"
echo "(saved to $results)" >&2
[[ $failures -eq 0 ]] || { echo "bench/ws: $failures run(s) failed: see SERVER? lines above" >&2; exit 1; }
