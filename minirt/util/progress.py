"""Progress bars over object refs: see work finish instead of staring at a busy cell.

``progress(refs)`` draws one bar (tqdm's widget in Jupyter, a text bar in a
terminal, both through ``tqdm.auto``) that advances as the refs become ready,
and returns their values::

    squares = minirt.util.progress([square.remote(i) for i in range(100)], desc="squares")

With ``as_completed=True`` it is a generator that yields each value as soon
as its task finishes (completion order), so a loop can start on the first
result while the rest still run.

For a hand-written ``wait`` loop (back-pressure, a timeout per round...),
:class:`ProgressBar` gives the same bar and a ``wait`` that advances it::

    with minirt.util.ProgressBar(refs, desc="tiles") as bar:
        not_ready = refs
        while not_ready:
            ready, not_ready = bar.wait(not_ready, num_returns=1, timeout=10.0)
            ...                               # use minirt.get(ready)

Both are driven by ``minirt.wait``, never by polling each ref with ``get``.
Lessons: lessons/01_tasks.ipynb (a first look), lessons/05_tasks_revisited.ipynb
(the ``wait`` loop), lessons/08_patterns.ipynb (back-pressure).
"""

from __future__ import annotations

from .. import api
from .._refs import ObjectRef

__all__ = ["progress", "ProgressBar"]

_TICK = 0.1    # seconds between redraws while nothing finishes


def _check_refs(refs, fn: str) -> list:
    if isinstance(refs, ObjectRef):
        raise TypeError(f"{fn}() takes a list of ObjectRefs; wrap a single ref in a list: "
                        f"{fn}([ref])")
    try:
        refs = list(refs)
    except TypeError:
        raise TypeError(f"{fn}() takes a list of ObjectRefs, got {type(refs).__name__}") from None
    for r in refs:
        if not isinstance(r, ObjectRef):
            raise TypeError(f"{fn}() got {r!r} ({type(r).__name__}) in its list, which is not "
                            "an ObjectRef; pass the refs that .remote() or put() returned")
    if len(set(refs)) != len(refs):
        raise ValueError(f"{fn}() needs each ref once; the list holds duplicates "
                         "(use list(dict.fromkeys(refs)) to drop them)")
    return refs


def _new_bar(total: int, desc, **tqdm_kwargs):
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="task", **tqdm_kwargs)


class ProgressBar:
    """A progress bar over a list of refs, advanced by its own ``wait``.

    Args:
        refs: the ObjectRefs to track (the bar's total is their number).
        desc: text in front of the bar.
        **tqdm_kwargs: passed to ``tqdm.auto.tqdm`` (``leave``, ``position``, ...).

    Raises:
        TypeError: ``refs`` is not a list of ObjectRefs.
        ValueError: a ref appears twice.

    Example:
        >>> @minirt.remote
        ... def square(x):
        ...     return x * x
        >>> refs = [square.remote(i) for i in range(5)]
        >>> total = 0
        >>> with ProgressBar(refs, desc="work") as bar:   # the bar is drawn on stderr
        ...     rest = refs
        ...     while rest:
        ...         done, rest = bar.wait(rest)
        ...         total += sum(minirt.get(done))
        >>> total, bar.n
        (30, 5)
    """

    def __init__(self, refs, desc: str | None = None, **tqdm_kwargs):
        self._refs = _check_refs(refs, "ProgressBar")
        if desc is not None and not isinstance(desc, str):
            raise TypeError(f"desc must be a string; got {desc!r}")
        self._seen: set = set()
        self._bar = _new_bar(len(self._refs), desc, **tqdm_kwargs)

    @property
    def n(self) -> int:
        """How many of the refs have been seen ready so far."""
        return len(self._seen)

    def update(self, ready) -> None:
        """Count ``ready`` refs as finished (each ref counts once, however often it is given)."""
        new = [r for r in ready if r not in self._seen]
        self._seen.update(new)
        if new:
            self._bar.update(len(new))

    def wait(self, refs, *, num_returns: int = 1, timeout=None):
        """``minirt.wait`` that also advances the bar by the refs found ready.

        Returns:
            ``(ready, not_ready)``, exactly as ``minirt.wait`` returns them.
        """
        ready, not_ready = api.wait(refs, num_returns=num_returns, timeout=timeout)
        self.update(ready)
        return ready, not_ready

    def close(self) -> None:
        """Stop drawing the bar (it stays on screen)."""
        self._bar.close()

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ProgressBar {self.n}/{len(self._refs)}>"


def _finished_batches(refs, bar: ProgressBar):
    """Yield lists of refs as they become ready, advancing ``bar``; ends when all are."""
    not_ready = refs
    while not_ready:
        # Everything ready right now, in one call...
        ready, not_ready = api.wait(not_ready, num_returns=len(not_ready), timeout=0)
        if not ready:
            # ...else block (briefly, so the bar's rate keeps moving) for the next one.
            ready, not_ready = api.wait(not_ready, num_returns=1, timeout=_TICK)
        if ready:
            bar.update(ready)
            yield ready
        else:
            bar._bar.refresh()


def progress(refs, desc: str | None = None, *, as_completed: bool = False, **tqdm_kwargs):
    """Show a progress bar while ``refs`` finish; return (or yield) their values.

    Args:
        refs: a list of ObjectRefs (from ``.remote()`` or ``put``).
        desc: text in front of the bar, e.g. ``"squares"``.
        as_completed: if True, return a generator that yields each value as soon as
            it is ready (completion order) instead of a list in input order.
        **tqdm_kwargs: passed to ``tqdm.auto.tqdm`` (``leave=False``, ``position``...).

    Returns:
        A list of values in the order of ``refs``, or a generator of values in
        completion order when ``as_completed=True``.

    Raises:
        TypeError: ``refs`` is not a list of ObjectRefs.
        ValueError: a ref appears twice.
        TaskError and the other errors of ``minirt.get``: a task failed (raised when its
        value is reached; the bar is closed first).

    Example:
        >>> @minirt.remote
        ... def square(x):
        ...     return x * x
        >>> progress([square.remote(i) for i in range(5)], desc="squares")
        [0, 1, 4, 9, 16]
        >>> refs = [square.remote(i) for i in range(3)]
        >>> sorted(v for v in progress(refs, as_completed=True))   # as they finish
        [0, 1, 4]
    """
    refs = _check_refs(refs, "progress")
    if not isinstance(as_completed, bool):
        raise TypeError(f"as_completed must be True or False; got {as_completed!r}")
    bar = ProgressBar(refs, desc, **tqdm_kwargs)
    if as_completed:
        return _yield_completed(refs, bar)
    try:
        for _ in _finished_batches(refs, bar):
            pass
    finally:
        bar.close()
    return api.get(refs) if refs else []


def _yield_completed(refs, bar: ProgressBar):
    try:
        for batch in _finished_batches(refs, bar):
            for value in api.get(batch):
                yield value
    finally:
        bar.close()
