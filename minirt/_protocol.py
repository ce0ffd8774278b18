"""What travels between the driver (head) and the workers.

Every message is a tuple ``(kind, ref_changes, *payload)`` sent over a
private socketpair with ``Connection.send`` (pickle). ``ref_changes`` is the
sender's ordered list of ``(id, +1 | -1)`` reference transitions (see
``_refs.py``), so a process's "I dropped X" can never overtake a message it
sent earlier that still names X.

head -> worker                          worker -> head
-------------------------------------   -----------------------------------------
("task", None, TaskSpec, fn, args, deps) ("done", ch, tid, results, t0, t1, retry)
("actor", None, TaskSpec, cls, args, deps)("actor_ready", ch, aid, error_text | None, t0, t1)
("call", None, TaskSpec, args, deps)     ("req", ch, req_id, op, args)  get / wait / ...
("reply", None, req_id, ok, value)       ("submit" | "put" | "fn" | "cancel" | "kill", ch, ...)
("exit", None)                           ("log", ch, prefix, text)
                                         ("refs", ch)           only reference changes

``fn`` and ``cls`` are ``None`` when the worker already has that function.
``args`` is ``(INLINE, bytes)`` or ``(FILE, paths)``; ``deps`` lists the
values of the top-level ``ObjectRef`` arguments in the same form, already
copied to the worker's node. A result is ``(oid, kind, data, is_error,
contained_ids)`` where ``data`` is the bytes (inline) or the file size.

The head never unpickles user data: a failed result's bytes are stored as
they came, ``retry`` is the worker's answer to "does ``retry_exceptions``
cover this error?", and an actor's failed ``__init__`` arrives as text.
``TaskSpec.retry_exceptions`` is True, False or the classes pickled by value.
"""

from __future__ import annotations

from typing import Callable, NamedTuple


class ProtocolError(RuntimeError):
    """A message of a kind nobody handles: a bug (the runtime is marked broken)."""


# Add-ons layered on the core register what they handle here at import
# (add-on -> core only; the head never imports them):
ADDON_MESSAGES: dict[str, Callable] = {}    # kind -> fn(*payload), e.g. "bar" (tqdm_ray)
ADDON_REQUESTS: dict[str, Callable] = {}    # op -> fn(head, *args) -> reply, e.g. "state"


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
        return tuple(getattr(self, s) for s in self.__slots__)

    def __setstate__(self, state):
        for s, v in zip(self.__slots__, state):
            setattr(self, s, v)
