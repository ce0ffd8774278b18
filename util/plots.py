"""Bokeh charts for the course notebooks.

- ``granularity_chart``: time per call of a local and a remote version of the
  same work, against the size of the work, on log-log axes.
- ``chunk_chart``: the time to process a batch of items against the chunk size
  (items per task), on log-log axes, with the winner marked.
- ``timeline_chart``: a Gantt chart of a runtime timeline (Chrome trace events,
  as returned or written by ``minirt.timeline()``), one row per worker.
- ``show``: display a chart in the notebook. It works offline and keeps the
  saved notebook small: BokehJS (1.3 MB) is sent to the page with the chart
  but left out of the saved file, and a static PNG snapshot of the chart is
  saved with it for viewers that do not run the chart's JavaScript.
- ``snapshot_png``: that snapshot, drawn with matplotlib (no browser needed).
- ``save_png``: render a chart to a PNG file with headless Chromium (used by the
  scripts that make the pictures under ``images/``).
"""

import base64
import io
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from bokeh.models import ColumnDataSource, HoverTool, Range1d, Span
from bokeh.palettes import Category10_10, Category20_20
from bokeh.plotting import figure
from bokeh.transform import factor_cmap

__all__ = ["granularity_chart", "chunk_chart", "timeline_chart", "show", "snapshot_png", "save_png"]

LOCAL_COLOR = "#1f77b4"
REMOTE_COLOR = "#d62728"


def granularity_chart(
    sizes,
    local_times,
    remote_times,
    title="Local vs remote: time per call",
    crossover=None,
    width=760,
    height=420,
):
    """Plot local and remote timings against array size on log-log axes.

    ``sizes``, ``local_times`` and ``remote_times`` are sequences of the same
    length (times in seconds, all > 0). If ``crossover`` (a size) is given, a
    dashed vertical line marks it. Returns the Bokeh figure; pass it to
    :func:`show` to display it.
    """
    sizes = [float(s) for s in sizes]
    local_times = [float(t) for t in local_times]
    remote_times = [float(t) for t in remote_times]
    if not (len(sizes) == len(local_times) == len(remote_times)):
        raise ValueError(
            "sizes, local_times and remote_times must have the same length, got "
            f"{len(sizes)}, {len(local_times)} and {len(remote_times)}"
        )
    if any(v <= 0 for v in sizes + local_times + remote_times):
        raise ValueError("a log-log chart needs sizes and times greater than 0")

    fig = figure(
        title=title,
        x_axis_type="log",
        y_axis_type="log",
        x_axis_label="array size (elements)",
        y_axis_label="time (seconds)",
        width=width,
        height=height,
        tools="pan,wheel_zoom,box_zoom,reset,save",
    )
    points = []
    for name, times, color in (
        ("local", local_times, LOCAL_COLOR),
        ("remote", remote_times, REMOTE_COLOR),
    ):
        source = ColumnDataSource(
            {"name": [name] * len(sizes), "size": sizes, "time": times}
        )
        fig.line("size", "time", source=source, color=color, line_width=2, legend_label=name)
        points.append(
            fig.scatter("size", "time", source=source, color=color, size=8, legend_label=name)
        )
    fig.add_tools(
        HoverTool(
            renderers=points,
            tooltips=[("name", "@name"), ("size", "@size{0,0}"), ("time", "@time{0.000000} s")],
        )
    )
    if crossover is not None:
        fig.add_layout(
            Span(location=float(crossover), dimension="height", line_dash="dashed", line_color="gray")
        )
    fig.legend.location = "top_left"
    fig.legend.click_policy = "hide"
    return fig


def chunk_chart(timings, best=None, title="Time for all items, by chunk size", width=760, height=420):
    """Plot how long one run over all items took at each chunk size (log-log axes).

    Args:
        timings: a dict ``{chunk size: seconds}`` (sizes and times > 0).
        best: a chunk size to mark with a dashed vertical line (the winner), or None.
        title: the chart's title.
        width: the chart's width in pixels.
        height: the chart's height in pixels.

    Returns:
        The Bokeh figure; pass it to :func:`show` to display it.

    Raises:
        TypeError: ``timings`` is not a dict.
        ValueError: ``timings`` is empty, or holds a size or time that is not > 0.
    """
    if not isinstance(timings, dict):
        raise TypeError(f"timings must be a dict {{chunk size: seconds}}; got {type(timings).__name__}")
    if not timings:
        raise ValueError("timings is empty: time at least one chunk size first")
    sizes = sorted(float(s) for s in timings)
    times = [float(timings[s]) for s in sorted(timings)]
    if any(v <= 0 for v in sizes + times):
        raise ValueError("a log-log chart needs chunk sizes and times greater than 0")
    fig = figure(
        title=title,
        x_axis_type="log",
        y_axis_type="log",
        x_axis_label="chunk size (items per task)",
        y_axis_label="time for all items (seconds)",
        width=width,
        height=height,
        tools="pan,wheel_zoom,box_zoom,reset,save",
    )
    source = ColumnDataSource({"name": ["all items"] * len(sizes), "size": sizes, "time": times})
    fig.line("size", "time", source=source, color=REMOTE_COLOR, line_width=2)
    points = fig.scatter("size", "time", source=source, color=REMOTE_COLOR, size=8)
    fig.add_tools(HoverTool(renderers=[points], tooltips=[
        ("chunk size", "@size{0,0}"), ("time", "@time{0.000} s")]))
    if best is not None:
        fig.add_layout(Span(location=float(best), dimension="height", line_dash="dashed", line_color="gray"))
    return fig


def _load_events(events):
    if isinstance(events, (str, os.PathLike)):
        with open(events, encoding="utf-8") as f:
            events = json.load(f)
    if isinstance(events, dict) and "traceEvents" in events:  # the other Chrome trace layout
        events = events["traceEvents"]
    return [e for e in events if e.get("ph", "X") == "X" and "dur" in e]


_PID_SUFFIX = re.compile(r"\s*\(pid \d+\)$")


def _row_order(row):
    # "worker 10" after "worker 9": compare the numbers in a label as numbers.
    return tuple(
        tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
              for part in re.split(r"(\d+)", str(value)) if part)
        for value in row
    )


def _row_labels(rows):
    """Row labels as a learner reads them: ``"node 0 · worker 4"``.

    minirt's trace names the process ``"node 0"`` and the thread
    ``"worker 4 (pid 6180)"``; the operating-system pid is dropped unless two
    rows would otherwise get the same label. Bare numbers (other tracers) get
    the words ``node`` and ``worker`` in front.
    """
    def part(value, word):
        return f"{word} {value}" if isinstance(value, int) else str(value)

    short = {r: f"{part(r[0], 'node')} · {_PID_SUFFIX.sub('', part(r[1], 'worker'))}" for r in rows}
    if len(set(short.values())) == len(rows):
        return short
    return {r: f"{part(r[0], 'node')} · {part(r[1], 'worker')}" for r in rows}


def timeline_chart(events, title="Timeline: one row per worker", width=900, height=None):
    """Draw a Gantt chart of Chrome-trace events.

    ``events`` is a list of dicts with ``name``, ``pid``, ``tid``, ``ts`` and
    ``dur`` (microseconds) and ``ph == "X"``, as ``minirt.timeline()`` returns,
    or the path of a JSON file holding them. Each (pid, tid) pair, i.e. each
    worker, gets its own row, labelled like ``"node 0 · worker 4"``; a bar runs
    from ``ts`` to ``ts + dur``; bars are coloured by name. Time is shown in
    seconds from the first event.
    """
    events = _load_events(events)
    if not events:
        raise ValueError(
            "no complete ('ph': 'X') events to draw: run some tasks after init() "
            "before asking for the timeline"
        )
    t0 = min(float(e["ts"]) for e in events)
    rows = sorted({(e["pid"], e["tid"]) for e in events}, key=_row_order)
    labels = _row_labels(rows)
    names = sorted({str(e["name"]) for e in events})
    palette = Category10_10 if len(names) <= 10 else Category20_20
    palette = [palette[i % len(palette)] for i in range(len(names))]

    data = {"row": [], "name": [], "start": [], "end": [], "duration": [], "args": []}
    for e in events:
        start = (float(e["ts"]) - t0) / 1e6
        dur = float(e["dur"]) / 1e6
        data["row"].append(labels[(e["pid"], e["tid"])])
        data["name"].append(str(e["name"]))
        data["start"].append(start)
        data["end"].append(start + dur)
        data["duration"].append(dur)
        args = e.get("args") or {}
        data["args"].append(", ".join(f"{k}={v}" for k, v in args.items()) if isinstance(args, dict) else str(args))

    # Top row = first worker.
    factors = [labels[r] for r in reversed(rows)]
    if height is None:
        height = max(260, 80 + 34 * len(rows))
    end = max(data["end"])
    fig = figure(
        title=title,
        y_range=factors,
        x_range=Range1d(0, end * 1.02 if end > 0 else 1.0),
        x_axis_label="time since the first event (seconds)",
        width=width,
        height=height,
        tools="xpan,xwheel_zoom,box_zoom,reset,save",
    )
    # Room for the longest row label, so that none is cut off (about 7 px a character).
    fig.min_border_left = 30 + 7 * max(len(label) for label in labels.values())
    bars = fig.hbar(
        y="row",
        left="start",
        right="end",
        height=0.7,
        source=ColumnDataSource(data),
        fill_color=factor_cmap("name", palette=palette, factors=names),
        line_color="white",
        legend_field="name",
    )
    fig.add_tools(
        HoverTool(
            renderers=[bars],
            tooltips=[
                ("name", "@name"),
                ("worker", "@row"),
                ("start", "@start{0.000} s"),
                ("duration", "@duration{0.000000} s"),
                ("args", "@args"),
            ],
        )
    )
    fig.ygrid.grid_line_color = None
    # Keep the legend beside the plot so that it never hides a bar.
    legend = fig.legend[0]
    legend.click_policy = "hide"
    fig.add_layout(legend, "right")
    return fig


# Display ids of the BokehJS loaders shown in the cell that is running; emptied
# once the cell has finished (see _forget_loaders).
_pending_loaders = []
_hook_installed = False


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


def _forget_loaders(*_args):
    """After the cell: replace each BokehJS loader output with an empty HTML one.

    The page has run BokehJS by then, so the chart stays; the notebook file is
    spared the 1.3 MB bundle.
    """
    from IPython.display import update_display

    while _pending_loaders:
        update_display({"text/html": ""}, raw=True, display_id=_pending_loaders.pop())


def _publish_loader(shell):
    """Send BokehJS (core bundle, inline: no network) to the page as a replaceable output."""
    global _hook_installed
    from bokeh.embed.bundle import bundle_for_objs_and_resources
    from bokeh.io.notebook import JS_MIME_TYPE, LOAD_MIME_TYPE, _loading_js
    from bokeh.resources import Resources
    from IPython.display import publish_display_data

    # Only the core bundle (hover, legends, log axes): no widgets, tables, WebGL, MathJax.
    bundle = bundle_for_objs_and_resources(None, Resources(mode="inline", components=["bokeh"]))
    display_id = f"minirt-bokehjs-{len(_pending_loaders)}-{os.urandom(8).hex()}"
    publish_display_data(
        {
            JS_MIME_TYPE: _loading_js(bundle, None, register_mime=True),
            LOAD_MIME_TYPE: _loading_js(bundle, None, register_mime=False),
        },
        transient={"display_id": display_id},
    )
    _pending_loaders.append(display_id)
    if not _hook_installed:
        shell.events.register("post_run_cell", _forget_loaders)
        _hook_installed = True


def snapshot_png(fig, dpi=96):
    """A static PNG picture of a chart made by this module, or None without matplotlib.

    Draws the figure's lines, markers and horizontal bars with matplotlib (no
    browser needed), with the same axes, labels and title. Returns PNG bytes.
    """
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure
    except ImportError:
        return None
    from bokeh.models import HBar, Line, Scatter

    out = Figure(figsize=(fig.width / dpi, fig.height / dpi), dpi=dpi)
    ax = out.subplots()
    factors = list(getattr(fig.y_range, "factors", []) or [])
    seen = set()
    for renderer in fig.renderers:
        glyph, data = getattr(renderer, "glyph", None), renderer.data_source.data
        if isinstance(glyph, (Line, Scatter)):
            label = data["name"][0] if data.get("name") else None
            color = glyph.line_color if isinstance(glyph, Line) else glyph.fill_color
            keep = label if label not in seen else None
            seen.add(label)
            if isinstance(glyph, Line):
                ax.plot(data[glyph.x], data[glyph.y], color=color, linewidth=2, label=keep)
            else:
                ax.scatter(data[glyph.x], data[glyph.y], color=color, s=30, label=keep)
        elif isinstance(glyph, HBar):
            transform = glyph.fill_color.transform
            colors = dict(zip(transform.factors, transform.palette))
            for row, name, left, right in zip(data["row"], data["name"], data["start"], data["end"]):
                ax.barh(factors.index(row), right - left, left=left, height=0.7,
                        color=colors.get(name, "gray"), edgecolor="white",
                        label=name if name not in seen else None)
                seen.add(name)
    for mark in fig.center:
        if isinstance(mark, Span) and mark.dimension == "height":
            ax.axvline(mark.location, color="gray", linestyle="--")
    if factors:
        ax.set_yticks(range(len(factors)), factors)
        ax.set_ylim(-0.5, len(factors) - 0.5)
    if type(fig.x_scale).__name__ == "LogScale":
        ax.set_xscale("log")
    if type(fig.y_scale).__name__ == "LogScale":
        ax.set_yscale("log")
    ax.set_title(fig.title.text if fig.title is not None else "")
    ax.set_xlabel(fig.xaxis[0].axis_label or "")
    ax.set_ylabel(fig.yaxis[0].axis_label or "")
    if seen - {None}:
        ax.legend(loc="upper left" if not factors else "best", fontsize="small")
    out.tight_layout()
    buffer = io.BytesIO()
    out.savefig(buffer, format="png")
    return buffer.getvalue()


def show(fig):
    """Display a Bokeh figure in the notebook: interactive, offline, and small on disk.

    In a Jupyter kernel, three outputs are published:

    1. BokehJS itself (inline, so no network is needed), as an output that is
       replaced by an empty one when the cell has finished: the page keeps the
       library it has already run, the saved notebook does not carry 1.3 MB;
    2. the chart's ``<div>``;
    3. the script that draws the chart into it, together with a static PNG
       snapshot (:func:`snapshot_png`). JupyterLab draws the interactive chart
       from the script when the output is trusted (it was made in this
       session); a saved notebook opened later, or a viewer that does not run
       JavaScript, shows the snapshot until the cell runs again.

    Outside a kernel it falls back to Bokeh's own ``show`` (a browser tab).

    Args:
        fig: a Bokeh figure, e.g. from :func:`granularity_chart` or :func:`timeline_chart`.

    Raises:
        TypeError: ``fig`` is not a Bokeh model.
    """
    from bokeh.model import Model

    if not isinstance(fig, Model):
        raise TypeError(f"show() takes a Bokeh figure, e.g. from granularity_chart(); got {type(fig).__name__}")
    shell = _ipython()
    if shell is None:
        from bokeh.io import show as bokeh_show

        bokeh_show(fig)
        return
    from bokeh.embed.notebook import notebook_content
    from bokeh.io.notebook import EXEC_MIME_TYPE, HTML_MIME_TYPE, JS_MIME_TYPE
    from IPython.display import publish_display_data

    _publish_loader(shell)
    script, div, _doc = notebook_content(fig)
    publish_display_data({HTML_MIME_TYPE: div})
    chart = {JS_MIME_TYPE: script, EXEC_MIME_TYPE: ""}
    png = snapshot_png(fig)
    if png is not None:
        chart["image/png"] = base64.b64encode(png).decode("ascii")
    chart["text/plain"] = f"<Bokeh chart: {fig.title.text if fig.title is not None else ''}>"
    publish_display_data(chart, metadata={EXEC_MIME_TYPE: {"id": fig.id}})


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
)


def save_png(fig, path, chromium=CHROMIUM, chromedriver=CHROMEDRIVER):
    """Render ``fig`` to the PNG file ``path`` with Bokeh's ``export_png``.

    Uses Selenium with the system's headless Chromium and ChromeDriver (Debian
    packages ``chromium`` and ``chromium-driver``); nothing is downloaded.
    Returns the path written.
    """
    from bokeh.io import export_png
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for exe in (chromium, chromedriver):
        if not os.path.exists(exe):
            raise FileNotFoundError(
                f"{exe} not found: install Debian's chromium and chromium-driver packages"
            )
    profile = tempfile.mkdtemp(prefix="minirt-course-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        export_png(fig, filename=str(path), webdriver=driver)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    return path
