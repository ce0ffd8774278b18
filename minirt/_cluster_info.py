"""What the runtime reports about itself: resources, nodes, the timeline, the event log.

Each function asks the current core (``_context.py``), in the driver or in a
task::

    cluster_resources() / available_resources() / nodes() --> core.call(...) --> dicts
    timeline(file) --> core.call("timeline") --> _protocol.trace_events --> JSON
    events() --> core.call("events") --> dicts (ids shown as hex)

Lessons: lessons/04_api_tour.ipynb (resources, nodes), lessons/05_tasks_revisited.ipynb
(timeline), lessons/07_internals.ipynb (events).
"""

from __future__ import annotations

import json
import os

from . import _context, _protocol


def cluster_resources() -> dict:
    """Total logical resources, e.g. ``{'CPU': 8.0, 'object_store_memory': ...}``."""
    return _context.current().call("resources", False)


def available_resources() -> dict:
    """Resources free right now; ones at 0 are left out."""
    return _context.current().call("resources", True)


def nodes() -> list:
    """One dict per node: ``NodeID``, ``Alive``, ``Resources``, store usage, ..."""
    return _context.current().call("nodes")


def _require_running(fn: str):
    core = _context.peek()
    if core is None:
        raise RuntimeError(f"{fn}() needs a running runtime: call minirt.init() first")
    return core


def timeline(filename=None):
    """Every task and actor call since ``init``, as Chrome trace events.

    Args:
        filename: if given, write the events there as JSON (open it in
            https://ui.perfetto.dev or chrome://tracing) and return None.

    Returns:
        A list of events ``{"cat", "name", "pid", "tid", "ts", "dur", "ph": "X", "args"}``
        with ``ts``/``dur`` in microseconds; ``pid`` is the node, ``tid`` the worker.

    Raises:
        RuntimeError: the runtime is not started.

    Example:
        >>> _ = minirt.init(num_cpus=2)
        >>> @minirt.remote
        ... def square(x):
        ...     return x * x
        >>> minirt.get([square.remote(i) for i in range(3)])
        [0, 1, 4]
        >>> rows = [e for e in minirt.timeline() if e["name"] == "square"]
        >>> len(rows), sorted(rows[0])[:4]
        (3, ['args', 'cat', 'cname', 'dur'])
        >>> minirt.shutdown()

    Lesson: lessons/05_tasks_revisited.ipynb.
    """
    core = _require_running("timeline")
    if filename is not None and not isinstance(filename, (str, os.PathLike)):
        raise TypeError(f"filename must be a path; got {filename!r}")
    rows = core.call("timeline")
    events = _protocol.trace_events(rows)
    if filename is None:
        return events
    with open(filename, "w") as f:
        json.dump(events, f)
    return None


def events() -> list:
    """What the runtime did, step by step (minirt only; used by the internals lesson).

    Returns:
        A list of dicts with ``time`` (seconds since ``init``), ``kind`` (``submit``,
        ``place``, ``worker_start``, ``copy``, ``store``, ``finish``, ``retry``, ...)
        and the fields of that kind (task name, node, worker, object id, bytes).

    Lesson: lessons/07_internals.ipynb.
    """
    core = _require_running("events")
    start = core.started_at
    # Ids are kept as bytes while recording (cheap) and shown as hex here.
    return [dict(time=t - start, kind=kind,
                 **{k: v.hex() if isinstance(v, bytes) else v for k, v in fields.items()})
            for t, kind, fields in core.call("events")]
