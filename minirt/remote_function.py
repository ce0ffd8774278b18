"""Remote functions: ``@minirt.remote`` on a function makes a task factory.

``f.remote(*args)`` pickles the arguments (top-level ``ObjectRef`` arguments
are replaced by slots the worker fills with their values), hands a
:class:`~minirt._protocol.TaskSpec` to the head and returns ``ObjectRef``
futures at once::

    f.remote(x, ref) --> args pickled: (x, <slot 0>) + deps [ref]
                     --> TaskSpec --> core.submit --> ObjectRef(s) returned now

The function itself is pickled once (cloudpickle, so notebook functions,
lambdas and closures work) and registered with the head under an id; each
worker loads it the first time it runs it. Lesson: lessons/01_tasks.ipynb.
"""

from __future__ import annotations

import inspect
import os
import pickle

from . import _context, _options, _serial
from ._protocol import TaskSpec
from ._refs import ObjectRef, new_id
from ._serial import FILE, INLINE
from ._streaming import ObjectRefGenerator
from ._task_values import DepSlot


def submit(core, spec):
    """Submit a task or actor call; return its ref, list of refs, or None (num_returns=0)."""
    if spec.num_returns == 1:          # the common case, without a list
        ref = ObjectRef(spec.returns[0])    # before submit: held from the start
        core.submit(spec)
        return ref
    refs = [ObjectRef(oid) for oid in spec.returns]
    core.submit(spec)
    if spec.num_returns == "streaming":
        return ObjectRefGenerator(spec.tid, refs[0])
    if spec.num_returns == 1:
        return refs[0]
    return refs if spec.num_returns else None


def prepare_args(core, args, kwargs, name):
    """Pickle call arguments; return (args descriptor, dep ids, contained ids).

    The id sequences are tuples (``()`` when empty, one shared object): the
    spec keeps them while the task is pending, and an empty list costs 56 bytes.
    """
    if not args and not kwargs:
        return _NO_ARGS, (), ()
    deps: list[bytes] = []

    def slot(x):
        if type(x) is ObjectRef:
            deps.append(x._id)
            return DepSlot(len(deps) - 1)
        return x

    plain = _serial.PLAIN
    for x in args:                     # a plain loop: cheaper than all() over a generator
        if type(x) not in plain:
            break
    else:
        for v in kwargs.values():
            if type(v) not in plain:
                break
        else:
            # Only ints, strings, floats...: the C pickler does it 5-7x faster than cloudpickle.
            return (INLINE, pickle.dumps((args, kwargs), protocol=5), None), (), ()
    a = tuple(slot(x) for x in args)
    kw = {k: slot(v) for k, v in kwargs.items()}
    try:
        s = _serial.serialize((a, kw))
    except Exception as e:
        raise _unpicklable_argument(args, kwargs, name, e) from e
    if s.size < _serial.INLINE_MAX:
        return (INLINE, _serial.to_inline(s), None), tuple(deps), tuple(s.contained)
    oid = new_id()
    size = _serial.write_file(s, os.path.join(core.shm_dir, oid.hex()))
    return (FILE, size, oid), tuple(deps), tuple(s.contained)


_NO_ARGS = (INLINE, _serial.serialize(((), {})).meta, None)


def _unpicklable_argument(args, kwargs, name, error) -> TypeError:
    import cloudpickle
    for label, value in [(f"argument {i} (positional)", v) for i, v in enumerate(args)] + \
                        [(f"keyword argument {k!r}", v) for k, v in kwargs.items()]:
        try:
            cloudpickle.dumps(value)
        except Exception as e:
            return TypeError(f"{label} of {name} cannot be sent to a worker: "
                             f"{type(value).__name__} objects cannot be pickled ({e}). "
                             "Create it inside the task instead, or pass what it is made from.")
    return TypeError(f"the arguments of {name} cannot be pickled: {error}")


class RemoteFunction:
    """A function turned into a task factory by ``@minirt.remote``.

    Example:
        >>> import minirt
        >>> @minirt.remote
        ... def square(x):
        ...     return x * x
        >>> minirt.get([square.remote(i) for i in range(4)])
        [0, 1, 4, 9]

    Lesson: lessons/01_tasks.ipynb; options in lessons/05_tasks_revisited.ipynb.
    """

    def __init__(self, fn, opts: dict, _fn_id: bytes | None = None, _pickled: bytes | None = None):
        self._fn = fn
        self._generator = inspect.isgeneratorfunction(fn)    # streams its values (Ray 2.x)
        self._opts = opts
        self._fn_id = _fn_id or os.urandom(16)
        self._pickled = _pickled
        self._name = opts.get("name") or getattr(fn, "__name__", "task")
        # Fixed per wrapper (options are validated where given): computed once, not per call.
        self._req = _options.resource_request(opts, 1.0)
        self._num_returns = opts.get("num_returns", "streaming" if self._generator else 1)
        self._n_ids = 1 if self._num_returns == "streaming" else self._num_returns
        self._max_retries = opts.get("max_retries", 3)
        self._retry = _options.retry_spec(opts.get("retry_exceptions", False))
        self._max_calls = opts.get("max_calls", 0)
        self.__name__ = getattr(fn, "__name__", "task")
        self.__qualname__ = getattr(fn, "__qualname__", self.__name__)
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__module__ = getattr(fn, "__module__", None)
        self.__wrapped__ = fn

    def __call__(self, *args, **kwargs):
        raise TypeError("Remote functions cannot be called directly. Instead of running "
                        f"'{self.__module__}.{self.__name__}()', try "
                        f"'{self.__module__}.{self.__name__}.remote()'.")

    def __repr__(self) -> str:
        return f"<minirt remote function {self.__qualname__}>"

    def options(self, **opts) -> "RemoteFunction":
        """Return a copy with some options changed; this function is unchanged.

        Example:
            >>> @minirt.remote
            ... def square(x):
            ...     return x * x
            >>> heavy = square.options(num_cpus=2)    # same function, holds 2 CPUs per call
            >>> minirt.get(heavy.remote(3))
            9
        """
        if "max_calls" in opts:
            raise ValueError("max_calls cannot be changed with .options() (as in Ray); "
                             "set it in @minirt.remote(max_calls=...)")
        _options.validate(opts, "task", where=".options()")
        return RemoteFunction(self._fn, {**self._opts, **opts}, self._fn_id, self._pickled)

    def remote(self, *args, **kwargs):
        """Run the function as a task; return an ObjectRef (a list if num_returns > 1)."""
        core = _context.current()
        req = self._req
        _options.warn_if_infeasible(req, core.max_node, self._name)
        if self._pickled is None:
            self._pickled = _serial.dumps_function(self._fn)
            _context.observer.on_pickled_function(self._name, len(self._pickled))
        core.register_fn(self._fn_id, self._pickled)
        n = self._n_ids
        returns = (new_id(),) if n == 1 else tuple(new_id() for _ in range(n))
        arg_desc, deps, contained = prepare_args(core, args, kwargs, self._name)
        spec = TaskSpec("task", new_id(), self._fn_id, self._name, arg_desc, deps, returns, req,
                        self._max_retries, self._retry, self._max_calls, None, None,
                        self._num_returns, None, contained)
        out = submit(core, spec)
        _context.observer.on_submit(core, self._name, returns, args, kwargs)
        return out

    def __reduce__(self):
        # The function goes into the same pickle (not pre-pickled bytes) so that
        # a recursive task, whose globals name the task itself, pickles fine.
        return (RemoteFunction, (self._fn, self._opts, self._fn_id))
