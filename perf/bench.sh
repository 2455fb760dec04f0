#!/usr/bin/env bash
# Micro-benchmarks of the per-request hot code (BenchmarkDotNet, Release, MemoryDiagnoser).
#
#   perf/bench.sh                                   every benchmark, default job (takes a while)
#   perf/bench.sh --filter '*' --job short          every benchmark, short job (a few minutes)
#   perf/bench.sh --filter '*Middleware*'           one class; any BenchmarkDotNet argument works
#   perf/bench.sh --list flat                       the benchmark names
#
# Results go to perf/results/benchmarks (not committed) unless --artifacts says otherwise.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ $# -eq 0 ]; then
  set -- --filter '*'
fi
case " $* " in
  *" --artifacts "*) ;;
  *) set -- "$@" --artifacts perf/results/benchmarks ;;
esac

exec dotnet run -c Release --project perf/ZeroCopy.AspNetCore.Benchmarks -- "$@"
