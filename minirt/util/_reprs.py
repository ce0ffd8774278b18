"""Rich displays for notebooks: the init context, refs, actor handles and errors.

Jupyter shows an object's ``_repr_html_`` when a cell ends with it, and an
exception's ``_render_traceback_`` when a cell raises it. The classes in
``_start.py``, ``_refs.py``, ``actor.py`` and ``exceptions.py`` get those methods
from this module when it is imported (the package imports it; the core never
does: it is a layer on top), and they

* never block: what they need from the head comes from
  :mod:`minirt._introspect`, which waits at most 50 ms for the head's lock
  and otherwise shows what the object itself knows;
* never raise: any problem falls back to the plain text repr (a repr that
  raises would hide the very thing the learner wanted to see);
* keep the plain text ``repr`` of refs and handles as Ray prints them
  (``ObjectRef(…)``, ``Actor(Counter, …)``), so saved notebooks compare equal
  from run to run; the state (pending, ready...) is in the HTML only.

Errors are shown learner first: the line of *your* code that raised, then the
exception, one line of advice for the kind of error with the lesson section
that explains it, then the traceback with minirt's own frames folded away.
"""

from __future__ import annotations

import html
import os
import re
import traceback

from .. import _context, _start, exceptions
from . import _introspect
from .._refs import ObjectRef
from ..actor import ActorHandle

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep   # minirt/
_FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<fn>.+)$')

_ERRORS_LESSON = "lessons/08_patterns.ipynb, section 4 \"The errors you will meet\""

# One line of advice per kind of error (by class name, so classes added later by
# other modules, e.g. OutOfMemoryError, are covered without importing them).
ADVICE = {
    "TaskError": "Your function raised inside the task: fix the line above. The original "
                 "exception is err.cause, and `except <its type>` catches it too.",
    "WorkerCrashedError": "The worker process died (os._exit, a segfault, or killed): "
                          "max_retries re-runs it; look for what ends the process.",
    "ActorDiedError": "The actor is dead (killed, crashed, or __init__ raised): every call "
                      "fails from now on; create a new one or set max_restarts.",
    "ActorError": "The actor cannot run this call: check that it is alive and how it died.",
    "ObjectLostError": "The object's data is gone (its producer died or every reference was "
                       "dropped): keep the ref while you need the value.",
    "GetTimeoutError": "Nothing came back within the timeout: use wait() to see which tasks "
                       "are still running, or give them more time.",
    "ObjectStoreFullError": "The object store is full and spilling failed: drop refs you no "
                            "longer need (del ref) or start with a larger object_store_memory.",
    "OutOfMemoryError": "The machine ran low on memory and a worker was killed to save it: "
                        "run fewer tasks at once (num_cpus per task) or make them use less.",
    "TaskCancelledError": "The task was cancelled with minirt.cancel(); get() of its ref "
                          "raises this by design.",
}


def advice_for(err) -> str:
    """The advice line for ``err`` (by its class or the nearest minirt base class)."""
    for cls in type(err).__mro__:
        text = ADVICE.get(cls.__name__)
        if text:
            return text
    return "See the remote traceback below."


# --- tracebacks --------------------------------------------------------------------------
def _is_internal(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_PKG_DIR) if filename[:1] != "<" else False


def _split_frames(tb_text: str):
    """Parse a formatted traceback into (head, frames, tail): frames are
    [(file, line, fn, [source lines])]."""
    lines = tb_text.splitlines()
    head, frames, tail = [], [], []
    i = 0
    while i < len(lines) and not _FRAME.match(lines[i]):
        head.append(lines[i])
        i += 1
    while i < len(lines):
        m = _FRAME.match(lines[i])
        if not m:
            tail = lines[i:]
            break
        src = []
        i += 1
        while i < len(lines) and lines[i].startswith("    "):
            src.append(lines[i])
            i += 1
        frames.append((m["file"], int(m["line"]), m["fn"], src))
    return head, frames, tail


def _code_objects():
    """Code objects of the functions and methods defined in ``__main__`` (a notebook's cells)."""
    import sys
    main = sys.modules.get("__main__")
    for value in list(vars(main).values()) if main is not None else ():
        target = getattr(value, "_fn", None) or getattr(value, "_cls", None) or value
        if isinstance(target, type):
            members = list(vars(target).values())
        else:
            members = [target]
        for m in members:
            code = getattr(getattr(m, "__func__", m), "__code__", None)
            if code is not None:
                yield code


def _resolve_dynamic(frames) -> list:
    """Give frames of by-value functions (cloudpickle names their file ``<dynamic-code>``)
    back their real file and source line, found among the driver's own functions."""
    if not any(f[0] == "<dynamic-code>" for f in frames):
        return frames
    import linecache
    codes = {}
    for code in _code_objects():
        codes.setdefault(code.co_name, []).append(code)
    out = []
    for file, line, fn, src in frames:
        if file == "<dynamic-code>":
            for code in codes.get(fn, ()):
                last = max((ln for _, _, ln in code.co_lines() if ln is not None), default=0)
                if code.co_firstlineno <= line <= last:
                    file = code.co_filename
                    text = linecache.getline(file, line).strip()
                    src = src or ([f"    {text}"] if text else [])
                    break
        out.append((file, line, fn, src))
    return out


def _fold(frames) -> list:
    """Frame lines with runs of minirt's own frames replaced by one line."""
    out, hidden = [], 0
    for file, line, fn, src in frames:
        if _is_internal(file):
            hidden += 1
            continue
        if hidden:
            out.append(f"  ... {hidden} minirt frame{'s' if hidden > 1 else ''} hidden ...")
            hidden = 0
        out.append(f'  File "{file}", line {line}, in {fn}')
        out.extend(src)
    if hidden:
        out.append(f"  ... {hidden} minirt frame{'s' if hidden > 1 else ''} hidden ...")
    return out


class ErrorReport:
    """An error laid out for a learner (see the module docstring)."""

    def __init__(self, err):
        self.kind = type(err).__name__
        self.advice = advice_for(err)
        remote = getattr(err, "traceback_str", None)
        self.where = getattr(err, "function_name", None)
        self.pid = getattr(err, "pid", None)
        cause = getattr(err, "cause", None)
        if cause is not None:
            self.message = f"{type(cause).__name__}: {cause}"
        else:
            text = str(err).strip() or self.kind
            self.message = f"{self.kind}: {text.splitlines()[0]}"
        local = traceback.extract_tb(err.__traceback__) if err.__traceback__ else []
        self.local = _fold([(f.filename, f.lineno, f.name,
                             [f"    {f.line}"] if f.line else []) for f in local])
        self.remote = []
        self.culprit = None
        if remote:
            _head, frames, _tail = _split_frames(remote)
            frames = _resolve_dynamic(frames)
            self.remote = _fold(frames)
            mine = [f for f in frames if not _is_internal(f[0])]
            if mine:
                self.culprit = mine[-1]
        if self.culprit is None:
            mine = [f for f in local if not _is_internal(f.filename)]
            if mine:
                f = mine[-1]
                self.culprit = (f.filename, f.lineno, f.name, [f"    {f.line}"] if f.line else [])

    def text(self) -> str:
        out = []
        if self.culprit is not None:
            file, line, fn, src = self.culprit
            where = f" (in task {self.where}, pid {self.pid})" if self.where and self.pid else \
                (f" (in task {self.where})" if self.where else "")
            out.append(f'Your code{where}: File "{file}", line {line}, in {fn}')
            out.extend(src[:1])          # the line itself, not the ^^^ markers under it
        out.append(self.message)
        out.append(f"Advice: {self.advice} (more: {_ERRORS_LESSON})")
        if self.remote:
            out.append("Traceback inside the task (most recent call last):")
            out.extend(self.remote)
        if self.local:
            out.append("Traceback in this process (most recent call last):")
            out.extend(self.local)
        return "\n".join(out)

    def html(self) -> str:
        e = html.escape
        parts = ['<div class="minirt-error" style="font-family:monospace">']
        if self.culprit is not None:
            file, line, fn, src = self.culprit
            parts.append(f"<div><b>Your code</b>{e(' in task ' + self.where) if self.where else ''}: "
                         f"{e(file)}, line {line}, in <b>{e(fn)}</b></div>")
            if src:
                parts.append(f"<pre style='margin:0 0 0 2em'>{e(src[0].strip())}</pre>")
        parts.append(f"<div style='color:#b00'><b>{e(self.message)}</b></div>")
        parts.append(f"<div>&#128161; {e(self.advice)} <i>({e(_ERRORS_LESSON)})</i></div>")
        for title, lines in (("Traceback inside the task", self.remote),
                             ("Traceback in this process", self.local)):
            if lines:
                parts.append(f"<details><summary>{title}</summary><pre>{e(chr(10).join(lines))}</pre></details>")
        parts.append("</div>")
        return "".join(parts)


def render_traceback(err) -> list:
    """Lines for IPython's ``_render_traceback_``: learner's frame, message, advice, frames."""
    try:
        return ErrorReport(err).text().splitlines()
    except Exception:
        return traceback.format_exception(type(err), err, err.__traceback__)


def error_html(err) -> str | None:
    try:
        return ErrorReport(err).html()
    except Exception:
        return None


# --- values ----------------------------------------------------------------------------------
def size_text(n) -> str:
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _table(title: str, rows) -> str:
    e = html.escape
    body = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{e(str(k))}</th>"
                   f"<td style='text-align:left'>{e(str(v))}</td></tr>" for k, v in rows)
    return (f"<div class='minirt-repr'><b>{e(title)}</b>"
            f"<table style='margin:0'>{body}</table></div>")


def ref_rows(ref) -> list:
    rows = [("id", ref.hex())]
    info = _introspect.ref_info(ref._id)
    if info is None:
        rows.append(("state", "unknown (no running runtime here, or it is busy)"))
        return rows
    rows.append(("state", info.state + (f" (made by task {info.task})" if info.task else "")))
    if info.state in ("ready", "failed"):
        rows.append(("size", size_text(info.size)))
        rows.append(("node", ", ".join(str(n) for n in info.nodes) or "-"))
    return rows


def ref_html(ref) -> str | None:
    try:
        return _table("ObjectRef", ref_rows(ref))
    except Exception:
        return None


def actor_rows(handle) -> list:
    meta = handle._meta
    rows = [("class", meta.get("class_name", "?")), ("id", handle._aid.hex())]
    info = _introspect.actor_info(handle._aid)
    if info is None:
        rows.append(("state", "unknown (no running runtime here, or it is busy)"))
        return rows
    rows += [("name", info.name or "-"), ("state", info.state),
             ("node", "-" if info.node is None else info.node),
             ("pid", info.pid or "-"), ("restarts", info.restarts)]
    if info.error:
        rows.append(("died because", info.error))
    return rows


def actor_html(handle) -> str | None:
    try:
        return _table("ActorHandle", actor_rows(handle))
    except Exception:
        return None


def runtime_rows(info) -> list:
    """Rows for the init context: live figures from the head while this runtime runs."""
    session = info.get("session_dir")
    head = _introspect.driver_head()
    nodes = None
    if head is not None and head.session_dir == session:
        with _introspect.held(head) as ok:
            if ok:
                nodes = [(n.total.get("CPU", 0.0), n.store.capacity, n.store.used)
                         for n in head.nodes]
                namespace = head.namespace
    core = _context.peek()
    local = getattr(core, "local_mode", False) and core.session_dir == session and not core.closed
    rows = [("state", "running" if nodes is not None else
             "running in local mode: tasks run in this process, one at a time" if local else
             ("running (busy: figures unavailable)" if head is not None and head.session_dir == session
              else "not running (shut down)"))]
    if nodes:
        cpus = sorted({c for c, _, _ in nodes})
        rows.append(("nodes", len(nodes)))
        rows.append(("CPUs", ", ".join(f"{c:g}" for c in cpus) + " per node"
                     + (f" ({sum(c for c, _, _ in nodes):g} in all)" if len(nodes) > 1 else "")))
        rows.append(("object store", f"{size_text(nodes[0][1])} per node, "
                     f"{size_text(sum(u for _, _, u in nodes))} in use"))
        rows.append(("namespace", namespace))
    rows.append(("node id", info.get("node_id", "-")))
    rows.append(("session dir", session or "-"))
    if session:
        rows.append(("spill dir", os.path.join(session, "spill")))
    if info.get("object_store_address"):
        rows.append(("object files", info["object_store_address"]))
    rows.append(("dashboard", "none: minirt has no network listener; try minirt.util.TaskStream()"))
    return rows


def runtime_text(info) -> str:
    try:
        return "minirt runtime\n" + "\n".join(f"  {k}: {v}" for k, v in runtime_rows(info))
    except Exception:
        return repr(info)


def runtime_html(info) -> str | None:
    try:
        return _table("minirt runtime", runtime_rows(info))
    except Exception:
        return None


# --- the state API's lists ------------------------------------------------------------------
class RecordList(list):
    """A plain list of state records (``minirt.util.state.list_*``) that Jupyter shows as a
    table; equal to, and used like, the list it holds."""

    __slots__ = ()
    MAX_ROWS = 200

    def _repr_html_(self):
        try:
            if not self:
                return "<i>no records</i>"
            cols = [c for c in self[0].keys()
                    if any(getattr(r, c, None) not in (None, "", [], {}) for r in self)]
            e = html.escape
            head = "".join(f"<th style='text-align:left'>{e(c)}</th>" for c in cols)

            def cell(v):
                text = str(v)
                return e(text if len(text) <= 40 else text[:37] + "...")
            body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{cell(getattr(r, c))}</td>"
                                            for c in cols) + "</tr>"
                           for r in self[:self.MAX_ROWS])
            more = (f"<div>... and {len(self) - self.MAX_ROWS} more</div>"
                    if len(self) > self.MAX_ROWS else "")
            return (f"<div class='minirt-repr'><b>{len(self)} {e(type(self[0]).__name__)} "
                    f"record{'s' if len(self) != 1 else ''}</b><table>"
                    f"<tr>{head}</tr>{body}</table>{more}</div>")
        except Exception:
            return None


# The core's classes get their notebook views here (add-on -> core, never the reverse).
exceptions.MinirtError._render_traceback_ = render_traceback
exceptions.MinirtError._repr_html_ = error_html
_start.RuntimeInfo.__str__ = runtime_text
_start.RuntimeInfo._repr_html_ = runtime_html
ObjectRef._repr_html_ = ref_html
ActorHandle._repr_html_ = actor_html
