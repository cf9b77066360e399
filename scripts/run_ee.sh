#!/usr/bin/env bash
# The execution environment AWX would run the collection in, without a container engine:
# ansible-builder introspect lists exactly the collection's needs (requirements.txt and
# bindep.txt through meta/execution-environment.yml), and ansible-builder create turns the
# documented EE definition (docs/execution-environment.yml) into a build context.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib_venv.sh
export PATH="$PWD/.venv/bin:$PATH"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ansible-galaxy collection build --output-path "$work" . >/dev/null
tarball=$(ls "$work"/progressive-delivery-*.tar.gz)
ANSIBLE_COLLECTIONS_PATH="$work/collections" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false ansible-galaxy collection install --offline \
  -p "$work/collections" "$(dev_collection kubernetes.core)" "$tarball" >/dev/null

ansible-builder introspect --sanitize "$work/collections" >"$work/introspect.yml"
python - "$work/introspect.yml" <<'PY'
import sys, yaml
found = yaml.safe_load(open(sys.argv[1]))
def ours(entries):
    return sorted(e.split("#")[0].strip() for e in entries or []
                  if e.endswith("from collection progressive.delivery"))
def declared(path):
    return sorted(l.strip() for l in open(path) if l.strip() and not l.startswith("#"))
python, system = ours(found.get("python")), ours(found.get("system"))
print("ee: introspect: progressive.delivery needs python %s, system %s" % (python, system))
if python != declared("requirements.txt") or system != declared("bindep.txt"):
    sys.exit("ee: introspect disagrees with requirements.txt / bindep.txt")
PY

# The documented EE definition names the tarball of the version galaxy.yml builds.
cp docs/execution-environment.yml "$work/"
grep -q "$(basename "$tarball")" "$work/execution-environment.yml" \
  || { echo "ee: docs/execution-environment.yml does not name $(basename "$tarball")" >&2; exit 1; }
(cd "$work" && ansible-builder create -f execution-environment.yml -c context >/dev/null)
test -f "$work/context/_build/collections/$(basename "$tarball")"
grep -q "progressive-delivery" "$work/context/_build/requirements.yml"
echo "ee: build context: $(cd "$work/context" && find . -type f | sort | tr '\n' ' ')"
echo "ee: ok"
