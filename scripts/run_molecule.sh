#!/usr/bin/env bash
# Every Molecule scenario under extensions/molecule, on the cluster KUBECONFIG points at.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
status=0
for scenario in extensions/molecule/*/molecule.yml; do
  name=$(basename "$(dirname "$scenario")")
  if molecule test -s "$name" > "build/molecule-$name.log" 2>&1; then
    echo "molecule $name: passed"
  else
    echo "molecule $name: FAILED (last lines of build/molecule-$name.log below)"
    tail -n 40 "build/molecule-$name.log"
    status=1
  fi
done
exit $status
