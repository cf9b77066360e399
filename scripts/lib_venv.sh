# shellcheck shell=bash
# cached_venv NAME PIP-ARGS...: print the path of a venv holding exactly PIP-ARGS, created
# once and kept in ~/.cache/progressive-delivery/venvs, keyed by a hash of the arguments,
# of the files they name (-r FILE), of PD_VENV_KEY (anything else the caller puts in the
# venv) and of the Python version, as bootstrap.sh keys .venv by requirements-dev.txt.
cached_venv() {
  local name=$1
  shift
  local python=${PYTHON:-python3} key arg prev=""
  key=$({
    "$python" --version
    echo "${PD_VENV_KEY:-}"
    for arg in "$@"; do
      echo "$arg"
      if [ "$prev" = "-r" ]; then cat "$arg"; fi
      prev=$arg
    done
  } | sha256sum | cut -c1-16)
  local venv=${PD_CACHE_DIR:-$HOME/.cache/progressive-delivery}/venvs/$name-$key
  if [ ! -e "$venv/.ready" ]; then
    echo "venv: creating $venv ($*)" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check "$@" >&2
    touch "$venv/.ready"
  fi
  echo "$venv"
}

# dev_collection NAMESPACE.NAME: the path of that collection in the dev venv (.venv), which
# has them from the `ansible` package; CI has no Galaxy server to fetch them from.
dev_collection() {
  .venv/bin/python -c 'import importlib, sys
m = importlib.import_module("ansible_collections." + sys.argv[1])
print(list(m.__path__)[0])' "$1"
}
