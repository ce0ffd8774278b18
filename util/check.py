"""Exercise checks and quiet claims for the course notebooks.

An exercise's check cell is a block of plain ``assert`` statements inside
:func:`check`::

    from util.check import check
    with check("Exercise 2") as c:
        assert len(results) == 4, f"expected 4 results, saw {len(results)}"
        c.passed("4 tasks overlapped, 3.0 s")

When every assert holds, the cell prints ``✓ Exercise 2 passed: 4 tasks
overlapped, 3.0 s``. When one fails, the cell prints a marked box with the
assert's message and does *not* raise, so "Run All" goes on to the end of the
notebook. Any other exception (a typo, a runtime error) propagates as usual.
Every outcome is recorded in :data:`RESULTS` (the course's tests read it).

:func:`claim` backs a sentence of the lesson text with a one-line check
("✓ the 4 tasks ran in parallel") instead of a bare ``assert`` cell.

The timeline helpers (:func:`calls`, :func:`max_overlap`, :func:`workers`) read
the Chrome trace events returned by ``ray.timeline()`` in both shapes, minirt's
and Ray's (see :func:`_label`), so checks built on them also hold when a lesson
runs on Ray.

Printed numbers keep a form that ``tests/nbval_sanitize.cfg`` masks (a float
followed by a unit, e.g. ``3.0 s``), so stored outputs compare equal run to run.
"""

import sys
import textwrap
import time
from typing import NamedTuple

__all__ = ["check", "claim", "cpu_note", "calls", "max_overlap", "workers",
           "Result", "Call", "RESULTS"]

_BOX_WIDTH = 72


class Result(NamedTuple):
    """The outcome of one :func:`check` block."""

    passed: bool
    message: str


#: Outcome of the latest run of each check, by title (e.g. ``"Exercise 2"``).
RESULTS: dict = {}


class _Check:
    """The object a ``with check(...) as c`` block binds to ``c``."""

    def __init__(self, title: str):
        self.title = title
        self._detail = ""

    def passed(self, detail: str = "") -> None:
        """Set the detail shown on the ✓ line (e.g. ``"4 tasks overlapped"``).

        Args:
            detail: a short sentence saying what was observed.

        Raises:
            TypeError: ``detail`` is not a string.
        """
        if not isinstance(detail, str):
            raise TypeError(f"detail must be a string; got {type(detail).__name__}")
        self._detail = detail

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            RESULTS[self.title] = Result(True, self._detail)
            line = f"✓ {self.title} passed"
            print(f"{line}: {self._detail}" if self._detail else line)
            return False
        if issubclass(exc_type, AssertionError):
            message = str(exc).strip() or (
                "an assert without a message failed (see the check cell for which one)")
            RESULTS[self.title] = Result(False, message)
            print(_box(f"✗ {self.title} not passed yet", message))
            return True  # swallow: Run All goes on
        return False


def check(title: str) -> _Check:
    """Run an exercise's asserts and report the outcome without stopping the notebook.

    Args:
        title: what the learner sees, e.g. ``"Exercise 2"``.

    Returns:
        A context manager; inside ``with check(title) as c:``, write plain
        ``assert cond, "what was seen and the likely cause"`` statements and
        optionally ``c.passed("detail")``.

    Raises:
        TypeError: ``title`` is not a string.
        ValueError: ``title`` is empty.
    """
    if not isinstance(title, str):
        raise TypeError(f"title must be a string such as 'Exercise 1'; got {title!r}")
    if not title.strip():
        raise ValueError("title must not be empty: use e.g. 'Exercise 1'")
    return _Check(title)


def _box(heading: str, message: str) -> str:
    """A framed block: heading, then the message wrapped to the box width."""
    inner = _BOX_WIDTH - 4
    lines = []
    for paragraph in message.splitlines() or [""]:
        lines.extend(textwrap.wrap(paragraph, inner) or [""])
    rule = "─" * (_BOX_WIDTH - 2)
    out = [f"┌{rule}┐", f"│ {heading:<{inner}} │", f"├{rule}┤"]
    out += [f"│ {line:<{inner}} │" for line in lines]
    out.append(f"└{rule}┘")
    return "\n".join(out)


def claim(text: str, holds: bool, detail: str = "") -> bool:
    """Print one line saying whether a statement of the lesson held in this run.

    Args:
        text: the statement, e.g. ``"the 4 tasks ran in parallel"``.
        holds: whether it held (e.g. ``elapsed < 2.5``).
        detail: optional numbers shown after the statement, e.g. ``"1.0 s"``.

    Returns:
        ``holds``, as a bool.

    Raises:
        TypeError: ``text`` or ``detail`` is not a string.
    """
    if not isinstance(text, str) or not isinstance(detail, str):
        raise TypeError("text and detail must be strings")
    holds = bool(holds)
    suffix = f" ({detail})" if detail else ""
    if holds:
        print(f"✓ {text}{suffix}")
    else:
        print(f"✗ not this time: {text}{suffix}; the machine may be busy {cpu_note()}")
    return holds


def _runtime():
    """The runtime module the notebook imported (minirt, or Ray), or None."""
    for name in ("minirt", "ray"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "cluster_resources"):
            return module
    return None


def cpu_note() -> str:
    """A note for timing failures, e.g. ``"(the runtime has 8 CPUs)"``.

    Returns:
        The note, or ``""`` when no runtime is running.
    """
    rt = _runtime()
    if rt is None or not rt.is_initialized():
        return ""
    try:
        cpus = rt.cluster_resources().get("CPU", 0)
    except Exception:  # the note must never hide the failure it explains
        return ""
    cpus = int(cpus) if float(cpus).is_integer() else cpus
    return f"(the runtime has {cpus} CPU{'s' if cpus != 1 else ''})"


class Call(NamedTuple):
    """One execution from ``ray.timeline()``: name, worker row and times in seconds."""

    name: str
    worker: str
    start: float
    end: float


def _label(event: dict):
    """The function or ``Class.method`` an execution event is about, or None."""
    # minirt: cat "task" or "actor", name "f" or "Class.method".
    # Ray 2.x: cat "task::f" / "task::Class.method", name "__main__.f" / "method"; Ray also
    # logs helper events ("task:execute", "submit_task", ...) that are skipped here.
    cat, ev_name = str(event.get("cat", "")), str(event.get("name", ""))
    if cat.startswith("task::"):
        return cat[len("task::"):]
    if cat in ("task", "actor", ""):
        return ev_name
    return None


def calls(timeline, name: str, since: float = 0.0, expect: int = 0, timeout: float = 3.0) -> list:
    """The executions of one function or actor method in a timeline.

    Args:
        timeline: the list returned by ``ray.timeline()``, or the function
            ``ray.timeline`` itself: then it is called again (for up to ``timeout``
            seconds) until ``expect`` executions are found, since Ray records its
            timeline with a delay of about a second.
        name: a function name (``"cube"``), an actor method (``"Counter.add"``) or a
            bare method name (``"add"``); a trailing ``*`` matches every name that
            starts with the rest (``"tidy-*"`` for calls named with ``.options(name=...)``).
        since: a ``time.time()`` value; executions that started earlier are left out.
        expect: with a callable ``timeline``, how many executions to wait for.
        timeout: with a callable ``timeline``, how long to wait for them, in seconds.

    Returns:
        A list of :class:`Call`, sorted by start time.

    Raises:
        TypeError: ``timeline`` is neither a list nor callable, or ``name`` is not a string.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string; got {name!r}")
    if callable(timeline):
        deadline = time.monotonic() + timeout
        while True:
            found = calls(timeline(), name, since)
            if len(found) >= expect or time.monotonic() >= deadline:
                return found
            time.sleep(0.1)
    if not isinstance(timeline, list):
        raise TypeError("timeline must be the list returned by ray.timeline(), or ray.timeline")
    found = []
    for event in timeline:
        label = _label(event) if event.get("ph") == "X" else None
        if label is None or not _matches(label, name):
            continue
        start = event["ts"] / 1e6
        if start < since:
            continue
        found.append(Call(label, f"{event.get('pid')}/{event.get('tid')}",
                          start, start + event.get("dur", 0) / 1e6))
    return sorted(found, key=lambda c: c.start)


def _matches(label: str, name: str) -> bool:
    """Whether an execution's label is ``name`` (``Class.method`` or ``*`` prefix allowed)."""
    if name.endswith("*"):
        prefix = name[:-1]
        return label.startswith(prefix) or ("." + prefix) in label
    return label == name or label.endswith("." + name)


def max_overlap(found) -> int:
    """The largest number of the given calls that were running at the same moment."""
    edges = sorted([(c.start, 1) for c in found] + [(c.end, -1) for c in found],
                   key=lambda e: (e[0], e[1]))  # an end before a start at the same instant
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def workers(found) -> set:
    """The distinct worker rows (``"node/worker"``) the given calls ran on."""
    return {c.worker for c in found}


def now() -> float:
    """``time.time()``, for the ``since`` argument of :func:`calls`."""
    return time.time()


# --- how often a value was serialized (stored) ------------------------------------------
class _Watched:
    """Mixed into an ndarray subclass by :func:`watched`: notes the time of each
    serialization, then serializes as the plain array (so tasks receive a plain
    ndarray, zero-copy as usual)."""

    _plain_class: type      # the array class it watches (set by watched())

    def __reduce_ex__(self, protocol):
        self.__dict__.setdefault("_serialized_at", []).append(time.time())
        return self.view(self._plain_class).__reduce_ex__(protocol)


def watched(array):
    """The same data as ``array``, noting each time it is serialized: every ``ray.put``
    and every call that passes it by value stores one serialized copy, on minirt and on
    Ray alike. :func:`serialized` counts them.

    >>> import numpy as np
    >>> import pickle
    >>> a = watched(np.arange(3))
    >>> type(pickle.loads(pickle.dumps(a))).__name__, serialized(a)
    ('ndarray', 1)
    """
    import numpy as np
    plain = type(array)
    assert issubclass(plain, np.ndarray)
    cls = type("Watched" + plain.__name__, (_Watched, plain), {"_plain_class": plain})
    return array.view(cls)


def serialized(array, since: float = 0.0) -> int:
    """How many times ``array`` (made by :func:`watched`) was serialized after ``since``."""
    return sum(t >= since for t in array.__dict__.get("_serialized_at", []))
