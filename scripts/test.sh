#!/bin/bash
# Sets up the machine and runs every test tier: unit, integration (in a
# throwaway network namespace), e2e (simulated Azure network, real dockerd),
# then the benchmarks in quick mode (they print figures; only a correctness
# failure, never a timing, fails them).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
npm run lint

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
npm test 2>&1 | tee "$log" || status=$?
# awk, not grep: a tier without failures must not stop the script (set -e, pipefail).
passed=$(awk '/^ +[0-9]+ passing/ {s+=$1} END {print s+0}' "$log")
failed=$(awk '/^ +[0-9]+ failing/ {s+=$1} END {print s+0}' "$log")
if [ "$status" -eq 0 ]; then
  npm run bench:quick || status=$?
fi
echo "tests: ${passed} passed, ${failed} failed"
exit "$status"
