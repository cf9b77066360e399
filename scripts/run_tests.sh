#!/usr/bin/env bash
# The whole suite, in order of cost; every stage runs, and the exit code says whether all
# passed. Stages that do not compete for the same thing run side by side: the execution
# environment and artifact checks beside the integration tests (the artifact's demo uses its
# own namespace), the floor versions beside Molecule. The last line is the plain
# "N passed, N failed" summary CI reads.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
PY=.venv/bin/python
passed=0
failed=0
stage() {
  local name=$1 start=$SECONDS; shift
  echo "=== $name: $*"
  if "$@"; then passed=$((passed + 1)); echo "=== $name: passed ($((SECONDS - start)) s)"
  else failed=$((failed + 1)); echo "=== $name: FAILED ($((SECONDS - start)) s)"; fi
}
bg_names=()
bg_pids=()
bg_logs=()
background() {  # start a stage now; its result and output are reported by collect
  local name=$1 log; shift
  log=$(mktemp)
  echo "=== $name: $* (in the background)"
  ( start=$SECONDS; "$@"; rc=$?; echo "=== $name: took $((SECONDS - start)) s"; exit $rc ) >"$log" 2>&1 &
  bg_names+=("$name"); bg_pids+=("$!"); bg_logs+=("$log")
}
collect() {
  local i
  for i in "${!bg_pids[@]}"; do
    if wait "${bg_pids[$i]}"; then passed=$((passed + 1)); result=passed
    else failed=$((failed + 1)); result=FAILED; fi
    echo "=== ${bg_names[$i]}: output"
    cat "${bg_logs[$i]}"
    rm -f "${bg_logs[$i]}"
    echo "=== ${bg_names[$i]}: $result"
  done
  bg_names=(); bg_pids=(); bg_logs=()
}
stage unit "$PY" -m pytest tests/unit -q -p no:cacheprovider
# Beside the integration tests: checks that need no cluster (lint, sanity, the execution
# environment) and the installed artifact's demo (its own namespace).
background ee bash scripts/run_ee.sh
background artifact bash scripts/run_artifact.sh
background lint bash -c "ansible-lint --profile production && antsibull-changelog lint"
background sanity bash scripts/run_sanity.sh
# Tests wait on the cluster most of the time: three at a time, each in its own namespace.
# --durations: the slowest tests in the log, to see where CI time goes.
stage integration "$PY" -m pytest tests/integration -q -p no:cacheprovider -n 3 \
  -m "not alone" --durations=15
collect
# Alone: these restart the testbed's control plane, or race another writer on timing.
stage integration-alone "$PY" -m pytest tests/integration -q -p no:cacheprovider -m alone
background floor bash scripts/run_floor.sh
stage molecule bash scripts/run_molecule.sh
collect
echo "stages: $passed passed, $failed failed"
[ "$failed" = 0 ]
