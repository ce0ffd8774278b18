"""Starting and stopping the runtime: ``init``, ``shutdown``, and the auto-init.

``init`` validates its arguments, then builds the core under ``init_lock``:
a :class:`~minirt._head.Head` (or, with ``local_mode=True``, a
:class:`~minirt._local.LocalCore`) that ``_context`` makes current::

    init(...) --validate--> init_lock: Head(...) or LocalCore(...) --> _context.set_head
    first get()/remote() with no runtime --> auto_init() --> the same, with defaults
    shutdown() --> init_lock: _context.set_head(None); core.shutdown()

``cluster_utils.Cluster`` registers itself in :data:`clusters` so that
``init(address=cluster.address)`` finds it. Lesson: lessons/04_api_tour.ipynb.
"""

from __future__ import annotations

import atexit
import collections.abc
import os
import sys
import threading

from . import _context, _options

# Options Ray's init() takes that make no difference on one machine; accepted and ignored.
_IGNORED_INIT = {"include_dashboard", "dashboard_host", "dashboard_port", "logging_level",
                 "configure_logging", "log_to_driver_level", "runtime_env",
                 "_temp_dir", "_system_config", "num_gpus", "job_config", "storage"}
init_lock = threading.Lock()
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
        with init_lock:
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
        object_store_memory = default_store_memory()
    elif isinstance(object_store_memory, bool) or not isinstance(object_store_memory, int):
        raise TypeError(f"object_store_memory must be a number of bytes (int); got {object_store_memory!r}")
    elif object_store_memory < 1024 * 1024:
        raise ValueError("object_store_memory must be at least 1 MiB (1048576 bytes)")
    with init_lock:
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
    """Start a head and make it current (the caller holds ``init_lock``)."""
    from ._head import Head       # only a driver builds a head: workers never load it
    head = Head(**config)
    _context.set_head(head)
    atexit.register(shutdown)
    return head


def _start_local(**config):
    """Start local mode (see ``_local.py``) and make it current (under ``init_lock``)."""
    from ._local import NOTICE, LocalCore
    core = LocalCore(**config)
    _context.set_head(core)
    atexit.register(shutdown)
    print(NOTICE)
    return core


def auto_init():
    """Start a runtime with the defaults unless one runs; return the current core.

    Called by the first API call that needs a runtime (as Ray does). It says
    in one line what it started, since a learner who meant to call
    ``init(num_cpus=8)`` first would otherwise not know. Safe against a
    concurrent ``init()`` or ``shutdown()``: all of them hold ``init_lock``.
    """
    with init_lock:
        core = _context.peek()
        if core is not None:
            return core
        num_cpus = os.cpu_count() or 1
        head = _start(num_cpus=num_cpus, num_nodes=1, resources={},
                      object_store_memory=default_store_memory(), namespace="default",
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


def default_store_memory() -> int:
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
    with init_lock:         # peek under the lock: never clear a runtime another thread started
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


# This module sits above _context, which calls back into it through this.
_context.set_auto_init(auto_init)
