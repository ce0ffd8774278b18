"""minirt: a small multi-process runtime for tasks, actors and objects.

Its API mirrors Ray Core's, so lesson code written for Ray runs with
``import minirt as ray``. It is small enough to read in an afternoon; the
lesson "How the runtime works" (lessons/07_internals.ipynb) walks through it.

Map of the modules (one concept each)::

    api.py              init, shutdown, get, put, wait, cancel, kill, get_actor, timeline...
    cluster_utils.py    Cluster: simulated nodes, added and removed at run time (Ray's shape)
    remote_function.py  @remote on a function -> tasks
    actor.py            @remote on a class -> actors, handles, @method
    _options.py         checking options of @remote / .options() / @method
    _refs.py            ObjectRef and per-process reference counting
    _serial.py          pickling with zero-copy buffers; the object file format
    _store.py           one node's object store: shared memory, capacity, spilling
    _context.py         "which core am I talking to": the head or the pipe to it
    _protocol.py        the messages between head and workers
    _head.py            the head (control plane in the driver) and its control thread
    _objects.py           ...object table, reference counts, waiting      (head mixin)
    _scheduler.py         ...tasks, placement, worker pool, retries        (head mixin)
    _actors.py            ...actor life cycle and ordered calls            (head mixin)
    _nodes.py             ...nodes joining and dying at run time           (head mixin)
    _worker.py          the worker process: runs tasks, hosts actors
    _procs.py           forkserver-started processes and the janitor
    runtime_context.py  get_runtime_context()
    exceptions.py       the errors, under minirt's and Ray's names
    util/               ActorPool, queue.Queue, multiprocessing.Pool on actors, and state:
                        Ray's state API (list_tasks, list_actors, summarize_tasks...)

How data flows::

    driver: f.remote(x) --TaskSpec--> Head --schedule--> worker pipe --> worker runs f
                 |                     ^                                   |
                 v                     |          small result: inline     |
          ObjectRef (future)           +---- ("done", results) <-----------+
                 |                              large result: a file in /dev/shm
    driver: get(ref) ----------------> Head: ready? --> value (arrays mapped, not copied)

Processes are started with the standard library's forkserver (safe from a
threaded Jupyter kernel; see ``_procs.py``).
"""

from . import _reprs, cluster_utils, exceptions, experimental, util  # _reprs: notebook views
from ._refs import ObjectRef
from .actor import ActorClass, ActorHandle, method
from .api import (available_resources, cancel, cluster_resources, events, get, get_actor,
                  init, is_initialized, kill, nodes, put, remote, shutdown, timeline, wait)
from .remote_function import RemoteFunction
from .runtime_context import get_runtime_context

__version__ = "0.1.0"

__all__ = [
    "init", "shutdown", "is_initialized", "remote", "method", "get", "put", "wait",
    "cancel", "kill", "get_actor", "cluster_resources", "available_resources", "nodes",
    "timeline", "events", "get_runtime_context", "ObjectRef", "ActorHandle", "ActorClass",
    "RemoteFunction", "exceptions", "experimental", "util", "cluster_utils",
]
