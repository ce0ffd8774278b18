"""Scaling curves from a benchmark run: Bokeh charts (HTML) and PNG pictures for the README.

Reads the JSON that ``bench.py --json`` wrote and draws, one line per system:

- tasks/s against the number of logical CPUs (``num_cpus`` 1, 2, 4, 8);
- tasks/s against the duration of each task (busy work of 50 µs to 5 ms), with
  the ideal ``num_cpus / duration`` as a dashed line;
- tasks/s against the number of tasks submitted at once (3,000, 100,000,
  1,000,000: the throughput figure, "tasks at once" and "a million at once").

::

    run.json --> curves.py --> run-curves.html            (interactive, BokehJS inline)
                           --> run-cpus.png, run-duration.png, run-pending.png

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

from figures import NAMES  # noqa: E402

COLORS = {"minirt": "#1f77b4", "base": "#9467bd", "ray": "#ff7f0e", "ppe": "#2ca02c",
          "pipe": "#7f7f7f"}


def _value(summary, key, system):
    return (summary.get(key) or {}).get(system, {}).get("value")


def _systems(doc):
    return [s for s in COLORS if any(r["system"] == s for r in doc["runs"])]


def series(doc) -> dict:
    """The three curves as {chart: {system: (xs, ys)}}, points with no value left out."""
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
    return out


def charts(doc, width: int = 560, height: int = 340) -> list:
    """Three Bokeh figures (width and height set), one line per system."""
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
    figs = []
    for key, title, xlabel, xt, yt in spec:
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
