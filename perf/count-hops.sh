#!/usr/bin/env bash
# Counts what a response costs in thread hand-offs and syscalls on each transport engine of ours
# (Sockets, EventLoop, EventLoop with inline scheduling), next to stock Kestrel and nginx: futex and
# sched_yield calls, context switches, the socket syscalls and the server's CPU time (perf's
# task-clock) per response, on 127.0.0.1 with wrk. Variants: a cached 4 KiB file and /plaintext at 32
# connections, a 64 MiB file at 4 connections. The ours-* variants are the Sockets engine, the
# baseline issue 15's event loop is measured against (docs/design/event-loop-engine.md, "The cost
# being removed"); ours-*-eventloop and ours-*-eventloop-inline the EventLoop engine (the perf host's
# --engine EventLoop [--inline]). Until the library has the engine, those run the Sockets engine and
# their host log says "Unknown configuration key 'ZeroCopyStaticFiles:Transport' ignored" (the
# summary quotes it).
#
#   flock /tmp/zc-heavy.lock perf/count-hops.sh [OUT_DIR]     (fifteen variants, ~12 s each)
#   ONLY='ours-64m nginx-64m' flock /tmp/zc-heavy.lock perf/count-hops.sh   (a subset; on the shared
#   machine run it in parts so that no run takes more than 2 minutes), e.g. the event loop:
#   ONLY='ours-4k-eventloop ours-64m-eventloop ours-plaintext-eventloop' flock /tmp/zc-heavy.lock perf/count-hops.sh
#
# For each variant: 3 s of warm-up load, then 3 s of load counted with `perf stat -e
# syscalls:sys_enter_*` (tracepoints: cheap, the server runs at full speed), then 3 s of load under
# `strace -c -f` (what the issue quotes; ptrace slows the server 6-22 times, so its per-response
# counts describe a slower server). Responses are wrk's count for the same 3 s. nginx runs with
# perf/run.sh's configuration (without TLS), when installed (perf/run.sh installs it; its variants
# are skipped otherwise). Needs perf, strace and wrk (apt-get installs them when missing, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d /tmp/zc-hops.XXXXXX)}
mkdir -p "$out/root"
head -c 4096 /dev/urandom > "$out/root/4k.bin"
head -c $((64 << 20)) /dev/urandom > "$out/root/64m.bin"

for tool in perf:linux-perf strace:strace wrk:wrk; do
  if ! command -v "${tool%%:*}" >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq "${tool#*:}" >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq "${tool#*:}" >/dev/null; }
  fi
done

dotnet build -c Release perf/ZeroCopy.AspNetCore.PerfHost -v q -nologo >/dev/null
nginx=$(command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
dll=perf/ZeroCopy.AspNetCore.PerfHost/bin/Release/net10.0/ZeroCopy.AspNetCore.PerfHost.dll
events=futex,sched_yield,epoll_wait,epoll_pwait,recvfrom,sendmsg,sendto,writev,sendfile64,setsockopt,write,read
perf_events=$(for e in ${events//,/ }; do printf 'syscalls:sys_enter_%s,' "$e"; done)
perf_events=task-clock,context-switches,${perf_events%,}

# measure LABEL CONNECTIONS PATH [ENV=VALUE ...] -- HOST ARGS
measure() {
  local label=$1 conns=$2 path=$3; shift 3
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $label "* ]]; then return; fi
  if [ "${*: -1}" = nginx ] && [ -z "$nginx" ]; then echo "$label: skipped (no nginx; perf/run.sh installs it)"; return; fi
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  local port=$((20000 + RANDOM % 20000))
  local pid pids
  if [ "$1" = nginx ]; then
    # perf/run.sh's nginx (perf/ZeroCopy.AspNetCore.LoadHarness/NginxServer.cs) without TLS.
    mkdir -p "$out/nginx"
    cat > "$out/nginx/nginx.conf" <<CONF
worker_processes 2;
daemon off;
pid $out/nginx/nginx.pid;
error_log $out/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=20000 inactive=20s;
    open_file_cache_valid 1s;
    keepalive_requests 100000000;
    types { application/octet-stream bin; }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$port;
        root $out/root;
        location = /plaintext { default_type text/plain; return 200 "Hello, World!"; }
    }
}
CONF
    "$nginx" -p "$out/nginx/" -c "$out/nginx/nginx.conf" -e "$out/nginx/error.log" > "$out/$label.host.log" 2>&1 &
    pid=$!
  else
    env "${envs[@]}" dotnet "$dll" "$@" --root "$out/root" --port "$port" > "$out/$label.host.log" 2>&1 &
    pid=$!
  fi
  for _ in $(seq 1 200); do curl -sf -o /dev/null "http://127.0.0.1:$port$path" && break; sleep 0.1; done
  # The server's processes: the .NET host, or nginx's master and workers.
  pids=$(echo "$pid" $(pgrep -P "$pid" || true) | tr ' ' ',')
  local strace_pids=()
  for p in ${pids//,/ }; do strace_pids+=(-p "$p"); done
  local url="http://127.0.0.1:$port$path"
  wrk -t2 -c"$conns" -d3s "$url" > "$out/$label.wrk-warm.txt"
  perf stat -x, -e "$perf_events" -p "$pids" -o "$out/$label.perfstat.csv" -- sleep 3 &
  local ps=$!
  wrk -t2 -c"$conns" -d3s "$url" > "$out/$label.wrk-perf.txt"
  wait $ps || true
  strace -c -f "${strace_pids[@]}" -o "$out/$label.strace.txt" >/dev/null 2>&1 &
  local st=$!
  sleep 0.5
  wrk -t2 -c"$conns" -d3s "$url" > "$out/$label.wrk-strace.txt"
  kill -INT $st; wait $st || true
  kill "$pid"; wait "$pid" 2>/dev/null || true

  local n_perf n_strace
  n_perf=$(awk '/requests in/ {print $1}' "$out/$label.wrk-perf.txt")
  n_strace=$(awk '/requests in/ {print $1}' "$out/$label.wrk-strace.txt")
  printf '%s (%s, %s connections)\n' "$label" "$path" "$conns"
  # What the host was started as (impl, mode, cache, engine asked for, inline), and any warning it
  # logged: an engine the library does not have shows here as an unknown configuration key.
  grep -o 'impl=.* inline=[a-z]*' "$out/$label.host.log" | sed 's/^/  host: /' || true
  grep -A1 '^warn: ' "$out/$label.host.log" | grep -v '^warn: \|^--$' | sed 's/^ */  host warning: /' | sort -u || true
  printf '  perf stat, 3 s: %s responses (%s req/s)\n' "$n_perf" "$(awk '/Requests\/sec/ {print $2}' "$out/$label.wrk-perf.txt")"
  awk -F, -v n="$n_perf" '
    $3 == "task-clock" { printf "    %-16s %9.0f ms  %6.2f us of CPU per response\n", "server CPU", $1, $1 * 1000 / n }
    $3 == "context-switches" { printf "    %-16s %9d     %6.2f per response\n", $3, $1, $1 / n }
    $3 ~ /sys_enter_/ { sub(/syscalls:sys_enter_/, "", $3); printf "    %-16s %9d     %6.2f per response\n", $3, $1, $1 / n }' "$out/$label.perfstat.csv"
  if [[ "$path" == *64m* ]]; then
    awk -F, -v n="$n_perf" '$3 == "task-clock" { printf "    %-16s %9.3f CPU s per GB of body\n", "server CPU", $1 / 1000 / (n * 67108864 / 1e9) }' "$out/$label.perfstat.csv"
  fi
  printf '  strace -c -f, 3 s: %s responses (%s req/s)\n' "$n_strace" "$(awk '/Requests\/sec/ {print $2}' "$out/$label.wrk-strace.txt")"
  awk -v n="$n_strace" '$NF ~ /^(futex|sched_yield|epoll_wait|epoll_pwait|recvfrom|sendmsg|sendto|writev|sendfile|setsockopt|write|read)$/ { printf "    %-16s %9d     %6.2f per response\n", $NF, $4, $4 / n }' "$out/$label.strace.txt"
}

{
  echo "count-hops: $(date -u +%FT%TZ), $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
  # ours-*: the Sockets engine, named so these stay the baseline once the library's default changes
  # (the perf host drops --engine Sockets while the library has no engine switch).
  sockets=(--impl zerocopy --mode Auto --cache on --engine Sockets)
  eventloop=(--impl zerocopy --mode Auto --cache on --engine EventLoop)
  measure ours-4k 32 /4k.bin -- "${sockets[@]}"
  measure ours-4k-spin0 32 /4k.bin DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0 -- "${sockets[@]}"
  measure ours-4k-inline-completions 32 /4k.bin DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 -- "${sockets[@]}"
  measure stock-4k 32 /4k.bin -- --impl stock
  measure ours-plaintext 32 /plaintext -- "${sockets[@]}"
  # 64 MiB bodies: Auto + cache as perf/run.sh's "cache" server (64 MiB is above the cache's default
  # MaxFileBytes of 1 MiB, so the body is a sendfile region); CPU per GB = server CPU / (responses x 64 MiB).
  measure ours-64m 4 /64m.bin -- "${sockets[@]}"
  # The same three on the EventLoop engine (perf/run.sh's "eventloop" and "eventloop-inline" servers).
  measure ours-4k-eventloop 32 /4k.bin -- "${eventloop[@]}"
  measure ours-plaintext-eventloop 32 /plaintext -- "${eventloop[@]}"
  measure ours-64m-eventloop 4 /64m.bin -- "${eventloop[@]}"
  measure ours-4k-eventloop-inline 32 /4k.bin -- "${eventloop[@]}" --inline
  measure ours-plaintext-eventloop-inline 32 /plaintext -- "${eventloop[@]}" --inline
  measure ours-64m-eventloop-inline 4 /64m.bin -- "${eventloop[@]}" --inline
  measure nginx-4k 32 /4k.bin -- nginx
  measure nginx-plaintext 32 /plaintext -- nginx
  measure nginx-64m 4 /64m.bin -- nginx
} | tee "$out/summary.txt"
echo "raw outputs in $out"
