"""The exercise checks catch wrong answers and accept right ones.

Every exercise is found through cell tags in ``solutions/*.ipynb`` (see README):
``exN-setup`` cells (also in the lesson, identical), the ``exN-solution`` cell, the
``exN-check`` cell (identical in lesson and solution) and, in the lesson, the
``exN-starter`` cell. ``tests/exercises/<notebook stem>.py`` lists plausible wrong
answers in ``WRONG_ANSWERS``.

For each exercise, each variant (the solution, the starter, every wrong answer) runs
in a fresh IPython kernel started in ``solutions/``: set-up cells, then the variant,
then the check cell. The check must pass for the solution and fail for every other
variant; its message is printed (run pytest with ``-s`` to read them all).
"""

from __future__ import annotations

import importlib.util
import json
import queue
import re
from pathlib import Path
from typing import NamedTuple

import nbformat
import pytest

from tests.conftest import start_kernel

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
LESSONS = ROOT / "lessons"
WRONG_DIR = Path(__file__).resolve().parent / "exercises"
_TAG = re.compile(r"^ex(\d+)-(setup|starter|solution|check)$")
CELL_TIMEOUT = 120  # seconds for one cell; the per-test timeout covers the rest


class Exercise(NamedTuple):
    stem: str
    number: int
    setup: list      # sources, in notebook order
    solution: str
    check: str


def _tagged(path: Path) -> dict:
    """{(number, role): [sources in order]} for one notebook."""
    found: dict = {}
    for cell in nbformat.read(path, as_version=4).cells:
        for tag in cell.metadata.get("tags", []):
            m = _TAG.match(tag)
            if m:
                found.setdefault((int(m.group(1)), m.group(2)), []).append(cell.source)
    return found


def _exercises() -> list:
    out = []
    for path in sorted(SOLUTIONS.glob("*.ipynb")):
        tags = _tagged(path)
        for number in sorted({n for n, role in tags if role == "solution"}):
            out.append(Exercise(path.stem, number, tags.get((number, "setup"), []),
                                "\n".join(tags[(number, "solution")]),
                                "\n".join(tags.get((number, "check"), []))))
    return out


def _wrong_answers(stem: str) -> dict:
    path = WRONG_DIR / f"{stem}.py"
    if not path.exists():
        return {}
    spec = importlib.util.spec_from_file_location(f"wrong_{stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.WRONG_ANSWERS


EXERCISES = _exercises()


def _variants():
    for ex in EXERCISES:
        key = f"{ex.stem}-ex{ex.number}"
        yield pytest.param(ex, "solution", ex.solution, True, id=f"{key}-solution")
        starter = _tagged(LESSONS / f"{ex.stem}.ipynb").get((ex.number, "starter"), [])
        yield pytest.param(ex, "starter", "\n".join(starter), False, id=f"{key}-starter")
        for name, source in _wrong_answers(ex.stem).get(f"ex{ex.number}", {}).items():
            yield pytest.param(ex, name, source, False, id=f"{key}-{name.replace(' ', '_')}")


def test_every_exercise_is_complete():
    assert EXERCISES, "no exN-solution cell found in solutions/*.ipynb"
    for ex in EXERCISES:
        where = f"{ex.stem} exercise {ex.number}"
        assert ex.check, f"{where}: no ex{ex.number}-check cell in the solution"
        lesson = _tagged(LESSONS / f"{ex.stem}.ipynb")
        assert len(lesson.get((ex.number, "starter"), [])) == 1, f"{where}: the lesson needs one starter cell"
        assert lesson.get((ex.number, "check")) == [ex.check], (
            f"{where}: the lesson's check cell differs from the solution's")
        assert lesson.get((ex.number, "setup"), []) == ex.setup, (
            f"{where}: the lesson's set-up cells differ from the solution's")
        wrong = _wrong_answers(ex.stem).get(f"ex{ex.number}", {})
        assert len(wrong) >= 2, f"{where}: tests/exercises/{ex.stem}.py lists {len(wrong)} wrong answers (need 2+)"


def _stored_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


@pytest.mark.parametrize("folder,mark", [(LESSONS, "✗ Exercise {n} not passed yet"),
                                         (SOLUTIONS, "✓ Exercise {n} passed")])
def test_stored_check_outputs(folder, mark):
    """Lessons are saved unsolved (✗ boxes), solutions solved (✓ lines)."""
    for ex in EXERCISES:
        nb = nbformat.read(folder / f"{ex.stem}.ipynb", as_version=4)
        cells = [c for c in nb.cells if f"ex{ex.number}-check" in c.metadata.get("tags", [])]
        assert len(cells) == 1
        text = _stored_text(cells[0])
        assert mark.format(n=ex.number) in text, (
            f"{folder.name}/{ex.stem}.ipynb exercise {ex.number}: stored output is {text[:200]!r}")


class _Kernel:
    """Runs cells in a fresh IPython kernel (started in solutions/) and reports errors."""

    def __init__(self, kc):
        self.kc = kc

    def run(self, source: str) -> str:
        chunks = []

        def hook(msg):
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                chunks.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                chunks.append(content["data"].get("text/plain", "") + "\n")
            elif kind == "error":
                chunks.append("\n".join(content["traceback"]))

        reply = self.kc.execute_interactive(source, timeout=CELL_TIMEOUT, output_hook=hook,
                                            allow_stdin=False)
        text = "".join(chunks)
        if reply["content"]["status"] != "ok":
            raise AssertionError(f"cell raised:\n{source}\n---\n{text}")
        return text

    def shutdown_runtime(self):
        """Shut down the runtime the cells started (minirt or Ray), if any; never raises."""
        try:
            self.kc.execute_interactive(
                "import sys\nrt = sys.modules.get('minirt') or sys.modules.get('ray')\n"
                "rt and rt.shutdown()", timeout=30)
        except (queue.Empty, TimeoutError, RuntimeError):
            pass


@pytest.mark.timeout(400)
@pytest.mark.parametrize("ex,variant,source,should_pass", list(_variants()))
def test_check_judges_variant(ex, variant, source, should_pass):
    with start_kernel(cwd=SOLUTIONS, now=False) as (_, kc):
        kernel = _Kernel(kc)
        try:
            for cell in ex.setup:
                kernel.run(cell)
            kernel.run(source)
            shown = kernel.run(ex.check)
            raw = kernel.run("import json, util.check\n"
                             "print(json.dumps({k: list(v) for k, v in util.check.RESULTS.items()}))")
        finally:
            kernel.shutdown_runtime()
    results = json.loads(raw.strip().splitlines()[-1])
    title = f"Exercise {ex.number}"
    assert list(results) == [title], f"the check recorded {list(results)}, expected only {title!r}"
    passed, message = results[title]
    print(f"\n[{ex.stem} ex{ex.number} · {variant}] {'PASSED' if passed else 'not passed'}: {message}")
    assert passed is should_pass, f"{variant}: the check said {shown!r}"
    if not should_pass:
        assert f"✗ {title} not passed yet" in shown
        assert "ray." not in message and "minirt." not in message, (
            f"the failure message should diagnose, not show code: {message!r}")
