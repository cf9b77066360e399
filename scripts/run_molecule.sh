#!/usr/bin/env bash
# Every Molecule scenario under extensions/molecule (or those named as arguments), on the
# cluster KUBECONFIG points at. Scenarios use namespaces of their own, so they run
# MOLECULE_JOBS at a time (default 3): most of their time is spent waiting on the cluster.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
mkdir -p build
if (($#)); then
  scenarios=("$@")
else
  scenarios=()
  for file in extensions/molecule/*/molecule.yml; do
    scenarios+=("$(basename "$(dirname "$file")")")
  done
fi

one() {
  local name=$1 log="build/molecule-$1.log" start=$SECONDS
  if molecule test -s "$name" > "$log" 2>&1; then
    echo "molecule $name: passed ($((SECONDS - start))s)"
  else
    echo "molecule $name: FAILED ($((SECONDS - start))s; last lines of $log below)"
    tail -n 40 "$log"
    return 1
  fi
}
export -f one
# shellcheck disable=SC2016  # $1 is expanded by the inner bash, on purpose
printf '%s\n' "${scenarios[@]}" | xargs -P "${MOLECULE_JOBS:-3}" -I{} bash -c 'one "$1"' _ {}
