"""The public functions: start and stop the runtime, get, put, wait, and friends.

Each function validates its arguments first (``TypeError`` for a wrong
type, ``ValueError`` for a bad value, with a message that says how to fix
it), then asks the current core (``_context.py``): the head in the driver, or
the pipe to the head inside a worker. Values come back as descriptors and are
rebuilt here, so a large NumPy array is mapped from shared memory, not copied.
Lessons: lessons/01_tasks.ipynb (get), lessons/03_objects.ipynb (put, wait),
lessons/04_api_tour.ipynb (everything else).
"""

from __future__ import annotations

import atexit
import collections.abc
import inspect
import json
import os
import sys
import threading

from . import _context, _options, _protocol, _refs, _serial, _store
from ._refs import ObjectRef, new_id
from ._serial import FILE, INLINE, Raised
from .actor import ActorClass, ActorHandle
from .exceptions import TaskError
from .remote_function import RemoteFunction

# Options Ray's init() takes that make no difference on one machine; accepted and ignored.
_IGNORED_INIT = {"include_dashboard", "dashboard_host", "dashboard_port", "logging_level",
                 "configure_logging", "log_to_driver_level", "runtime_env",
                 "_temp_dir", "_system_config", "num_gpus", "job_config", "storage"}
_init_lock = threading.Lock()
clusters: dict = {}                 # address -> cluster_utils.Cluster (which registers itself)
clusters_lock = threading.Lock()


class RuntimeInfo(collections.abc.Mapping):
    """What ``init`` returns, shaped like Ray's ``RayContext``.

    Attributes:
        address_info: a dict with Ray's keys (``node_id``, ``session_dir``, ``address``,
            ``gcs_address``, ``node_ip_address``, ``object_store_address``, ...); keys whose
            Ray meaning has no minirt counterpart (ports, sockets) are None.
        dashboard_url: always None (minirt has no dashboard).
        python_version, ray_version, ray_commit: as in Ray (``ray_version`` names minirt).

    ``info["node_id"]`` reads ``info.address_info["node_id"]``, as in Ray. It is
    also a context manager: ``with minirt.init(): ...`` shuts down on exit.
    """

    def __init__(self, address_info: dict):
        from . import __version__     # the package: it imports this module first
        self.address_info = address_info
        self.dashboard_url = None
        self.python_version = "{}.{}.{}".format(*sys.version_info[:3])
        self.ray_version = f"minirt-{__version__}"
        self.ray_commit = None

    def __getitem__(self, key):
        return self.address_info[key]

    def __iter__(self):
        return iter(self.address_info)

    def __len__(self):
        return len(self.address_info)

    def __repr__(self):
        return f"RuntimeInfo(address_info={self.address_info!r}, dashboard_url=None)"

    def __enter__(self):
        return self

    # __str__ (a readable summary; repr keeps Ray's shape) and _repr_html_ (Jupyter)
    # are given by minirt/util/_reprs.py at import.

    def __exit__(self, *exc):
        shutdown()

    def disconnect(self) -> None:
        """Shut the runtime down (Ray's name for it on a context)."""
        shutdown()


def init(address=None, *, num_cpus=None, num_nodes=1, resources=None, namespace=None,
         ignore_reinit_error=False, object_store_memory=None, log_to_driver=True,
         local_mode=False, **kwargs):
    """Start the runtime on this machine and return what was started.

    Args:
        address: ``None`` or ``"local"`` starts a runtime; ``cluster.address`` of a
            :class:`minirt.cluster_utils.Cluster` starts one whose nodes are the cluster's;
            ``"auto"`` returns the runtime already running in this process. minirt runs
            on one machine: any other address (``"ray://..."``, ``"host:port"``) is an error.
        num_cpus: logical CPUs per node (a count, not cores; default ``os.cpu_count()``).
            ``num_cpus=8`` on a 2-core laptop lets 8 sleeping tasks run at once.
        num_nodes: how many simulated nodes to start, each with ``num_cpus`` CPUs, its own
            workers and its own object store (the internals lesson uses 3).
        resources: custom logical resources per node, e.g. ``{"accelerator": 1}``.
        namespace: default namespace for named actors.
        ignore_reinit_error: if already started, return the current info instead of raising.
        object_store_memory: bytes of shared memory per node's store before spilling to disk
            (default: 30% of RAM, at most what /dev/shm holds).
        log_to_driver: show what tasks print in the driver (default True).
        local_mode: run every task and actor method in this process, one at a time, as
            soon as ``.remote()`` is called: no workers, nothing in parallel, so prints,
            ``breakpoint()`` and ``%debug`` work as in plain Python (a tool for debugging,
            see ``minirt/_local.py``). Ray 2.60 has removed ``local_mode``; minirt keeps it
            for teaching (Ray's answer is its debugger), so ``import ray`` code gets Ray's
            error for it.

    Returns:
        RuntimeInfo: like Ray's context: ``address_info`` (``node_id``, ``session_dir``,
        ``address``...), ``dashboard_url`` (always None), ``python_version``.

    Raises:
        RuntimeError: already started (pass ``ignore_reinit_error=True`` or call ``shutdown()``).
        ConnectionError: ``address="auto"`` and no runtime runs in this process.
        TypeError, ValueError: a bad argument, or an address minirt cannot reach.

    Example:
        >>> import minirt
        >>> info = minirt.init(num_cpus=4)
        >>> minirt.cluster_resources()["CPU"]
        4.0
        >>> info.address_info["node_id"] == minirt.get_runtime_context().get_node_id()
        True
        >>> minirt.shutdown()

    Lesson: lessons/04_api_tour.ipynb; local mode: the debugging lesson.
    """
    unknown = set(kwargs) - _IGNORED_INIT
    if unknown:
        raise TypeError(f"init() got unexpected argument(s) {', '.join(sorted(unknown))}; "
                        "minirt's init takes num_cpus, num_nodes, resources, namespace, "
                        "object_store_memory, log_to_driver, ignore_reinit_error, local_mode")
    if not isinstance(local_mode, bool):
        raise TypeError(f"local_mode must be True or False; got {local_mode!r}")
    cluster = _check_address(address)
    if local_mode and (cluster is not None or num_nodes != 1):
        raise ValueError("local_mode=True runs everything in this process, on one node: "
                         "leave out address and num_nodes")
    if cluster is not None:
        given = [k for k, v in (("num_cpus", num_cpus), ("resources", resources),
                                ("object_store_memory", object_store_memory),
                                ("num_nodes", None if num_nodes == 1 else num_nodes))
                 if v is not None]
        if given:
            raise ValueError(f"When connecting to a cluster, {', '.join(given)} must not be "
                             "provided: give them to the cluster's add_node() instead")
    if address == "auto":
        with _init_lock:
            core = _context.peek()
        if core is None:
            raise ConnectionError("init(address='auto') connects to the minirt runtime already "
                                  "running in this process, and none is running: call "
                                  "minirt.init() without an address to start one")
        return _info(core) if core.is_driver else RuntimeInfo(_info_from_worker(core))
    if num_cpus is None:
        num_cpus = os.cpu_count() or 1
    if isinstance(num_cpus, bool) or not isinstance(num_cpus, (int, float)):
        raise TypeError(f"num_cpus must be a number, like 8; got {num_cpus!r}")
    if num_cpus <= 0:
        raise ValueError(f"num_cpus must be more than 0; got {num_cpus}")
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, int):
        raise TypeError(f"num_nodes must be an int; got {num_nodes!r}")
    if not 1 <= num_nodes <= 64:
        raise ValueError(f"num_nodes must be between 1 and 64; got {num_nodes}")
    resources = dict(resources or {})
    _options.validate({"resources": resources}, "task", where="init()")
    if namespace is not None and not isinstance(namespace, str):
        raise TypeError(f"namespace must be a string; got {namespace!r}")
    if object_store_memory is None:
        object_store_memory = _default_store_memory()
    elif isinstance(object_store_memory, bool) or not isinstance(object_store_memory, int):
        raise TypeError(f"object_store_memory must be a number of bytes (int); got {object_store_memory!r}")
    elif object_store_memory < 1024 * 1024:
        raise ValueError("object_store_memory must be at least 1 MiB (1048576 bytes)")
    with _init_lock:
        core = _context.peek()
        if core is not None:
            if not core.is_driver:
                return RuntimeInfo(_info_from_worker(core))
            if ignore_reinit_error:
                return _info(core)
            raise RuntimeError("minirt is already running. Pass ignore_reinit_error=True to "
                               "minirt.init() to reuse it, or call minirt.shutdown() first.")
        specs = cluster._specs(object_store_memory) if cluster is not None else None
        if specs is not None and not specs:
            raise ValueError(f"the cluster at {address!r} has no nodes left")
        if local_mode:
            head = _start_local(num_cpus=num_cpus, resources=resources,
                                object_store_memory=object_store_memory,
                                namespace=namespace or "default")
        else:
            head = _start(num_cpus=num_cpus, num_nodes=num_nodes, resources=resources,
                          object_store_memory=object_store_memory,
                          namespace=namespace or "default", log_to_driver=log_to_driver,
                          node_specs=specs)
        head.address = address if cluster is not None else "local"
        if cluster is not None:
            cluster._head, cluster.connected = head, True
        return _info(head)


def _start(**config):
    """Start a head and make it current (the caller holds ``_init_lock``)."""
    from ._head import Head       # only a driver builds a head: workers never load it
    head = Head(**config)
    _context.set_head(head)
    atexit.register(shutdown)
    return head


def _start_local(**config):
    """Start local mode (see ``_local.py``) and make it current (under ``_init_lock``)."""
    from ._local import NOTICE, LocalCore
    core = LocalCore(**config)
    _context.set_head(core)
    atexit.register(shutdown)
    print(NOTICE)
    return core


def _auto_init():
    """Start a runtime with the defaults unless one runs; return the current core.

    Called by the first API call that needs a runtime (as Ray does). It says
    in one line what it started, since a learner who meant to call
    ``init(num_cpus=8)`` first would otherwise not know. Safe against a
    concurrent ``init()`` or ``shutdown()``: all of them hold ``_init_lock``.
    """
    with _init_lock:
        core = _context.peek()
        if core is not None:
            return core
        num_cpus = os.cpu_count() or 1
        head = _start(num_cpus=num_cpus, num_nodes=1, resources={},
                      object_store_memory=_default_store_memory(), namespace="default",
                      log_to_driver=True)
    try:
        sys.stderr.write(f"minirt: started a local runtime with {num_cpus} CPUs (auto-init; "
                         "call minirt.init(...) first to choose)\n")
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - a closed or odd stderr must not fail the call
        pass
    return head


def _check_address(address):
    """The Cluster that ``address`` names, or None for a local start / "auto"."""
    if address is None or address in ("local", "auto"):
        return None
    if not isinstance(address, str):
        raise TypeError(f"address must be a string or None; got {address!r}")
    with clusters_lock:
        cluster = clusters.get(address)
    if cluster is not None:
        return cluster
    if address.startswith("minirt-cluster-"):
        raise ValueError(f"no Cluster with address {address!r} exists in this process (it was "
                         "shut down, or made in another process)")
    raise ValueError(f"minirt runs on this machine only and cannot connect to {address!r}. "
                     "To reach a Ray cluster, change the import to `import ray` (see the README "
                     "section 'When one machine is not enough'); to simulate several nodes here, "
                     "use minirt.cluster_utils.Cluster and init(address=cluster.address).")


def _default_store_memory() -> int:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 8 << 30
    cap = int(total * 0.3)
    try:
        st = os.statvfs("/dev/shm")
        # what is free now, not the RAM: a small /dev/shm (Docker's 64 MB) spills early
        return max(min(cap, int(st.f_bavail * st.f_frsize * 0.8)), 1 << 20)
    except OSError:
        pass
    return max(cap, 64 << 20)


def _address_info(node_id, session_dir, address, store_dir) -> dict:
    # Ray's keys, in Ray's order; what only exists in Ray (ports, sockets, Redis) is None.
    return dict(node_ip_address="127.0.0.1", redis_address=None, object_store_address=store_dir,
                raylet_socket_name=None, webui_url=None, session_dir=session_dir,
                metrics_export_port=None, gcs_address=address, address=address,
                dashboard_agent_listen_port=None, node_id=node_id)


def _info(head) -> RuntimeInfo:
    return RuntimeInfo(_address_info(head.node_id, head.session_dir,
                                     getattr(head, "address", "local"), head.shm_dir))


def _info_from_worker(core) -> dict:
    return _address_info(core.cfg["node_id"], core.cfg["session_dir"], None, core.cfg["shm_dir"])


def shutdown() -> None:
    """Stop every worker and actor and free all shared memory. Safe to call twice.

    Example:
        >>> minirt.shutdown()
        >>> minirt.is_initialized()
        False
    """
    with _init_lock:         # peek under the lock: never clear a runtime another thread started
        core = _context.peek()
        if core is None or not core.is_driver:
            return
        _context.set_head(None)
        core.shutdown()
        try:
            atexit.unregister(shutdown)
        except Exception:
            pass


def is_initialized() -> bool:
    """True if the runtime is running (always True inside a task or actor)."""
    return _context.peek() is not None


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


def cluster_resources() -> dict:
    """Total logical resources, e.g. ``{'CPU': 8.0, 'object_store_memory': ...}``."""
    return _context.current().call("resources", False)


def available_resources() -> dict:
    """Resources free right now; ones at 0 are left out."""
    return _context.current().call("resources", True)


def nodes() -> list:
    """One dict per node: ``NodeID``, ``Alive``, ``Resources``, store usage, ..."""
    return _context.current().call("nodes")


def _require_running(fn: str):
    core = _context.peek()
    if core is None:
        raise RuntimeError(f"{fn}() needs a running runtime: call minirt.init() first")
    return core


def timeline(filename=None):
    """Every task and actor call since ``init``, as Chrome trace events.

    Args:
        filename: if given, write the events there as JSON (open it in
            https://ui.perfetto.dev or chrome://tracing) and return None.

    Returns:
        A list of events ``{"cat", "name", "pid", "tid", "ts", "dur", "ph": "X", "args"}``
        with ``ts``/``dur`` in microseconds; ``pid`` is the node, ``tid`` the worker.

    Raises:
        RuntimeError: the runtime is not started.

    Example:
        >>> _ = minirt.init(num_cpus=2)
        >>> @minirt.remote
        ... def square(x):
        ...     return x * x
        >>> minirt.get([square.remote(i) for i in range(3)])
        [0, 1, 4]
        >>> rows = [e for e in minirt.timeline() if e["name"] == "square"]
        >>> len(rows), sorted(rows[0])[:4]
        (3, ['args', 'cat', 'cname', 'dur'])
        >>> minirt.shutdown()

    Lesson: lessons/05_tasks_revisited.ipynb.
    """
    core = _require_running("timeline")
    if filename is not None and not isinstance(filename, (str, os.PathLike)):
        raise TypeError(f"filename must be a path; got {filename!r}")
    rows = core.call("timeline")
    events = _protocol.trace_events(rows)
    if filename is None:
        return events
    with open(filename, "w") as f:
        json.dump(events, f)
    return None


def events() -> list:
    """What the runtime did, step by step (minirt only; used by the internals lesson).

    Returns:
        A list of dicts with ``time`` (seconds since ``init``), ``kind`` (``submit``,
        ``place``, ``worker_start``, ``copy``, ``store``, ``finish``, ``retry``, ...)
        and the fields of that kind (task name, node, worker, object id, bytes).

    Lesson: lessons/07_internals.ipynb.
    """
    core = _require_running("events")
    start = core.started_at
    # Ids are kept as bytes while recording (cheap) and shown as hex here.
    return [dict(time=t - start, kind=kind,
                 **{k: v.hex() if isinstance(v, bytes) else v for k, v in fields.items()})
            for t, kind, fields in core.call("events")]


# This module sits above _context and _refs, which call back into it through these.
_context.set_auto_init(_auto_init)
_refs.set_get(get)
