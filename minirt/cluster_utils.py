"""``Cluster``: a simulated multi-node cluster, shaped like ``ray.cluster_utils.Cluster``.

Ray's ``Cluster`` starts real processes per node (a raylet, an object store)
for tests. minirt's nodes are slices of one runtime in the driver: each has
its CPUs and custom resources, its own workers and its own object store
directory, and the scheduler places tasks across them as it would across
machines. The same code runs on both::

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    worker = cluster.add_node(num_cpus=2, resources={"gpu_box": 1})
    ray.init(address=cluster.address)      # the runtime's nodes are the cluster's
    ...
    cluster.remove_node(worker)            # that "machine" dies: its workers are killed,
                                           # objects only it held are lost, tasks retried
    ray.shutdown(); cluster.shutdown()

Nodes added before ``init`` are started by ``init``; nodes added after join
the running runtime at once. Lesson: the fault-tolerance part of the course.
"""

from __future__ import annotations

import dataclasses
import itertools
import os

from . import _context, _start
from ._nodes import NodeSpec
from ._options import validate

_SUPPORTED_NODE_ARGS = ("num_cpus", "num_gpus", "resources", "object_store_memory", "memory")
# Options of Ray's add_node that only matter for real processes; accepted and ignored.
_IGNORED_NODE_ARGS = {"node_ip_address", "node_manager_port", "object_manager_port",
                      "dashboard_port", "include_dashboard", "min_worker_port",
                      "max_worker_port", "labels", "env_vars", "_system_config",
                      "enable_object_reconstruction", "dashboard_agent_listen_port"}
_clusters = _start.clusters               # address -> Cluster, for init(address=...)
_lock = _start.clusters_lock
_ids = itertools.count(1)


@dataclasses.dataclass(eq=False)
class ClusterNode:
    """A node of a :class:`Cluster` (what ``add_node`` returns; pass it to ``remove_node``).

    Attributes:
        node_id: the node's id (56 hex digits), as ``get_runtime_context().get_node_id()``
            and ``minirt.util.state.list_nodes()`` show it.
        num_cpus: logical CPUs.
        resources: custom resources, e.g. ``{"gpu_box": 1.0}``.
        object_store_memory: bytes of shared memory for its object store (None: default).
        address: the cluster's address.
    """

    node_id: str
    num_cpus: float
    resources: dict
    object_store_memory: int | None
    address: str
    is_head: bool = False

    def __repr__(self):
        kind = "head" if self.is_head else "worker"
        return (f"ClusterNode({kind}, node_id={self.node_id[:8]}..., num_cpus={self.num_cpus:g}, "
                f"resources={self.resources})")


class Cluster:
    """A simulated cluster of nodes on this machine; ``init(address=cluster.address)`` runs on it.

    Args:
        initialize_head: add the head node now (with ``head_node_args``).
        connect: with ``initialize_head``, also call ``init(address=self.address)``.
        head_node_args: arguments for the head's ``add_node``, e.g. ``{"num_cpus": 2}``.
        shutdown_at_exit: accepted for Ray compatibility (minirt always cleans up at exit).

    Raises:
        RuntimeError: ``connect=True`` without ``initialize_head=True``.
        TypeError, ValueError: bad ``head_node_args``.

    Example:
        >>> import minirt
        >>> from minirt.cluster_utils import Cluster
        >>> cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        >>> node = cluster.add_node(num_cpus=2, resources={"disk": 1})
        >>> ctx = minirt.init(address=cluster.address)
        >>> minirt.cluster_resources()["CPU"]
        3.0
        >>> cluster.remove_node(node)
        >>> minirt.cluster_resources()["CPU"]
        1.0
        >>> cluster.shutdown()
        >>> minirt.is_initialized()
        False
    """

    def __init__(self, initialize_head: bool = False, connect: bool = False,
                 head_node_args: dict | None = None, shutdown_at_exit: bool = True):
        if not isinstance(initialize_head, bool) or not isinstance(connect, bool):
            raise TypeError("initialize_head and connect must be True or False")
        if head_node_args is not None and not isinstance(head_node_args, dict):
            raise TypeError(f"head_node_args must be a dict like {{'num_cpus': 2}}; "
                            f"got {head_node_args!r}")
        if connect and not initialize_head:
            raise RuntimeError("Cannot connect to uninitialized cluster: pass "
                               "initialize_head=True together with connect=True")
        self.head_node: ClusterNode | None = None
        self.worker_nodes: set[ClusterNode] = set()
        self._nodes: list[ClusterNode] = []          # in the order they were added
        self._address = f"minirt-cluster-{os.getpid()}-{next(_ids)}"
        self._head = None                            # the running Head, once init() used us
        self.connected = False
        if initialize_head:
            self.add_node(**(head_node_args or {}))
            if connect:
                self.connect()

    # --- what Ray's Cluster offers ---------------------------------------------------
    @property
    def address(self) -> str | None:
        """The string to pass to ``init(address=...)`` (None until there is a head node)."""
        return self._address if self.head_node is not None else None

    @property
    def gcs_address(self) -> str | None:
        """Same as :attr:`address` (Ray's name for it)."""
        return self.address

    def connect(self, namespace: str | None = None):
        """Start the runtime on this cluster: ``init(address=self.address, namespace=...)``."""
        if self.address is None:
            raise RuntimeError("the cluster has no head node: call add_node() first")
        ctx = _start.init(address=self.address, namespace=namespace, ignore_reinit_error=True)
        self.connected = True
        return ctx

    def add_node(self, wait: bool = True, **node_args) -> ClusterNode:
        """Add a node; the first one added is the head. Joins a running runtime at once.

        Args:
            wait: accepted for Ray compatibility (a simulated node is ready at once).
            num_cpus: logical CPUs (default 1).
            resources: custom resources, e.g. ``{"gpu_box": 1}``.
            object_store_memory: bytes of shared memory for the node's store.
            memory: the node's logical ``memory`` resource in bytes (default: 70% of
                the RAM less the store), what ``@remote(memory=...)`` asks for.
            num_gpus: only 0 or None (minirt has no GPUs; use a custom resource).

        Returns:
            ClusterNode: the handle to pass to :meth:`remove_node`.

        Raises:
            TypeError: an unknown or wrongly typed argument.
            ValueError: a bad value (negative CPUs, GPUs asked for).
        """
        unknown = set(node_args) - set(_SUPPORTED_NODE_ARGS) - _IGNORED_NODE_ARGS
        if unknown:
            raise TypeError(f"add_node() got unexpected argument(s) {', '.join(sorted(unknown))}; "
                            f"a simulated node takes {', '.join(_SUPPORTED_NODE_ARGS)}")
        num_cpus = node_args.get("num_cpus")
        num_cpus = 1 if num_cpus is None else num_cpus
        if isinstance(num_cpus, bool) or not isinstance(num_cpus, (int, float)):
            raise TypeError(f"num_cpus must be a number; got {num_cpus!r}")
        if num_cpus < 0:
            raise ValueError(f"num_cpus must be 0 or more; got {num_cpus}")
        if node_args.get("num_gpus"):
            raise ValueError("minirt has no GPUs; give the node a custom resource instead, "
                             "e.g. add_node(resources={'GPU_sim': 1})")
        resources = dict(node_args.get("resources") or {})
        validate({"resources": resources}, "task", where="add_node()")
        if node_args.get("memory") is not None:
            validate({"memory": node_args["memory"]}, "task", where="add_node()")
            resources["memory"] = node_args["memory"]
        store = node_args.get("object_store_memory")
        if store is not None and (isinstance(store, bool) or not isinstance(store, int)):
            raise TypeError(f"object_store_memory must be a number of bytes (int); got {store!r}")
        if store is not None and store < 1024 * 1024:
            raise ValueError("object_store_memory must be at least 1 MiB (1048576 bytes)")
        node = ClusterNode(os.urandom(28).hex(), float(num_cpus),
                           {k: float(v) for k, v in resources.items()}, store, self._address,
                           is_head=self.head_node is None)
        head = self._running_head()
        if head is not None:
            head.add_node(_spec(node, head.object_store_memory))
        with _lock:
            if node.is_head:
                self.head_node = node
                _clusters[self._address] = self
            else:
                self.worker_nodes.add(node)
            self._nodes.append(node)
        return node

    def remove_node(self, node: ClusterNode, allow_graceful: bool = True) -> None:
        """Remove a node as if its machine died.

        Its workers are killed (their tasks are retried on other nodes up to
        ``max_retries``; its actors restart elsewhere up to ``max_restarts``, or
        die), and objects whose only copy was there are lost: ``get`` raises
        ``ObjectLostError``.

        Args:
            node: what :meth:`add_node` returned.
            allow_graceful: accepted for Ray compatibility (a removed node always dies at once).

        Raises:
            TypeError: ``node`` is not a node of a Cluster.
            ValueError: the node is not in this cluster, or it is the head node of a
                running runtime (the driver lives there; use ``shutdown()``).
        """
        if not isinstance(node, ClusterNode):
            raise TypeError(f"remove_node() takes what add_node() returned; got {node!r}")
        if node not in self._nodes:
            raise ValueError(f"{node!r} is not a node of this cluster (or was removed already)")
        head = self._running_head()
        if head is not None:
            if node.is_head:
                raise ValueError("Removing the head node while the runtime runs on it is not "
                                 "allowed: the driver is connected to it. Remove other nodes, "
                                 "or call cluster.shutdown() to stop everything.")
            head.remove_node(node.node_id)
        with _lock:
            self._nodes.remove(node)
            if node.is_head:
                self.head_node = None
                _clusters.pop(self._address, None)
            else:
                self.worker_nodes.discard(node)

    def list_all_nodes(self) -> list[ClusterNode]:
        """The head node (if any) followed by the other nodes."""
        return [n for n in self._nodes if n.is_head] + [n for n in self._nodes if not n.is_head]

    def wait_for_nodes(self, timeout: float = 30) -> None:
        """Accepted for Ray compatibility: simulated nodes are ready as soon as they are added."""

    def shutdown(self) -> None:
        """Stop the runtime running on this cluster (if any) and remove every node."""
        if self._running_head() is not None:
            _start.shutdown()
        with _lock:
            self._nodes.clear()
            self.worker_nodes.clear()
            self.head_node = None
            self._head = None
            self.connected = False
            _clusters.pop(self._address, None)

    def __repr__(self):
        return f"Cluster(address={self.address!r}, nodes={len(self._nodes)})"

    # --- for init() (_start.py) ----------------------------------------------------------
    def _running_head(self):
        head = self._head
        if head is not None and _context.peek() is head and not head._closed:
            return head
        return None

    def _specs(self, default_store: int) -> list:
        return [_spec(n, default_store) for n in self.list_all_nodes()]


def _spec(node: ClusterNode, default_store: int):
    return NodeSpec(node.node_id, {"CPU": node.num_cpus, **node.resources},
                    node.object_store_memory or default_store)

