#!/usr/bin/env bash
# Load harness for ZeroCopy.AspNetCore: stock Kestrel + UseStaticFiles, ours in every mode and with
# the hot cache, and nginx, serving the same generated files on 127.0.0.1, driven by wrk.
#
#   perf/run.sh [--quick] [--out FILE] [options]
#
#   --quick               1 round, 1 s per cell: a smoke run (under 2 minutes), not for publishing
#   --out FILE            where the markdown table goes (default perf/results/perf-<UTC time>.md,
#                         raw samples in FILE.json); the table is also printed
#   --rounds N            rounds (default 3)          --duration S      seconds per cell (default 2)
#   --big-duration S      seconds per 64 MiB cell (2) --warmup S        warm-up per server start (3)
#   --connections LIST    default 4,32                --threads N       wrk threads (default 2)
#   --servers LIST        stock,stream,sendfile,splice,cache,eventloop,eventloop-inline,shortcircuit,
#                         shortcircuit-eventloop,nginx (default all; eventloop*: ours Auto + hot cache
#                         on the EventLoop engine, -inline with UnsafePreferInlineScheduling, which runs
#                         plaintext,4k,64m unless --workloads is given; shortcircuit*: ours Auto + hot
#                         cache with the short-circuit lane, Sockets / EventLoop engine, plaintext,4k,
#                         small,small-cached unless --workloads is given); under the table, issue 15's targets per engine
#   --workloads LIST      4k,64k,1m,64m,small,small-cached,plaintext,4k-tls,64m-tls,4k-h2 (default all;
#                         small-cached: the small files once cached, after 4 s of them on the measured mount; the
#                         last three: HTTPS/1.1 with wrk and HTTP/2 with h2load, on stock, cache, nginx)
#   --small-sample N      small files SHA-checked per server start (100)
#   --keep-files          keep the generated files and server logs
#
# Installs wrk, nginx, openssl and h2load (nghttp2-client) with apt-get when they are missing (as
# root); without nginx it goes on and says so in the table. Makes a self-signed certificate with
# openssl for the servers' HTTPS ports. Builds Release only. Exit codes: 0 ok; 1 a server returned errors or wrong
# bytes (the table marks the failed cells); 2 usage or missing tools; 130 interrupted.
# See perf/README.md for what is measured and how to read the numbers.
set -euo pipefail

started_at=$(date +%s.%N)
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

for arg in "$@"; do
  if [ "$arg" = "--help" ] || [ "$arg" = "-h" ]; then
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 0
  fi
done

args=("$@")
has_out=0
for arg in "$@"; do
  [ "$arg" = "--out" ] && has_out=1
done
if [ $has_out = 0 ]; then
  args+=(--out "perf/results/perf-$(date -u +%Y%m%d-%H%M%S).md")
fi

# apt-get install that does not start the installed service: Debian's postinst would start nginx
# on port 80 unless /usr/sbin/policy-rc.d forbids it, so one is put there for the install if absent.
install_packages() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    return 1
  fi
  local policy=/usr/sbin/policy-rc.d created=0 status=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created=1
  fi
  echo "installing $* with apt-get ..."
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1; } \
    || status=$?
  if [ $created = 1 ]; then
    rm -f "$policy"
  fi
  return $status
}

find_nginx() {
  command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true
}

if ! command -v wrk >/dev/null 2>&1; then
  install_packages wrk || { echo "error: wrk is missing and could not be installed (apt-get install wrk, as root)" >&2; exit 2; }
fi
# The TLS cells: openssl makes their certificate, h2load (Debian's nghttp2-client) drives HTTP/2.
if ! command -v openssl >/dev/null 2>&1; then
  install_packages openssl || echo "note: openssl is missing and could not be installed; the TLS cells will fail" >&2
fi
if ! command -v h2load >/dev/null 2>&1; then
  install_packages nghttp2-client || echo "note: h2load (nghttp2-client) is missing and could not be installed; the HTTP/2 cells will fail" >&2
fi
nginx_bin="$(find_nginx)"
if [ -z "$nginx_bin" ]; then
  install_packages nginx || echo "note: nginx is missing and could not be installed; going on without it (the table says so)" >&2
  nginx_bin="$(find_nginx)"
fi

echo "building Release (the harness project builds the perf host and the library too) ..."
dotnet build perf/ZeroCopy.AspNetCore.LoadHarness/ZeroCopy.AspNetCore.LoadHarness.csproj -c Release -nologo -v q -clp:NoSummary

perfhost="$repo/perf/ZeroCopy.AspNetCore.PerfHost/bin/Release/net10.0/ZeroCopy.AspNetCore.PerfHost"
harness="$repo/perf/ZeroCopy.AspNetCore.LoadHarness/bin/Release/net10.0/ZeroCopy.AspNetCore.LoadHarness.dll"

# The harness kills what it starts; if it is killed itself, this trap ends whatever it left, by pid,
# after checking the pid still belongs to one of its processes.
pid_file="$(mktemp /tmp/zcperf-pids.XXXXXX)"
cleanup() {
  local pid role
  while read -r pid role; do
    if [ "$pid" = workdir ]; then
      case "$role" in /tmp/zcperf-*) rm -rf -- "$role" ;; esac
    elif [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qE 'nginx|PerfHost|wrk|h2load'; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done <"$pid_file"
  rm -f "$pid_file"
}
trap cleanup EXIT

# The HTTPS port of every server (the .NET hosts and nginx load the same two files): a self-signed
# P-256 certificate for 127.0.0.1, in a folder of this run (deleted on exit through the pid file).
tls_args=()
if command -v openssl >/dev/null 2>&1; then
  tls_dir="$(mktemp -d /tmp/zcperf-tls.XXXXXX)"
  echo "workdir $tls_dir" >>"$pid_file"
  if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
      -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
      -keyout "$tls_dir/key.pem" -out "$tls_dir/cert.pem" >/dev/null 2>&1; then
    tls_args=(--tls-cert "$tls_dir/cert.pem" --tls-key "$tls_dir/key.pem")
  else
    echo "note: openssl could not make a certificate; the TLS cells will fail" >&2
  fi
fi

set +e
dotnet "$harness" \
  --perfhost "$perfhost" \
  --wrk "$(command -v wrk)" \
  --nginx "${nginx_bin:-nginx}" \
  --h2load "$(command -v h2load || echo h2load)" \
  "${tls_args[@]}" \
  --pid-file "$pid_file" \
  --started-at "$started_at" \
  --command "perf/run.sh${*:+ $*}" \
  "${args[@]}"
status=$?
set -e
exit $status
