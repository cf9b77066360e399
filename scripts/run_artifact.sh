#!/usr/bin/env bash
# The collection as a user installs it: build the Galaxy tarball, check what it ships,
# install it with ansible-galaxy into an empty collections path, and from there, in a venv
# holding only ansible-core and requirements.txt: ansible-doc renders every module, filter
# and role, and the README's demo release (playbooks/demo.yml) runs on the testbed.
# Nothing here reads the source tree's plugins or roles: only the installed copy is on the path.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib_venv.sh

core_pin=$(grep -E '^ansible-core==' requirements-dev.txt)
VENV=$(cached_venv runtime "$core_pin" -r requirements.txt)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$VENV/bin/ansible-galaxy" collection build --output-path "$work" . >/dev/null
tarball=$(ls "$work"/progressive-delivery-*.tar.gz)
echo "artifact: $(basename "$tarball"): $(stat -c %s "$tarball") bytes"

# What it ships: everything a user needs, nothing of the test suite or a used checkout.
"$VENV/bin/python" - "$tarball" <<'EOF'
import os, sys, tarfile
names = set(tarfile.open(sys.argv[1]).getnames())
tops = sorted(set(n.split("/")[0] for n in names))
print("artifact: top level: %s (%d files)" % (" ".join(tops), len(names)))
# Top-level entries a user gets; anything new in the checkout must be added here or to
# build_ignore in galaxy.yml, so that a new dev directory cannot slip into the tarball.
shipped = {"CHANGELOG.md", "FILES.json", "LICENSE", "MANIFEST.json", "README.md",
           "bindep.txt", "changelogs", "deploy", "docs", "meta", "playbooks", "plugins",
           "requirements.txt", "roles"}
unwanted = [n for n in names
            if n.split("/")[0] not in shipped
            or "/.ansible" in "/" + n or ".pytest_cache" in n or n.endswith(".pyc")
            or "__pycache__" in n or n.startswith("changelogs/fragments")]
needed = ["README.md", "LICENSE", "meta/runtime.yml", "meta/execution-environment.yml",
          "requirements.txt", "bindep.txt", "changelogs/changelog.yaml", "playbooks/demo.yml"]
needed += ["plugins/modules/" + f for f in os.listdir("plugins/modules") if f.endswith(".py")]
needed += ["plugins/action/" + f for f in os.listdir("plugins/modules") if f.endswith(".py")]
needed += ["plugins/plugin_utils/module_action.py"]
needed += ["roles/%s/meta/argument_specs.yml" % r for r in os.listdir("roles")]
missing = [n for n in needed if n not in names]
if unwanted or missing:
    sys.exit("artifact: ships %s; lacks %s" % (sorted(unwanted)[:20], missing))
EOF

# A fresh collections path, and no other copy of anything on the search path.
export ANSIBLE_COLLECTIONS_PATH="$work/collections" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export ANSIBLE_NOCOLOR=1 ANSIBLE_LOCALHOST_WARNING=0 ANSIBLE_INVENTORY_UNPARSED_WARNING=0
# ansible-core 2.19 imports cryptography's DSA support for its SSH agent, and cryptography
# 51 warns about DSA on import: ansible-core's warning, not ours. Only that one line is
# silenced (by the module that triggers it), so any other warning still fails the check.
export PYTHONWARNINGS=ignore::UserWarning:ansible._internal._ssh._ssh_agent
# The dependency comes from the dev venv's copy (CI has no Galaxy server to fetch it from).
kubernetes_core=$(dev_collection kubernetes.core)
"$VENV/bin/ansible-galaxy" collection install --offline -p "$work/collections" \
  "$kubernetes_core" >/dev/null
"$VENV/bin/ansible-galaxy" collection install --offline -p "$work/collections" "$tarball" \
  >/dev/null
installed=$work/collections/ansible_collections/progressive/delivery
version=$(sed -n 's/^version: *//p' galaxy.yml)
"$VENV/bin/ansible-galaxy" collection list progressive.delivery 2>/dev/null \
  | grep -Eq "^progressive\.delivery +$version\b" \
  || { echo "artifact: ansible-galaxy does not list progressive.delivery $version" >&2; exit 1; }

render() {  # render TYPE NAME...: one ansible-doc call; exit 0, each name shown, no warning
  local type=$1 out name
  shift
  if ! out=$("$VENV/bin/ansible-doc" -t "$type" "${@/#/progressive.delivery.}" 2>"$work/doc.err") \
      || [ -s "$work/doc.err" ]; then
    echo "artifact: ansible-doc -t $type $* failed:" >&2
    cat "$work/doc.err" >&2
    return 1
  fi
  for name in "$@"; do
    grep -q "progressive.delivery.$name" <<<"$out" \
      || { echo "artifact: ansible-doc -t $type shows nothing for $name" >&2; return 1; }
  done
  count=$((count + $#))
}
count=0
names() { local f; for f in "$@"; do f=${f%/}; f=${f##*/}; echo "${f%.*}"; done; }
mapfile -t modules < <(names "$installed"/plugins/modules/*.py)
mapfile -t filters < <(names "$installed"/plugins/filter/*.yml)
mapfile -t roles < <(names "$installed"/roles/*/)
render module "${modules[@]}"
render filter "${filters[@]}"
render role "${roles[@]}"
echo "artifact: ansible-doc rendered $count modules, filters and roles: ${modules[*]} ${filters[*]} ${roles[*]}"

# The README's demo, run by its FQCN from the installed collection, in its own namespace
# (the integration tests run the same demo from the source tree in pd-demo).
cd "$work"
"$VENV/bin/ansible-playbook" -i localhost, -c local \
  -e "ansible_python_interpreter=$VENV/bin/python" -e demo_ns=pd-artifact-demo \
  progressive.delivery.demo >"$work/demo.log" 2>&1 || {
    tail -40 "$work/demo.log"
    echo "artifact: the demo failed from the installed collection" >&2
    exit 1
  }
grep -E '"live: ' "$work/demo.log" | sed 's/^ */artifact: demo: /'
grep -q '"live: v2, previous (rollback target): v1"' "$work/demo.log"
echo "artifact: ok"
