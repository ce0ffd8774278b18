"""What travels between the driver (head) and the workers.

Every message is a tuple ``(kind, ref_changes, *payload)`` sent over a
private socketpair in ``Connection``'s framing, pickled by :func:`dumps`. ``ref_changes`` is the
sender's ordered list of ``(id, +1 | -1)`` reference transitions (see
``_refs.py``), so a process's "I dropped X" can never overtake a message it
sent earlier that still names X.

head -> worker                          worker -> head
-------------------------------------   -----------------------------------------
("task", None, TaskSpec, fn, args, deps) ("done", ch, tid, [Result...], t0, t1, retry)
                                         ("yield", ch, tid, Result)  a streaming task's value
("actor", None, TaskSpec, cls, args, deps)("actor_ready", ch, aid, error_text | None, t0, t1)
("call", None, TaskSpec, args, deps)     ("req", ch, req_id, op, args)   a request, answered
("reply", None, req_id, ok, value)             by "reply"; op: get, wait, put_file,
("exit", None)                                 create_actor, get_actor, resources, nodes,
("cancel_call", None, tid)                     timeline, events, debug, or an add-on's
  (an actor call sent earlier: see WorkerCore.cancel_call)   ("state")
("cancel_task", None, tid)  sent just before the cancel signal: which task it is for
("drop_tasks", None, [tid...])  queued tasks taken back (see _pipeline.py): skip them
                                         ("submit", ch, TaskSpec)
                                         ("put", ch, oid, kind, data, contained)
                                         ("fn", ch, fn_id, pickled function)
                                         ("cancel", ch, oid, force, recursive)
                                         ("kill", ch, aid, no_restart)
                                         ("exit_actor", ch, aid)  exit_actor(): exiting now
                                         ("log", ch, prefix, text)
                                         ("refs", ch)           only reference changes
                                         ("bar", ch, state)     an add-on's (tqdm_ray)
                                         ("debug_end", ch, sid, text)  a pdb session runs on

A worker stopped at ``breakpoint()`` (see ``_debugger.py``) asks for each pdb
command with the request ``debug`` (what pdb printed, its prompt), which a
waiting driver thread answers with the line typed.

The head handles each kind with its ``Control._msg_<kind>`` method, or an
add-on's handler from :data:`ADDON_MESSAGES`; any other kind raises
:class:`ProtocolError` (in the head that breaks the runtime loudly; in a
worker it ends the worker, which the head reports as a crash).

The head writes through an :class:`Outbox`: during a turn of its control
thread the messages for one worker are gathered and written together at the
end of the turn (the worker's ``Connection.recv`` reads them one by one).

``fn`` and ``cls`` are ``None`` when the worker already has that function.
``args`` is ``(INLINE, bytes)`` or ``(FILE, paths)``; ``deps`` lists the
values of the top-level ``ObjectRef`` arguments in the same form, already
copied to the worker's node. A result is a :class:`Result`.

The head never unpickles user data: a failed result's bytes are stored as
they came, ``retry`` is the worker's answer to "does ``retry_exceptions``
cover this error?", and an actor's failed ``__init__`` arrives as text.
``TaskSpec.retry_exceptions`` is True, False or the classes pickled by value.
"""

from __future__ import annotations

import collections
import operator
import os
import pickle
import struct
from typing import Callable, NamedTuple

_READ_CHUNK = 1 << 16      # bytes read from a worker's pipe per wake-up (below malloc's mmap size)
_SIZE = struct.Struct("!i")
_BIG_SIZE = struct.Struct("!Q")


class ProtocolError(RuntimeError):
    """A message of a kind nobody handles: a bug (the runtime is marked broken)."""


# Add-ons layered on the core register what they handle here at import
# (add-on -> core only; the head never imports them):
ADDON_MESSAGES: dict[str, Callable] = {}    # kind -> fn(*payload), e.g. "bar" (tqdm_ray)
ADDON_REQUESTS: dict[str, Callable] = {}    # op -> fn(head, *args) -> reply, e.g. "state"


class Run(NamedTuple):
    """One execution in the head's timeline (``minirt.timeline()`` is built from these)."""

    name: str                 # "f", "Counter.incr"
    kind: str                 # TaskSpec.kind
    node: int
    worker: int               # worker id
    pid: int
    start: float              # time.time() in the worker
    end: float
    task_id: str              # hex
    attempt: int


def trace_events(rows) -> list[dict]:
    """Chrome-trace ``"X"`` events of :class:`Run` rows (``minirt.timeline()`` and
    ``minirt timeline``): ``ts``/``dur`` in microseconds, ``pid`` the node, ``tid`` the
    worker, colored by kind (tasks vs actor work)."""
    return [{"cat": "actor" if kind != "task" else "task", "name": name,
             "pid": f"node {node}", "tid": f"worker {wid} (pid {pid})",
             "ts": t0 * 1e6, "dur": max(0.0, (t1 - t0) * 1e6), "ph": "X",
             "cname": "rail_response" if kind == "task" else "rail_animation",
             "args": {"task_id": tid, "attempt": attempt}}
            for name, kind, node, wid, pid, t0, t1, tid, attempt in rows]


class Event(NamedTuple):
    """One entry of the head's event log (``minirt.events()``)."""

    time: float
    kind: str                 # "submit", "place", "finish", "copy", "worker_exit"...
    fields: dict


class Result(NamedTuple):
    """One return value of a task, as the worker reports it (``"done"``)."""

    oid: bytes
    kind: int                 # _serial.INLINE or _serial.FILE
    data: object              # the bytes (inline) or the file's size
    is_error: bool
    contained: tuple          # ids of the refs/handles nested inside the value


class TaskSpec:
    """Everything the head needs to run one task, actor creation or actor call."""

    __slots__ = ("kind", "tid", "fn_id", "name", "args", "deps", "returns",
                 "resources", "max_retries", "retry_exceptions", "max_calls",
                 "actor_id", "method", "num_returns", "actor_opts", "contained")

    def __init__(self, kind, tid, fn_id, name, args, deps, returns, resources,
                 max_retries=0, retry_exceptions=False, max_calls=0, actor_id=None,
                 method=None, num_returns=1, actor_opts=None, contained=()):
        self.kind = kind              # "task", "actor" (creation) or "call"
        self.tid = tid                # task id (bytes)
        self.fn_id = fn_id            # function/class id, registered with the head
        self.name = name              # "f", "Counter.__init__", "Counter.incr"
        self.args = args              # (INLINE, bytes) or (FILE, (path, spill_path)) + arg oid
        self.deps = deps              # ids of top-level ObjectRef arguments, in order
        self.returns = returns        # ids of the return objects
        self.resources = resources    # {"CPU": 1.0, ...} held while running
        self.max_retries = max_retries
        self.retry_exceptions = retry_exceptions
        self.max_calls = max_calls
        self.actor_id = actor_id
        self.method = method
        self.num_returns = num_returns
        self.actor_opts = actor_opts  # dict, for kind == "actor"
        self.contained = contained    # ids of refs/handles nested inside the arguments

    def __getstate__(self):
        return _spec_state(self)

    def __setstate__(self, state):
        for s, v in zip(self.__slots__, state):
            setattr(self, s, v)


def dumps(msg) -> bytes:
    """``msg`` pickled for a pipe, to go out through ``Connection.send_bytes`` or
    :func:`frame`; ``Connection.recv`` and :class:`MessageReader` read it back.

    The C pickler called directly, not ``Connection.send``'s ``ForkingPickler``
    (a Python subclass built anew per message): half the cost per message, and
    no message carries what only ``ForkingPickler`` can send (a socket, a
    connection).
    """
    return pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)


def frame(msg) -> bytes:
    """``msg`` pickled and framed as ``Connection.send`` would write it (so that several
    can go in one write, and the other end's ``Connection.recv`` reads them one by one)."""
    data = dumps(msg)
    n = len(data)
    if n > 0x7fffffff:
        return _SIZE.pack(-1) + _BIG_SIZE.pack(n) + data
    return _SIZE.pack(n) + data


_spec_state = operator.attrgetter(*TaskSpec.__slots__)   # a TaskSpec's fields, in order


class Outbox:
    """The head's way of writing to workers: at once, or held during a turn of the
    control thread and written at its end, one write per worker (fewer system calls
    and wake-ups when a turn answers many "done" messages). Used under the head's lock.

    It never blocks. The head's ends of the pipes are non-blocking: what a pipe
    cannot take now (a worker busy in a long task, with tasks queued behind it)
    waits in a per-worker backlog, ``watch(worker, True)`` asks the control thread
    to say when there is room, and it calls :meth:`flush`. Blocking instead, under
    the lock, stopped every API call until that task ended, and deadlocked when
    the worker was itself blocked writing what the task prints to the head.

    >>> box = Outbox()
    >>> box.hold(); box.held()
    0
    >>> box.release(); box.held() is None
    True
    """

    __slots__ = ("_held", "_backlog", "_watch")

    def __init__(self, watch=None):
        self._held = None           # worker -> [framed message, ...] while holding
        self._backlog: dict = {}    # worker -> deque of [memoryview of unwritten bytes, then]
        self._watch = watch         # watch(worker, on): wait for room in its pipe, or stop

    def hold(self) -> None:
        self._held = {}

    def held(self):
        """How many workers have messages held (None: not holding)."""
        return None if self._held is None else len(self._held)

    def send(self, worker, msg, now: bool = False, then=None) -> bool:
        """Send ``msg`` to ``worker`` (held if holding, unless ``now`` or ``then``: then it
        and what is held for ``worker`` go at once). ``then()`` is called once all of it
        is in the pipe (at once, or later from :meth:`flush`). False if the worker is gone."""
        if worker.dead:
            return False
        held = self._held
        if held is None:
            return self._write(worker, frame(msg), then)
        out = held.get(worker)
        if out is None:
            out = held[worker] = []
        out.append(frame(msg))
        if not now and then is None:
            return True
        del held[worker]
        return self._write(worker, b"".join(out), then)

    def release(self) -> None:
        """Write what is held, and stop holding."""
        held, self._held = self._held, None
        for worker, out in (held or {}).items():
            if not worker.dead:
                self._write(worker, b"".join(out), None)

    def drop(self) -> None:
        """Stop holding, writing nothing (the runtime broke during the turn)."""
        self._held = None

    def _write(self, worker, data, then) -> bool:
        queue = self._backlog.get(worker)
        if queue is None:                  # nothing waiting: the pipe takes what it can now
            try:
                n = os.write(worker.conn.fileno(), data)
            except BlockingIOError:
                n = 0
            except OSError:
                return False
            if n == len(data):
                if then is not None:
                    then()
                return True
            queue = self._backlog[worker] = collections.deque()
            data = memoryview(data)[n:]
            if self._watch is not None:
                self._watch(worker, True)
        queue.append([memoryview(data), then])
        return True

    def waiting(self, worker) -> int:
        """Bytes written for ``worker`` that its pipe has not taken yet."""
        return sum(len(item[0]) for item in self._backlog.get(worker, ()))

    def flush(self, worker) -> None:
        """The control thread saw room in ``worker``'s pipe: write what waits, in order."""
        queue = self._backlog.get(worker)
        while queue:
            item = queue[0]
            try:
                n = os.write(worker.conn.fileno(), item[0])
            except BlockingIOError:
                return
            except OSError:                # it died: its sentinel reports that
                self.forget(worker)
                return
            item[0] = item[0][n:]
            if item[0]:
                return
            queue.popleft()
            if item[1] is not None:
                item[1]()
        self.forget(worker)

    def forget(self, worker) -> None:
        """Drop ``worker``'s backlog (written, or the worker is gone)."""
        if self._backlog.pop(worker, None) is not None and self._watch is not None:
            self._watch(worker, False)


class MessageReader:
    """Reassembles the messages of one worker's pipe without ever blocking.

    The wire format is ``multiprocessing.connection.Connection``'s (a 4-byte
    big-endian length, or -1 and an 8-byte length, then the pickle). Each call
    to :meth:`read` does one ``os.read``, which returns at once because the
    selector said the pipe is readable, and returns the messages completed so
    far; a partial message waits in the buffer for the next call.
    """

    __slots__ = ("fd", "buf")

    def __init__(self, fd: int):
        self.fd = fd
        self.buf = bytearray()

    def read(self) -> list:
        """Return the messages that are complete now. Raises EOFError at end of stream."""
        try:
            data = os.read(self.fd, _READ_CHUNK)
        except BlockingIOError:            # nothing after all (the head's ends are non-blocking)
            return []
        if not data:
            raise EOFError
        buf = self.buf
        buf += data
        msgs, pos, end = [], 0, len(buf)
        while end - pos >= 4:
            (size,), head = _SIZE.unpack_from(buf, pos), 4
            if size == -1:
                if end - pos < 12:
                    break
                (size,), head = _BIG_SIZE.unpack_from(buf, pos + 4), 12
            if end - pos - head < size:
                break
            msgs.append(pickle.loads(buf[pos + head:pos + head + size]))
            pos += head + size
        if pos:
            del buf[:pos]
        return msgs
