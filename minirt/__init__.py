"""minirt: a small multi-process runtime for tasks, actors and objects.

Its API mirrors Ray Core's, so lesson code written for Ray runs with
``import minirt as ray``. It is small enough to read in an afternoon; the
lesson "How the runtime works" (lessons/07_internals.ipynb) walks through it.

Map of the modules (one concept each)::

    api.py              get, put, wait, remote, cancel, kill, get_actor, timeline...
    _start.py           init, shutdown and the auto-init; RuntimeInfo (what init returns)
    _cluster_info.py    cluster_resources, available_resources, nodes, timeline, events
    cluster_utils.py    Cluster: simulated nodes, added and removed at run time (Ray's shape)
    remote_function.py  @remote on a function -> tasks
    actor.py            @remote on a class -> actors, handles, @method
    _options.py         checking options of @remote / .options() / @method
    _refs.py            ObjectRef and per-process reference counting
    _serial.py          pickling with zero-copy buffers; the object file format
    _store.py           one node's object store: shared memory, capacity, spilling
    _context.py         "which core am I talking to": the Core interface (head or worker)
    _protocol.py        the messages between head and workers, and their records
    _logs.py            session directories that outlive the runtime: worker logs, head.log
    _admin.py           the private control socket the `minirt` command line talks to
    _head.py            the head (control plane in the driver): start-up, entry points,
                        nodes joining and leaving; it composes the parts below
    _waiting.py           ...driver threads in get/wait: registered under the lock, blocked without it
    _teardown.py          ...shutdown(), and undoing a start that failed half-way
    _control.py           ...its control thread: worker pipes and deaths, requests
    _task_output.py       ...what tasks print: formatted under the lock, written outside it
    _actors.py            ...actors: creation, ordered calls, handles, restarts
    _actor_hooks.py       ...an actor's record, and its Kind hooks into the scheduler
    _scheduler.py         ...tasks: dependencies, placement, running, retries, cancel
    _tasks.py             ...a task's record, and the Kind hooks (plain tasks' by default)
    _placement.py         ...where a task goes (a pure function)
    _pipeline.py          ...short tasks sent ahead to busy workers (a queue per worker)
    _ledger.py            ...one node's resources, held per holder
    _pool.py              ...worker processes: start (on a fork thread), reuse, retire
    _memory_monitor.py    ...a thread: memory above the threshold -> kill the newest task
    _objects.py           ...the object table: values, locations, refcounts, waiting, copies
    _spill.py             ...making room in a full store: spills on a thread, off the lock
    _nodes.py             ...a node, and what its removal loses
    _worker.py          the worker process: its main loop, running tasks and actor calls
    _worker_core.py       ...the minirt API inside a worker: messages and requests to the head
    _task_values.py       ...a task's arguments rebuilt, results stored, retry_exceptions
    _worker_signals.py    ...cancel by signal: KeyboardInterrupt only while user code runs
    _worker_output.py     ...print() in a task -> the driver and the session's log files
    _debugger.py        breakpoint() in a task: pdb in the worker, served by a waiting driver thread
    _actor_concurrency.py  ...an actor's calls side by side: threads, or an asyncio loop
    _streaming.py       generators as tasks: ObjectRefGenerator, one object per yielded value
    _procs.py           forkserver-started processes and the janitor
    _local.py           local mode (init(local_mode=True)): a core that runs every task and
                        actor method in the driver, one at a time (no head, no workers)
    _local_objects.py     ...its values and reference counts (a dict, no shared memory)
    _local_actors.py      ...its actors: live instances, names, deaths, an async loop each
    _local_run.py         ...a task run (and retried), its results stored as a worker does; breakpoint()
    runtime_context.py  get_runtime_context()
    exceptions.py       the errors, under minirt's and Ray's names
    experimental/       Ray's ray.experimental names (tqdm_ray, from util/tqdm_ray.py)
    util/               layered on top of the core (which never imports it): ActorPool,
                        queue.Queue, multiprocessing.Pool on actors, progress bars and
                        tqdm_ray, the live task stream, Ray's state API (list_tasks...),
                        debug.attach() (paused breakpoint() sessions) and
                        debug.rerun (a failed task re-run in the driver under pdb),
                        and the add-ons that attach themselves at import: notebook
                        views (_reprs.py), teaching warnings (_teach.py), a non-blocking
                        look at the head (_introspect.py), the `minirt` command line
                        (cli.py, with _cli_answers.py on the driver's side and
                        _cli_format.py; `python -m minirt` is __main__.py)

The head's parts depend one way (an arrow: "calls")::

    api.py --> Head --(lock)--+--> Actors --Kind hooks--> Scheduler --> WorkerPool --> workers
                 ^            |       |                     |   place() over Ledgers
    Control -----+ (messages) |       v                     v   (forks: a fork thread)
    (thread)                  +--> ObjectTable <------------+   (copies, spills: threads)

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

from . import cluster_utils, exceptions, experimental, util
# Notebook views, teaching warnings and the CLI's requests attach themselves at import.
from .util import _cli_answers, _reprs, _teach  # noqa: F401
from ._refs import ObjectRef
from .actor import ActorClass, ActorHandle, method
from .api import (available_resources, cancel, cluster_resources, events, get, get_actor,
                  get_gpu_ids, init, is_initialized, kill, nodes, put, remote, shutdown,
                  timeline, wait)
from ._streaming import ObjectRefGenerator
from .remote_function import RemoteFunction
from .runtime_context import get_runtime_context

__version__ = "0.1.0"

__all__ = [
    "init", "shutdown", "is_initialized", "remote", "method", "get", "put", "wait",
    "cancel", "kill", "get_actor", "get_gpu_ids", "cluster_resources", "available_resources", "nodes",
    "timeline", "events", "get_runtime_context", "ObjectRef", "ObjectRefGenerator", "ActorHandle", "ActorClass",
    "RemoteFunction", "exceptions", "experimental", "util", "cluster_utils",
]
