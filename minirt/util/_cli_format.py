"""Formatting the answers of a running runtime for the ``minirt`` command line.

Plain functions from the JSON a request returned (see ``_cli_answers.py``) to
text shaped like Ray's: ``ray status``, ``ray memory``, ``ray list``,
``ray summary`` and ``ray stack``. Nothing here talks to a runtime.
"""

from __future__ import annotations

import datetime
import json
import time

from . import state

_COLUMNS = {"tasks": state.TaskState, "actors": state.ActorState, "objects": state.ObjectState,
            "workers": state.WorkerState, "nodes": state.NodeState}


def _size(n) -> str:
    if n is None or n < 0:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.2f}{unit}"
        n /= 1024
    return str(n)


def _when(t: float) -> str:
    return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def _uptime(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s // 60 % 60:02d}m{s % 60:02d}s" if s >= 3600 else \
        f"{s // 60}m{s % 60:02d}s"


def _rule(title: str) -> str:
    return f"{title}\n{'-' * 60}"


def table(rows: list, columns: list, index: bool = True, upper: bool = True) -> str:
    """Rows of dicts as aligned columns under upper-case headers (like ``ray list``).

    Args:
        rows: dicts; a missing or None value shows empty.
        columns: the keys to show, in order.
        index: start each row with its number.
        upper: upper-case the headers.

    Returns:
        The table as one string, without a trailing newline.

    Example:
        >>> print(table([{"name": "f", "state": "RUNNING"}], ["name", "state"]))
           NAME  STATE
        0  f     RUNNING
    """
    head = ([""] if index else []) + [c.upper() if upper else c for c in columns]
    body = [([str(i)] if index else []) + ["" if r.get(c) is None else str(r.get(c))
                                           for c in columns] for i, r in enumerate(rows)]
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    return "\n".join("  ".join(x[i].ljust(widths[i]) for i in range(len(head))).rstrip()
                     for x in [head] + body)


def format_status(s: dict) -> str:
    lines = [f"======== minirt status: {_when(s['time'])} ========",
             f"Session: {s['session']} (driver pid {s['pid']}, namespace {s['namespace']!r}, "
             f"up {_uptime(s['time'] - s['started_at'])})", "", _rule("Node status")]
    alive = [n for n in s["nodes"] if n["alive"]]
    dead = [n for n in s["nodes"] if not n["alive"]]
    lines.append("Active:")
    lines += [f" 1 node_{n['node_id']} (node {n['index']}{', head' if n['index'] == 0 else ''})"
              for n in alive]
    lines.append("Dead:")
    lines += [f" 1 node_{n['node_id']} (node {n['index']})" for n in dead] or \
        [" (no dead nodes)"]
    used, total = {}, {}
    for n in alive:
        for k, v in n["total"].items():
            total[k] = total.get(k, 0.0) + v
            used[k] = used.get(k, 0.0) + v - n["avail"].get(k, 0.0)
    lines += ["", _rule("Resources"), "Total Usage:"]
    for k in sorted(total, key=lambda k: (k != "CPU", k)):
        if k == "memory":
            lines.append(f" {_size(used[k])}/{_size(total[k])} memory")
        else:
            lines.append(f" {used[k]:.1f}/{total[k]:.1f} {k}")
    st_used = sum(n["store_used"] for n in alive)
    st_cap = sum(n["store_capacity"] for n in alive)
    spilled = sum(n["spilled"] for n in alive)
    lines.append(f" {_size(st_used)}/{_size(st_cap)} object_store_memory "
                 f"({_size(spilled)} spilled)")
    lines += ["", _rule("Tasks")]
    lines += [f" {c} {k}" for k, c in sorted(s["tasks"].items())] or [" (no tasks)"]
    if s.get("paused"):
        lines.append(f" ({s['paused']} of the RUNNING paused at breakpoint(): "
                     "minirt.util.debug.attach() in the driver opens their sessions)")
    lines += ["", _rule("Actors")]
    lines += [f" {c} {k}" for k, c in sorted(s["actors"].items())] or [" (no actors)"]
    workers = [w for n in alive for w in n["workers"]]
    acting = sum(1 for w in workers if w[2])
    busy = sum(1 for w in workers if not w[2] and w[3])
    lines += ["", _rule("Workers"),
              f" {len(workers)} worker processes: {busy} running tasks, {acting} hosting "
              f"actors, {len(workers) - busy - acting} idle"]
    lines += ["", _rule("Object store")]
    for n in s["nodes"]:
        pct = 100 * n["store_used"] / n["store_capacity"] if n["store_capacity"] else 0
        lines.append(f" node {n['index']}: {_size(n['store_used'])}/{_size(n['store_capacity'])}"
                     f" used ({pct:.1f}%), {_size(n['spilled'])} spilled"
                     + ("" if n["alive"] else " (dead)"))
    return "\n".join(lines)


_REF_KINDS = [("LOCAL_REFERENCE", "Local References"), ("USED_BY_PENDING_TASK", "Used by task"),
              ("CAPTURED_IN_OBJECT", "Captured in Objects"), ("ACTOR_HANDLE", "Actor Handles")]


def format_memory(m: dict) -> str:
    lines = [f"======== Object references status: {_when(m['time'])} ========",
             "Grouping by node...        Sorting by object size...", ""]
    groups: dict = {}
    for r in m["rows"]:
        groups.setdefault(r["node"], []).append(r)
    for node in sorted(groups, key=lambda n: (n is None, n or 0)):
        rows = sorted(groups[node], key=lambda r: -r["object_size"])
        name = f"node {node}" if node is not None else "no node (pending or actor handles)"
        summary = {"Mem Used by Objects": _size(sum(
            r["object_size"] for r in {r["object_id"]: r for r in rows}.values()
            if r["object_size"] > 0))}
        for kind, title in _REF_KINDS:
            of = [r for r in rows if r["reference_type"] == kind]
            summary[title] = f"{len(of)}, ({_size(sum(max(r['object_size'], 0) for r in of))})"
        lines += [f"--- Summary for {name} ---", table([summary], list(summary), False, False),
                  "", f"--- Object references for {name} ---"]
        shown = [dict(r, object_size=_size(r["object_size"]) if r["object_size"] >= 0 else "?")
                 for r in rows]
        lines += [table(shown, ["pid", "type", "task_status", "object_size", "where",
                                "reference_type", "object_id"], False), ""]
    if not m["rows"]:
        lines += ["(no objects)", ""]
    used = sum(n["store_used"] for n in m["nodes"])
    cap = sum(n["store_capacity"] for n in m["nodes"])
    spilled = sum(n["spilled"] for n in m["nodes"])
    count = len({r["object_id"] for r in m["rows"] if r["where"] != "pending"})
    lines += ["--- Aggregate object store stats across all nodes ---",
              f"Shared memory usage {_size(used)}, {count} objects, "
              f"{100 * used / cap if cap else 0:.1f}% full; spilled to disk: {_size(spilled)}"]
    return "\n".join(lines)


def format_list(kind: str, answer: dict, detail: bool) -> str:
    rows = answer["rows"]
    lines = [f"======== List: {_when(time.time())} ========", "Stats:", "-" * 30,
             f"Total: {len(rows)}" + (f" (of {answer['total']}; raise --limit)"
                                       if answer["total"] > len(rows) and len(rows) else ""),
             "", "Table:", "-" * 30]
    if not rows:
        lines.append(f"(no {kind})")
    elif detail:
        for r in rows:
            lines += ["-"] + [f"  {k}: {json.dumps(v, default=str)}" for k, v in r.items()]
    else:
        cls = _COLUMNS[kind]
        lines.append(table(rows, cls.list_columns(detail=False)))
    return "\n".join(lines)


def format_summary(answer: dict) -> str:
    kind = answer["kind"]
    by = {"tasks": "func_name", "actors": "class", "objects": "reference type"}[kind]
    lines = [f"======== {kind.capitalize()} Summary: {_when(time.time())} ========", "Stats:",
             "-" * 36] + [f"{k}: {v}" for k, v in answer["stats"].items()] + \
        ["", f"Table (group by {by}):", "-" * 36]
    rows = list(answer["summary"].values())
    if not rows:
        return "\n".join(lines + [f"(no {kind})"])
    if kind == "tasks":
        rows = [{"func_or_class_name": r["func_or_class_name"], "state_counts":
                 ", ".join(f"{k}: {v}" for k, v in r["state_counts"].items()),
                 "type": r["type"]} for r in rows]
        cols = ["func_or_class_name", "state_counts", "type"]
    elif kind == "actors":
        rows = [{"class_name": r["class_name"], "state_counts":
                 ", ".join(f"{k}: {v}" for k, v in r["state_counts"].items())} for r in rows]
        cols = ["class_name", "state_counts"]
    else:
        rows = [dict(r, total_size=_size(r["total_size"])) for r in rows]
        cols = ["reference_type", "total_objects", "total_size"]
    return "\n".join(lines + [table(rows, cols)])


def format_stack(answer: dict) -> str:
    out = [f"Stack dump for the driver (pid {answer['driver_pid']}), every thread:",
           answer["driver"]]
    for w in answer["workers"]:
        what = (f"actor {w['actor']}" if w["actor"] else f"task {w['task']}" if w["task"]
                else "idle")
        out += [f"Stack dump for worker {w['wid']} (pid {w['pid']}, {what}):", w["stack"]]
    return "\n".join(out)
