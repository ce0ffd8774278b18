"""The course on Ray: every lesson and solution, run top to bottom with ``import ray``.

The notebooks are Ray code: each imports the runtime in one marked line,
``import minirt as ray  # change to "import ray" to run on a Ray cluster``. Here
every line carrying such a ``# change to "..."`` comment is replaced by the text it
names, cells tagged ``minirt-only`` are left out, and the notebook runs in a real
kernel (nbclient) in its own folder, on Ray 2.60. Then:

* no cell may raise;
* each cell prints the same ✓/✗ markers (``util.check``'s exercise checks and
  claims) as its saved outputs: lessons show ✗ for unsolved exercises,
  solutions ✓, and claims in the text hold on Ray too;
* every ``ray.X`` name used outside ``minirt-only`` cells exists in Ray.

Each notebook's time on Ray is printed (``pytest -s``). One Ray runtime per
kernel; whatever Ray processes are left after the kernel stops are killed, so the
leak check in conftest.py holds. Marker ``ray``; skipped when Ray is not installed.
Run it alone with ``bash scripts/test.sh -m ray tests/test_on_ray.py -s``.
"""

from __future__ import annotations

import ast
import copy
import glob
import importlib
import os
import re
import shutil
import tempfile
import time
from typing import NamedTuple

import nbformat
import psutil
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "lessons", "*.ipynb")) +
                   glob.glob(os.path.join(ROOT, "solutions", "*.ipynb")))
SAMPLE = os.path.join(ROOT, "tests", "data", "on_ray_sample.ipynb")
CELL_TIMEOUT = 600          # seconds per cell (Ray starts slowly on a busy 2-core machine)

# `code  # change to "replacement" ...`: the line becomes `replacement` on Ray.
_SWAP = re.compile(r'^(?P<indent>[ \t]*)(?P<code>\S.*?)\s*#\s*change to "(?P<new>[^"]+)"')
_MINIRT_IMPORT = re.compile(r"^\s*(import minirt\b|from minirt\b)", re.M)
_MARK = re.compile(r"[✓✗]")

pytestmark = pytest.mark.ray


class Prepared(NamedTuple):
    """A notebook made ready for Ray: the cells to run, and where each came from."""

    nb: nbformat.NotebookNode      # only the cells that run on Ray, sources swapped
    origin: list                   # index in the original notebook of each kept cell


class NotRayCode(Exception):
    """The notebook cannot be run on Ray as it is (no marked import line, ...)."""


def prepare(nb, name: str = "notebook") -> Prepared:
    """Swap the marked lines and drop ``minirt-only`` cells.

    Raises:
        NotRayCode: no marked ``import minirt as ray`` line, or minirt imported elsewhere.
    """
    nb = copy.deepcopy(nb)
    kept, origin, swapped_import, problem = [], [], False, None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if "minirt-only" in cell.get("metadata", {}).get("tags", []):
            continue
        lines = []
        for line in cell.source.split("\n"):
            m = _SWAP.match(line)
            if m:
                line = m["indent"] + m["new"]
                swapped_import |= m["code"].startswith("import minirt as ray") and \
                    m["new"].strip() == "import ray"
            lines.append(line)
        cell.source = "\n".join(lines)
        bad = _MINIRT_IMPORT.search(cell.source)
        if bad and problem is None:
            problem = (
                f"{name}, cell {i}: imports minirt outside the marked line "
                f"({bad.group(0).strip()!r}). On Ray this fails: mark the line with "
                '# change to "<the Ray import>", or tag the cell minirt-only.')
        kept.append(cell)
        origin.append(i)
    if not swapped_import:
        raise NotRayCode(
            f"{name} has no marked import line: a code cell must hold the line\n"
            '    import minirt as ray  # change to "import ray" to run on a Ray cluster\n'
            "(the lessons are Ray code; this harness swaps that line for `import ray`).")
    if problem is not None:
        raise NotRayCode(problem)
    nb.cells = kept
    return Prepared(nb, origin)


def markers(cell) -> str:
    """The ✓/✗ marks a code cell printed, in order (e.g. "✓✓✗")."""
    text = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            text.append(out.get("text", ""))
        elif "data" in out:
            text.append(out["data"].get("text/plain", ""))
    return "".join(_MARK.findall("".join(text)))


def _python_source(source: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager
    return TransformerManager().transform_cell(source)      # %magics, !shell -> Python


def ray_names(prepared: Prepared) -> dict[str, int]:
    """Every dotted name under ``ray`` the notebook uses -> the first cell using it."""
    found: dict[str, int] = {}
    for cell, i in zip(prepared.nb.cells, prepared.origin):
        try:
            tree = ast.parse(_python_source(cell.source))
        except SyntaxError:
            continue                     # a cell that is not Python fails when it runs
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                parts = []
                while isinstance(node, ast.Attribute):
                    parts.append(node.attr)
                    node = node.value
                if isinstance(node, ast.Name) and node.id == "ray":
                    found.setdefault(".".join(["ray"] + parts[::-1]), i)
            elif isinstance(node, ast.ImportFrom) and node.module and \
                    (node.module == "ray" or node.module.startswith("ray.")):
                for alias in node.names:
                    found.setdefault(f"{node.module}.{alias.name}", i)
    # keep the longest chains only: ray.util.ActorPool covers ray.util
    return {n: i for n, i in found.items()
            if not any(other.startswith(n + ".") for other in found)}


def missing_in_ray(names) -> list[str]:
    """The names that do not resolve in the installed Ray (submodules are imported)."""
    import ray
    missing = []
    for name in names:
        obj, path = ray, "ray"
        for part in name.split(".")[1:]:
            path = f"{path}.{part}"
            if hasattr(obj, part):
                obj = getattr(obj, part)
                continue
            if not isinstance(obj, type(ray)):      # an attribute a class lacks
                missing.append(name)
                break
            try:
                obj = importlib.import_module(path)
            except ImportError:
                missing.append(name)
                break
    return missing


def _kill_tagged(tmp) -> None:
    """Kill what was started with RAY_TMPDIR=tmp and escaped the kernel's process tree."""
    if not tmp:
        return
    procs = []
    for p in psutil.process_iter():
        try:
            if p.environ().get("RAY_TMPDIR") == tmp:
                procs.append(p)
                p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=10)


def _descendants(pid: int) -> list:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def run_on_ray(path: str) -> tuple[Prepared, float]:
    """Execute the notebook on Ray in its own folder; returns it with outputs, and seconds."""
    from nbclient import NotebookClient
    prepared = prepare(nbformat.read(path, as_version=4), os.path.relpath(path, ROOT))
    client = NotebookClient(prepared.nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": os.path.dirname(path)}})
    leftovers: list = []
    t0 = time.monotonic()
    try:
        with client.setup_kernel():
            kernel_pid = client.km.provisioner.pid
            try:
                for index, cell in enumerate(prepared.nb.cells):
                    client.execute_cell(cell, index)
            finally:
                leftovers = _descendants(kernel_pid)      # Ray's raylet, GCS, workers...
    finally:
        for p in leftovers:
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(leftovers, timeout=10)
        _kill_tagged(os.environ.get("RAY_TMPDIR"))
    return prepared, time.monotonic() - t0


def compare_markers(path: str, prepared: Prepared) -> list[str]:
    """Cells whose ✓/✗ marks on Ray differ from the saved outputs."""
    saved = nbformat.read(path, as_version=4).cells
    diffs = []
    for cell, i in zip(prepared.nb.cells, prepared.origin):
        want, got = markers(saved[i]), markers(cell)
        if want != got:
            diffs.append(f"cell {i}: saved {want or '(none)'}, on Ray {got or '(none)'}\n"
                         f"    {''.join(o.get('text', '') for o in cell.outputs)[:400]}")
    return diffs


@pytest.fixture(autouse=True)
def _ray_env(monkeypatch, tmp_path_factory):
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")     # no prompt, no network call
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    # A private Ray temp dir: ray.init() without an address would otherwise join a cluster
    # someone started on this machine (found through /tmp/ray/ray_current_cluster). Short,
    # because Ray puts Unix sockets in it (at most 107 characters per path).
    tmp = tempfile.mkdtemp(prefix="rt-", dir="/tmp")
    monkeypatch.setenv("RAY_TMPDIR", tmp)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    yield
    shutil.rmtree(tmp, ignore_errors=True)


_TIMES: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_times(request):
    """At the end, one line per notebook run: its time on Ray (shown even without -s)."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not _TIMES:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line("time of each notebook on Ray:")
        for rel, seconds in _TIMES.items():
            reporter.write_line(f"  {seconds:6.1f} s  {rel}")


# --- the harness itself, on a small notebook (runs without the new lessons) ----------------
def test_harness_rejects_a_notebook_without_the_marked_line():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import minirt\nminirt.init()")])
    with pytest.raises(NotRayCode, match="no marked import line"):
        prepare(nb, "old.ipynb")
    nb.cells[0].source = ('import minirt as ray  # change to "import ray" to run on a Ray cluster\n'
                          "import minirt.util")
    with pytest.raises(NotRayCode, match="cell 0: imports minirt outside the marked line"):
        prepare(nb, "half.ipynb")


def test_harness_swaps_lines_and_skips_minirt_only_cells():
    nb = nbformat.read(SAMPLE, as_version=4)
    prepared = prepare(nb)
    sources = "\n".join(c.source for c in prepared.nb.cells)
    assert "import ray\n" in sources + "\n" and "minirt" not in sources
    skipped = [i for i, c in enumerate(nb.cells) if "minirt-only" in c.metadata.get("tags", [])]
    assert skipped and not set(skipped) & set(prepared.origin)
    names = ray_names(prepared)
    assert {"ray.init", "ray.remote", "ray.get", "ray.util.ActorPool",
            "ray.util.state.list_tasks"} <= set(names)
    assert "ray.events" not in names                      # only in a minirt-only cell
    assert missing_in_ray(["ray.events", "ray.util.NoSuchPool"]) == \
        ["ray.events", "ray.util.NoSuchPool"]
    assert missing_in_ray(list(names)) == []


@pytest.mark.slow
def test_sample_notebook_on_ray():
    prepared, seconds = run_on_ray(SAMPLE)
    _TIMES[os.path.relpath(SAMPLE, ROOT)] = seconds
    print(f"\n{os.path.relpath(SAMPLE, ROOT)}: {seconds:.1f} s on Ray")
    assert compare_markers(SAMPLE, prepared) == []
    assert "✗" in "".join(markers(c) for c in prepared.nb.cells)   # the unsolved exercise


# --- the course ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: os.path.relpath(p, ROOT))
def test_notebook_is_ray_code(path):
    """The marked import line is there, and every ray.X used outside minirt-only cells exists in Ray."""
    rel = os.path.relpath(path, ROOT)
    try:
        prepared = prepare(nbformat.read(path, as_version=4), rel)
    except NotRayCode as e:
        pytest.fail(str(e), pytrace=False)
    missing = missing_in_ray(ray_names(prepared))
    assert not missing, f"{rel} uses names Ray does not have: {missing} (tag those cells minirt-only)"


@pytest.mark.slow
@pytest.mark.ray_notebooks
@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: os.path.relpath(p, ROOT))
def test_notebook_on_ray(path):
    # (a notebook without the marked line fails test_notebook_is_ray_code, and here in run_on_ray)
    rel = os.path.relpath(path, ROOT)
    prepared, seconds = run_on_ray(path)
    _TIMES[rel] = seconds
    print(f"\n{rel}: {seconds:.1f} s on Ray")
    diffs = compare_markers(path, prepared)
    assert not diffs, f"{rel}: ✓/✗ on Ray differ from the saved outputs:\n" + "\n".join(diffs)
