#!/usr/bin/env bash
# ansible-test sanity needs the collection at ansible_collections/<ns>/<name>: run it on a
# copy of the tracked files under build/sanity. Its per-test venvs bootstrap pip from a host
# outside the registries we may reach; tests/sanity/pip_bootstrap.py stands in (from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dest=build/sanity/ansible_collections/progressive/delivery
rm -rf build/sanity && mkdir -p "$dest"
# (files deleted in the working tree but still in the index are left out)
git ls-files -z --cached --others --exclude-standard --deduplicate \
  | while IFS= read -r -d "" f; do [ -e "$f" ] && printf "%s\0" "$f"; done \
  | tar --null -T - -cf - | tar -xf - -C "$dest"
pip_version=$(.venv/bin/python - <<'PY'
import re, ansible_test, pathlib
text = (pathlib.Path(ansible_test.__file__).parent / "_internal/python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", text).group(1))
PY
)
mkdir -p ~/.ansible/test/cache
cp tests/sanity/pip_bootstrap.py ~/.ansible/test/cache/get_pip_"${pip_version//./_}".py
cd "$dest"
git init -q && git add -A
"$root/.venv/bin/ansible-test" sanity --requirements --python 3.11 "$@"
