"""The public functions: get, put, wait, remote, and friends (``init`` and
``shutdown`` live in ``_start.py``, what the runtime reports about itself in
``_cluster_info.py``; both are re-exported here).

Each function validates its arguments first (``TypeError`` for a wrong
type, ``ValueError`` for a bad value, with a message that says how to fix
it), then asks the current core (``_context.py``): the head in the driver, or
the pipe to the head inside a worker. Values come back as descriptors and are
rebuilt here, so a large NumPy array is mapped from shared memory, not copied.
Lessons: lessons/01_tasks.ipynb (get), lessons/03_objects.ipynb (put, wait),
lessons/04_api_tour.ipynb (everything else).
"""

from __future__ import annotations

import inspect

from . import _context, _options, _refs, _serial, _store
# Re-exported: minirt.api holds every public function, wherever it lives.
from ._cluster_info import (available_resources, cluster_resources, events,  # noqa: F401
                            nodes, timeline)
from ._refs import ObjectRef, new_id
from ._serial import FILE, INLINE, Raised
from ._start import RuntimeInfo, init, is_initialized, shutdown  # noqa: F401
from .actor import ActorClass, ActorHandle
from .exceptions import TaskError
from .remote_function import RemoteFunction

def remote(*args, **options):
    """Turn a function into a task factory, or a class into an actor factory.

    Forms: ``@minirt.remote``, ``@minirt.remote(num_cpus=2, ...)``, ``minirt.remote(f)``.

    Args:
        num_cpus, num_gpus, resources: logical resources held while running.
        num_returns: (tasks) how many ObjectRefs ``.remote()`` returns.
        max_calls, max_retries, retry_exceptions: (tasks) see "Tasks revisited".
        max_restarts, max_task_retries, name, namespace, lifetime, max_concurrency,
        get_if_exists: (actors) see "Actors revisited".

    Returns:
        RemoteFunction or ActorClass (or a decorator that makes one).

    Raises:
        TypeError: a positional argument that is not a function or class, or a wrong type.
        ValueError: an unknown option (the message lists the valid ones) or a bad value.

    Example:
        >>> @minirt.remote(num_returns=2)
        ... def split(x):
        ...     return x, -x
        >>> minirt.get(split.remote(3))
        [3, -3]

    Lesson: lessons/01_tasks.ipynb, lessons/02_actors.ipynb.
    """
    if args and options:
        raise TypeError("use either @minirt.remote or @minirt.remote(option=...), not both")
    if len(args) > 1 or (args and not callable(args[0])):
        raise TypeError("@minirt.remote takes a function or class, or only keyword options "
                        f"like @minirt.remote(num_cpus=2); got {args!r}")
    if not args and not options:
        raise TypeError("@minirt.remote() with empty parentheses has nothing to set: write "
                        "@minirt.remote without parentheses, or pass options like num_cpus=2")

    def make(target):
        if inspect.isclass(target):
            return ActorClass(target, _options.validate(options, "actor"))
        if not callable(target):
            raise TypeError(f"@minirt.remote needs a function or a class; got {target!r}")
        return RemoteFunction(target, _options.validate(options, "task"))

    if args:
        return make(args[0])
    return make


def _check_refs_list(value, fn: str) -> list:
    if isinstance(value, ObjectRef):
        return [value]
    if not isinstance(value, list):
        raise ValueError(f"{fn}() expected an ObjectRef or a list of ObjectRefs, got "
                         f"{type(value).__name__}" + (" (use a list, not a tuple)"
                                                      if isinstance(value, tuple) else ""))
    for x in value:
        if not isinstance(x, ObjectRef):
            raise TypeError(f"{fn}() got {x!r} ({type(x).__name__}) in its list, which is not an "
                            "ObjectRef; pass only the refs that .remote() or put() returned")
    return value


def _check_timeout(timeout) -> None:
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None; got {timeout!r}")
    if timeout < 0:
        raise ValueError(f"timeout must be 0 or more seconds (or None to wait forever); got {timeout}")


def get(object_refs, *, timeout=None):
    """Wait for the value(s) behind ``object_refs`` and return them.

    Args:
        object_refs: an ObjectRef, or a list of them (results keep its order).
        timeout: seconds to wait at most; ``None`` waits forever, 0 returns at once if ready.

    Returns:
        The value, or a list of values.

    Raises:
        GetTimeoutError: not ready within ``timeout`` (a ``TimeoutError``).
        TaskError: the task raised; also an instance of the task's exception class.
        WorkerCrashedError, ActorDiedError, TaskCancelledError: as their names say.
        ValueError, TypeError: ``object_refs`` is not a ref or a list of refs.

    Example:
        >>> minirt.get(minirt.put("hi"))
        'hi'

    Lesson: lessons/01_tasks.ipynb.
    """
    single = isinstance(object_refs, ObjectRef)
    refs = _check_refs_list(object_refs, "get")
    _check_timeout(timeout)
    if not refs:
        return []
    core = _context.current()
    ids = [r._id for r in refs]
    _context.observer.on_get(core, ids)
    descs = core.get(ids, timeout)
    values = []
    for kind, data in descs:
        value = _serial.load(kind, data)
        if type(value) is Raised:
            err = value.error
            if isinstance(err, TaskError):
                # In local mode the cause still has the task's frames: ending this traceback
                # with them takes %debug and pdb.pm() to the failing line (else: None).
                raise err.as_instanceof_cause().with_traceback(
                    _serial.user_frames(err.cause)) from err.cause
            raise err
        values.append(value)
    return values[0] if single else values


def put(value) -> ObjectRef:
    """Store ``value`` in the object store once; return a ref to pass around.

    Large NumPy arrays go to shared memory and are never copied again: every
    reader on the node maps the same pages, read-only.

    Raises:
        TypeError: ``value`` is an ObjectRef (pass the ref itself instead).

    Example:
        >>> import numpy as np
        >>> ref = minirt.put(np.zeros(10**6))
        >>> minirt.get(ref).flags.writeable
        False

    Lesson: lessons/03_objects.ipynb.
    """
    if isinstance(value, ObjectRef):
        raise TypeError("put() of an ObjectRef is not allowed: the ref already names a stored "
                        "object, so pass the ref itself")
    core = _context.current()
    s = _serial.serialize(value)
    oid = new_id()
    if s.size < _serial.INLINE_MAX:
        kind, data = INLINE, _serial.to_inline(s)
    else:
        kind, data = FILE, _store.write_value(s, oid.hex(), core.shm_dir, core.spill_dir)
    ref = ObjectRef(oid)          # held before the head hears of the object
    core.put(oid, kind, data, s.contained)
    return ref


def wait(object_refs, *, num_returns=1, timeout=None, fetch_local=True):
    """Wait until ``num_returns`` of the refs are ready, or ``timeout`` passes.

    Returns:
        ``(ready, not_ready)``: two lists of refs, each in the order of ``object_refs``.

    Raises:
        TypeError: not a list of ObjectRefs.
        ValueError: negative timeout, duplicate refs, or ``num_returns`` out of range.

    Example:
        >>> ready, rest = minirt.wait([minirt.put(1), minirt.put(2)], num_returns=1)
        >>> len(ready), len(rest)
        (1, 1)

    Lesson: lessons/03_objects.ipynb, lessons/05_tasks_revisited.ipynb.
    """
    if isinstance(object_refs, ObjectRef) or not isinstance(object_refs, list) or \
            not all(isinstance(r, ObjectRef) for r in object_refs):
        raise TypeError("wait() expected a list of ObjectRef, got "
                        f"{type(object_refs).__name__}" +
                        (" (wrap a single ref in a list: wait([ref]))"
                         if isinstance(object_refs, ObjectRef) else ""))
    if timeout is not None:
        _check_timeout(timeout)
    if not object_refs:
        return [], []
    if len(set(object_refs)) != len(object_refs):
        raise ValueError("Wait requires a list of unique object refs.")
    if isinstance(num_returns, bool) or not isinstance(num_returns, int):
        raise TypeError(f"num_returns must be an int; got {num_returns!r}")
    if num_returns <= 0:
        raise ValueError(f"Invalid number of objects to return {num_returns}: num_returns must be 1 or more.")
    if num_returns > len(object_refs):
        raise ValueError("num_returns cannot be greater than the number of refs provided to wait.")
    core = _context.current()
    ready_ids = set(core.wait([r._id for r in object_refs], num_returns, timeout))
    ready = [r for r in object_refs if r._id in ready_ids]
    _context.observer.on_wait(core, object_refs, ready, num_returns)
    return ready, [r for r in object_refs if r._id not in ready_ids]


def cancel(ref, *, force=False, recursive=True) -> None:
    """Cancel the task that makes ``ref``: a waiting one never runs, a running one is interrupted.

    For an actor method call, as in Ray: a call that has not started never
    runs, a running ``async def`` call is cancelled at its next ``await``, and
    a running plain call goes on to its end (``force=True`` is refused: it
    would kill the actor; use :func:`kill`). ``get`` of a cancelled call
    raises ``TaskCancelledError``.

    Args:
        ref: the ObjectRef a task's or an actor call's ``.remote()`` returned.
        force: kill the worker process instead of raising KeyboardInterrupt in it.
        recursive: accepted for Ray compatibility.

    Raises:
        TypeError: ``ref`` is not an ObjectRef (for actors use ``minirt.kill``).

    Example:
        >>> import time
        >>> @minirt.remote
        ... def slow():
        ...     time.sleep(60)
        >>> ref = slow.remote()
        >>> minirt.cancel(ref)
        >>> try:
        ...     minirt.get(ref, timeout=30)
        ... except minirt.exceptions.TaskCancelledError:
        ...     print("cancelled")
        cancelled

    Lesson: lessons/08_patterns.ipynb.
    """
    if isinstance(ref, ActorHandle):
        raise TypeError("cancel() takes an ObjectRef; to stop an actor use minirt.kill(actor)")
    if not isinstance(ref, ObjectRef):
        raise TypeError(f"cancel() takes the ObjectRef of a task; got {type(ref).__name__}")
    if not isinstance(force, bool):
        raise TypeError("force must be True or False")
    _context.current().cancel(ref._id, force, recursive)


def kill(actor, *, no_restart=True) -> None:
    """Kill an actor's process now. Its in-flight, queued and later calls raise ActorDiedError.

    Args:
        actor: an actor handle.
        no_restart: if False, an actor with restarts left is restarted instead.

    Raises:
        ValueError: ``actor`` is not an actor handle (for tasks use ``minirt.cancel``).

    Example:
        >>> @minirt.remote
        ... class Counter:
        ...     def read(self):
        ...         return 0
        >>> counter = Counter.remote()
        >>> minirt.kill(counter)
        >>> try:
        ...     minirt.get(counter.read.remote(), timeout=30)
        ... except minirt.exceptions.ActorDiedError:
        ...     print("the actor is gone")
        the actor is gone

    Lesson: lessons/06_actors_revisited.ipynb.
    """
    if not isinstance(actor, ActorHandle):
        raise ValueError(f"kill() works on actor handles only, got {type(actor).__name__}; "
                         "to stop a task use minirt.cancel(ref)")
    if not isinstance(no_restart, bool):
        raise TypeError("no_restart must be True or False")
    _context.current().kill_actor(actor._aid, no_restart)


def get_actor(name: str, namespace: str | None = None) -> ActorHandle:
    """Find a named actor.

    Raises:
        ValueError: no live actor has that name in that namespace.

    Example:
        >>> @minirt.remote
        ... class Counter:
        ...     def read(self):
        ...         return 0
        >>> tally = Counter.options(name="tally").remote()
        >>> minirt.get(minirt.get_actor("tally").read.remote())
        0

    Lesson: lessons/06_actors_revisited.ipynb.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string; got {name!r}")
    if not name:
        raise ValueError("name must not be empty")
    if namespace is not None and not isinstance(namespace, str):
        raise TypeError(f"namespace must be a string; got {namespace!r}")
    core = _context.current()
    ns = namespace or core.namespace
    found = core.call("get_actor", name, ns)
    if found is None:
        raise ValueError(f"Failed to look up actor with name {name!r} in namespace {ns!r}. Either "
                         "it was never created, it was created in another namespace, it has died "
                         "or been killed, or (if not detached) every handle to it went away.")
    aid, meta = found
    return ActorHandle(aid, meta)


def get_gpu_ids() -> list:
    """The GPU ids assigned to the calling task: always ``[]`` here, as Ray on a machine without GPUs.

    minirt schedules no real GPUs (``num_gpus`` is a logical count; use a custom
    resource such as ``resources={"gpu_box": 1}`` to model scarce hardware).

    >>> minirt.get_gpu_ids()
    []
    """
    _context.current()
    return []


# This module sits above _context and _refs, which call back into it through these.
_refs.set_get(get)
