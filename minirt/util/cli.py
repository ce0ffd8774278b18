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

    CLI process: parse, find the session --request--> driver: _cli_answers.py copies the
                 format the answer       <--JSON------   tables in one short hold of the
                 (_cli_format.py)                        head's lock (<= 2 s wait)

The driver's handlers are registered with ``_admin.HANDLERS`` when this module
is imported (``import minirt`` does). No runtime: one line on stderr, exit status 1.
Lesson: lessons/08_patterns.ipynb (troubleshooting).
"""

from __future__ import annotations

import argparse
import fnmatch
import glob
import json
import os
import re
import sys
import time

from .. import _admin, _logs
from . import _cli_answers, state  # noqa: F401  (_cli_answers: the driver's side, registered)
from ._cli_format import (_size, _uptime, format_list, format_memory, format_stack,
                          format_status, format_summary)


# --- finding a session: finding a session ----------------------------------------------------------
class NoRuntime(Exception):
    """No runtime to talk to (the CLI prints the message and exits with status 1)."""


def _socket(session: str) -> str:
    return os.path.join(session, _logs.SOCKET)


def live_sessions(root: str | None = None) -> list[str]:
    """Sessions whose runtime is running, newest first."""
    return [s for s in _logs.sessions(root) if os.path.exists(_socket(s)) and _logs.is_live(s)]


ADDRESS_VAR = "MINIRT_ADDRESS"


def _session_of(address: str) -> str:
    path = os.path.abspath(os.path.expanduser(address))
    if os.path.isdir(path):
        return path
    if os.path.basename(path) == _logs.SOCKET or os.path.exists(path):
        return os.path.dirname(path)
    raise NoRuntime(f"minirt: no session at {address} (give a session directory, e.g. "
                    f"{os.path.join(_logs.root_dir(), _logs.LATEST)})")


def find_session(address: str | None, live: bool = True) -> str:
    """The session ``address`` names, else the one ``$MINIRT_ADDRESS`` names, else the
    newest live one (or, if ``live`` is False, ``session_latest``: logs can be read after
    the runtime is gone).

    ``init()`` sets ``MINIRT_ADDRESS`` in its own process's environment (like Ray's
    ``RAY_ADDRESS``), so ``!minirt status`` in a notebook, which runs as a child of the
    kernel, reaches that notebook's runtime even when another one started later.

    Args:
        address: a session directory (or its ``admin.sock``), or None.
        live: with no address, only a running runtime's session will do.

    Returns:
        The session directory's path.

    Raises:
        NoRuntime: nothing found (the message is the CLI's one line).

    Example:
        >>> import os, tempfile
        >>> os.environ["MINIRT_TMPDIR"] = tempfile.mkdtemp()
        >>> find_session(None)
        Traceback (most recent call last):
        ...
        minirt.util.cli.NoRuntime: minirt: no running minirt runtime found in ...
        >>> del os.environ["MINIRT_TMPDIR"]
    """
    if address:
        return _session_of(address)
    mine = os.environ.get(ADDRESS_VAR)          # set by init() in the process that runs minirt
    if mine and os.path.isdir(mine) and (not live or _logs.is_live(mine)):
        return mine
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


_MARKER = re.compile(r"^:(task|actor)_name:.*\n", flags=re.M)


def _last_marker(text: str, current: str | None = None) -> str | None:
    """The last ``:task_name:``/``:actor_name:`` line of ``text`` (else ``current``)."""
    found = [m.group(0) for m in _MARKER.finditer(text)]
    return found[-1].rstrip("\n") if found else current


def _marked_sections(text: str, marker: str, current: str | None = None) -> str:
    """The parts of a worker log that follow ``marker`` lines, up to the next marker;
    ``current`` is the marker in force where ``text`` starts (``--follow`` goes on
    from the middle of a file)."""
    out, on = [], current == marker
    for line in text.splitlines(keepends=True):
        if line.startswith((":task_name:", ":actor_name:")):
            on = line.rstrip("\n") == marker
            continue
        if on:
            out.append(line)
    return "".join(out)


def _pick_text(text: str, args, current: str | None = None) -> str:
    """What ``--task``/``--actor`` (or neither) keep of a worker log's ``text``."""
    if args.task:
        return _marked_sections(text, f":task_name:{args.task}", current)
    return _MARKER.sub("", text)        # --actor: an actor's worker runs nothing else


def select_logs(session: str, args, read: dict | None = None,
                marks: dict | None = None) -> list[tuple[str, str]]:
    """``(path, text)`` of the files (or parts) the ``logs`` options pick; ``read`` gets
    the number of bytes read from each file, ``marks`` the last marker line of each
    worker file (where ``--follow`` goes on from)."""
    read = {} if read is None else read
    marks = {} if marks is None else marks
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
        if args.actor and f":actor_name:{args.actor}\n" not in text:
            continue
        if m:
            marks[path] = _last_marker(text)
            text = _pick_text(text, args)
            if args.task and not text:
                continue
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
    marks: dict = {}
    picked = select_logs(session, args, read, marks)
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
                            raw = f.read(size - sizes[p])
                        if p in marks:      # whole lines only: a marker may be half written
                            raw = raw[:raw.rfind(b"\n") + 1]
                        sizes[p] += len(raw)
                        data = raw.decode("utf-8", "replace")
                        if p in marks:      # a worker file: the same filter as above
                            text = _pick_text(data, args, marks[p])
                            marks[p] = _last_marker(data, marks[p])
                        else:
                            text = data
                        if text:
                            sys.stdout.write(text)
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
    c.add_argument("kind", choices=sorted(_cli_answers._KINDS))
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
