"""Scaling curves from a benchmark run: Bokeh charts (HTML) and PNG pictures for the README.

Reads the JSON that ``bench.py --json`` wrote and draws, one line per system:

- tasks/s against the number of logical CPUs (``num_cpus`` 1, 2, 4, 8);
- tasks/s against the duration of each task (busy work of 50 µs to 5 ms), with
  the ideal ``num_cpus / duration`` as a dashed line;
- tasks/s against the number of tasks submitted at once (3,000, 100,000,
  1,000,000: the throughput figure, "tasks at once" and "a million at once");

and, when the run measured them (``bench.py --only curves``), issue #17's other curves:

- tasks/s against simulated nodes (``cluster_utils.Cluster``, 1, 4, 16 nodes of 2 CPUs);
- actor calls/s (round robin) and plain tasks/s against live actors (10, 100, 1,000);
- fan-in: seconds for one task over 10,000 and 100,000 refs (as arguments, and as a
  list it gets itself), with a dotted line growing linearly from the first point;
- driver memory per pending task against pending tasks (10,000, 100,000, 1,000,000).

Each point of those is the median over the rounds of that x.

::

    run.json --> curves.py --> run-curves.html            (interactive, BokehJS inline)
                           --> run-cpus.png, run-duration.png, run-pending.png,
                               run-nodes.png, run-actors.png, run-fanin.png, run-memory.png

Run from the repository root::

    .venv/bin/python benchmarks/curves.py benchmarks/results/run.json

The PNGs are drawn by ``util.plots.save_png`` (headless Chromium) when it is
installed, else by ``util.plots.snapshot_png`` (matplotlib, no browser).
"""

from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from figures import NAMES, curve_points  # noqa: E402

COLORS = {"minirt": "#1f77b4", "base": "#9467bd", "ray": "#ff7f0e", "ppe": "#2ca02c",
          "pipe": "#7f7f7f"}


def _value(summary, key, system):
    return (summary.get(key) or {}).get(system, {}).get("value")


def _systems(doc):
    return [s for s in COLORS if any(r["system"] == s for r in doc["runs"])]


def curve(doc, key, system, field="y") -> list:
    """[(x, median over rounds of ``field`` at x)] of a curve figure (``figures.CURVES``)."""
    return curve_points(doc["runs"], key, system, field)


#: The new charts: chart -> [(figure key, line label suffix, dashed)].
NEW_CHARTS = {"nodes": [("nodes_curve", "", False)],
              "actors": [("actors_curve", " actor calls", False),
                         ("actors_tasks_curve", " tasks", True)],
              "fanin": [("fanin_args_s", " f.remote(*refs)", False),
                        ("fanin_list_s", " f.remote(refs), get inside", True)],
              "memory": [("pending_curve_bytes", "", False)]}


def series(doc) -> dict:
    """The curves as {chart: {system: [(x, y)]}}, points with no value left out.

    The new charts (``NEW_CHARTS``) are {chart: {(system, figure key): [(x, y)]}} and
    appear only when the run measured them.
    """
    cfg, summary = doc["config"], doc["summary"]
    out = {"cpus": {}, "duration": {}, "pending": {}}
    for s in _systems(doc):
        pts = [(k, _value(summary, f"scaling_{k}cpu_per_s", s)) for k in cfg["scaling"]]
        out["cpus"][s] = [p for p in pts if p[1]]
        pts = [(d, _value(summary, f"duration_{d}us_per_s", s)) for d in cfg.get("durations_us", [])]
        out["duration"][s] = [p for p in pts if p[1]]
        pts = [(cfg["n_tasks"], _value(summary, "tasks_per_s", s))]
        for n, key in ((cfg["n_many"], "many_tasks_s"), (cfg.get("n_million"), "million_tasks_s")):
            t = _value(summary, key, s)
            if t and n:
                pts.append((n, n / t))
        pts = [p for p in pts if p[1]]
        if len(pts) > 1:               # PPE and the pipe have no "at once" figures
            out["pending"][s] = pts
    for chart, lines in NEW_CHARTS.items():
        got = {(s, key): curve(doc, key, s) for s in _systems(doc) for key, _, _ in lines}
        got = {k: v for k, v in got.items() if v}
        if got:
            out[chart] = got
    return out


def charts(doc, width: int = 560, height: int = 340) -> list:
    """The Bokeh figures (width and height set), one line per system (and measurement)."""
    from bokeh.models import ColumnDataSource
    from bokeh.plotting import figure

    cfg = doc["config"]
    data = series(doc)
    spec = [
        ("cpus", f"{cfg['n_tasks']:,} no-op tasks against num_cpus", "num_cpus (logical)",
         "linear", "log"),
        ("duration", f"Busy tasks of a given length, num_cpus={cfg['num_cpus']}",
         "task duration (µs)", "log", "log"),
        ("pending", "No-op tasks submitted at once, then one get", "tasks submitted at once",
         "log", "log"),
    ]
    sizes = {key: cfg.get(CURVES_X[key]) for key in CURVES_X}
    spec += [
        ("nodes", f"{cfg['n_tasks']:,} no-op tasks on simulated nodes of {cfg.get('node_cpus', 2)} "
         "CPUs", "nodes (cluster_utils.Cluster)", "log", "linear", "tasks/s"),
        ("actors", f"{cfg['n_tasks']:,} actor calls (round robin) / no-op tasks while actors live",
         "live actors", "log", "linear", "calls/s, tasks/s"),
        ("fanin", "One task over n ready refs: submit + get", "refs (n)", "log", "log", "seconds"),
        ("memory", "Driver memory per pending task (every CPU held)", "pending tasks", "log",
         "linear", "bytes per pending task (RSS growth / n)"),
    ]
    figs = []
    for row in spec:
        key, title, xlabel, xt, yt = row[:5]
        if key in NEW_CHARTS:
            if key in data:
                figs.append((key, _new_chart(key, data[key], title, xlabel, xt, yt, row[5],
                                             sizes[key], width, height)))
            continue
        if not any(data[key].values()):
            continue                   # e.g. a run of the new curves only (--only curves)
        p = figure(title=title, width=width, height=height, x_axis_type=xt, y_axis_type=yt,
                   x_axis_label=xlabel, y_axis_label="tasks/s",
                   tools="pan,wheel_zoom,box_zoom,reset,save")
        for s, pts in data[key].items():
            if not pts:
                continue
            xs, ys = [float(x) for x, _ in pts], [float(y) for _, y in pts]
            src = ColumnDataSource(dict(x=xs, y=ys, name=[NAMES[s]] * len(xs)))
            p.line("x", "y", source=src, color=COLORS[s], line_width=2, legend_label=NAMES[s])
            p.scatter("x", "y", source=src, color=COLORS[s], size=7)
        if key == "duration" and cfg.get("durations_us"):
            ds = [float(d) for d in cfg["durations_us"]]
            ideal = [cfg["num_cpus"] / (d * 1e-6) for d in ds]
            src = ColumnDataSource(dict(x=ds, y=ideal, name=["ideal"] * len(ds)))
            p.line("x", "y", source=src, color="black", line_dash="dashed", legend_label="ideal")
        if key == "cpus":
            p.xaxis.ticker = cfg["scaling"]
        if p.legend:
            p.legend.location = "bottom_left" if key == "duration" else "top_right"
            p.legend.background_fill_alpha = 0.6
        figs.append((key, p))
    return figs


CURVES_X = {"nodes": "nodes", "actors": "actors", "fanin": "fanin", "memory": "pending_curve"}


def _new_chart(key, lines, title, xlabel, xt, yt, ylabel, xs_cfg, width, height):
    from bokeh.models import ColumnDataSource
    from bokeh.plotting import figure

    p = figure(title=title, width=width, height=height, x_axis_type=xt, y_axis_type=yt,
               x_axis_label=xlabel, y_axis_label=ylabel, tools="pan,wheel_zoom,box_zoom,reset,save")
    suffix = {fk: (sfx, dashed) for fk, sfx, dashed in NEW_CHARTS[key]}
    for (s, fk), pts in lines.items():
        sfx, dashed = suffix[fk]
        xs, ys = [float(x) for x, _ in pts], [float(y) for _, y in pts]
        src = ColumnDataSource(dict(x=xs, y=ys))
        p.line("x", "y", source=src, color=COLORS[s], line_width=2, legend_label=NAMES[s] + sfx,
               line_dash="dashed" if dashed else "solid")
        p.scatter("x", "y", source=src, color=COLORS[s], size=7,
                  marker="square" if dashed else "circle")
        if key == "fanin" and len(xs) > 1 and ys[0] > 0:
            # Linear growth from the first point: a curve above it grows faster than n.
            lin = [ys[0] * x / xs[0] for x in xs]
            p.line(xs, lin, color="gray", line_dash="dotted", line_alpha=0.8,
                   legend_label="linear from each first point")
    if xs_cfg:
        p.xaxis.ticker = [float(x) for x in xs_cfg]
    if yt == "linear":
        p.y_range.start = 0
    if p.legend:
        p.legend.location = "top_left" if key == "fanin" else "bottom_left"
        p.legend.background_fill_alpha = 0.7
        p.legend.label_text_font_size = "8pt"
        p.legend.spacing = 0
        p.legend.padding = 4
    return p


def write(doc, html_path: str, png_stem: str | None, width: int = 560, height: int = 340) -> list:
    """Write the charts to ``html_path`` and, if ``png_stem``, ``<stem>-<chart>.png``."""
    from bokeh.embed import file_html
    from bokeh.layouts import column
    from bokeh.resources import INLINE

    figs = charts(doc, width, height)
    with open(html_path, "w") as f:
        f.write(file_html(column([p for _, p in figs]), INLINE, "minirt scaling curves"))
    written = [html_path]
    if png_stem:
        sys.path.insert(0, ROOT)
        from util import plots
        for key, p in figs:
            path = f"{png_stem}-{key}.png"
            p.toolbar_location = None          # a picture has no use for the tools
            try:
                plots.save_png(p, path)
            except (FileNotFoundError, ImportError):
                png = plots.snapshot_png(p)
                if png is None:
                    continue
                with open(path, "wb") as f:
                    f.write(png)
            written.append(path)
    return written


def main(argv=None) -> int:
    import json
    ap = argparse.ArgumentParser(description="Scaling curves (Bokeh HTML + PNG) from a bench.py JSON.")
    ap.add_argument("json", help="the file bench.py --json wrote")
    ap.add_argument("--out", default=None,
                    help="stem of the outputs (default: the JSON's path without .json)")
    ap.add_argument("--no-png", action="store_true", help="only the HTML page")
    ap.add_argument("--width", type=int, default=560)
    ap.add_argument("--height", type=int, default=340)
    a = ap.parse_args(argv)
    with open(a.json) as f:
        doc = json.load(f)
    stem = a.out or (a.json[:-5] if a.json.endswith(".json") else a.json)
    for p in write(doc, stem + "-curves.html", None if a.no_png else stem, a.width, a.height):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
