"""The resource ledger of one node: who holds which of its logical resources.

Every acquisition is recorded under its *holder* (a task while it runs, an
actor while it lives), so the question "what does X hold?" has one answer and
releasing is keyed by the holder, not by the amounts::

    acquire(task, {"CPU": 1})     avail CPU 2 -> 1     held[task] = {"CPU": 1}
    release(task)                 avail CPU 1 -> 2     held[task] removed
    release(task)                 nothing: task holds nothing any more

A double release is therefore impossible, and ``available <= total`` is
checked in one place (:meth:`Ledger._apply`). ``available`` may go below zero
on purpose: a task blocked in ``get`` lends its CPUs out and takes them back
when it resumes even if someone else is using them (as Ray does), so the node
is briefly oversubscribed rather than the task deadlocked.

Pure bookkeeping: no processes, no locks (the head's lock covers it).
"""

from __future__ import annotations

EPS = 1e-9


class Ledger:
    """The logical resources of one node and who holds them.

    >>> ledger = Ledger({"CPU": 2.0})
    >>> ledger.acquire("task-a", {"CPU": 1.5})
    >>> ledger.fits({"CPU": 1.0}), ledger.avail["CPU"]
    (False, 0.5)
    >>> ledger.release("task-a"), ledger.release("task-a")
    (True, False)
    """

    __slots__ = ("total", "avail", "_held")

    def __init__(self, total: dict):
        self.total = {k: float(v) for k, v in total.items()}
        self.avail = dict(self.total)
        self._held: dict = {}

    def fits(self, request: dict) -> bool:
        """Whether ``request`` is available now."""
        avail = self.avail
        for k, v in request.items():      # (a loop: this runs for every placement)
            if avail.get(k, 0.0) + EPS < v:
                return False
        return True

    def holds(self, holder) -> bool:
        return holder in self._held

    def acquire(self, holder, request: dict) -> None:
        """Record that ``holder`` takes ``request`` (the caller checked :meth:`fits`).

        Raises:
            ValueError: ``holder`` already holds something here (release it first).
        """
        if holder in self._held:
            raise ValueError(f"{holder!r} already holds {self._held[holder]} on this node")
        self._held[holder] = request
        self._apply(request, -1)

    def release(self, holder) -> bool:
        """Give back everything ``holder`` holds; False if it held nothing."""
        request = self._held.pop(holder, None)
        if request is None:
            return False
        self._apply(request, +1)
        return True

    def hand_over(self, holder, to) -> None:
        """``to`` takes over what ``holder`` holds, nothing being free in between (a
        task queued on a worker starts as the one before it ends, see ``_pipeline``).

        Raises:
            ValueError: ``holder`` holds nothing here, or ``to`` holds something already.

        >>> ledger = Ledger({"CPU": 1.0})
        >>> ledger.acquire("a", {"CPU": 1.0}); ledger.hand_over("a", "b")
        >>> ledger.holds("a"), ledger.holds("b"), ledger.avail["CPU"]
        (False, True, 0.0)
        """
        if to in self._held:
            raise ValueError(f"{to!r} already holds {self._held[to]} on this node")
        if holder not in self._held:
            raise ValueError(f"{holder!r} holds nothing on this node to hand over")
        self._held[to] = self._held.pop(holder)

    def load(self) -> float:
        """Busy share of the node's CPUs (0 when it has none)."""
        cpu = self.total.get("CPU", 0.0)
        return 1.0 - self.avail.get("CPU", 0.0) / cpu if cpu else 0.0

    def _apply(self, request: dict, sign: int) -> None:
        avail, total = self.avail, self.total
        for k, v in request.items():
            left = avail[k] = avail.get(k, 0.0) + sign * v
            assert left <= total.get(k, 0.0) + EPS, f"{k}: {left} available of {total.get(k)}"
