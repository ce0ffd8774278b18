"""Warnings that teach: spot five common mistakes as they happen, once each.

Each check is a few attribute operations on the path it watches (``.remote()``,
``get``, ``wait``), and only in the driver. When a pattern shows up, a
:class:`MinirtTeachingWarning` (Python's ``warnings`` module) names the
mistake, what to do instead, and the lesson section that explains it. Each
kind fires at most once per process; all are silenced by
``MINIRT_TEACHING_WARNINGS=0`` in the environment or
``minirt.util.warnings.silence()`` (and the ``warnings`` module's own filters
work too: ``warnings.simplefilter("ignore", MinirtTeachingWarning)``).

===================  =====================================================
kind                 fires when
===================  =====================================================
``get-in-loop``      ``get`` on the ref just returned by ``.remote()`` of the
                     same function, with no other task submitted in between,
                     8 times in a row: each task waits for the previous one
``tiny-tasks``       the median of 256 recent tasks is shorter than the
                     runtime's per-task overhead
``large-by-value``   the same large array is passed by value to 3 tasks
``large-closure``    a remote function or actor class pickles to over 1 MiB:
                     it captured a large object from its surroundings
``wait-not-shrunk``  ``wait`` on the same list 20 times running, returning the
                     same ready refs (the endless loop of lesson 05)
===================  =====================================================

The public face is :mod:`minirt.util.warnings`.
"""

from __future__ import annotations

import os
import sys
import warnings
import weakref

from .. import _context
from . import _introspect

__all__ = ["MinirtTeachingWarning", "silence", "enable", "enabled"]


class MinirtTeachingWarning(UserWarning):
    """A hint about using minirt better (see ``minirt.util.warnings``)."""


GET_STREAK = 8              # get(f.remote()) this many times in a row
TINY_SAMPLE = 256           # tasks looked at per granularity check
# A task shorter than this costs less than the runtime spends on it: the driver and the
# worker together need about 0.1 to 0.2 ms per task, which is why remote only wins from
# about 30,000 elements in lesson 05's granularity experiment (README, Performance).
# Set well above the tiny tasks that experiment starts with, so that it fires reliably.
TINY_SECONDS = 250e-6
LARGE_BYTES = 1 << 20       # "large" argument or pickled function
LARGE_REPEATS = 3           # same large argument passed by value this many times
WAIT_STREAK = 20            # wait() on an unchanged list with the same answer

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep   # minirt/

_silenced = os.environ.get("MINIRT_TEACHING_WARNINGS", "1").strip().lower() in ("0", "false", "no", "off")
_fired: set = set()

# State of the checks (driver only; the GIL makes each update safe enough for hints).
_last_ref = None            # id of the ref the last single-return .remote() gave back
_last_name = None           # ...and the function it came from
_streak_name = None         # the function of the current get streak
_submits_since_get = 0
_get_streak = 0
_submits = 0
_by_value: dict = {}        # id(arg) -> [weakref, count]
_wait_last = None           # (len, first id, last id, first ready id)
_wait_streak = 0

LESSONS = {
    "get-in-loop": 'lessons/05_tasks_revisited.ipynb, section 1 "Task dependencies"',
    "tiny-tasks": 'lessons/05_tasks_revisited.ipynb, section 4 "Task granularity"',
    "large-by-value": 'lessons/03_objects.ipynb, section 3 "The anti-pattern: the same big array '
                      'by value, again and again"',
    "large-closure": 'lessons/03_objects.ipynb, section 2 "One large array, many readers, no copies"',
    "wait-not-shrunk": 'lessons/05_tasks_revisited.ipynb, section 2 "get versus wait"',
}


def silence() -> None:
    """Turn every teaching warning off for this process."""
    global _silenced
    _silenced = True


def enable() -> None:
    """Turn teaching warnings back on (each still fires at most once)."""
    global _silenced
    _silenced = False


def enabled() -> bool:
    return not _silenced


def _reset() -> None:
    """Forget what fired and every check's state (for tests)."""
    global _last_ref, _last_name, _streak_name, _submits_since_get, _get_streak, _submits
    global _wait_last, _wait_streak
    _fired.clear()
    _by_value.clear()
    _last_ref, _get_streak, _submits, _wait_last, _wait_streak = None, 0, 0, None, 0
    _last_name = _streak_name = None
    _submits_since_get = 0


def _stacklevel() -> int:
    """Point the warning at the first frame outside minirt (the learner's line)."""
    level, f = 1, sys._getframe(1)
    # abspath: imported through sys.path.append(".."), files read "lessons/../minirt/...".
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(_PKG_DIR):
        f = f.f_back
        level += 1
    return level


def _fire(kind: str, text: str) -> None:
    if _silenced or kind in _fired:
        return
    _fired.add(kind)
    warnings.warn(f"{text} See {LESSONS[kind]}. (Silence these hints with "
                  "minirt.util.warnings.silence() or MINIRT_TEACHING_WARNINGS=0.)",
                  MinirtTeachingWarning, stacklevel=_stacklevel())


def _in_driver(core) -> bool:
    return getattr(core, "is_driver", False)


# --- hooks (each called from one place; see the module docstring) -------------------------------
def on_submit(core, name: str, returns, args, kwargs) -> None:
    """RemoteFunction.remote: remember the ref, look at large arguments, sample durations."""
    global _last_ref, _last_name, _submits, _submits_since_get
    if _silenced or not _in_driver(core):
        return
    _last_ref = returns[0] if len(returns) == 1 else None
    _last_name = name
    _submits_since_get += 1
    for a in args:
        if getattr(a, "nbytes", 0) >= LARGE_BYTES:
            _note_large(a, name)
    if kwargs:
        for a in kwargs.values():
            if getattr(a, "nbytes", 0) >= LARGE_BYTES:
                _note_large(a, name)
    _submits += 1
    if _submits % TINY_SAMPLE == 0 and "tiny-tasks" not in _fired:
        _check_tiny(core)


def _note_large(a, name: str) -> None:
    if "large-by-value" in _fired:
        return
    key = id(a)
    entry = _by_value.get(key)
    if entry is not None and entry[0]() is a:
        entry[1] += 1
        if entry[1] >= LARGE_REPEATS:
            _fire("large-by-value",
                  f"The same {a.nbytes / 2**20:.1f} MiB argument was passed by value to "
                  f"{entry[1]} calls of {name}: each call stores its own copy. Store it once "
                  f"with ref = minirt.put(value) and pass ref instead.")
        return
    try:
        ref = weakref.ref(a)
    except TypeError:            # cannot tell a new object at a reused address from this one
        return
    if len(_by_value) > 256:
        _by_value.clear()
    _by_value[key] = [ref, 1]


def _check_tiny(core) -> None:
    with _introspect.held(core, 0.0) as ok:        # never wait: skip this round instead
        if not ok:
            return
        rows = core.timeline_rows
        recent = [rows[-i] for i in range(1, min(TINY_SAMPLE, len(rows)) + 1)]
    durations = sorted(r[6] - r[5] for r in recent if r[1] == "task")
    if len(durations) < TINY_SAMPLE // 8:
        return
    median = durations[len(durations) // 2]
    if median < TINY_SECONDS:
        names = sorted({r[0] for r in recent if r[1] == "task"})
        _fire("tiny-tasks",
              f"Recent tasks ({', '.join(names[:3])}) run for {median * 1e6:.1f} µs each "
              "(median), less than the runtime's own cost per task (about 0.1 to 0.2 ms to "
              "send it, run it and fetch its result): most of the time goes to overhead. Give "
              "each task more work, e.g. a batch of items per call.")


def on_pickled_function(name: str, size: int, kind: str = "function") -> None:
    """RemoteFunction/ActorClass: the function or class was pickled to ``size`` bytes."""
    if size >= LARGE_BYTES:
        _fire("large-closure",
              f"The remote {kind} {name} pickles to {size / 2**20:.1f} MiB: it captures a large "
              "object from its surroundings (a global or closure variable), and that copy "
              "travels with the code to every worker. Pass the data as an argument instead, "
              "ideally as a ref from minirt.put().")


def on_get(core, ids) -> None:
    """api.get: count get(f.remote(...)) in a row."""
    global _get_streak, _streak_name, _submits_since_get
    if _silenced or "get-in-loop" in _fired:
        return
    one_submit, _submits_since_get = _submits_since_get == 1, 0
    if len(ids) == 1 and ids[0] == _last_ref and one_submit and _in_driver(core):
        if _last_name != _streak_name:
            _streak_name, _get_streak = _last_name, 0
        _get_streak += 1
        if _get_streak >= GET_STREAK:
            _fire("get-in-loop",
                  f"get() was called on the ref that .remote() had just returned, "
                  f"{_get_streak} times in a row: each task waits for the one before, so "
                  "nothing runs in parallel. Submit all the tasks first, then get the list of "
                  "refs once (or use wait).")
    else:
        _get_streak = 0


def on_wait(core, refs, ready, num_returns: int = 1) -> None:
    """api.wait: the same list, the same answer at once, again and again.

    Only calls that got all ``num_returns`` they asked for count: a polling loop
    whose wait() runs into its timeout is waiting for work, not spinning.
    """
    global _wait_last, _wait_streak
    if _silenced or "wait-not-shrunk" in _fired or len(ready) < num_returns or not ready:
        return
    sig = (len(refs), refs[0]._id, refs[-1]._id, ready[0]._id)
    if sig == _wait_last:
        _wait_streak += 1
        if _wait_streak >= WAIT_STREAK and _in_driver(core):
            _fire("wait-not-shrunk",
                  f"wait() got the same {len(refs)} refs {_wait_streak + 1} times in a row and "
                  "returned the same ready ones: if the loop runs until the list is empty, it "
                  "never ends. Keep the second list wait() returns (ready, refs = "
                  "minirt.wait(refs)) so finished refs leave it.")
    else:
        _wait_last, _wait_streak = sig, 0


_context.observer = sys.modules[__name__]     # the API reports to the functions above
