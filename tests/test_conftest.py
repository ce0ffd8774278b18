"""The test suite's own conventions (tests/conftest.py is imported the one safe way)."""

from __future__ import annotations

import glob
import os
import re


def test_no_test_module_imports_conftest_by_its_bare_name():
    """In a worker process, ``conftest`` would be the repository root's conftest.py (the
    notebook hooks), not tests/conftest.py: a remote function defined in a module that
    did ``from conftest import ...`` then fails to load there. ``from tests.conftest
    import ...`` names the right one everywhere."""
    here = os.path.dirname(os.path.abspath(__file__))
    bad = re.compile(r"^\s*(from\s+conftest\s+import|import\s+conftest\b)", re.M)
    offenders = [os.path.basename(p) for p in sorted(glob.glob(os.path.join(here, "*.py")))
                 if bad.search(open(p, encoding="utf-8").read())]
    assert offenders == [], f"use `from tests.conftest import ...` in {offenders}"
