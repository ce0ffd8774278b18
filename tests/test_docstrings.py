"""Every ``>>>`` example in minirt's docstrings runs, and shows what it says it shows.

One test per module of the package (found by walking it, so a new module is
covered without touching this file). Each example group (one docstring) starts
with ``minirt`` and ``ray`` (the name the lessons use) imported, and whatever
runtime it leaves running is shut down before the next one, so examples may
call ``minirt.init`` themselves or rely on auto-init.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import minirt

MODULES = sorted(m.name for m in pkgutil.walk_packages(minirt.__path__, "minirt."))


def test_every_public_module_is_checked():
    assert "minirt.api" in MODULES and "minirt.util.queue" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures = []
    for test in finder.find(module, name):          # globals: a copy of the module's
        if not test.examples:
            continue
        test.globs.update(minirt=minirt, ray=minirt)
        minirt.shutdown()
        out: list[str] = []
        try:
            result = runner.run(test, out=out.append, clear_globs=True)
        finally:
            minirt.shutdown()
        if result.failed:
            failures.append("".join(out))
    assert not failures, "\n".join(failures)
