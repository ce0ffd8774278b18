"""Budgets for the course notebooks.

- Every lesson runs top to bottom, without an error, in at most ``LESSON_BUDGET``
  seconds on the course's reference machine (2 cores): the time is printed for each
  notebook (run pytest with ``-s`` to read them), kernel start-up included.
- No notebook file under lessons/ or solutions/ is larger than ``SIZE_BUDGET`` bytes
  (a chart library embedded in every notebook would blow this).

The notebooks are executed in memory with nbclient (cwd = the notebook's folder);
the files on disk are not changed.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "lessons").glob("*.ipynb"))
ALL_NOTEBOOKS = LESSONS + sorted((ROOT / "solutions").glob("*.ipynb"))
LESSON_BUDGET = 90.0   # seconds, top to bottom
SIZE_BUDGET = 500_000  # bytes per notebook file


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_file_size(path):
    size = path.stat().st_size
    print(f"\n{path.parent.name}/{path.name}: {size / 1000:.0f} KB")
    assert size <= SIZE_BUDGET, f"{path.name} is {size / 1000:.0f} KB, over the {SIZE_BUDGET // 1000} KB budget"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_runs_within_budget(path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.monotonic()
    client.execute()  # raises CellExecutionError if any cell fails: Run All must reach the end
    elapsed = time.monotonic() - start
    print(f"\n{path.name}: {elapsed:.1f} s top to bottom (budget {LESSON_BUDGET:.0f} s)")
    assert elapsed <= LESSON_BUDGET, f"{path.name} took {elapsed:.1f} s, over the {LESSON_BUDGET:.0f} s budget"
