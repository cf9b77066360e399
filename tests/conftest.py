"""Make the collection importable as ansible_collections.progressive.delivery.

The repository root is the collection; build/ansible_collections/progressive/delivery is a
symlink to it (made by `make collection`, and here if missing)."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, "build")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "progressive", "delivery")

if not os.path.exists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(os.path.relpath(ROOT, os.path.dirname(LINK)), LINK)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
