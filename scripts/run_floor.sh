#!/usr/bin/env bash
# The supported floor (requirements-floor.txt: the oldest ansible-core and kubernetes client
# the collection claims) in its own cached venv: the unit tests, then on the testbed one
# release per backend and the release with the connection only in module_defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib_venv.sh

# kubernetes.core (the dependency) and ansible.posix (the tests' JSON callback) go into the
# venv's site-packages, where the ansible package would put them.
collections=(kubernetes.core ansible.posix)
PD_VENV_KEY=$(for c in "${collections[@]}"; do grep '"version"' "$(dev_collection "$c")/MANIFEST.json"; done)
export PD_VENV_KEY
VENV=$(cached_venv floor -r requirements-floor.txt)
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
for c in "${collections[@]}"; do
  if [ ! -e "$site/ansible_collections/${c/.//}/MANIFEST.json" ]; then
    ANSIBLE_COLLECTIONS_PATH=$site "$VENV/bin/ansible-galaxy" collection install --offline \
      -p "$site" "$(dev_collection "$c")" >/dev/null
  fi
done
"$VENV/bin/pip" list --disable-pip-version-check 2>/dev/null | grep -E '^(ansible-core|kubernetes) ' \
  | sed 's/^/floor: /'

export PATH="$VENV/bin:$PATH"
"$VENV/bin/python" -m pytest tests/unit -q -p no:cacheprovider
# Side by side (each test has its own namespaces): most of the time is spent waiting on
# rollouts and pauses.
I=tests/integration
"$VENV/bin/python" -m pytest -q -p no:cacheprovider -n "${FLOOR_JOBS:-3}" \
  $I/test_one_connection.py \
  $I/test_module_in_process.py \
  $I/test_example_playbooks.py::test_demo_releases_v2_and_scales_v1_down \
  $I/test_bluegreen_role_backends.py::test_knative_backend_releases_a_revision \
  $I/test_canary_role.py::test_release_1_10_50_100_completes_and_a_rerun_changes_nothing \
  $I/test_canary_role.py::test_contour_backend_steps_through_the_weights \
  $I/test_canary_role.py::test_knative_backend_steps_through_the_percents
