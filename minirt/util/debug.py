"""Debugging tasks from the driver: ``attach`` (pdb sessions of ``breakpoint()`` in tasks).

``breakpoint()`` inside a task or an actor method pauses that worker and opens
pdb in the driver (see ``minirt/_debugger.py``): at the next ``get``/``wait``
that waits, or on demand with :func:`attach`.

Lesson: lessons/ "Debugging distributed code".
"""

from __future__ import annotations

# --- attach: serve paused breakpoint() sessions (minirt/_debugger.py) ---------------------
import time as _time

from .. import _context as _ctx
from .. import _debugger


def attach(timeout: float = 0.0) -> int:
    """Open the pdb sessions of tasks paused at ``breakpoint()``, one after another.

    A paused task's session opens by itself at the driver's next waiting
    ``get``/``wait``; ``attach`` opens it without waiting for a result (say, the
    task's result is never fetched, or the driver is busy elsewhere). Each
    session reads commands with ``input()``: the terminal in a script, the input
    box in a notebook; its prompt names the worker, pid and task, e.g.
    ``(Pdb worker-3 pid 1234 task f)``. ``c`` continues the task, and so do
    ``q`` (breakpoints are cleared; the task is not failed) and an end of input.

    Args:
        timeout: seconds to wait for a task to pause if none is paused now
            (0: only the sessions paused now).

    Returns:
        The number of sessions served (0 if no task was paused).

    Raises:
        TypeError: ``timeout`` is not a number.
        ValueError: ``timeout`` is negative.
        RuntimeError: called inside a task (sessions are served by the driver).

    Example:
        >>> _ = minirt.init(num_cpus=1)
        >>> minirt.util.debug.attach()
        minirt: no task is paused in the debugger
        0

    Lesson: the lesson "Debugging distributed code" (after "Patterns and troubleshooting").
    """
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, got {type(timeout).__name__}")
    if not timeout >= 0:
        raise ValueError(f"timeout must be 0 or more seconds, got {timeout!r}")
    core = _ctx.peek()
    if core is not None and not core.is_driver:
        raise RuntimeError("attach() serves debugger sessions in the driver; call it in the "
                           "notebook or script that started minirt, not inside a task")
    if core is None or core._closed:
        print("minirt: no task is paused in the debugger (minirt is not running)")
        return 0
    deadline = _time.monotonic() + timeout
    served = 0
    while True:
        served += _debugger.serve(core)
        if served or _time.monotonic() >= deadline or core._closed:
            break
        core.debug.changed.wait(min(0.2, max(0.0, deadline - _time.monotonic())))
    if not served:
        print("minirt: no task is paused in the debugger")
    return served
