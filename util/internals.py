"""Reading minirt's event log in the internals lesson (lessons/07_internals.ipynb).

``ray.events()`` (a minirt extra; Ray has no such call) returns the head's diary:
one dict per step, with a ``time``, a ``kind`` (``submit``, ``place``, ``store``,
``copy``, ``get``, ``finish``, ``actor_alive``, ...) and that kind's fields. This
module turns entries into English and sums up one run of a task graph:

- :func:`describe` / :func:`show_events`: one readable line per entry;
- :func:`recorded_run`: where each task ran, where each object was stored and
  which objects were copied between nodes, by the names the lesson gives them;
- :func:`placement_hints` / :func:`copy_hints`: why a prediction differs from what
  was recorded, phrased as a diagnosis (never the answer).

Example::

    names = {ref.hex(): "big array"}
    show_events(ray.events(), names, kinds={"store", "copy"})
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["describe", "show_events", "Stored", "Run", "recorded_run", "placement_hints",
           "copy_hints"]


def describe(e: dict, names: dict | None = None) -> str:
    """One line of English for one entry of ``ray.events()``.

    Args:
        e: the entry (a dict with at least ``kind``).
        names: object id (hex) -> a name to show instead of the id, e.g. ``"big array"``.

    Returns:
        The line, e.g. ``"big array copied from node 1's store to node 0's: 16.0 MB"``.

    Raises:
        TypeError: ``e`` is not a dict with a ``kind``, or ``names`` is not a dict.
    """
    if not isinstance(e, dict) or "kind" not in e:
        raise TypeError(f"describe() takes one entry of events() (a dict with 'kind'); got {e!r}")
    names = {} if names is None else names
    if not isinstance(names, dict):
        raise TypeError(f"names must be a dict of object id -> name; got {type(names).__name__}")
    kind = e["kind"]
    obj = names.get(e.get("object"), "an unnamed object")
    by = f" by {e['task']}" if e.get("task") else ""
    if kind == "submit":
        return f"{e['task']} submitted ({e['type']})"
    if kind == "place":
        return f"{e['task']} placed on node {e['node']}"
    if kind == "worker_start":
        return f"a new worker process started on node {e['node']}"
    if kind == "store":
        if e["where"] == "shared memory":
            size = f"{e['bytes'] / 1e6:.1f} MB"
        else:
            size = "under 1 KB" if e["bytes"] < 1000 else f"{e['bytes'] / 1000:.0f} KB"
        error = " (an error)" if e["error"] else ""
        return f"{obj}{error} stored{by} on node {e['node']}: {size}, {e['where']}"
    if kind == "copy":
        return (f"{obj} copied from node {e['src']}'s store to node {e['dst']}'s: "
                f"{e['bytes'] / 1e6:.1f} MB")
    if kind == "get":
        return f"the driver's get reads {obj} on node {e['node']}"
    if kind == "finish":
        return f"{e['task']} finished on node {e['node']}" + (" with an error" if e["error"] else "")
    if kind == "actor_alive":
        return f"actor {e['actor']} alive on node {e['node']} (restarts so far: {e['restarts']})"
    if kind == "actor_restart":
        return f"actor {e['actor']} restarting (restart number {e['restarts']})"
    if kind == "actor_dead":
        return f"actor {e['actor']} dead"
    if kind == "kill":
        return f"kill({e['actor']}) called, no_restart={e['no_restart']}"
    if kind == "worker_exit":
        return f"a worker process on node {e['node']} exited (exit code {e['exitcode']})"
    details = ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("time", "kind", "id"))
    return f"{kind}: {details}"


def show_events(events: list, names: dict | None = None, kinds=None) -> None:
    """Print entries of ``ray.events()``, one numbered line each.

    Args:
        events: entries, e.g. ``ray.events()[first:]``.
        names: object id (hex) -> name (see :func:`describe`).
        kinds: only entries of these kinds (a set of strings); None: all.

    Raises:
        TypeError: ``events`` is not a list.
    """
    if not isinstance(events, list):
        raise TypeError(f"events must be a list (what events() returns); got {type(events).__name__}")
    picked = [e for e in events if kinds is None or e["kind"] in kinds]
    lines = [(e["kind"], describe(e, names)) for e in picked]
    # A task's argument copies run side by side (one copy thread each), so the order in
    # which they finish varies from run to run: show each run of copies sorted.
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and lines[j][0] == "copy":
            j += 1
        if j > i + 1:
            lines[i:j] = sorted(lines[i:j])
        i = max(j, i + 1)
    for i, (kind, text) in enumerate(lines, 1):
        print(f"{i:2}. {kind:<13} {text}")


class Stored(NamedTuple):
    """Where an object was first stored: ``node`` (a node name), ``inline`` (small, kept
    in the head's table) or not, and ``by`` (``"put"`` or the task that made it)."""

    node: str
    inline: bool
    by: str


class Run(NamedTuple):
    """One run of a task graph, as the event log recorded it (see :func:`recorded_run`).

    Attributes:
        placement: task name -> node name (the latest placement of each task).
        stored: object name -> :class:`Stored`.
        copies: set of (object name, node name it was copied into).
        finished: names of the tasks that finished.
    """

    placement: dict
    stored: dict
    copies: set
    finished: set


def recorded_run(events: list, objects: dict, node_names: dict) -> Run:
    """Sum up what the event log says about one run of a task graph.

    Args:
        events: ``ray.events()`` (entries of other runs are ignored for objects;
            for tasks, the latest placement of each name counts).
        objects: name -> object id (hex), e.g. ``{"raw": raw.hex()}``.
        node_names: node index (as in the events) -> name, e.g. ``{0: "head"}``.

    Returns:
        Run: placements, first stores and copies, by name.

    Raises:
        TypeError: ``objects`` or ``node_names`` is not a dict.
    """
    if not isinstance(objects, dict) or not isinstance(node_names, dict):
        raise TypeError("objects and node_names must be dicts (name -> id, index -> name)")
    by_id = {oid: name for name, oid in objects.items()}
    placement, stored, copies, finished = {}, {}, set(), set()
    for e in events:
        kind = e["kind"]
        if kind == "place":
            placement[e["task"]] = node_names.get(e["node"], f"node {e['node']}")
        elif kind == "finish" and not e["error"]:
            finished.add(e["task"])
        elif kind == "store" and e.get("object") in by_id and by_id[e["object"]] not in stored:
            stored[by_id[e["object"]]] = Stored(node_names.get(e["node"], f"node {e['node']}"),
                                                e["where"] == "inline", e.get("task") or "put")
        elif kind == "copy" and e.get("object") in by_id:
            copies.add((by_id[e["object"]], node_names.get(e["dst"], f"node {e['dst']}")))
    return Run(placement, stored, copies, finished)


def placement_hints(predicted: dict, run: Run, inputs: dict) -> list:
    """Diagnoses for the tasks that did not run on the predicted node (never naming the right one).

    Args:
        predicted: task name -> node name, as the learner wrote it.
        run: what :func:`recorded_run` found.
        inputs: task name -> names of the objects it takes as arguments.

    Returns:
        A list of sentences (empty when every task ran where predicted).
    """
    wrong = [task for task in predicted if predicted[task] != run.placement.get(task)]
    if not wrong:
        return []
    listed = ", ".join(f"{task} on '{predicted[task]}'" for task in wrong)
    hints = [f"{len(wrong)} task(s) did not run where you said: {listed}.",
             "A task is only placed on a node that has every resource it asks for: compare the "
             "resources in each task's decorator with the ones each node was given when the "
             "cluster was made."]
    if any(predicted[task] == "head" for task in wrong):
        hints.append("The driver's node is not special: a task goes there only if it fits there.")
    near = [task for task in wrong
            if predicted[task] in {run.stored[o].node for o in inputs.get(task, ()) if o in run.stored}]
    if near:
        hints.append(f"Being near its input ({', '.join(near)}) is only a preference of the "
                     "scheduler, among the nodes that have the resources a task asks for.")
    return hints


def copy_hints(predicted: set, run: Run) -> list:
    """Diagnoses for each difference between predicted and recorded copies.

    Args:
        predicted: set of (object name, node name) pairs the learner wrote.
        run: what :func:`recorded_run` found.

    Returns:
        A list of sentences (empty when the prediction matches).
    """
    hints = []
    for name, node in sorted(predicted - run.copies):
        where = run.stored.get(name)
        if where is None:
            hints.append(f"('{name}', '{node}'): no object of that name; the objects are "
                         f"{', '.join(sorted(run.stored))}.")
        elif where.inline:
            hints.append(f"('{name}', '{node}'): {name} is small (under 100 KiB), so it "
                         f"travels inside messages; small objects are never copied between "
                         f"stores.")
        elif where.node == node:
            made = "the driver put it" if where.by == "put" else f"{where.by} made it"
            hints.append(f"('{name}', '{node}'): {name} was written into that node's store "
                         f"when {made}; storing an object where it is made is not a copy, and "
                         f"a task on the same node maps it in place.")
        else:
            hints.append(f"('{name}', '{node}'): nothing that ran on '{node}' needed {name} "
                         f"from another node (results are not sent to the driver unless "
                         f"something there reads them).")
    missing = run.copies - predicted
    if missing:
        many = "1 copy" if len(missing) == 1 else f"{len(missing)} copies"
        hints.append(f"{many} between nodes happened that your set lacks. Before a task "
                     f"starts, each large argument it takes must be in its own node's store: "
                     f"one made on another node is copied in first. That holds for objects "
                     f"the driver put as well as for results of tasks.")
    return hints
