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

Each notebook's time on Ray, its slowest cells there, and its time on minirt (the run
that made its saved outputs, from nbclient's cell timings) are printed (``pytest -s``);
the list of times is shown at the end even without ``-s``.
One kernel and one Ray per notebook, each with its own RAY_TMPDIR; starting Ray
is most of a short notebook's time, so the notebooks run in a pool (:class:`RayPool`),
``MINIRT_RAY_JOBS`` at a time (default 2), and each test waits for its own. A
notebook has ``NOTEBOOK_TIMEOUT`` seconds in all. Whatever Ray processes are left
after its kernel stops are killed, and the run fails if any survives (these tests
overlap, so they do their own leak check instead of conftest.py's).

When Ray itself fails to start ("The current node timed out during startup": its raylet
did not register within Ray's fixed 30 s, which happens on an overloaded machine, or a
cell calling ``ray.init(`` ran out of time), the notebook is run once more, from a fresh
kernel and Ray, and the output says so; any other failure, and a second failed start,
fail the test. The notebooks' timing claims hold on Ray because their set-up cells warm
Ray's workers up first (Ray starts them on demand, a second or more each on a busy
machine) and because their checks read ``ray.timeline()`` where that says more than a
total time.

Marker ``ray`` (skipped when Ray is not installed); the notebook runs are also marked
``ray_notebooks`` and are part of ``bash scripts/test.sh``: all 23 notebooks take 10 to
20 minutes on a busy 2-core machine, two at a time. ``MINIRT_RAY_NOTEBOOKS=0`` leaves them
out (``-m "not ray_notebooks"`` when calling pytest directly). Run them alone with
``bash scripts/test.sh tests/test_on_ray.py -s``.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import glob
import importlib
import os
import re
import shutil
import tempfile
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import NamedTuple

import nbformat
import psutil
import pytest

from tests.ray_tagged import kill_tagged, tagged

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "lessons", "*.ipynb")) +
                   glob.glob(os.path.join(ROOT, "solutions", "*.ipynb")))
SAMPLE = os.path.join(ROOT, "tests", "data", "on_ray_sample.ipynb")
CELL_TIMEOUT = 240          # seconds per cell (Ray starts slowly on a busy 2-core machine)
NOTEBOOK_TIMEOUT = 300      # seconds per notebook, kernel start to last cell (the slowest takes ~130 s)
# How many notebooks run on Ray at once (each with its own kernel and Ray).
RAY_JOBS = int(os.environ.get("MINIRT_RAY_JOBS", "2"))

# `code  # change to "replacement" ...`: the line becomes `replacement` on Ray.
_SWAP = re.compile(r'^(?P<indent>[ \t]*)(?P<code>\S.*?)\s*#\s*change to "(?P<new>[^"]+)"')
_MINIRT_IMPORT = re.compile(r"^\s*(import minirt\b|from minirt\b)", re.M)
_MARK = re.compile(r"[✓✗]")
_RAY_LOG = re.compile(r"^\S*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\s+(INFO|WARNING)\s")  # Ray's log lines
_STARTS_RAY = re.compile(r"\bray\.init\(|\bCluster\(")
# Ray itself failed to start (not the notebook's fault): that notebook is run once more.
_RAY_START_FAILED = re.compile(
    r"The current node timed out during startup|Failed to (start|connect to) the GCS"
    r"|Timed out while waiting for (the )?GCS|raylet .*(failed to start|died)")

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


def _descendants(pid: int) -> list:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


class RayRun(NamedTuple):
    """One notebook executed on Ray."""

    prepared: Prepared             # the cells that ran, with their outputs
    seconds: float                 # kernel start to last cell, wall clock
    cell_seconds: list             # per kept cell, from nbclient's timestamps
    retried: str = ""              # why the first attempt was thrown away (Ray failed to start)


def ray_failed_to_start(error: BaseException) -> bool:
    """Whether a notebook run failed because Ray itself did not start.

    That is Ray's "The current node timed out during startup" (and its GCS/raylet kin)
    raised by a cell, or a cell calling ``ray.init(`` that ran out of time. Any other
    error is the notebook's.
    """
    text = str(error)
    if _RAY_START_FAILED.search(text):
        return True
    return type(error).__name__ == "CellTimeoutError" and "ray.init(" in text


def ray_environment(tmp: str) -> dict:
    """The kernel's environment for a Ray run whose Ray files go under ``tmp``.

    Ray starts privately (no other cluster on the machine is joined) and quietly; the
    notebook code is not changed.
    """
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)           # ray.init() must start its own cluster
    env.update({
        # A private temp dir: ray.init() without an address would otherwise join a cluster
        # someone started on this machine (found through /tmp/ray/ray_current_cluster).
        # It also tags every process of this run (see tests/ray_tagged.py).
        "RAY_TMPDIR": tmp,
        "RAY_USAGE_STATS_ENABLED": "0",        # no prompt, no network call
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


def _cell_seconds(cell) -> float:
    timing = cell.get("metadata", {}).get("execution", {})
    try:
        start = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return 0.0
    return (end - start).total_seconds()


def starts_ray(source: str) -> bool:
    """Whether a cell starts a Ray instance (``ray.init(...)`` or ``Cluster(...)``)."""
    return bool(_STARTS_RAY.search(source))


def run_on_ray(path: str, tmp: str | None = None, deadline: float = NOTEBOOK_TIMEOUT,
               on_kernel=None, start_lock=None) -> RayRun:
    """Execute the notebook on Ray in its own folder, in a kernel of its own.

    Args:
        path: the notebook.
        tmp: its RAY_TMPDIR (made if None; deleted at the end). Short, because Ray puts
            Unix sockets in it (at most 107 characters per path).
        deadline: seconds for the whole notebook (each cell gets what is left, at most
            ``CELL_TIMEOUT``); past it the cell raises nbclient's CellTimeoutError.
        on_kernel: called with the kernel's pid once it runs (lets a pool stop it).
        start_lock: a lock held while a cell that starts Ray runs (see :func:`starts_ray`),
            so that notebooks run side by side never boot their Rays at the same moment.

    Returns:
        The run.

    Raises:
        AssertionError: a process of the run outlived it (after being killed).
    """
    from nbclient import NotebookClient
    prepared = prepare(nbformat.read(path, as_version=4), os.path.relpath(path, ROOT))
    client = NotebookClient(prepared.nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": os.path.dirname(path)}})
    tmp = tmp or tempfile.mkdtemp(prefix="rt-", dir="/tmp")
    leftovers: list = []
    waited = 0.0          # waiting for start_lock: not counted against the deadline, nor in the time
    t0 = time.monotonic()
    try:
        with client.setup_kernel(env=ray_environment(tmp)):
            kernel_pid = client.km.provisioner.pid
            if on_kernel is not None:
                on_kernel(kernel_pid)
            try:
                for index, cell in enumerate(prepared.nb.cells):
                    lock = start_lock if start_lock is not None and starts_ray(cell.source) \
                        else contextlib.nullcontext()
                    t_wait = time.monotonic()
                    with lock:
                        waited += time.monotonic() - t_wait
                        client.timeout = max(1, min(CELL_TIMEOUT,
                                                    int(t0 + waited + deadline - time.monotonic())))
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
        survivors = kill_tagged(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
    assert not survivors, f"processes of the Ray run of {path} survived being killed: {survivors}"
    return RayRun(prepared, time.monotonic() - t0 - waited,
                  [_cell_seconds(c) for c in prepared.nb.cells])


def compare_markers(path: str, prepared: Prepared) -> list[str]:
    """Cells whose ✓/✗ marks on Ray differ from the saved outputs."""
    saved = nbformat.read(path, as_version=4).cells
    diffs = []
    for cell, i in zip(prepared.nb.cells, prepared.origin):
        want, got = markers(saved[i]), markers(cell)
        if want != got:
            text = "".join(o.get("text", "") for o in cell.outputs)
            text = "\n".join(line for line in text.splitlines() if not _RAY_LOG.match(line))
            diffs.append(f"cell {i}: saved {want or '(none)'}, on Ray {got or '(none)'}\n"
                         + textwrap.indent(text[-1500:], "    "))
    return diffs


@pytest.fixture(autouse=True)
def _ray_installed():
    pytest.importorskip("ray")


RETRY_PAUSE = 60     # at most this many seconds of waiting for a calmer machine before a retry


def _calmer(at_most: float) -> None:
    """Wait until the machine's load is below twice its cores, for ``at_most`` seconds at most.

    Ray missed its start-up deadline because the machine was overloaded: starting it again
    at once would most likely miss it again.
    """
    deadline = time.monotonic() + at_most
    while os.getloadavg()[0] >= 2 * (os.cpu_count() or 1) and time.monotonic() < deadline:
        time.sleep(2)


class RayPool:
    """Runs notebooks on Ray in the background, ``jobs`` at a time, in the order given.

    Each notebook has its own kernel, its own Ray and its own RAY_TMPDIR, so runs do not
    see each other. A test waits for its notebook with :meth:`result`; :meth:`close`
    cancels what has not started, stops the kernels still running, and returns the pids
    of any process of a run that is still alive (there should be none).
    """

    def __init__(self, paths, jobs: int):
        self._lock = threading.Lock()
        self._kernels: dict = {}          # path -> kernel pid, while it runs
        self._closing = False
        # One Ray boots at a time: booting is the heaviest moment of a run, and two at once on
        # an overloaded machine make Ray miss its own 30 s start-up deadline more often.
        self._starting = threading.Lock()
        self._tmps: list = []             # each run's RAY_TMPDIR
        self._executor = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="on-ray")
        self._futures = {path: self._executor.submit(self._run, path) for path in paths}

    def _run(self, path) -> RayRun:
        if self._closing:
            raise RuntimeError("the pool was closed before this notebook started")

        def started(pid):
            with self._lock:
                self._kernels[path] = pid
        retried = ""
        for attempt in (1, 2):
            tmp = tempfile.mkdtemp(prefix="rt-", dir="/tmp")
            with self._lock:
                self._tmps.append(tmp)
            try:
                run = run_on_ray(path, tmp=tmp, on_kernel=started, start_lock=self._starting)
                return run._replace(retried=retried)
            except Exception as error:
                if attempt == 2 or self._closing or not ray_failed_to_start(error):
                    raise
                found = _RAY_START_FAILED.search(str(error))
                retried = found.group(0) if found else "ray.init ran out of time"
                _calmer(RETRY_PAUSE)
            finally:
                with self._lock:
                    self._kernels.pop(path, None)

    def result(self, path) -> RayRun:
        """The finished run of ``path`` (its error if it failed)."""
        return self._futures[path].result()

    def close(self) -> list:
        self._closing = True
        for future in self._futures.values():
            future.cancel()
        with self._lock:
            running = list(self._kernels.values())
        for pid in running:       # its run's clean-up kills what the kernel started
            try:
                psutil.Process(pid).kill()
            except psutil.Error:
                pass
        self._executor.shutdown(wait=True)
        return [pid for tmp in self._tmps for pid in tagged(tmp)]


@pytest.fixture(scope="module")
def ray_pool(request):
    """Starts every selected test_notebook_on_ray notebook at once, RAY_JOBS at a time."""
    paths = [item.callspec.params["path"] for item in request.session.items
             if getattr(item, "originalname", None) == "test_notebook_on_ray"
             and hasattr(item, "callspec")]
    pool = RayPool(paths, RAY_JOBS)
    t0 = time.monotonic()
    yield pool
    _WALL.append((time.monotonic() - t0, RAY_JOBS))
    left = pool.close()
    assert not left, f"processes of the Ray notebook runs left: {left}"


_TIMES: dict[str, float] = {}
_MINIRT_TIMES: dict[str, float | None] = {}  # notebook -> its time on minirt (saved outputs)


def saved_seconds(path: str) -> float | None:
    """How long the run on minirt that made the saved outputs took, first cell to last.

    nbconvert/nbclient record each cell's start and end in its metadata
    (``execution``); None when the notebook has no such timings.
    """
    starts, ends = [], []
    for cell in nbformat.read(path, as_version=4).cells:
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            starts.append(datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00")))
            ends.append(datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00")))
    return (max(ends) - min(starts)).total_seconds() if starts else None
_RETRIED: dict[str, str] = {}   # notebook -> why Ray was started again (it failed to start)
_WALL: list = []            # (seconds from the first notebook's start to the last's end, jobs)


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
        reporter.write_line("time of each notebook on Ray, and on minirt (the saved outputs' run):")
        for rel, seconds in _TIMES.items():
            again = "  (run twice: Ray failed to start the first time)" if rel in _RETRIED else ""
            on_minirt = _MINIRT_TIMES.get(rel)
            minirt = f"{on_minirt:6.1f} s" if on_minirt is not None else "     ? s"
            reporter.write_line(f"  {seconds:6.1f} s  {minirt}  {rel}{again}")
        for wall, jobs in _WALL:
            reporter.write_line(f"  {wall:6.1f} s  all of them, {jobs} at a time "
                                f"(their times add up to {sum(_TIMES.values()):.1f} s)")


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


def test_only_a_failed_ray_start_is_retried():
    from nbclient.exceptions import CellExecutionError, CellTimeoutError
    started = CellExecutionError(
        "An error occurred while executing the following cell:\n"
        "context = ray.init(num_cpus=8)\n\x1b[31mException\x1b[39m: The current node timed out "
        "during startup. This could happen because some of the raylet failed to startup",
        "Exception", "The current node timed out during startup.")
    assert ray_failed_to_start(started)
    init_hangs = CellTimeoutError("A cell timed out while it was being executed, after 240 seconds.\n"
                                  "Here is a preview of the cell contents:\n"
                                  "-------------------\n['context = ray.init(num_cpus=8)']")
    assert ray_failed_to_start(init_hangs)
    assert not ray_failed_to_start(CellTimeoutError(
        "A cell timed out while it was being executed, after 240 seconds.\n"
        "Here is a preview of the cell contents:\n-------------------\n['time.sleep(300)']"))
    assert not ray_failed_to_start(CellExecutionError(
        "x = ray.get(ref)\nValueError: bad value", "ValueError", "bad value"))
    assert not ray_failed_to_start(AssertionError("cell 9: saved ✓, on Ray ✗"))


def test_cells_that_start_ray_are_found():
    assert starts_ray("context = ray.init(num_cpus=8)")
    assert starts_ray("with ray.init(num_cpus=2):\n    pass")
    assert starts_ray('cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})')
    assert not starts_ray("if ray.is_initialized():\n    ray.shutdown()")
    assert not starts_ray("print(ray.get(ref))")


@pytest.mark.slow
def test_a_cell_that_starts_ray_waits_for_the_start_lock(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('import minirt as ray  # change to "import ray" to run on a Ray cluster'),
        nbformat.v4.new_code_cell("import time\nstarted = time.time()  # stands for ray.init(num_cpus=2)"),
        nbformat.v4.new_code_cell("print(round(started))")])
    path = tmp_path / "waits.ipynb"
    nbformat.write(nb, path)
    lock = threading.Lock()
    lock.acquire()
    released = []

    def release_later():
        time.sleep(12)            # longer than the kernel takes to import ray
        released.append(time.time())
        lock.release()
    t0 = time.monotonic()
    run = run_on_ray(str(path), deadline=60, start_lock=lock,
                     on_kernel=lambda pid: threading.Thread(target=release_later, daemon=True).start())
    total = time.monotonic() - t0
    started = int(run.prepared.nb.cells[2].outputs[0]["text"])
    assert started >= round(released[0]) - 1          # the cell ran once the lock was free
    assert run.seconds <= total - 2                   # the wait is not the notebook's time
    assert lock.acquire(blocking=False)               # and the lock was given back


@pytest.mark.slow
def test_sample_notebook_on_ray():
    run = run_on_ray(SAMPLE)
    _TIMES[os.path.relpath(SAMPLE, ROOT)] = run.seconds
    _MINIRT_TIMES[os.path.relpath(SAMPLE, ROOT)] = saved_seconds(SAMPLE)
    print(f"\n{os.path.relpath(SAMPLE, ROOT)}: {run.seconds:.1f} s on Ray")
    assert compare_markers(SAMPLE, run.prepared) == []
    assert "✗" in "".join(markers(c) for c in run.prepared.nb.cells)   # the unsolved exercise
    assert len(run.cell_seconds) == len(run.prepared.nb.cells) and sum(run.cell_seconds) > 0


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_hanging_notebook_fails_by_its_deadline_and_leaves_nothing(tmp_path):
    pid_file = tmp_path / "child.pid"
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('import minirt as ray  # change to "import ray" to run on a Ray cluster'),
        nbformat.v4.new_code_cell("import subprocess, time\n"
                                  "child = subprocess.Popen(['sleep', '300'])  # a process of the run\n"
                                  f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
                                  "time.sleep(300)")])
    path = tmp_path / "hangs.ipynb"
    nbformat.write(nb, path)
    kernels = []
    t0 = time.monotonic()
    with pytest.raises(Exception) as info:
        run_on_ray(str(path), deadline=20, on_kernel=kernels.append)
    assert type(info.value).__name__ == "CellTimeoutError"
    assert time.monotonic() - t0 < 60                     # the deadline, not the cell's sleep
    child = int(pid_file.read_text())
    assert len(kernels) == 1
    for pid in (kernels[0], child):
        try:
            assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, f"pid {pid} is still running"
        except psutil.NoSuchProcess:
            pass


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
@pytest.mark.own_leak_check     # the runs overlap: run_on_ray and ray_pool check for leftovers
@pytest.mark.timeout(NOTEBOOK_TIMEOUT * 3)   # waiting for the pool, then the run itself
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: os.path.relpath(p, ROOT))
def test_notebook_on_ray(path, ray_pool):
    # (a notebook without the marked line fails test_notebook_is_ray_code, and here in run_on_ray)
    rel = os.path.relpath(path, ROOT)
    run = ray_pool.result(path)
    _TIMES[rel] = run.seconds
    if run.retried:
        _RETRIED[rel] = run.retried
        print(f"\n{rel}: Ray failed to start ({run.retried}); ran the notebook again")
    slowest = sorted(zip(run.cell_seconds, run.prepared.origin), reverse=True)[:3]
    _MINIRT_TIMES[rel] = on_minirt = saved_seconds(path)
    print(f"\n{rel}: {run.seconds:.1f} s on Ray"
          + (f" ({on_minirt:.1f} s on minirt)" if on_minirt is not None else "")
          + "; slowest cells: " + ", ".join(f"{i} ({t:.1f} s)" for t, i in slowest))
    diffs = compare_markers(path, run.prepared)
    assert not diffs, f"{rel}: ✓/✗ on Ray differ from the saved outputs:\n" + "\n".join(diffs)
