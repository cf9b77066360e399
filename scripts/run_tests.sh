#!/usr/bin/env bash
# The whole suite, in order of cost; every stage runs, and the exit code says whether all
# passed. The last line is the plain "N passed, N failed" summary CI reads.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
PY=.venv/bin/python
passed=0
failed=0
stage() {
  local name=$1; shift
  echo "=== $name: $*"
  if "$@"; then passed=$((passed + 1)); echo "=== $name: passed"
  else failed=$((failed + 1)); echo "=== $name: FAILED"; fi
}
stage unit "$PY" -m pytest tests/unit -q -p no:cacheprovider
stage integration "$PY" -m pytest tests/integration -q -p no:cacheprovider
stage molecule bash scripts/run_molecule.sh
stage ansible-lint ansible-lint --profile production
stage sanity bash scripts/run_sanity.sh
echo "stages: $passed passed, $failed failed"
[ "$failed" = 0 ]
