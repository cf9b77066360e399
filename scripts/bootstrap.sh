#!/usr/bin/env bash
# Installs what the demo and the tests need, idempotently (a warm run takes seconds):
# Debian packages (when root and missing), the Python venv from requirements-dev.txt,
# the collection path symlink, and the testbed's binaries (built once, cached outside
# the repo by tests/testbed/testbed.py).
set -euo pipefail
cd "$(dirname "$0")/.."

# (without the shellcheck package ansible-test skips its shellcheck sanity test; chromium
# opens the release report pages in the fleet tests)
APT_PACKAGES=(tcpdump strace prometheus shellcheck chromium)
PYTHON=${PYTHON:-python3}
VENV=.venv

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then
    echo "bootstrap: apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "bootstrap: not root, cannot install ${missing[*]} (the tests that need them will say so)" >&2
  fi
fi

stamp="$VENV/.requirements-$(sha256sum requirements-dev.txt | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  echo "bootstrap: creating $VENV from requirements-dev.txt"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements-dev.txt
  touch "$stamp"
fi

mkdir -p build/ansible_collections/progressive
ln -sfn ../../.. build/ansible_collections/progressive/delivery

"$VENV/bin/python" tests/testbed/testbed.py build >/dev/null
echo "bootstrap: ready"
