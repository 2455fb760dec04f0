#!/usr/bin/env bash
# Profiles ours (Auto + hot cache, library defaults) serving 10,000 random small files on 127.0.0.1:
# perf record of the server while every file is cached ("warm"), then strace -c of the same load.
# Needs linux-perf, strace and wrk (installed with apt-get when missing and running as root).
#   perf/profile-small-files.sh [OUT_DIR]     (default: a new folder under /tmp)
#   HOST_ARGS='--engine EventLoop [--inline]' perf/profile-small-files.sh   (more perf host switches,
#   e.g. issue 15's event-loop engine; split on spaces)
# Writes warm.data (perf report -i OUT_DIR/warm.data), strace.txt and the wrk outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d /tmp/zc-profile.XXXXXX)}
mkdir -p "$out/root/s"

for tool in perf:linux-perf strace:strace wrk:wrk; do
  if ! command -v "${tool%%:*}" >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq "${tool#*:}" >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq "${tool#*:}" >/dev/null; }
  fi
done

python3 - "$out/root/s" <<'PY'
import os, random, sys
random.seed(1)
for i in range(10000):
    with open(os.path.join(sys.argv[1], f"{i}.bin"), "wb") as f:
        f.write(os.urandom(random.randint(2048, 16384)))
PY
cat > "$out/rand.lua" <<'LUA'
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/s/" .. math.random(0, 9999) .. ".bin")
end
LUA

dotnet build -c Release perf/ZeroCopy.AspNetCore.PerfHost -v q -nologo >/dev/null
read -r -a host_args <<<"${HOST_ARGS:-}"
port=$((20000 + RANDOM % 20000))
# W^X off: JIT code otherwise runs from a double-mapped memfd that perf cannot symbolize.
DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 dotnet perf/ZeroCopy.AspNetCore.PerfHost/bin/Release/net10.0/ZeroCopy.AspNetCore.PerfHost.dll \
  --impl zerocopy --mode Auto --cache on "${host_args[@]}" --root "$out/root" --port "$port" > "$out/host.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do curl -sf -o /dev/null "http://127.0.0.1:$port/s/1.bin" && break; sleep 0.1; done

url="http://127.0.0.1:$port"
wrk -t2 -c32 -d7s -s "$out/rand.lua" "$url" > "$out/wrk-fill.txt"          # admits every file
perf record -F 999 -g -p "$pid" -o "$out/warm.data" -- sleep 4 >/dev/null 2>&1 &
rec=$!
wrk -t2 -c32 -d4s -s "$out/rand.lua" "$url" > "$out/wrk-warm.txt"
wait $rec
strace -c -f -p "$pid" -o "$out/strace.txt" >/dev/null 2>&1 &
st=$!
wrk -t2 -c32 -d3s -s "$out/rand.lua" "$url" > "$out/wrk-strace.txt"
kill -INT $st; wait $st || true
echo "profile in $out: perf report -i $out/warm.data --no-children --sort dso,sym"
