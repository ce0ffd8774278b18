"""Local mode: every task and actor method runs in the driver, one at a time.

``init(local_mode=True)`` makes a :class:`LocalCore` the current core instead
of a :class:`~minirt._head.Head`: no worker process, no shared memory, no
control thread. ``.remote()`` runs the task at once, in the thread that calls
it (as Ray's old local mode did), and keeps its result in a dict::

    f.remote(x) --TaskSpec--> LocalCore.submit: args unpickled (a copy) --> f(*args)
                                                                              |
    get(ref) <--(INLINE, bytes)-- LocalObjects <-- result pickled, or the TaskError

Values go through ``_serial`` both ways, as between processes, so a task
cannot change the caller's objects and its errors come back as the same
``TaskError`` (an instance of the task's exception class too). Unlike between
processes, the cause keeps its traceback: ``%debug`` and ``pdb.pm()`` reach
the task's own frames. Its parts: ``_local_objects.py`` (values, reference
counts), ``_local_actors.py`` (live actor instances, names, deaths) and
``_local_run.py`` (a task run and retried, its results and generators stored as a
worker does; pdb for ``breakpoint()`` in a notebook). Retries, timeline rows and events are kept
as the head keeps them.

Nothing runs in parallel, so prints, ``breakpoint()`` and ``%debug`` behave as
in plain Python. Lesson: the debugging lesson (after lessons/08_patterns.ipynb).
"""

from __future__ import annotations

import collections
import os
import pickle
import shutil
import tempfile
import threading
import time

import cloudpickle

from . import _actor_concurrency, _protocol, _refs, _serial, _task_values
from ._head import EVENTS_MAX, TIMELINE_MAX     # (the same limits as the head's)
from ._local_actors import ExitActor, LocalActor, LocalActors
from ._local_objects import LocalObjects, read_file
from ._local_run import breakpoints, run
from ._scheduler import FAILED_MAX
from ._serial import FILE, INLINE
from .exceptions import (ActorDiedError, GetTimeoutError, ObjectLostError, RuntimeShutdownError,
                         WorkerCrashedError)

NOTICE = ("minirt: local mode: each task and actor method runs in this process (the driver) "
          "when .remote() is called, one at a time; nothing runs in parallel.")


class LocalCore:
    """The :class:`~minirt._context.Core` of local mode (see the module docstring)."""

    is_driver = True
    worker_name = "driver"
    local_mode = True          # (a Head has no such attribute: add-ons may tell them apart)

    def __init__(self, *, num_cpus: float, resources: dict, namespace: str,
                 object_store_memory: int):
        self._lock = threading.RLock()         # the state below; never held while user code runs
        self.namespace = namespace
        self.started_at = time.time()
        self.node_id = os.urandom(28).hex()
        self.total = {"CPU": float(num_cpus), **{k: float(v) for k, v in resources.items()}}
        self.max_node = dict(self.total)
        self.object_store_memory = object_store_memory
        self.session_dir = tempfile.mkdtemp(prefix=f"minirt-session-{os.getpid()}-")
        # Large puts and arguments are written here by api.py / remote_function.py, then
        # read back at once: no shared memory is used.
        self.shm_dir = self.spill_dir = self.session_dir
        self.timeline_rows: collections.deque = collections.deque(maxlen=TIMELINE_MAX)
        self.event_log: collections.deque = collections.deque(maxlen=EVENTS_MAX)
        self.closed = False     # (not ``_closed``: the notebook views read a head by that name)
        self._fns: dict[bytes, bytes] = {}
        self._loaded: dict[bytes, object] = {}
        self._actors = LocalActors()
        self.local_objects = LocalObjects(self._actors.unreachable)   # (add-ons: not "objects")
        self._failed: collections.OrderedDict = collections.OrderedDict()
        self._stack = threading.local()             # per thread: [(spec, actor_id)] running
        self._holding: list[dict] = []              # resources of the tasks running now

    # --- where am I (the Core attributes) ----------------------------------------------
    def _frames(self) -> list:
        frames = getattr(self._stack, "frames", None)
        if frames is None:
            frames = self._stack.frames = []
        return frames

    @property
    def current_task(self):
        frames = self._frames()
        return frames[-1][0] if frames else None

    @property
    def actor_id(self):
        frames = self._frames()
        return frames[-1][1] if frames else None

    @property
    def was_restarted(self) -> bool:
        actor = self._actors.get(self.actor_id) if self.actor_id else None
        return bool(actor and actor.restarts)

    # --- the core interface (see _context.py) -------------------------------------
    def register_fn(self, fn_id, data: bytes) -> None:
        self._fns.setdefault(fn_id, data)

    def submit(self, spec):
        args = self._take_args(spec)
        with self._lock:
            self._check_open()
            self._drain()
            self._event("submit", task=spec.name, id=spec.tid, type=spec.kind)
        if spec.kind == "actor":
            return self._create_actor(spec, args)
        if spec.kind == "call":
            self._run_call(spec, args)
        else:
            self._run_task(spec, args)
        return None

    def put(self, oid, kind, data, contained) -> None:
        if kind == FILE:
            data = read_file(self.shm_dir, oid)
        with self._lock:
            self._check_open()
            self._drain()
            self.local_objects.store(oid, data, False, tuple(contained))

    def get(self, ids, timeout):
        with self._lock:
            self._check_open()
            self._drain()
            missing = [oid for oid in dict.fromkeys(ids) if oid not in self.local_objects.values]
            if missing:
                if timeout is not None:
                    raise GetTimeoutError(
                        f"get() timed out after {timeout} s: {len(missing)} of "
                        f"{len(set(ids))} objects not ready (in local mode they never will be)")
                raise ObjectLostError(
                    f"object {missing[0].hex()} does not exist in this local-mode runtime: it "
                    "was freed, belongs to a runtime that was shut down, or was never made")
            return [(INLINE, self.local_objects.values[oid][0]) for oid in ids]

    def wait(self, ids, num_returns, timeout):
        # Everything submitted has already run: what is not ready now never will be
        # (waiting for it would hang), so no call waits.
        with self._lock:
            self._check_open()
            self._drain()
            return [oid for oid in ids if oid in self.local_objects.values][:num_returns]

    def cancel(self, oid, force, recursive) -> None:
        with self._lock:               # everything has already run: nothing to stop (as Ray)
            self._check_open()
            self._drain()

    def kill_actor(self, aid, no_restart) -> None:
        with self._lock:
            self._check_open()
            actor = self._actors.get(aid)
            if actor is None or actor.dead:
                return
            restart = not no_restart and self._actors.may_restart(actor)
            self._actors.dead(actor, ActorDiedError(
                f"the actor {actor.class_name} was killed with minirt.kill()"))
            self._event("actor_killed", actor=actor.class_name, id=aid)
        if restart:
            with self._lock:
                self._actors.revive(actor)
            self._start_actor(actor)

    def exit_actor(self) -> None:
        if self.actor_id is None:
            if self.current_task is not None:
                raise TypeError("exit_actor() ends the actor that calls it, and this is a task, "
                                "not an actor method: return from the task instead")
            raise TypeError("exit_actor() ends the actor that calls it: call it inside an actor "
                            "method; to stop an actor from the driver use kill(actor)")
        raise ExitActor()

    def is_canceled(self) -> bool:
        if self.current_task is None:
            raise RuntimeError("is_canceled() says whether the running task was cancelled: call "
                               "it inside a task or an actor method, not in the driver")
        return False          # in local mode a running task cannot be cancelled

    def call(self, op, *args):
        with self._lock:
            self._check_open()
            self._drain()
            if op == "get_actor":
                return self._actors.lookup(*args)
            if op == "resources":
                return self._resources(args[0])
            if op == "nodes":
                return [{"NodeID": self.node_id, "Alive": True, "NodeIndex": 0,
                         "Resources": dict(self.total,
                                           object_store_memory=float(self.object_store_memory)),
                         "ObjectStoreUsed": self.local_objects.used(), "ObjectStoreSpilled": 0,
                         "Workers": 0, "IsHead": True, "ObjectStoreDir": None}]
            if op == "timeline":
                return list(self.timeline_rows)
            if op == "events":
                return list(self.event_log)
            if op == "failed_task":
                return self._failed_task(args[0])
        raise RuntimeError(f"{op!r} is not available in local mode (init(local_mode=True)): "
                           "nothing runs in the background to ask about; start minirt without "
                           "local_mode to use it")

    def drain_refs(self) -> None:
        with self._lock:
            self._drain()

    def shutdown(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            threads = self._actors.close()
            self.local_objects.clear()
            self._failed.clear()
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(5)
        shutil.rmtree(self.session_dir, ignore_errors=True)

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeShutdownError("minirt was shut down (minirt.shutdown()) before or while "
                                       "this call waited; call minirt.init() to start it again")

    # --- values and references (under the lock) ---------------------------------------
    def _take_args(self, spec):
        """The call's arguments as (INLINE, bytes), a large argument file read back."""
        if spec.args[0] == FILE:
            spec.args = (INLINE, read_file(self.shm_dir, spec.args[2]), None)
        return spec.args[:2]

    def _drain(self) -> None:
        """Apply this process's reference changes; free what nothing reaches any more."""
        self.local_objects.apply(_refs.local_refs.take_changes())

    def _resources(self, available: bool) -> dict:
        out = dict(self.total)
        out["object_store_memory"] = float(self.object_store_memory)
        if not available:
            return out
        out["object_store_memory"] -= self.local_objects.used()
        for res in self._holding + self._actors.holds():
            for k, v in res.items():
                out[k] = out.get(k, 0.0) - v
        return {k: v for k, v in out.items() if v > 1e-9}

    def _event(self, _kind: str, **fields) -> None:
        self.event_log.append(_protocol.Event(time.time(), _kind, fields))

    def _record(self, spec, t0, t1, attempt) -> None:
        self.timeline_rows.append(_protocol.Run(spec.name, spec.kind, 0, 0, os.getpid(), t0, t1,
                                                spec.tid.hex(), attempt))

    def _function(self, fn_id):
        fn = self._loaded.get(fn_id)
        if fn is None:
            fn = self._loaded[fn_id] = cloudpickle.loads(self._fns[fn_id])
        return fn

    def _deps(self, spec):
        """The values of the ref arguments, or the error the call must end with instead."""
        descs = []
        with self._lock:
            for oid in spec.deps:
                entry = self.local_objects.values.get(oid)
                if entry is None:
                    return None, _serial.error_bytes(ObjectLostError(
                        f"object {oid.hex()}, an argument of {spec.name}, does not exist"))
                if entry[1]:
                    return None, entry[0]             # an upstream failed: never run
                descs.append((INLINE, entry[0]))
        return descs, None

    # --- running ------------------------------------------------------------------
    def _run_task(self, spec, args) -> None:
        deps, upstream = self._deps(spec)
        if upstream is not None:
            self._finish(spec, [(oid, upstream, True, ()) for oid in spec.returns])
            return
        self._run(spec, lambda: self._function(spec.fn_id), args, deps, None)

    def _run_call(self, spec, args) -> None:
        with self._lock:
            actor = self._actors.get(spec.actor_id)
            dead = actor is None or actor.dead
        if dead:
            err = actor.error if actor is not None and actor.error is not None else \
                ActorDiedError(f"cannot run {spec.name}: the actor is dead")
            self._fail(spec, err)
            return
        deps, upstream = self._deps(spec)
        if upstream is not None:
            self._finish(spec, [(oid, upstream, True, ()) for oid in spec.returns])
            return
        self._run(spec, lambda: getattr(actor.instance, spec.method), args, deps, actor)

    def _run(self, spec, target, args, deps, actor) -> None:
        """Run a task or actor call (retrying as ``retry_exceptions`` says); store its results."""
        run(self, spec, target, args, deps, actor)

    def _sys_exit(self, spec, e: SystemExit, actor):
        """``sys.exit()`` in a task: its "worker" is the driver, which is not ended."""
        why = (f"{spec.name} called sys.exit({e.code!r}); in local mode it runs in the driver, "
               "which minirt does not end")
        if actor is not None:
            with self._lock:
                self._actors.dead(actor, ActorDiedError(f"the actor {actor.class_name} is dead: "
                                                       f"{why}"))
            return actor.error
        return WorkerCrashedError(why)

    def _exited(self, actor):
        with self._lock:
            self._actors.dead(actor, ActorDiedError(
                f"the actor {actor.class_name} is dead: it called exit_actor()"))
        return actor.error

    def _fail(self, spec, error) -> None:
        self._finish(spec, [(oid, self.local_objects.error_bytes(oid, error), True, ())
                            for oid in spec.returns])

    def _finish(self, spec, results) -> None:
        with self._lock:
            for entry in results:
                self.local_objects.store(*entry)
            self._event("finish", task=spec.name, id=spec.tid, node=0, type=spec.kind,
                        error=any(r[2] for r in results))

    def _keep_failed(self, spec) -> None:
        """Keep what ``minirt.util.debug.rerun`` needs (the last FAILED_MAX failed tasks)."""
        with self._lock:
            pinned = self.local_objects.pin(list(spec.deps) + list(spec.contained))
            self._failed[spec.tid] = (spec, pinned)
            while len(self._failed) > FAILED_MAX:
                _, (_, old) = self._failed.popitem(last=False)
                self.local_objects.unpin(old)

    def _failed_task(self, tid):
        """``call("failed_task", tid)``: as the head answers it (see util/debug.py)."""
        entry = self._failed.get(tid)
        if entry is None:
            return None
        spec = entry[0]
        return (spec.name, self._fns[spec.fn_id], spec.args[:2], None, list(spec.deps))

    # --- actors ---------------------------------------------------------------------
    def _create_actor(self, spec, args):
        with self._lock:
            existing = self._actors.claim_name(spec)
            if existing is not None:
                return existing
        deps, upstream = self._deps(spec)
        cls = self._function(spec.fn_id)
        actor = LocalActor(spec, args, deps, _actor_concurrency.is_async_class(cls))
        with self._lock:
            self._actors.actors[spec.actor_id] = actor
        if upstream is not None:
            err = pickle.loads(upstream)
            with self._lock:
                self._actors.dead(actor, ActorDiedError(
                    f"the actor {actor.class_name} could not be created: an argument failed: "
                    f"{getattr(err, 'error', err)}"))
            return None
        self._start_actor(actor)
        return None

    def _start_actor(self, actor) -> None:
        """Run the actor's ``__init__`` here; a failure makes it dead, as in the head."""
        spec = actor.spec
        frames = self._frames()
        frames.append((spec, spec.actor_id))
        t0 = time.time()
        try:
            a, kw = _task_values.load_args(actor.args, actor.deps)
            with breakpoints():
                actor.instance = self._function(spec.fn_id)(*a, **kw)
        except KeyboardInterrupt:
            self._actors.dead(actor, ActorDiedError(
                f"the actor {actor.class_name} was interrupted in its __init__"))
            raise
        except (SystemExit, ExitActor, Exception) as e:  # noqa: BLE001
            text = str(_serial.describe_exception(e, spec.name, os.getpid()))
            with self._lock:
                self._actors.dead(actor, ActorDiedError(
                    f"the actor {actor.class_name} could not be created: its __init__ "
                    f"raised\n{text}"))
        finally:
            frames.pop()
            self._record(spec, t0, time.time(), actor.restarts)
