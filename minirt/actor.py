"""Actors: ``@minirt.remote`` on a class makes stateful remote objects.

``Counter.remote()`` asks the head to start a dedicated worker process that
builds the instance; the call returns an :class:`ActorHandle` at once.
``handle.incr.remote()`` queues a call; calls from one caller run one at a
time in the order they were made, so methods can safely change state::

    Counter.remote(0) --> TaskSpec("actor") --> head places it, forks a worker
    c = ActorHandle   --> c.incr.remote() --> TaskSpec("call") --> ObjectRef

Handles can be passed to tasks and other actors. When every handle is gone
the actor exits (unless ``lifetime="detached"``). Lessons:
lessons/02_actors.ipynb and lessons/06_actors_revisited.ipynb.
"""

from __future__ import annotations

import inspect
import os

from . import _context, _options, _serial
from ._protocol import TaskSpec
from ._refs import Counted, local_refs, new_id, note_pickled
from .remote_function import prepare_args, submit

_METHOD_ATTR = "__minirt_method_options__"


def exit_actor() -> None:
    """End the actor whose method calls this, at once and for good (no restart).

    The call that ran it and every call queued after it raise
    ``ActorDiedError`` for their callers, whose message says the actor called
    ``exit_actor()``; ``max_restarts`` does not apply (as in Ray).

    Raises:
        TypeError: called outside an actor method (in the driver or a task).

    Example:
        >>> @minirt.remote
        ... class Once:
        ...     def stop(self):
        ...         minirt.actor.exit_actor()
        >>> try:
        ...     minirt.get(Once.remote().stop.remote())
        ... except minirt.exceptions.ActorDiedError as e:
        ...     print("exit_actor()" in str(e))
        True

    Lesson: lessons/06_actors_revisited.ipynb.
    """
    _context.current().exit_actor()


def method(*args, **opts):
    """Set per-method options on an actor method.

    Args:
        num_returns: how many ObjectRefs the call returns (default 1).
        max_task_retries: re-run a call interrupted by an actor crash.
        retry_exceptions: True or a list of exception types to retry on.
        enable_task_events: accepted for Ray compatibility (minirt always
            records its calls in the timeline).

    Example:
        >>> @minirt.remote
        ... class Pair:
        ...     @minirt.method(num_returns=2)
        ...     def both(self):
        ...         return 1, 2

    Lesson: lessons/04_api_tour.ipynb.
    """
    if args:
        raise TypeError("use @minirt.method(num_returns=...) with keyword options only")
    _options.validate(opts, "method", where="@minirt.method")

    def decorate(fn):
        setattr(fn, _METHOD_ATTR, opts)
        return fn
    return decorate


class ActorClass:
    """A class turned into an actor factory by ``@minirt.remote``.

    Example:
        >>> @minirt.remote
        ... class Counter:
        ...     def __init__(self):
        ...         self.n = 0
        ...     def incr(self):
        ...         self.n += 1
        ...         return self.n
        >>> c = Counter.remote()
        >>> minirt.get([c.incr.remote() for _ in range(3)])
        [1, 2, 3]

    Lesson: lessons/02_actors.ipynb.
    """

    def __init__(self, cls, opts: dict, _cls_id: bytes | None = None, _pickled: bytes | None = None):
        self._cls = cls
        self._opts = opts
        self._cls_id = _cls_id or os.urandom(16)
        self._pickled = _pickled
        self.__name__ = cls.__name__
        self.__qualname__ = cls.__qualname__
        self.__doc__ = cls.__doc__
        self.__module__ = cls.__module__
        methods = {}
        for name, fn in inspect.getmembers(cls, predicate=callable):
            if name.startswith("__") and name != "__call__":
                continue
            methods[name] = m = dict(getattr(fn, _METHOD_ATTR, {}))
            if inspect.isgeneratorfunction(fn):
                m.setdefault("num_returns", "streaming")   # as Ray 2.x: a streaming generator
            if "retry_exceptions" in m:   # the meta travels by plain pickle: no classes in it
                m["retry_exceptions"] = _options.retry_spec(m["retry_exceptions"])
        self._meta = {"class_name": cls.__name__, "methods": methods,
                      "max_task_retries": opts.get("max_task_retries", 0)}

    def __call__(self, *args, **kwargs):
        raise TypeError("Actors cannot be instantiated directly. Instead of "
                        f"'{self.__name__}()', use '{self.__name__}.remote()'.")

    def __repr__(self) -> str:
        return f"<minirt actor class {self.__qualname__}>"

    def options(self, **opts) -> "ActorClass":
        """Return a copy with some options changed (name, namespace, num_cpus, ...)."""
        _options.validate(opts, "actor", where=".options()")
        return ActorClass(self._cls, {**self._opts, **opts}, self._cls_id, self._pickled)

    def remote(self, *args, **kwargs) -> "ActorHandle":
        """Start the actor; return its handle at once."""
        core = _context.current()
        opts = self._opts
        # Ray's rule: an actor without num_cpus holds no CPU, and is placed on a node
        # that has a CPU at all, busy or not (it does not wait for a free one).
        hold = _options.resource_request(opts, 0.0)
        place, minimum = (hold, None) if "num_cpus" in opts else (hold, {"CPU": 1.0})
        _options.warn_if_infeasible({**hold, **(minimum or {})}, core.max_node, self.__name__)
        if self._pickled is None:
            self._pickled = _serial.dumps_function(self._cls)
            _context.observer.on_pickled_function(self.__name__, len(self._pickled), "actor class")
        core.register_fn(self._cls_id, self._pickled)
        namespace = opts.get("namespace") or core.namespace
        aid = new_id()
        actor_opts = {
            "max_restarts": opts.get("max_restarts", 0),
            "max_task_retries": opts.get("max_task_retries", 0),
            "max_concurrency": opts.get("max_concurrency"),   # None: 1, or 1000 if async
            "name": opts.get("name"), "namespace": namespace,
            "lifetime": opts.get("lifetime"), "get_if_exists": opts.get("get_if_exists", False),
            "hold": hold, "node_minimum": minimum, "meta": self._meta,
            "class_name": self.__name__,
        }
        arg_desc, deps, contained = prepare_args(core, args, kwargs, f"{self.__name__}.__init__")
        spec = TaskSpec("actor", new_id(), self._cls_id, f"{self.__name__}.__init__", arg_desc,
                        deps, [], place, actor_id=aid, actor_opts=actor_opts, contained=contained)
        handle = ActorHandle(aid, self._meta)   # before submit: its +1 reaches the head first
        existing = core.submit(spec)
        return ActorHandle(existing, self._meta) if existing else handle

    def __reduce__(self):
        return (ActorClass, (self._cls, self._opts, self._cls_id))


class ActorHandle(Counted):
    """A reference to a live actor; call methods with ``handle.method.remote()``."""

    __slots__ = ("_aid", "_meta", "__weakref__")
    _counted = "_aid"

    def __init__(self, aid: bytes, meta: dict):
        self._aid = aid
        self._meta = meta
        local_refs.incref(aid)

    def __getattr__(self, name: str) -> "ActorMethod":
        methods = self._meta["methods"]
        if name not in methods:
            raise AttributeError(f"actor {self._meta['class_name']} has no method {name!r}")
        return ActorMethod(self, name, methods[name])

    @property
    def _actor_id(self):
        return _ActorID(self._aid)

    def __repr__(self) -> str:
        return f"Actor({self._meta['class_name']}, {self._aid.hex()})"

    def __eq__(self, other) -> bool:
        return isinstance(other, ActorHandle) and other._aid == self._aid

    # _repr_html_ (Jupyter: class, name, state, node, pid, restarts) is given by util/_reprs.py.

    def __hash__(self) -> int:
        return hash(self._aid)

    def __reduce__(self):
        note_pickled(self._aid)
        return (ActorHandle, (self._aid, self._meta))


class _ActorID(bytes):
    def hex(self) -> str:  # noqa: D102
        return bytes.hex(self)


class ActorMethod:
    """``handle.method``: call it with ``.remote(...)``, or adjust it with ``.options()``."""

    def __init__(self, handle: ActorHandle, name: str, opts: dict):
        self._handle = handle
        self._name = name
        self._opts = opts

    def __call__(self, *args, **kwargs):
        cls = self._handle._meta["class_name"]
        raise TypeError("Actor methods cannot be called directly. Instead of running "
                        f"'{cls.lower()}.{self._name}()', try '{cls.lower()}.{self._name}.remote()'.")

    def options(self, **opts) -> "ActorMethod":
        _options.validate(opts, "method", where=".options()")
        return ActorMethod(self._handle, self._name, {**self._opts, **opts})

    def remote(self, *args, **kwargs):
        core = _context.current()
        h, opts = self._handle, self._opts
        name = f"{h._meta['class_name']}.{self._name}"
        n = opts.get("num_returns", 1)
        returns = tuple(new_id() for _ in range(1 if n == "streaming" else n))
        arg_desc, deps, contained = prepare_args(core, args, kwargs, name)
        spec = TaskSpec("call", new_id(), None, name, arg_desc, deps, returns, {},
                        max_retries=opts.get("max_task_retries", h._meta["max_task_retries"]),
                        retry_exceptions=_options.retry_spec(opts.get("retry_exceptions", False)),
                        actor_id=h._aid, method=self._name, num_returns=n, contained=contained)
        return submit(core, spec)
