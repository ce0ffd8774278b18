"""``minirt`` on the command line: look at a runtime living in another process.

``python -m minirt`` (or the ``minirt`` console script) talks to the runtime of
a notebook kernel or a script through its session's private socket
(``_admin.py``), found in the newest live session (``_logs.py``) or
``--address``. Commands, named and shaped like Ray's::

    minirt status [--all]              nodes, resources, tasks/actors by state, workers, store
    minirt memory                      every object: size, node, shm or spilled, who holds it
    minirt list tasks|actors|objects|workers|nodes [--filter K=V] [--limit N] [--detail]
                                       [--format table|json]
    minirt summary tasks|actors|objects [--format table|json]
    minirt timeline -o FILE            Chrome-trace JSON (open in https://ui.perfetto.dev)
    minirt logs [FILE] [--worker ID | --pid N | --task NAME | --actor NAME] [--tail N]
                [--follow]             worker output from the log files (runtime not needed)
    minirt stack                       Python stack of every worker and of the driver's threads

Where the work happens::

    CLI process: parse, find the session --request--> driver: HANDLERS below copy the
                 format the answer  <--JSON-------------   tables in one short hold of
                                                           the head's lock (<= 2 s wait)

The handlers are registered with ``_admin.HANDLERS`` when this module is
imported (``import minirt`` does). No runtime: one line on stderr, exit status 1.
Lesson: lessons/08_patterns.ipynb (troubleshooting).
"""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import glob
import json
import os
import re
import sys
import threading
import time
import traceback

from .. import _admin, _logs
from . import state
from ._introspect import held

LOCK_WAIT = 2.0             # seconds a request waits for the head's lock, at most
STACK_WAIT = 2.0            # seconds `stack` waits for the workers' dumps
_KINDS = {"tasks": ("tasks", state._task_rows, state.TaskState),
          "actors": ("actors", state._actor_rows, state.ActorState),
          "objects": ("objects", state._object_rows, state.ObjectState),
          "workers": ("workers", state._worker_rows, state.WorkerState),
          "nodes": ("nodes", state._node_rows, state.NodeState)}


# --- the driver's side: request handlers (run in the admin server's threads) -------------------
def _take(head, what: str, extra=None):
    """``state._snapshot(head, what)`` (and ``extra(head)``) in one bounded hold of the lock."""
    with held(head, LOCK_WAIT) as ok:
        if not ok:
            raise TimeoutError(f"the runtime's lock was busy for {LOCK_WAIT} s; try again")
        if head._closed:
            raise RuntimeError("the runtime is shutting down")
        snap = state._snapshot(head, what)
        return snap, (extra(head) if extra is not None else None)


def _h_list(head, args: dict) -> dict:
    kind = args.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"list what? one of {sorted(_KINDS)}; got {kind!r}")
    what, make, cls = _KINDS[kind]
    detail = bool(args.get("detail", False))
    filters = state._check([tuple(f) for f in args.get("filters") or []],
                           int(args.get("limit", state._DEFAULT_LIMIT)), detail, cls)
    rows = make(_take(head, what)[0], detail)
    matching = state._select(rows, filters, sys.maxsize)
    chosen = matching[:int(args.get("limit", state._DEFAULT_LIMIT))]
    return {"total": len(matching), "rows": [r.asdict() for r in chosen]}


def _nodes_view(head) -> list:
    out = []
    for n in head.nodes:
        st = n.store
        out.append({"index": n.index, "node_id": n.node_id, "alive": n.alive,
                    "total": dict(n.total), "avail": dict(n.avail), "store_used": st.used,
                    "store_capacity": st.capacity, "spilled": st.spilled_bytes,
                    "workers": [(w.wid, w.pid, w.actor.class_name if w.actor else None,
                                 w.task.spec.name if w.task is not None else None)
                                for w in n.workers]})
    return out


def _h_status(head, args: dict) -> dict:
    snap, nodes = _take(head, "tasks", _nodes_view)
    tasks, actors = {}, {}
    for t in state._task_rows(snap, False):
        tasks[t.state] = tasks.get(t.state, 0) + 1
    for a in state._actor_rows(snap, False):
        actors[a.state] = actors.get(a.state, 0) + 1
    return {"pid": os.getpid(), "started_at": head.started_at, "namespace": head.namespace,
            "session": head.logs.path if head.logs else None, "nodes": nodes,
            "tasks": tasks, "actors": actors, "time": time.time()}


def _object_places(head) -> dict:
    """oid hex -> (node, "shared memory" | "spilled" | "inline") of each object."""
    out = {}
    for oid, o in head.objects.items():
        if not o.ready:
            continue
        if o.kind == 0:
            out[oid.hex()] = (0, "inline")
            continue
        locs = sorted(o.locs)
        node = locs[0] if locs else None
        where = "lost"
        if node is not None:
            where = "shared memory" if oid in head.nodes[node].store else "spilled"
        out[oid.hex()] = (node, where)
    return out


def _h_memory(head, args: dict) -> dict:
    snap, places = _take(head, "objects", lambda h: (_object_places(h), _nodes_view(h)))
    places, nodes = places
    rows = []
    for r in state._object_rows(snap, False):
        d = r.asdict()
        d["node"], d["where"] = places.get(r.object_id, (None, "pending"))
        rows.append(d)
    return {"rows": rows, "nodes": nodes, "time": time.time()}


def _h_summary(head, args: dict) -> dict:
    kind = args.get("kind")
    if kind not in ("tasks", "actors", "objects"):
        raise ValueError(f"summary of what? tasks, actors or objects; got {kind!r}")
    what, make, _ = _KINDS[kind]
    rows = make(_take(head, what)[0], False)
    summary: dict = {}
    if kind == "tasks":
        for t in rows:
            e = summary.setdefault(t.name, {"func_or_class_name": t.name, "type": t.type,
                                            "state_counts": {}})
            e["state_counts"][t.state] = e["state_counts"].get(t.state, 0) + 1
    elif kind == "actors":
        for a in rows:
            e = summary.setdefault(a.class_name, {"class_name": a.class_name, "state_counts": {}})
            e["state_counts"][a.state] = e["state_counts"].get(a.state, 0) + 1
    else:
        for o in rows:
            e = summary.setdefault(o.reference_type, {"reference_type": o.reference_type,
                                                      "total_objects": 0, "total_size": 0})
            e["total_objects"] += 1
            e["total_size"] += max(o.object_size, 0)
    return {"kind": kind, "summary": summary, "total": len(rows)}


def _h_timeline(head, args: dict) -> list:
    with held(head, LOCK_WAIT) as ok:
        if not ok:
            raise TimeoutError(f"the runtime's lock was busy for {LOCK_WAIT} s; try again")
        rows = list(head.timeline_rows)
    return [{"cat": "actor" if kind != "task" else "task", "name": name,
             "pid": f"node {node}", "tid": f"worker {wid} (pid {pid})",
             "ts": t0 * 1e6, "dur": max(0.0, (t1 - t0) * 1e6), "ph": "X",
             "args": {"task_id": tid, "attempt": attempt}}
            for name, kind, node, wid, pid, t0, t1, tid, attempt in rows]


def _driver_stacks() -> str:
    names = {t.ident: t.name for t in threading.enumerate()}
    out = []
    for ident, frame in sys._current_frames().items():
        out.append(f"Thread {names.get(ident, '?')} (id {ident}):\n"
                   + "".join(traceback.format_stack(frame)))
    return "\n".join(out)


def _h_stack(head, args: dict) -> dict:
    """Every worker dumps its threads (``faulthandler`` on ``STACK_SIGNAL``) to its
    ``.stack`` file; this waits for the dumps outside the head's lock."""
    from .._worker import STACK_SIGNAL
    with held(head, LOCK_WAIT) as ok:
        if not ok:
            raise TimeoutError(f"the runtime's lock was busy for {LOCK_WAIT} s; try again")
        workers = [w for n in _nodes_view(head) for w in n["workers"]]
        logs_dir = head.logs.logs_dir if head.logs else None
    driver = _driver_stacks()
    if logs_dir is None:
        return {"driver": driver, "driver_pid": os.getpid(), "workers": []}
    files = {}
    for wid, pid, actor, task in workers:
        path = _logs.worker_files(logs_dir, wid, pid)[2]
        try:
            files[wid] = (path, os.path.getsize(path))
            os.kill(pid, STACK_SIGNAL)
        except OSError:
            continue
    deadline = time.monotonic() + STACK_WAIT
    sizes: dict = {}
    while time.monotonic() < deadline:      # until every dump has arrived and stopped growing
        now = {wid: os.path.getsize(p) for wid, (p, _) in files.items() if os.path.exists(p)}
        if all(now.get(w, 0) > s0 for w, (_, s0) in files.items()) and now == sizes:
            break
        sizes = now
        time.sleep(0.05)
    out = []
    for wid, pid, actor, task in workers:
        if wid not in files:
            continue
        path, start = files[wid]
        try:
            with open(path, "rb") as f:
                f.seek(start)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            text = ""
        out.append({"wid": wid, "pid": pid, "actor": actor, "task": task,
                    "stack": text or "(no answer: the worker did not dump its stack in time)\n"})
    return {"driver": driver, "driver_pid": os.getpid(), "workers": out}


_admin.HANDLERS.update(status=_h_status, list=_h_list, memory=_h_memory, summary=_h_summary,
                       timeline=_h_timeline, stack=_h_stack)


# --- the CLI's side: finding a session ----------------------------------------------------------
class NoRuntime(Exception):
    """No runtime to talk to (the CLI prints the message and exits with status 1)."""


def _socket(session: str) -> str:
    return os.path.join(session, _logs.SOCKET)


def live_sessions(root: str | None = None) -> list[str]:
    """Sessions whose runtime is running, newest first."""
    return [s for s in _logs.sessions(root) if os.path.exists(_socket(s)) and _logs.is_live(s)]


def _session_of(address: str) -> str:
    path = os.path.abspath(os.path.expanduser(address))
    if os.path.isdir(path):
        return path
    if os.path.basename(path) == _logs.SOCKET or os.path.exists(path):
        return os.path.dirname(path)
    raise NoRuntime(f"minirt: no session at {address} (give a session directory, e.g. "
                    f"{os.path.join(_logs.root_dir(), _logs.LATEST)})")


def find_session(address: str | None, live: bool = True) -> str:
    """The session ``address`` names, else the newest live one (or, if ``live`` is False,
    ``session_latest``: logs can be read after the runtime is gone)."""
    if address:
        return _session_of(address)
    found = live_sessions()
    if found:
        return found[0]
    if not live:
        latest = os.path.join(_logs.root_dir(), _logs.LATEST)
        if os.path.isdir(latest):
            return os.path.realpath(latest)
        raise NoRuntime(f"minirt: no session logs in {_logs.root_dir()} (none was started "
                        "here; set MINIRT_TMPDIR as the runtime had it)")
    raise NoRuntime(f"minirt: no running minirt runtime found in {_logs.root_dir()} "
                    "(start one with minirt.init(), or pick a session with --address)")


def ask(address: str | None, op: str, args: dict | None = None, timeout: float = 15.0):
    """Send one request to the runtime (see :func:`find_session`); return its answer."""
    session = find_session(address)
    try:
        return _admin.request(_socket(session), op, args, timeout)
    except ConnectionError as e:
        raise NoRuntime(f"minirt: the runtime of {session} is not running ({e})") from e


# --- formatting ---------------------------------------------------------------------------------
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
    """Rows of dicts as aligned columns under upper-case headers (like ``ray list``)."""
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
    lines += [f" 1 node_{n['node_id'][:12]} (node {n['index']}{', head' if n['index'] == 0 else ''})"
              for n in alive]
    lines.append("Dead:")
    lines += [f" 1 node_{n['node_id'][:12]} (node {n['index']})" for n in dead] or \
        [" (no dead nodes)"]
    used, total = {}, {}
    for n in alive:
        for k, v in n["total"].items():
            total[k] = total.get(k, 0.0) + v
            used[k] = used.get(k, 0.0) + v - n["avail"].get(k, 0.0)
    lines += ["", _rule("Resources"), "Usage:"]
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


_REF_KINDS = [("LOCAL_REFERENCE", "Local References"), ("USED_BY_PENDING_TASK", "Pinned by tasks"),
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
        cls = _KINDS[kind][2]
        lines.append(table(rows, cls.list_columns(detail=False)))
    return "\n".join(lines)


def format_summary(answer: dict) -> str:
    kind = answer["kind"]
    lines = [f"======== {kind.capitalize()} Summary: {_when(time.time())} ========", "Stats:",
             "-" * 30, f"total: {answer['total']}", "", "Table:", "-" * 30]
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


# --- logs (read from the files: no runtime needed) -----------------------------------------------
_WORKER_FILE = re.compile(r"worker-(\d+)-(\d+)\.(out|err)$")


def log_files(session: str) -> list[str]:
    """The session's log files, head.log first, then workers by id."""
    logs = os.path.join(session, "logs")
    files = glob.glob(os.path.join(logs, "worker-*-*.out")) + \
        glob.glob(os.path.join(logs, "worker-*-*.err"))

    def key(p):
        m = _WORKER_FILE.search(p)
        return (int(m.group(1)), m.group(3)) if m else (0, p)
    head = os.path.join(logs, "head.log")
    return ([head] if os.path.exists(head) else []) + sorted(files, key=key)


def _marked_sections(text: str, marker: str) -> str:
    """The parts of a worker log that follow ``marker`` lines, up to the next marker."""
    out, on = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith((":task_name:", ":actor_name:")):
            on = line.rstrip("\n") == marker
            continue
        if on:
            out.append(line)
    return "".join(out)


def select_logs(session: str, args, read: dict | None = None) -> list[tuple[str, str]]:
    """``(path, text)`` of the files (or parts) the ``logs`` options pick; ``read`` gets
    the number of bytes read from each file."""
    read = {} if read is None else read
    files = log_files(session)
    picked = []
    for path in files:
        m = _WORKER_FILE.search(path)
        name = os.path.basename(path)
        if args.name and not fnmatch.fnmatch(name, args.name):
            continue
        if args.worker is not None:
            wid = str(args.worker).removeprefix("worker-")
            if not m or m.group(1) != wid:
                continue
        if args.pid is not None and (not m or m.group(2) != str(args.pid)):
            continue
        if (args.task or args.actor) and not m:
            continue
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        read[path] = len(data)            # where --follow goes on from
        text = data.decode("utf-8", "replace")
        if args.task:
            text = _marked_sections(text, f":task_name:{args.task}")
            if not text:
                continue
        elif args.actor:
            if f":actor_name:{args.actor}\n" not in text:
                continue
            text = text.replace(f":actor_name:{args.actor}\n", "")
        elif m:
            text = re.sub(r"^:(task|actor)_name:.*\n", "", text, flags=re.M)
        picked.append((path, text))
    return picked


def _tail(text: str, n: int | None) -> str:
    if n is None:
        return text
    lines = text.splitlines(keepends=True)
    return "".join(lines[-n:]) if n > 0 else ""


def cmd_logs(args) -> int:
    session = find_session(args.address, live=False)
    selecting = any(x is not None for x in (args.name, args.worker, args.pid, args.task,
                                            args.actor))
    if not selecting and not args.follow:
        print(f"Session {session} ({'running' if _logs.is_live(session) else 'ended'})")
        print("Log files (pick one with a name, --worker, --pid, --task or --actor):")
        for path in log_files(session):
            print(f"  {os.path.basename(path):32} {_size(os.path.getsize(path))}")
        return 0
    read: dict = {}
    picked = select_logs(session, args, read)
    if not picked:
        print(f"minirt: no log in {os.path.join(session, 'logs')} matches", file=sys.stderr)
        return 1
    if len(picked) > 1:             # several files: leave out the empty ones
        picked = [(p, t) for p, t in picked if t] or picked[:1]
    many = len(picked) > 1
    for path, text in picked:
        if many:
            print(f"==> {os.path.basename(path)} <==")
        sys.stdout.write(_tail(text, args.tail))
    sys.stdout.flush()
    if args.follow:                 # print what is appended, until Ctrl-C
        sizes = {p: read[p] for p, _ in picked}
        try:
            while True:
                time.sleep(0.2)
                for p in sizes:
                    size = os.path.getsize(p)
                    if size > sizes[p]:
                        with open(p, "rb") as f:
                            f.seek(sizes[p])
                            data = f.read(size - sizes[p]).decode("utf-8", "replace")
                        sizes[p] = size
                        sys.stdout.write(re.sub(r"^:(task|actor)_name:.*\n", "", data,
                                                flags=re.M))
                        sys.stdout.flush()
        except KeyboardInterrupt:
            pass
    return 0


# --- the commands -------------------------------------------------------------------------------
def _parse_filters(items) -> list:
    out = []
    for item in items or []:
        m = re.match(r"^\s*(\w+)\s*(!=|=)\s*(.*?)\s*$", item)
        if not m:
            raise SystemExit(f'minirt: a filter is KEY=VALUE or KEY!=VALUE, like '
                             f'--filter "state=RUNNING"; got {item!r}')
        out.append([m.group(1), m.group(2), m.group(3)])
    return out


def cmd_status(args) -> int:
    if args.all:
        found = live_sessions()
        if not found:
            raise NoRuntime(f"minirt: no running minirt runtime found in {_logs.root_dir()}")
        print(f"{len(found)} running minirt runtime(s), newest first:")
        for s in found:
            try:
                p = _admin.request(_socket(s), "ping", timeout=5)
                print(f"  {s}  driver pid {p['pid']}, namespace {p['namespace']!r}, "
                      f"{p['nodes']} node(s), up {_uptime(time.time() - p['started_at'])}")
            except (OSError, RuntimeError, ValueError) as e:
                print(f"  {s}  (not answering: {e})")
        return 0
    answer = ask(args.address, "status")
    print(json.dumps(answer, indent=1) if args.format == "json" else format_status(answer))
    return 0


def cmd_memory(args) -> int:
    answer = ask(args.address, "memory")
    print(json.dumps(answer, indent=1) if args.format == "json" else format_memory(answer))
    return 0


def cmd_list(args) -> int:
    answer = ask(args.address, "list", {"kind": args.kind, "filters": _parse_filters(args.filter),
                                        "limit": args.limit, "detail": args.detail})
    print(json.dumps(answer["rows"], indent=1) if args.format == "json"
          else format_list(args.kind, answer, args.detail))
    return 0


def cmd_summary(args) -> int:
    answer = ask(args.address, "summary", {"kind": args.kind})
    print(json.dumps(answer, indent=1) if args.format == "json" else format_summary(answer))
    return 0


def cmd_timeline(args) -> int:
    events = ask(args.address, "timeline", timeout=60)
    with open(args.output, "w") as f:
        json.dump(events, f)
    print(f"{len(events)} events written to {args.output} (open it in https://ui.perfetto.dev "
          "or chrome://tracing)")
    return 0


def cmd_stack(args) -> int:
    print(format_stack(ask(args.address, "stack", timeout=30)))
    return 0


def parser() -> argparse.ArgumentParser:
    """The ``minirt`` command's argument parser."""
    p = argparse.ArgumentParser(prog="minirt", description="Look at a running minirt runtime "
                                "(like Ray's `ray status`, `ray list`, `ray logs`).")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name, fn, help_):
        c = sub.add_parser(name, help=help_, description=help_)
        c.add_argument("--address", help="a session directory (default: the newest running "
                       "runtime; see `minirt status --all`)")
        c.set_defaults(fn=fn)
        return c

    fmt = dict(choices=["table", "json"], default="table")
    c = add("status", cmd_status, "nodes, resources, tasks and actors by state, workers, store")
    c.add_argument("--all", action="store_true", help="list every running runtime")
    c.add_argument("--format", **fmt)
    c = add("memory", cmd_memory, "every object: size, node, shared memory or spilled, holders")
    c.add_argument("--format", **fmt)
    c = add("list", cmd_list, "tasks, actors, objects, workers or nodes as a table")
    c.add_argument("kind", choices=sorted(_KINDS))
    c.add_argument("--filter", action="append", help='KEY=VALUE or KEY!=VALUE, e.g. '
                   '"state=RUNNING" (repeatable)')
    c.add_argument("--limit", type=int, default=state._DEFAULT_LIMIT)
    c.add_argument("--detail", action="store_true")
    c.add_argument("--format", **fmt)
    c = add("summary", cmd_summary, "counts of tasks, actors or objects")
    c.add_argument("kind", choices=["tasks", "actors", "objects"])
    c.add_argument("--format", **fmt)
    c = add("timeline", cmd_timeline, "the Chrome-trace JSON of the running session")
    c.add_argument("-o", "--output", required=True, help="the file to write")
    c = add("logs", cmd_logs, "worker output and head.log from the session's log files")
    c.add_argument("name", nargs="?", help="a log file name or pattern, e.g. head.log")
    c.add_argument("--worker", help="a worker id (3 or worker-3)")
    c.add_argument("--pid", type=int)
    c.add_argument("--task", help="a task's name: its output only")
    c.add_argument("--actor", help="an actor's class name")
    c.add_argument("--tail", type=int, help="only the last N lines")
    c.add_argument("--follow", action="store_true", help="keep printing what is appended")
    add("stack", cmd_stack, "the Python stack of every worker and of the driver's threads")
    return p


def main(argv=None) -> int:
    """Run the ``minirt`` command line; return its exit status.

    Args:
        argv: the arguments (default ``sys.argv[1:]``).

    Returns:
        0 on success, 1 if there is no runtime (or no log) to look at.

    Example:
        >>> import os, tempfile
        >>> os.environ["MINIRT_TMPDIR"] = tempfile.mkdtemp()
        >>> main(["status"])      # nothing running: one line on stderr
        1
        >>> del os.environ["MINIRT_TMPDIR"]
    """
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except NoRuntime as e:
        print(str(e), file=sys.stderr)
        return 1
    except RuntimeError as e:
        print(f"minirt: the runtime answered with an error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0


def main_exit() -> None:
    """Entry point of the ``minirt`` console script: :func:`main`, then exit with its status."""
    sys.exit(main())
