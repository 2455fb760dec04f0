#!/usr/bin/env bash
# Reliability suite of issue 6 (cases 4-6: faults, soak, shutdown), full form.
#
#   perf/reliability/run.sh [--ci] [--debug] [--only] [--filter EXPR] [--out FILE]
#
#   (default)        full form: ZC_RELIABILITY_FULL=1 — soak of 200,000 requests over 256
#                    keep-alive connections, 10,000 client resets per strategy; every other test at
#                    its specified size (the CI form already runs those at full size)
#   --ci             the CI form (what `dotnet test` runs): soak of 20,000 requests, 1,000 resets
#   --debug          build and run Debug (default Release; CI runs Debug)
#   --only           compile only test/.../Adversarial/Faults/*.cs plus Infrastructure
#                    (-p:Only=...), when someone else's file in the test project does not compile
#   --filter EXPR    extra dotnet test filter, ANDed with the suite's (e.g. 'FullyQualifiedName~Soak')
#   --out FILE       figures table (default perf/reliability/results/faults-<UTC time>.md)
#
# The tests live in test/ZeroCopy.AspNetCore.Tests/Adversarial/Faults/ and run through `dotnet test`;
# each figure is printed and appended to the table (ZC_RELIABILITY_FIGURES). Exit code: dotnet
# test's (0 when every test passed). Linux only; about 4 min (full, Release) on 2 cores.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

full=1
configuration=Release
only=()
filter="FullyQualifiedName~ZeroCopy.AspNetCore.Tests.Adversarial.Faults"
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --ci) full=0 ;;
    --debug) configuration=Debug ;;
    --only) only=("-p:Only=Adversarial/Faults/*.cs") ;;
    --filter) shift; filter="$filter&$1" ;;
    --out) shift; out="$1" ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1 (--help)" >&2; exit 2 ;;
  esac
  shift
done

form=$([ $full = 1 ] && echo full || echo ci)
if [ -z "$out" ]; then
  mkdir -p perf/reliability/results
  out="perf/reliability/results/faults-$form-$(date -u +%Y%m%d-%H%M%S).md"
fi
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"

{
  echo "# Reliability figures ($form form, $configuration)"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (working tree modified)')"
  echo "- machine: $(nproc) cores, $(uname -sr), $(free -m | awk '/Mem:/ {print $2 " MiB RAM"}'), .NET SDK $(dotnet --version)"
  echo "- command: perf/reliability/run.sh${*:+ $*}"
  echo
  echo "| form | figure | value |"
  echo "|---|---|---|"
} >"$out"

echo "building $configuration ..."
dotnet build test/ZeroCopy.AspNetCore.Tests -c "$configuration" "${only[@]}" -nologo -v q -clp:NoSummary

started=$(date +%s)
set +e
ZC_RELIABILITY_FULL=$full ZC_RELIABILITY_FIGURES="$out" \
  dotnet test test/ZeroCopy.AspNetCore.Tests -c "$configuration" "${only[@]}" --no-build \
    --filter "$filter" --logger "console;verbosity=detailed"
status=$?
set -e
elapsed=$(( $(date +%s) - started ))

{
  echo
  echo "dotnet test exit code $status, ${elapsed} s."
} >>"$out"
echo
echo "figures: $out (${elapsed} s, exit code $status)"
exit $status
