"""Warnings that teach: hints about five common mistakes, each shown once.

minirt watches for these patterns while your code runs and, the first time
one shows up, issues a :class:`MinirtTeachingWarning` that says what is wrong,
what to do instead and which lesson section explains it:

* ``get`` right after each ``.remote()``, in a loop (nothing overlaps);
* tasks shorter than the runtime's own per-task cost (granularity);
* the same large array passed by value to many tasks (``put`` it once);
* a remote function or actor class that captured a large object;
* ``wait`` on a list that never shrinks (a loop that never ends).

Turn them all off with ``minirt.util.warnings.silence()`` or by setting the
environment variable ``MINIRT_TEACHING_WARNINGS=0`` before starting Python;
``enable()`` turns them back on. The ``warnings`` module's filters work as
usual, e.g. ``warnings.simplefilter("error", MinirtTeachingWarning)`` in a test.
How each pattern is detected: ``minirt/util/_teach.py``.
"""

from ._teach import LESSONS, MinirtTeachingWarning, enable, enabled, silence

__all__ = ["MinirtTeachingWarning", "silence", "enable", "enabled", "LESSONS"]
