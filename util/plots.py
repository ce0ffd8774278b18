"""Bokeh charts for the course notebooks.

- ``granularity_chart``: time per call of a local and a remote version of the
  same work, against the size of the work, on log-log axes.
- ``timeline_chart``: a Gantt chart of a runtime timeline (Chrome trace events,
  as returned or written by ``minirt.timeline()``), one row per worker.
- ``show``: display a chart in the notebook, with BokehJS embedded in the
  notebook itself so it renders without a network connection.
- ``save_png``: render a chart to a PNG file with headless Chromium (used by the
  scripts that make the pictures under ``images/``).
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

from bokeh.models import ColumnDataSource, HoverTool, Range1d, Span
from bokeh.palettes import Category10_10, Category20_20
from bokeh.plotting import figure
from bokeh.transform import factor_cmap

__all__ = ["granularity_chart", "timeline_chart", "show", "save_png"]

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


def _load_events(events):
    if isinstance(events, (str, os.PathLike)):
        with open(events, encoding="utf-8") as f:
            events = json.load(f)
    if isinstance(events, dict) and "traceEvents" in events:  # the other Chrome trace layout
        events = events["traceEvents"]
    return [e for e in events if e.get("ph", "X") == "X" and "dur" in e]


def timeline_chart(events, title="Timeline: one row per worker", width=900, height=None):
    """Draw a Gantt chart of Chrome-trace events.

    ``events`` is a list of dicts with ``name``, ``pid``, ``tid``, ``ts`` and
    ``dur`` (microseconds) and ``ph == "X"``, as ``minirt.timeline()`` returns,
    or the path of a JSON file holding them. Each (pid, tid) pair, i.e. each
    worker, gets its own row; a bar runs from ``ts`` to ``ts + dur``; bars are
    coloured by name. Time is shown in seconds from the first event.
    """
    events = _load_events(events)
    if not events:
        raise ValueError(
            "no complete ('ph': 'X') events to draw: run some tasks after init() "
            "before asking for the timeline"
        )
    t0 = min(float(e["ts"]) for e in events)
    rows = sorted({(e["pid"], e["tid"]) for e in events}, key=lambda r: (str(r[0]), str(r[1])))
    labels = {r: f"pid {r[0]} / tid {r[1]}" for r in rows}
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


_notebook_ready = False


def show(fig):
    """Display a Bokeh figure in the notebook.

    The first call loads BokehJS *inline* (embedded in the notebook output
    rather than fetched from a CDN), so charts render with no network.
    """
    global _notebook_ready
    from bokeh.io import output_notebook
    from bokeh.io import show as bokeh_show
    from bokeh.resources import Resources

    if not _notebook_ready:
        # Only the core BokehJS bundle (hover, legends, log axes): 1.3 MB instead of
        # the 3.9 MB with widgets, tables, WebGL and MathJax that the charts don't use.
        output_notebook(resources=Resources(mode="inline", components=["bokeh"]),
                        hide_banner=True)
        _notebook_ready = True
    bokeh_show(fig)


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
