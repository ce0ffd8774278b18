"""Where a task goes: a pure function of its request, the nodes and its arguments.

Ray's default "hybrid" policy, in three steps::

    1. locality   the node that already holds most bytes of the task's large
                  arguments, if it has room (no copy needed)
    2. pack       else the first node (the driver's first) that has room and is
                  less than half busy
    3. spread     else the least busy node that has room

Nothing here starts a process or touches the head: the scheduler passes the
live nodes' ledgers and where the arguments are, and gets an index back.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

from ._ledger import Ledger


def place(request: Mapping[str, float], ledgers: Sequence[Optional[Ledger]],
          arg_bytes: Optional[Mapping[int, int]] = None,
          minimum: Optional[Mapping[str, float]] = None) -> Optional[int]:
    """Pick the node for a request.

    Args:
        request: the resources the task needs, e.g. ``{"CPU": 1.0}``.
        ledgers: one :class:`~minirt._ledger.Ledger` per node index, ``None``
            for a node that was removed.
        arg_bytes: node index -> bytes of the task's large arguments there.
        minimum: resources a node must *have* (in total, free or not) to be a
            candidate: an actor without ``num_cpus`` needs a node with a CPU.

    Returns:
        The node's index, or None if no live node has room now.

    >>> place({"CPU": 1}, [Ledger({"CPU": 1}), Ledger({"CPU": 4})], {1: 10})
    1
    >>> place({}, [Ledger({"disk": 1}), Ledger({"CPU": 2})], minimum={"CPU": 1})
    1
    """
    if minimum:
        ledgers = [g if g is not None and all(g.total.get(k, 0.0) + 1e-9 >= v
                                              for k, v in minimum.items()) else None
                   for g in ledgers]
    if arg_bytes:
        best = max(arg_bytes, key=lambda n: (arg_bytes[n], -n))
        ledger = ledgers[best]
        if ledger is not None and ledger.fits(request):
            return best
    fitting = [i for i, ledger in enumerate(ledgers) if ledger is not None and ledger.fits(request)]
    if not fitting:
        return None
    for i in fitting:
        if ledgers[i].load() < 0.5:
            return i
    return min(fitting, key=lambda i: (ledgers[i].load(), i))
