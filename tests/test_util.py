"""Tests for the course helpers in util/ (printing and Bokeh charts)."""

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from util import pd, pnd  # noqa: E402

bokeh = pytest.importorskip("bokeh")

from bokeh.models import FactorRange, GlyphRenderer, HoverTool, LogScale, Span  # noqa: E402
from bokeh.plotting import figure as figure_fn  # noqa: E402

from util import plots  # noqa: E402

FigureType = type(figure_fn())


# --- pd / pnd --------------------------------------------------------------


@pytest.mark.parametrize(
    "duration, prefix, expected",
    [
        (4.0321, "make_array", "make_array duration:  4.032 seconds\n"),
        (0.0004, "", " duration:  0.000 seconds\n"),
        (12.3456, "tree", "tree duration: 12.346 seconds\n"),
        (123.4, "long", "long duration: 123.400 seconds\n"),
    ],
)
def test_pd_prints_exact_text(capsys, duration, prefix, expected):
    assert pd(duration, prefix) is None
    assert capsys.readouterr().out == expected


def test_pd_prefix_is_keyword_too(capsys):
    pd(1.5, prefix="serial")
    assert capsys.readouterr().out == "serial duration:  1.500 seconds\n"


def test_pnd_prints_number_then_duration(capsys):
    assert pnd(35, 2.0114, "fib") is None
    pnd(1000000, 0.25, prefix="sum")
    assert capsys.readouterr().out == (
        "fib n: 35, duration:  2.011 seconds\n"
        "sum n: 1000000, duration:  0.250 seconds\n"
    )


# --- granularity chart -----------------------------------------------------

SIZES = [i * 10**j for j in range(2, 5) for i in [1, 2, 3, 5, 8]]
LOCAL = [1e-5 + 2e-7 * n for n in SIZES]
REMOTE = [1e-3 + 2e-8 * n for n in SIZES]


def glyph_renderers(fig):
    return [r for r in fig.renderers if isinstance(r, GlyphRenderer)]


def test_granularity_chart_is_a_log_log_figure():
    fig = plots.granularity_chart(SIZES, LOCAL, REMOTE, title="Granularity")
    assert isinstance(fig, FigureType)
    assert isinstance(fig.x_scale, LogScale) and isinstance(fig.y_scale, LogScale)
    assert fig.title.text == "Granularity"
    assert fig.xaxis[0].axis_label == "array size (elements)"
    assert fig.yaxis[0].axis_label == "time (seconds)"
    assert fig.width > 0 and fig.height > 0


def test_granularity_chart_has_two_series_with_a_legend():
    fig = plots.granularity_chart(SIZES, LOCAL, REMOTE)
    renderers = glyph_renderers(fig)
    assert len(renderers) == 4  # a line and markers for each of local and remote
    labels = sorted(item.label["value"] for item in fig.legend[0].items)
    assert labels == ["local", "remote"]
    for r in renderers:
        assert list(r.data_source.data["size"]) == [float(s) for s in SIZES]
    names = {r.data_source.data["name"][0] for r in renderers}
    assert names == {"local", "remote"}


def test_granularity_chart_hover_shows_name_size_time():
    fig = plots.granularity_chart(SIZES, LOCAL, REMOTE)
    hovers = [t for t in fig.tools if isinstance(t, HoverTool)]
    assert len(hovers) == 1
    fields = [label for label, _ in hovers[0].tooltips]
    assert fields == ["name", "size", "time"]
    assert len(hovers[0].renderers) == 2


def test_granularity_chart_crossover_line():
    fig = plots.granularity_chart(SIZES, LOCAL, REMOTE, crossover=5000)
    spans = [m for m in fig.center if isinstance(m, Span)]
    assert [s.location for s in spans] == [5000.0]
    assert not [m for m in plots.granularity_chart(SIZES, LOCAL, REMOTE).center if isinstance(m, Span)]


@pytest.mark.parametrize(
    "sizes, local, remote",
    [([1, 2], [1.0], [1.0, 2.0]), ([0, 1], [1.0, 1.0], [1.0, 1.0]), ([1, 2], [1.0, -1.0], [1.0, 1.0])],
)
def test_granularity_chart_rejects_bad_input(sizes, local, remote):
    with pytest.raises(ValueError):
        plots.granularity_chart(sizes, local, remote)


# --- first_line --------------------------------------------------------------


def test_first_line_keeps_the_first_line_and_hides_pids():
    from util import first_line
    error = ValueError("ValueError in parse (pid=4321):\n  File x, line 1\nValueError: bad")
    assert first_line(error) == "ValueError in parse (pid=...):"
    assert first_line(RuntimeError("the worker (pid 77) died")) == "the worker (pid=...) died"
    assert first_line(KeyError()) == ""


# --- chunk chart -------------------------------------------------------------

CHUNKS = {1: 3.9, 10: 0.8, 100: 0.45, 1000: 0.6, 10000: 3.1}


def test_chunk_chart_plots_time_against_chunk_size_log_log():
    fig = plots.chunk_chart(CHUNKS, title="Chunks")
    assert isinstance(fig.x_scale, LogScale) and isinstance(fig.y_scale, LogScale)
    assert fig.title.text == "Chunks"
    assert fig.xaxis[0].axis_label == "chunk size (items per task)"
    renderers = glyph_renderers(fig)
    assert len(renderers) == 2  # a line and its markers
    for r in renderers:
        assert list(r.data_source.data["size"]) == [1.0, 10.0, 100.0, 1000.0, 10000.0]
        assert list(r.data_source.data["time"]) == [3.9, 0.8, 0.45, 0.6, 3.1]


def test_chunk_chart_sorts_sizes_and_marks_the_winner():
    fig = plots.chunk_chart({100: 0.5, 1: 4.0, 10: 1.0}, best=100)
    assert list(glyph_renderers(fig)[0].data_source.data["size"]) == [1.0, 10.0, 100.0]
    assert list(glyph_renderers(fig)[0].data_source.data["time"]) == [4.0, 1.0, 0.5]
    assert [m.location for m in fig.center if isinstance(m, Span)] == [100.0]
    assert not [m for m in plots.chunk_chart(CHUNKS).center if isinstance(m, Span)]
    assert plots.snapshot_png(fig)[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("timings, error", [([1, 2], TypeError), ({}, ValueError),
                                            ({0: 1.0}, ValueError), ({10: -1.0}, ValueError)])
def test_chunk_chart_rejects_bad_input(timings, error):
    with pytest.raises(error):
        plots.chunk_chart(timings)


# --- timeline chart --------------------------------------------------------


def make_events():
    """Six executions on three workers of two nodes, as minirt.timeline() reports them."""
    t0 = 1_700_000_000_000_000
    spec = [  # (pid, tid, name, start s, duration s)
        (1, 11, "make_array", 0.0, 2.0),
        (1, 12, "make_array", 0.1, 2.0),
        (1, 11, "add_arrays", 2.1, 4.0),
        (2, 21, "make_array", 0.2, 1.0),
        (2, 21, "Counter.incr", 1.5, 0.5),
        (2, 21, "Counter.incr", 2.5, 0.5),
    ]
    return [
        {
            "cat": "task",
            "name": name,
            "pid": pid,
            "tid": tid,
            "ts": t0 + int(start * 1e6),
            "dur": int(dur * 1e6),
            "ph": "X",
            "args": {"task_id": "ab" * 16, "attempt": 0},
        }
        for pid, tid, name, start, dur in spec
    ]


def test_timeline_chart_one_row_per_worker():
    fig = plots.timeline_chart(make_events())
    assert isinstance(fig, FigureType)
    assert isinstance(fig.y_range, FactorRange)
    assert len(fig.y_range.factors) == 3
    # the first worker is drawn at the top, i.e. last in the factor list
    assert fig.y_range.factors[-1] == "node 1 · worker 11"
    assert fig.y_range.factors[0] == "node 2 · worker 21"


def test_timeline_chart_labels_read_node_and_worker_and_fit():
    events = make_events()[:3]
    for e, tid in zip(events, ["worker 4 (pid 6180)", "worker 10 (pid 6181)", "worker 4 (pid 6180)"]):
        e["pid"], e["tid"] = "node 0", tid
    fig = plots.timeline_chart(events)
    factors = fig.y_range.factors
    # the pid is dropped, and worker 4 (top row) comes before worker 10: numbers sort as numbers
    assert factors == ["node 0 · worker 10", "node 0 · worker 4"]
    longest = max(len(f) for f in factors)
    assert fig.min_border_left >= 7 * longest  # room for the longest label


def test_timeline_chart_keeps_pids_when_labels_would_clash():
    events = make_events()[:2]
    events[0]["pid"], events[0]["tid"] = "node 0", "worker 1 (pid 11)"
    events[1]["pid"], events[1]["tid"] = "node 0", "worker 1 (pid 12)"  # a replaced worker
    fig = plots.timeline_chart(events)
    assert sorted(fig.y_range.factors) == ["node 0 · worker 1 (pid 11)", "node 0 · worker 1 (pid 12)"]


def test_timeline_chart_bars_span_ts_to_ts_plus_dur():
    fig = plots.timeline_chart(make_events())
    (bars,) = glyph_renderers(fig)
    data = bars.data_source.data
    assert len(data["name"]) == 6
    assert data["start"][0] == 0.0 and data["end"][0] == pytest.approx(2.0)
    assert data["start"][2] == pytest.approx(2.1) and data["end"][2] == pytest.approx(6.1)
    assert data["duration"][3] == pytest.approx(1.0)
    # coloured by name: one legend entry per distinct name
    assert fig.legend[0].items[0].label.field == "name"
    assert sorted(bars.glyph.fill_color.transform.factors) == ["Counter.incr", "add_arrays", "make_array"]


def test_timeline_chart_hover_shows_name_duration_args():
    fig = plots.timeline_chart(make_events())
    (hover,) = [t for t in fig.tools if isinstance(t, HoverTool)]
    fields = [label for label, _ in hover.tooltips]
    for field in ("name", "duration", "args"):
        assert field in fields
    (bars,) = glyph_renderers(fig)
    assert "attempt=0" in bars.data_source.data["args"][0]


def test_timeline_chart_reads_a_trace_file_and_skips_other_phases(tmp_path):
    events = make_events() + [{"name": "meta", "ph": "M", "pid": 1, "tid": 11, "ts": 0}]
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(events))
    fig = plots.timeline_chart(path)
    (bars,) = glyph_renderers(fig)
    assert len(bars.data_source.data["name"]) == 6
    fig2 = plots.timeline_chart({"traceEvents": events})
    assert len(glyph_renderers(fig2)[0].data_source.data["name"]) == 6


def test_timeline_chart_without_events_says_why():
    with pytest.raises(ValueError, match="no complete"):
        plots.timeline_chart([])


# --- show / save_png -------------------------------------------------------


class FakeShell:
    """Stands in for the IPython kernel's shell: records display messages and hooks."""

    kernel = object()

    def __init__(self):
        self.published, self.hooks = [], []
        self.events = self

    def register(self, event, fn):
        self.hooks.append((event, fn))


@pytest.fixture
def shell(monkeypatch):
    import IPython.display

    fake = FakeShell()

    def publish(data, metadata=None, transient=None, **kw):
        fake.published.append(("display", data, (transient or {}).get("display_id")))

    def update(obj, raw=False, display_id=None, **kw):
        fake.published.append(("update", obj, display_id))

    monkeypatch.setattr(plots, "_ipython", lambda: fake)
    monkeypatch.setattr(plots, "_hook_installed", False)
    monkeypatch.setattr(plots, "_pending_loaders", [])
    monkeypatch.setattr(IPython.display, "publish_display_data", publish)
    monkeypatch.setattr(IPython.display, "update_display", update)
    return fake


def test_show_sends_bokehjs_then_drops_it_from_the_saved_output(shell):
    fig = plots.granularity_chart(SIZES, LOCAL, REMOTE, title="Granularity")
    plots.show(fig)
    kinds = [(kind, sorted(data)) for kind, data, _ in shell.published]
    assert kinds[0] == ("display", ["application/javascript", "application/vnd.bokehjs_load.v0+json"])
    loader_id = shell.published[0][2]
    assert loader_id and len(shell.published[0][1]["application/javascript"]) > 500_000  # BokehJS, inline
    assert kinds[1] == ("display", ["text/html"])
    chart = shell.published[2][1]
    assert "application/vnd.bokehjs_exec.v0+json" in chart and "Granularity" in chart["text/plain"]
    # when the cell has finished, the loader is replaced by an empty output
    [(event, hook)] = shell.hooks
    assert event == "post_run_cell"
    hook(None)
    assert shell.published[-1] == ("update", {"text/html": ""}, loader_id)
    kept = [data for kind, data, _ in shell.published[1:3]] + [shell.published[-1][1]]
    assert sum(len(json.dumps(d)) for d in kept) < 200_000  # what the notebook file keeps
    # a second chart loads BokehJS again (the page may have been reloaded), one hook only
    plots.show(fig)
    hook(None)
    assert len(shell.hooks) == 1 and shell.published[-1][0] == "update"


def test_show_saves_a_png_snapshot_of_the_chart(shell):
    pytest.importorskip("matplotlib")
    import base64

    plots.show(plots.timeline_chart(make_events()))
    png = base64.b64decode(shell.published[2][1]["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_show_rejects_what_is_not_a_chart():
    with pytest.raises(TypeError, match="Bokeh figure"):
        plots.show([1, 2, 3])


def chromium_missing():
    return not (os.path.exists(plots.CHROMIUM) and os.path.exists(plots.CHROMEDRIVER))


@pytest.mark.browser
@pytest.mark.skipif(
    chromium_missing(),
    reason=f"needs {plots.CHROMIUM} and {plots.CHROMEDRIVER} (Debian packages chromium, chromium-driver)",
)
@pytest.mark.parametrize("kind", ["granularity", "timeline"])
def test_save_png_writes_a_real_image(tmp_path, kind):
    if kind == "granularity":
        fig = plots.granularity_chart(SIZES, LOCAL, REMOTE, width=600, height=350)
    else:
        fig = plots.timeline_chart(make_events(), width=600)
    out = plots.save_png(fig, tmp_path / "sub" / f"{kind}.png")
    data = Path(out).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 600 and height >= 250
    assert len(data) > 5000  # a blank canvas compresses to far less
    keep = os.environ.get("UTIL_PNG_DIR")  # set it to look at the pictures afterwards
    if keep:
        shutil.copy(out, Path(keep) / f"{kind}.png")


# --- a saved notebook, opened again: the snapshot stands in for the chart --------------


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_saved_chart_shows_its_snapshot_in_jupyterlab(tmp_path):
    """Open lesson 08 as saved (outputs kept, nothing run) in JupyterLab: its chart cell must
    show the PNG snapshot, since the page has no BokehJS and the saved output is not trusted."""
    import secrets
    import signal
    import socket
    import subprocess
    import time
    import urllib.request

    if chromium_missing():
        pytest.skip(f"needs {plots.CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    lesson = "08_patterns.ipynb"
    root = tmp_path / "course"
    for name in ("lessons", "util", "images"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token, state = secrets.token_hex(16), tmp_path / "state"
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(state / "config"), JUPYTER_RUNTIME_DIR=str(state / "rt"),
               JUPYTERLAB_SETTINGS_DIR=str(state / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(state / "ws"),
               JUPYTER_DATA_DIR=str(state / "data"), JUPYTER_PLATFORM_DIRS="1")
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}"]
    if os.geteuid() == 0:
        cmd.append("--ServerApp.allow_root=True")
    with open(tmp_path / "jupyter.log", "wb") as log:
        server = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "jupyter lab did not start"
                time.sleep(0.5)
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=plots.CHROMIUM, headless=True,
                                         args=list(plots.CHROMIUM_FLAGS))
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"http://127.0.0.1:{port}/lab/tree/lessons/{lesson}?token={token}")
                cell = page.locator(".jp-CodeCell", has_text="show(timeline_chart(").first
                cell.scroll_into_view_if_needed(timeout=60_000)
                snapshot = cell.locator(".jp-OutputArea-output img")
                snapshot.first.wait_for(state="visible", timeout=60_000)
                box = snapshot.first.bounding_box()
                assert box and box["width"] > 300 and box["height"] > 150
            finally:
                browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


# --- scratch_dir ---------------------------------------------------------------


def test_scratch_dir_is_removed_when_the_interpreter_exits(tmp_path):
    import subprocess
    import sys
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from util import scratch_dir\n"
            "p = scratch_dir('t-'); open(p + '/f', 'w').write('x'); print(p)") % os.path.dirname(
                os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    path = out.stdout.strip()
    assert path and not os.path.exists(path), f"{path} was left behind"
    from util import scratch_dir
    with pytest.raises(TypeError, match="prefix"):
        scratch_dir(3)


def test_run_script_shows_each_answer_after_its_prompt():
    import doctest

    import util
    assert doctest.testmod(util).failed == 0           # the docstring's session, for real
    out = util.run_script("for i in range(3):\n    breakpoint()\nprint('after', i)",
                          ["p i", "c", "p i * 10", "c", "c"])
    lines = out.splitlines()
    assert [line for line in lines if line.startswith("(Pdb)")] == [
        "(Pdb) p i", "(Pdb) c", "(Pdb) p i * 10", "(Pdb) c", "(Pdb) c"]
    assert lines[lines.index("(Pdb) p i") + 1] == "0"
    assert lines[lines.index("(Pdb) p i * 10") + 1] == "10"
    assert "after 2" in lines and "<scratch>/script.py" in out


def test_run_script_shows_errors_and_rejects_bad_input():
    import util
    assert "ZeroDivisionError" in util.run_script("1 / 0")
    with pytest.raises(TypeError, match="list of strings"):
        util.run_script("pass", "c")
    with pytest.raises(TypeError, match="string"):
        util.run_script(b"pass")


def test_minirt_cli_keeps_the_sections_asked_for_and_hides_what_changes(monkeypatch, tmp_path):
    import minirt
    import util
    monkeypatch.setenv("MINIRT_TMPDIR", str(tmp_path))
    minirt.init(num_cpus=1)
    full = util.minirt_cli("status")
    assert "Workers" in full and "Tasks" in full
    assert "Session:" not in full and "========" not in full
    workers = util.minirt_cli("status", sections=["Workers"])
    assert workers.startswith("Workers") and "worker processes" in workers and "Tasks" not in workers
    held = minirt.put(b"x" * 200_000)          # one row, whose pid is the driver's
    memory = util.minirt_cli("memory")
    assert "--- Object references for node 0 ---" in memory, memory     # the command ran
    assert str(os.getpid()) not in memory and "<driver pid>" in memory
    del held
    minirt.shutdown()
    assert "no running minirt runtime" in util.minirt_cli("status")
    with pytest.raises(TypeError):
        util.minirt_cli("status", sections="Tasks")


@pytest.mark.filterwarnings("ignore::minirt.util._teach.MinirtTeachingWarning")  # (by value on purpose)
def test_watched_counts_every_time_a_value_is_stored():
    import doctest

    import numpy as np

    import minirt
    from util import check
    assert doctest.testmod(check).failed == 0
    minirt.init(num_cpus=1)

    @minirt.remote
    def kind(a):
        return type(a).__name__, float(a[1])
    table = check.watched(np.arange(300_000, dtype=np.float64))
    start = time.time()
    ref = minirt.put(table)
    assert minirt.get([kind.remote(ref) for _ in range(3)]) == [("ndarray", 1.0)] * 3
    assert check.serialized(table, since=start) == 1          # one put, three refs
    assert minirt.get([kind.remote(table) for _ in range(3)]) == [("ndarray", 1.0)] * 3
    assert check.serialized(table, since=start) == 4          # + one copy per by-value call
    assert check.serialized(table, since=time.time()) == 0
