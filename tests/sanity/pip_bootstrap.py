"""Stand-in for the pip bootstrap script ansible-test downloads from its own CI host.

ansible-test builds a venv per sanity test and bootstraps pip in it by running a script it
fetches from a host outside the package registries this project may reach. It looks for a
cached copy first (~/.ansible/test/cache/get_pip_<version>.py): `make sanity` puts this file
there. It does what that script is for, from PyPI: bring pip into the venv with ensurepip,
then `pip install` the packages ansible-test asked for.
"""

import subprocess
import sys

# Options only the original bootstrap script understands.
BOOTSTRAP_ONLY = {"--no-setuptools", "--no-wheel"}


def main():
    args = [a for a in sys.argv[1:] if a not in BOOTSTRAP_ONLY]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"],
                          stdout=subprocess.DEVNULL)
    subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    main()
