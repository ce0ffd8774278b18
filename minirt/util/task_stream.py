"""A live view of the runtime inside a notebook cell: ``minirt.util.TaskStream()``.

Shown in a cell (make it the cell's last expression, or ``display(view)``), it
draws what the runtime does while it does it:

* one lane per worker process, grouped by node; a bar per task (or actor
  call), coloured by function, growing while it runs;
* how many tasks are waiting, running, finished and failed;
* the object store's use on each node, and every actor with its state.

It is a Bokeh layout inside a Jupyter widget (``jupyter_bokeh.BokehModel``):
no Bokeh server, no port, no network, so it works offline in JupyterLab 4.
A daemon thread in the kernel takes a snapshot of the head at most 10 times
a second, and less often when a round was costly (it keeps its own CPU use
under 2.5% of a core) (:func:`minirt.util._introspect.live_snapshot`: one short hold of the
head's lock, copying only what changed since the last look), builds the new
bars outside the lock and pushes them to the browser. When nothing happens
it does no work and sends nothing; when the work stops it also refreshes a
static copy of the final state (an inline SVG picture in ``text/html``), which
is what a saved notebook, nbval, GitHub or a static site show where no widget
can run. Outside Jupyter, ``print(view)`` gives the same summary as text.

::

    head (event log, timeline rows) --snapshot, <=10/s--> view thread --> Bokeh models
                                                                 |--> BokehModel widget (live)
                                                                 '--> text/html snapshot (saved)

Example:
    >>> _ = minirt.init(num_cpus=2)
    >>> view = minirt.util.TaskStream()
    >>> print(view)       # in a notebook, a cell ending in `view` shows the live chart
    TaskStream
      tasks: 0 waiting, 0 running, 0 finished, 0 failed
      node 0: CPUs 0/2 busy, object store 0 B of ... (0.0%)
    >>> view.close()
    >>> minirt.shutdown()

Lessons: lessons/01_tasks.ipynb (is it running in parallel?),
lessons/05_tasks_revisited.ipynb (granularity, timeline), lessons/08_patterns.ipynb.
"""

from __future__ import annotations

import html
import os
import threading
import time
import weakref
from dataclasses import dataclass, field

from . import _introspect

__all__ = ["TaskStream"]

MAX_RATE = 10.0            # redraws per second, at most
_IDLE_REDRAW = 0.5         # seconds without activity before the final state is saved
_DUTY = 40                 # the view's thread uses at most 1/40 of a core (2.5%)
_ROLLOVER = 5000           # bars kept in the browser (oldest dropped)
_SVG_BARS = 2000           # bars drawn in the static snapshot, at most


def _palette():
    from bokeh.palettes import Category10_10
    return list(Category10_10)


@dataclass
class _State:
    """What the view has learnt from the snapshots so far (view thread only)."""
    origin: float = 0.0
    lanes: list = field(default_factory=list)          # [(node label, worker label)]
    lane_of: dict = field(default_factory=dict)        # (node, wid) -> lane
    used: set = field(default_factory=set)             # lanes that have bars drawn
    colors: dict = field(default_factory=dict)         # function name -> colour
    bars: list = field(default_factory=list)           # [(lane, name, t0, t1)] finished, for the SVG
    running: list = field(default_factory=list)        # [(lane, name, t0)]
    started: dict = field(default_factory=dict)        # task id -> placement time
    finished: int = 0
    failed: int = 0
    pending: int = 0
    nodes: list = field(default_factory=list)
    actors: list = field(default_factory=list)
    now: float = 0.0
    changed_at: float = 0.0


class TaskStream:
    """A live task view for the notebook; see the module docstring.

    Args:
        window: seconds of history the time axis shows (the view scrolls after that).
        height: height of the chart in pixels.
        history: bars of work that ran *before* the view was opened to draw at once.

    Raises:
        TypeError, ValueError: a bad argument.
        ImportError: Bokeh or jupyter_bokeh is missing (install the ``course`` extra).

    Example:
        >>> view = minirt.util.TaskStream(window=20)   # shown by a cell that ends in `view`
        >>> view.close()              # stop updating (it also stops at shutdown)
    """

    def __init__(self, window: float = 30.0, height: int = 300, history: int = 500):
        for name, value in (("window", window), ("height", height), ("history", history)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number; got {value!r}")
        if window <= 0:
            raise ValueError(f"window must be more than 0 seconds; got {window}")
        if height < 100:
            raise ValueError(f"height must be at least 100 pixels; got {height}")
        if history < 0:
            raise ValueError(f"history must be 0 or more bars; got {history}")
        self.window = float(window)
        self.height = int(height)
        self.history = int(history)
        self._st = _State()
        self._head = None
        self._cursor = (None, None)
        self._lock = threading.Lock()          # one update at a time (thread or caller)
        self._closed = False
        self._widget = None
        self._models = None
        self._handle = None                    # IPython display handle, for the saved snapshot
        self._saved_at = -1.0                  # _st.changed_at when the snapshot was last saved
        self._stop = threading.Event()
        self._thread = None
        self.cpu_seconds = 0.0                 # CPU time its thread has used (see benchmarks/)
        self.update()                          # the current state, at once

    # --- reading the runtime ------------------------------------------------------
    def _attach(self, head) -> None:
        """Follow ``head`` (a new runtime after shutdown/init starts a fresh picture)."""
        # The first runtime: start from now (plus some history). A later one started
        # after this view was made: everything it did is news.
        self._cursor = (None, None) if self._head is not None else \
            _introspect.start_cursor(head, self.history)
        self._head = head
        self._st = _State(origin=head.started_at)

    def update(self) -> bool:
        """Take one snapshot and apply it; True if anything changed.

        The view's thread calls this at most 10 times a second; call it yourself to
        refresh a view that is not displayed (``print(view)`` in a terminal).
        """
        with self._lock:
            head = _introspect.driver_head()
            if head is None:
                return False
            if head is not self._head:
                self._attach(head)
            elif _introspect.idle_since(head, self._cursor) and not self._st.running \
                    and not self._st.pending:
                return False
            snap = _introspect.live_snapshot(head, self._cursor)
            if snap is None:
                return False
            self._cursor = snap.cursor
            new_bars = self._apply(snap)
            if self._models is not None:
                self._push(new_bars)
            return True

    def _lane(self, node: int, wid: int, pid, actor) -> int:
        st = self._st
        key = (node, wid)
        lane = st.lane_of.get(key)
        if lane is None or (actor and lane not in st.used and actor not in st.lanes[lane][1]):
            label = f"w{wid} {actor}" if actor else f"w{wid}"
            if pid:
                label += f" (pid {pid})"
            if lane is None:
                lane = st.lane_of[key] = len(st.lanes)
                st.lanes.append((f"node {node}", label))
            else:                  # a fresh worker that now hosts an actor: say which
                st.lanes[lane] = (f"node {node}", label)
        return lane

    def _color(self, name: str) -> str:
        colors = self._st.colors
        c = colors.get(name)
        if c is None:
            pal = _palette()
            c = colors[name] = pal[len(colors) % len(pal)]
        return c

    def _apply(self, snap) -> list:
        """Fold a snapshot into the state; return the new finished bars."""
        st = self._st
        st.now = snap.time - st.origin
        for w in snap.workers:
            self._lane(w.node, w.wid, w.pid, w.actor)
        for t, kind, fields in snap.events:
            if kind == "place":
                st.started[fields["id"]] = t
            elif kind == "finish":
                st.started.pop(fields["id"], None)
                if fields.get("error"):
                    st.failed += 1
                else:
                    st.finished += 1
            elif kind in ("retry", "cancel"):
                st.started.pop(fields.get("id"), None)
            elif kind == "worker_start":
                self._lane(fields["node"], fields["worker"], fields.get("pid"), None)
        # Finished executions: merge runs of tiny calls of the same function on one
        # worker (each under a pixel wide, gaps under a quarter), so 3,000 no-op
        # tasks cost a few bars, not 3,000. A task long enough to see keeps its bar.
        gap = self.window / 4000.0       # about a quarter of a pixel on a wide screen
        tiny = self.window / 2000.0
        merged: dict = {}
        out = []
        for name, _kind, node, wid, pid, t0, t1, _tid, _attempt in snap.rows:
            lane = self._lane(node, wid, pid, None)
            t0, t1 = t0 - st.origin, t1 - st.origin
            small = t1 - t0 < tiny
            prev = merged.get(lane)
            if small and prev is not None and prev[4] and prev[1] == name and t0 - prev[3] <= gap:
                prev[3] = max(prev[3], t1)
                continue
            bar = [lane, name, t0, t1, small]
            merged[lane] = bar
            out.append(bar)
        new_bars = [tuple(b[:4]) for b in out]
        st.used.update(b[0] for b in new_bars)
        st.bars.extend(new_bars)
        if len(st.bars) > _ROLLOVER:
            del st.bars[:len(st.bars) - _ROLLOVER]
        running = []
        for w in snap.workers:
            if w.task is not None:
                t0 = st.started.get(w.task_id, snap.time)
                lane = self._lane(w.node, w.wid, w.pid, w.actor)
                st.used.add(lane)
                name = w.task + (" (paused at breakpoint)" if w.paused else "")
                running.append((lane, name, t0 - st.origin))
        st.running = running
        st.pending = max(0, snap.tasks - len(running))
        st.nodes = snap.nodes
        st.actors = snap.actors
        if new_bars or running or snap.events:
            st.changed_at = time.monotonic()
        return new_bars

    # --- the Bokeh view ------------------------------------------------------------
    def _build(self):
        from bokeh.layouts import column
        from bokeh.models import ColumnDataSource, Div, FactorRange, HoverTool, Range1d
        from bokeh.plotting import figure
        lanes = self._st.lanes or [("node 0", "w")]
        done = ColumnDataSource(dict(y=[], left=[], right=[], color=[], name=[]))
        run = ColumnDataSource(dict(y=[], left=[], right=[], color=[], name=[]))
        fig = figure(height=self.height, sizing_mode="stretch_width", y_range=FactorRange(*lanes),
                     x_range=Range1d(0, self.window), tools="xpan,xwheel_zoom,reset",
                     toolbar_location="above", x_axis_label="seconds since init()")
        fig.hbar(y="y", left="left", right="right", height=0.8, fill_color="color", source=done,
                 line_color="white", line_width=0.5, legend_field="name")   # white: task edges
        fig.hbar(y="y", left="left", right="right", height=0.8, color="color", source=run,
                 fill_alpha=0.45, line_color="color", line_dash="dashed")
        fig.add_tools(HoverTool(tooltips=[("task", "@name"), ("start", "@left{0.000} s"),
                                          ("end", "@right{0.000} s")]))
        fig.legend.location = "top_left"
        fig.legend.label_text_font_size = "8pt"
        fig.ygrid.grid_line_color = None
        div = Div(text=self._summary_html(), sizing_mode="stretch_width")
        root = column(div, fig, sizing_mode="stretch_width")
        self._models = dict(done=done, run=run, fig=fig, div=div, lanes=list(lanes), root=root)
        self._push(self._st.bars)
        return root

    def _columns(self, bars, running: bool) -> dict:
        lanes = self._st.lanes
        if running:
            now = self._st.now
            return dict(y=[lanes[b[0]] for b in bars], left=[b[2] for b in bars],
                        right=[max(now, b[2]) for b in bars],
                        color=[self._color(b[1]) for b in bars], name=[b[1] for b in bars])
        return dict(y=[lanes[b[0]] for b in bars], left=[b[2] for b in bars],
                    right=[b[3] for b in bars], color=[self._color(b[1]) for b in bars],
                    name=[b[1] for b in bars])

    def _push(self, new_bars) -> None:
        m = self._models
        st = self._st
        doc = m["fig"].document
        if doc is not None:
            doc.hold("combine")        # one message for all of this round's changes
        try:
            if st.lanes != m["lanes"]:
                m["lanes"] = list(st.lanes)
                m["fig"].y_range.factors = list(st.lanes)
            if new_bars:
                m["done"].stream(self._columns(new_bars, False), rollover=_ROLLOVER)
            if st.running or m["run"].data["y"]:
                m["run"].data = self._columns(st.running, True)
            end = max(self.window, st.now + 0.05 * self.window)
            xr = m["fig"].x_range
            xr.start, xr.end = end - self.window, end
            text = self._summary_html()
            if text != m["div"].text:
                m["div"].text = text
        finally:
            if doc is not None:
                doc.unhold()

    # --- the thread -------------------------------------------------------------------
    def _start_thread(self) -> None:
        if self._thread is not None or self._closed:
            return
        me = weakref.ref(self)
        stop = self._stop

        def run():
            period = 1.0 / MAX_RATE
            while not stop.wait(period):
                view = me()
                if view is None:
                    return
                cpu = time.thread_time()
                try:
                    view.update()
                    view._maybe_save()
                except Exception:           # a drawing problem must not kill the kernel
                    pass
                spent = time.thread_time() - cpu
                view.cpu_seconds += spent
                del view
                # Never take more than 1/_DUTY of a core from the work it shows: after a
                # costly round (thousands of tasks finished), wait longer before the next.
                period = max(1.0 / MAX_RATE, spent * _DUTY)

        self._thread = threading.Thread(target=run, name="minirt-taskstream", daemon=True)
        self._thread.start()

    def _maybe_save(self) -> None:
        """After work stops, refresh the static snapshot kept in the saved notebook."""
        st = self._st
        if self._handle is None or st.running or st.changed_at == self._saved_at:
            return
        if time.monotonic() - st.changed_at < _IDLE_REDRAW:
            return
        self._saved_at = st.changed_at
        with self._lock:
            # A re-displayed widget draws from its initial document: bring that up to
            # date first, or the new view would show the state of when it was made.
            if self._widget is not None:
                self._widget.update_from_model(self._models["root"])
            bundle = self._bundle()
        self._handle.update(bundle, raw=True)

    def close(self) -> None:
        """Stop updating; what is on screen stays."""
        self._closed = True
        self._stop.set()

    def __del__(self):
        stop = getattr(self, "_stop", None)      # absent if __init__ raised
        if stop is not None:
            stop.set()

    # --- display -------------------------------------------------------------------------
    def _bundle(self) -> dict:
        bundle = {}
        if self._widget is not None:
            bundle.update(self._widget._repr_mimebundle_() or {})
        # Plain text stays the same from run to run (nbval compares it; counts and
        # store sizes vary); the numbers are in the HTML snapshot and in repr().
        bundle["text/plain"] = "<minirt TaskStream: a live view of tasks, workers and the object store>"
        bundle["text/html"] = self.snapshot_html()
        return bundle

    def _ipython_display_(self) -> None:
        from IPython.display import display
        _load_bokehjs()
        if self._widget is None:
            from jupyter_bokeh import BokehModel
            self._widget = BokehModel(self._build())
        self._handle = display(self._bundle(), raw=True, display_id=True)
        self._start_thread()

    # --- text and static pictures -----------------------------------------------------------
    def counts(self) -> dict:
        """``{"pending", "running", "finished", "failed"}`` task counts seen by the view."""
        st = self._st
        return dict(pending=st.pending, running=len(st.running), finished=st.finished,
                    failed=st.failed)

    def _summary_lines(self) -> list:
        st = self._st
        c = self.counts()
        lines = [f"tasks: {c['pending']} waiting, {c['running']} running, "
                 f"{c['finished']} finished, {c['failed']} failed"]
        for n in st.nodes:
            pct = 100.0 * n.store_used / n.store_capacity if n.store_capacity else 0.0
            if not n.alive:
                lines.append(f"node {n.index}: removed")
                continue
            lines.append(f"node {n.index}: CPUs {n.cpus - n.cpus_free:g}/{n.cpus:g} busy, "
                         f"object store {_size(n.store_used)} of {_size(n.store_capacity)} "
                         f"({pct:.1f}%)" + (f", {_size(n.spilled)} spilled" if n.spilled else ""))
        if st.actors:
            shown = st.actors[:12]
            lines.append("actors: " + ", ".join(
                f"{a.name or a.class_name} {a.state}" + (f" on node {a.node}" if a.node is not None else "")
                for a in shown) + (f" and {len(st.actors) - 12} more" if len(st.actors) > 12 else ""))
        return lines

    def summary(self) -> str:
        """The counts, store use and actors as text (what a terminal shows)."""
        return "TaskStream\n  " + "\n  ".join(self._summary_lines())

    def __repr__(self) -> str:
        return self.summary()

    def _summary_html(self) -> str:
        c = self.counts()
        cells = " ".join(
            f'<span class="minirt-count minirt-{k}" style="margin-right:1.2em">'
            f'<b>{v}</b> {label}</span>'
            for k, v, label in (("pending", c["pending"], "waiting"), ("running", c["running"], "running"),
                                ("finished", c["finished"], "finished"), ("failed", c["failed"], "failed")))
        rest = "".join(f"<div>{html.escape(line)}</div>" for line in self._summary_lines()[1:])
        return f'<div class="minirt-taskstream-summary">{cells}{rest}</div>'

    def snapshot_html(self) -> str:
        """The current state as self-contained HTML (an inline SVG chart; no JavaScript)."""
        st = self._st
        lanes = st.lanes
        width, lane_h, left_pad = 720, 18, 150
        height = max(1, len(lanes)) * lane_h + 24
        end = max(st.now, max((b[3] for b in st.bars), default=0.0), 1e-3)
        first = min((b[2] for b in st.bars), default=0.0)
        first = min([first] + [r[2] for r in st.running])
        start = max(0.0, end - self.window, first - 0.05 * (end - first))   # from the first bar
        scale = (width - left_pad - 10) / max(end - start, 1e-9)
        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
                 f'font-family="sans-serif" font-size="10">']
        for i, (node, label) in enumerate(lanes):
            y = i * lane_h
            parts.append(f'<text x="2" y="{y + 13}">{html.escape(node)} {html.escape(label)}</text>'
                         f'<line x1="{left_pad}" x2="{width}" y1="{y + lane_h}" y2="{y + lane_h}" '
                         'stroke="#eee"/>')
        shown = [b for b in st.bars if b[3] >= start][-_SVG_BARS:]
        for lane, name, t0, t1 in shown + [(r[0], r[1], r[2], st.now) for r in st.running]:
            x = left_pad + (max(t0, start) - start) * scale
            w = max(1.0, (t1 - max(t0, start)) * scale)
            parts.append(f'<rect x="{x:.1f}" y="{lane * lane_h + 2}" width="{w:.1f}" '
                         f'height="{lane_h - 4}" fill="{self._color(name)}" stroke="white" '
                         'stroke-width="0.5">'
                         f'<title>{html.escape(name)}</title></rect>')
        parts.append(f'<text x="{left_pad}" y="{height - 4}">{start:.1f} s</text>'
                     f'<text x="{width - 60}" y="{height - 4}">{end:.1f} s</text></svg>')
        legend = " ".join(f'<span style="color:{c}">&#9632;</span> {html.escape(n)}'
                          for n, c in st.colors.items())
        return (f'<div class="minirt-taskstream-snapshot">{self._summary_html()}'
                f'<div>{legend}</div>{"".join(parts)}</div>')


_bokehjs_sent = False


def _load_bokehjs() -> None:
    """The widget needs BokehJS in the page: send it (inline, offline) once per kernel, unless
    the notebook already called ``bokeh.io.output_notebook()``.

    The bundle goes out as a replaceable output that is emptied when the cell has run: the
    page has executed BokehJS by then, and the saved notebook is spared megabytes of
    JavaScript (its static snapshot needs none).
    """
    global _bokehjs_sent
    from bokeh.io.state import curstate
    if _bokehjs_sent or curstate().notebook:
        return
    from bokeh.embed.bundle import bundle_for_objs_and_resources
    from bokeh.io.notebook import JS_MIME_TYPE, LOAD_MIME_TYPE, _loading_js
    from bokeh.resources import Resources
    from IPython import get_ipython
    from IPython.display import publish_display_data, update_display

    bundle = bundle_for_objs_and_resources(None, Resources(mode="inline",
                                                           components=["bokeh", "bokeh-widgets"]))
    display_id = f"minirt-taskstream-bokehjs-{os.urandom(8).hex()}"
    publish_display_data({JS_MIME_TYPE: _loading_js(bundle, None, register_mime=True),
                          LOAD_MIME_TYPE: _loading_js(bundle, None, register_mime=False)},
                         transient={"display_id": display_id})
    _bokehjs_sent = True
    shell = get_ipython()

    def forget(*_args):
        update_display({"text/html": ""}, raw=True, display_id=display_id)
        shell.events.unregister("post_run_cell", forget)

    if shell is not None:
        shell.events.register("post_run_cell", forget)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
