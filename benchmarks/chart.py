"""The benchmark's main figures as one standalone Bokeh page (resources inline).

``write_chart(doc, path, width, height)`` takes the document ``bench.py``
builds (the same one it writes with ``--json``): one bar chart per headline
figure (one bar per system, the target as a dashed line), the granularity
curves (local vs remote, log-log) and the scaling curve.
"""

from __future__ import annotations

from figures import BY_KEY, NAMES

COLORS = {"minirt": "#1f77b4", "base": "#9467bd", "ray": "#ff7f0e", "ppe": "#2ca02c",
          "pipe": "#7f7f7f"}
BARS = ["init_first_s", "shutdown_s", "sync_task_us", "tasks_per_s", "get_big_ms",
        "task_big_ref_ms", "actor_sync_us", "actor_calls_per_s", "many_tasks_s",
        "pending_task_bytes"]


def write_chart(doc: dict, path: str, width: int = 460, height: int = 300) -> None:
    from bokeh.embed import file_html
    from bokeh.layouts import column, gridplot
    from bokeh.models import ColumnDataSource, Div, HoverTool, Span
    from bokeh.plotting import figure
    from bokeh.resources import INLINE

    cfg, summary = doc["config"], doc["summary"]
    systems = [s for s in COLORS if any(r["system"] == s for r in doc["runs"])]
    plots = []
    for key in BARS:
        f = BY_KEY[key]
        names, vals, cols = [], [], []
        for s in systems:
            v = summary[key].get(s, {}).get("value")
            if v is not None:
                names.append(NAMES[s])
                vals.append(v)
                cols.append(COLORS[s])
        if not vals:
            continue
        src = ColumnDataSource(dict(system=names, value=vals, color=cols))
        p = figure(y_range=names[::-1], width=width, height=height, title=f.title(cfg),
                   toolbar_location=None, tools="")
        p.hbar(y="system", right="value", height=0.6, color="color", source=src)
        p.add_tools(HoverTool(tooltips=[("system", "@system"), ("value", "@value{0,0.000}")]))
        if f.target:
            p.add_layout(Span(location=f.target[1], dimension="height", line_dash="dashed",
                              line_color="red", line_width=2))
            p.title.text += f"  (target {'≤' if f.target[0] == '<=' else '≥'} {f.target[1]:g})"
        p.x_range.start = 0
        p.x_range.end = 1.08 * max(vals + ([f.target[1]] if f.target else []))
        p.xaxis.axis_label = f.unit + ("  — lower is better" if f.better == "lower"
                                       else "  — higher is better")
        plots.append(p)

    g = figure(x_axis_type="log", y_axis_type="log", width=width, height=height,
               title=f"Granularity: {cfg['trials']} make_array(n) calls, local vs remote",
               x_axis_label="array size n", y_axis_label="seconds for all trials")
    local_done = False
    for s in systems:
        e = summary["granularity_crossover_n"].get(s, {})
        if not e.get("grid"):
            continue
        if not local_done:
            g.line(e["grid"], e["local_s"], color="black", line_dash="dashed", legend_label="local")
            local_done = True
        g.line(e["grid"], e["remote_s"], color=COLORS[s], line_width=2,
               legend_label=f"{NAMES[s]} remote")
        g.scatter(e["grid"], e["remote_s"], color=COLORS[s], size=5)
    if g.legend:
        g.legend.location = "bottom_right"
        g.legend.background_fill_alpha = 0.6
    plots.append(g)

    sc = figure(width=width, height=height, title=f"{cfg['n_tasks']:,} no-op tasks vs num_cpus",
                x_axis_label="num_cpus (logical)", y_axis_label="tasks/s", x_axis_type="log")
    for s in systems:
        ks = [k for k in cfg["scaling"] if summary.get(f"scaling_{k}cpu_per_s", {}).get(s, {}).get("value")]
        if ks:
            ys = [summary[f"scaling_{k}cpu_per_s"][s]["value"] for k in ks]
            sc.line(ks, ys, color=COLORS[s], line_width=2, legend_label=NAMES[s])
            sc.scatter(ks, ys, color=COLORS[s], size=6)
    sc.xaxis.ticker = cfg["scaling"]
    sc.y_range.start = 0
    if sc.legend:
        sc.add_layout(sc.legend[0], "right")     # outside the plot: covers no point
    plots.append(sc)

    meta = doc["meta"]
    head = Div(text=f"<h2>minirt vs Ray vs ProcessPoolExecutor</h2><p>{meta['started'][:16]}, "
                    f"{meta['cpu_count']} CPUs, {len(doc['runs'])} system-rounds; medians over "
                    f"rounds. Versions: {', '.join(f'{NAMES[k]} {v}' for k, v in meta['versions'].items())}."
                    "</p>", width=2 * width)
    layout = column(head, gridplot(plots, ncols=2, toolbar_location=None))
    html = file_html(layout, INLINE, "minirt benchmark")
    with open(path, "w") as fh:
        fh.write(html)
