"""Checking the options of ``@remote``, ``.options()`` and ``@method``.

Every option is validated where it is given, before anything runs: a wrong
type raises ``TypeError``, a bad value ``ValueError``, an unknown name
``ValueError`` listing the valid ones. The lesson "A tour of the API" shows
the options; "Tasks revisited" uses ``max_calls``, ``max_retries`` and
``retry_exceptions``; "Actors revisited" the actor ones.
"""

from __future__ import annotations

import numbers
import warnings

from .exceptions import InfeasibleWarning

from ._serial import dumps

_COMMON = {"num_cpus", "num_gpus", "memory", "resources", "name", "enable_task_events"}
TASK_OPTIONS = _COMMON | {"num_returns", "max_calls", "max_retries", "retry_exceptions"}
ACTOR_OPTIONS = _COMMON | {"max_restarts", "max_task_retries", "namespace", "lifetime",
                           "max_concurrency", "get_if_exists"}
METHOD_OPTIONS = {"num_returns", "max_task_retries", "retry_exceptions", "name",
                  "enable_task_events"}


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _check_amount(key, v) -> None:
    if not _is_number(v):
        raise TypeError(f"{key} must be a number of logical units, like 1 or 0.5; got {v!r}")
    if v < 0:
        raise ValueError(f"{key} must be 0 or more; got {v!r}")


def _check_count(key, v, minimum) -> None:
    if not _is_int(v):
        raise TypeError(f"{key} must be an int; got {type(v).__name__} {v!r}")
    if v < minimum:
        hint = " (-1 means without limit)" if minimum == -1 else ""
        raise ValueError(f"{key} must be {minimum} or more{hint}; got {v}")


def validate(opts: dict, kind: str, where: str = "@minirt.remote") -> dict:
    """Check ``opts`` for a ``kind`` in ("task", "actor", "method"); return a copy."""
    valid = {"task": TASK_OPTIONS, "actor": ACTOR_OPTIONS, "method": METHOD_OPTIONS}[kind]
    if kind == "task" and where == ".options()":
        valid = valid - {"max_calls"}      # fixed per function, as in Ray: not in .options()
    for key in opts:
        if key not in valid:
            other = {"task": ACTOR_OPTIONS, "actor": TASK_OPTIONS, "method": TASK_OPTIONS}[kind]
            extra = (f" ({key!r} is an option for {'actors' if kind != 'actor' else 'tasks'}, "
                     f"not {kind}s)") if key in other else ""
            article = "an" if kind == "actor" else "a"
            raise ValueError(f"invalid option {key!r} for {article} {kind} in {where}{extra}; "
                             f"valid options are: {', '.join(sorted(valid))}")
    for key, v in opts.items():
        if key in ("num_cpus", "num_gpus"):
            _check_amount(key, v)
        elif key == "memory":
            if v is not None:
                _check_amount("memory (bytes)", v)
        elif key == "enable_task_events":
            if not isinstance(v, bool):
                raise TypeError(f"enable_task_events must be True or False; got {v!r}")
        elif key == "resources":
            if not isinstance(v, dict):
                raise TypeError(f"resources must be a dict like {{'GPU_slot': 1}}; got {v!r}")
            for rk, rv in v.items():
                if not isinstance(rk, str):
                    raise TypeError(f"resource names must be strings; got {rk!r}")
                if rk in ("CPU", "GPU"):
                    raise ValueError(f"use num_{rk.lower()}= instead of resources={{'{rk}': ...}}")
                _check_amount(f"resources[{rk!r}]", rv)
        elif key == "num_returns":
            if v != "streaming":          # a generator's values, one ref each, as they come
                _check_count(key, v, 0)
        elif key == "max_calls":
            _check_count(key, v, 0)
        elif key in ("max_retries", "max_restarts", "max_task_retries"):
            _check_count(key, v, -1)
        elif key == "max_concurrency":
            _check_count(key, v, 1)
        elif key == "retry_exceptions":
            if isinstance(v, bool):
                continue
            if not isinstance(v, (list, tuple)) or not all(
                    isinstance(t, type) and issubclass(t, BaseException) for t in v):
                raise TypeError("retry_exceptions must be True, False, or a list of exception "
                                f"classes like [ConnectionError]; got {v!r}")
        elif key in ("name", "namespace"):
            if v is not None and not isinstance(v, str):
                raise TypeError(f"{key} must be a string; got {v!r}")
            if isinstance(v, str) and not v:
                raise ValueError(f"{key} must not be empty")
        elif key == "lifetime":
            if v not in (None, "detached", "non_detached"):
                raise ValueError(f"lifetime must be None, 'detached' or 'non_detached'; got {v!r}")
        elif key == "get_if_exists":
            if not isinstance(v, bool):
                raise TypeError(f"get_if_exists must be True or False; got {v!r}")
    if kind == "actor" and opts.get("get_if_exists") and not opts.get("name"):
        raise ValueError("get_if_exists=True needs a name=... to look the actor up by")
    return dict(opts)


_retry_specs: dict[tuple, bytes] = {}


def retry_spec(value):
    """``retry_exceptions`` as a TaskSpec carries it: True, False, or the classes pickled.

    The classes are pickled by value where needed (cloudpickle), so a worker
    can rebuild a class defined only in the driver's ``__main__`` or a notebook
    cell; the worker, not the head, decides whether an error is retried.
    """
    if isinstance(value, (bool, bytes)):
        return value
    key = tuple(value)
    if not key:
        return False
    spec = _retry_specs.get(key)
    if spec is None:
        spec = _retry_specs[key] = dumps(key)
    return spec


def resource_request(opts: dict, default_cpus: float) -> dict:
    """The logical resources a task or actor asks for, zero entries left out."""
    req = {"CPU": float(opts.get("num_cpus", default_cpus))}
    if opts.get("num_gpus"):
        req["GPU"] = float(opts["num_gpus"])
    if opts.get("memory"):
        req["memory"] = float(opts["memory"])
    for k, v in (opts.get("resources") or {}).items():
        req[k] = float(v)
    return {k: v for k, v in req.items() if v > 0}


_warned_infeasible: set = set()


def warn_if_infeasible(req: dict, max_node: dict, name: str) -> bool:
    """Warn once per (name, request) if no node has enough of a resource; True if so.

    As in Ray, such a task or actor is not refused: it stays pending (a node
    that has enough may still join, see ``cluster_utils.Cluster.add_node``), and
    ``get(ref, timeout=...)`` is how a caller stops waiting for it.
    """
    short = [(k, v) for k, v in req.items() if v > max_node.get(k, 0.0) + 1e-9]
    if not short:
        return False
    key = (name, tuple(sorted(req.items())))
    if key not in _warned_infeasible:
        _warned_infeasible.add(key)
        k, v = short[0]
        have = max_node.get(k, 0.0)
        amount = (lambda x: f"{x / 2**30:,.1f} GiB") if k == "memory" else (lambda x: f"{x:g}")
        more = {"CPU": "init(num_cpus=...)", "memory": "Cluster.add_node(memory=...)"}.get(
            k, "init(resources=...)")
        warnings.warn(
            f"{name} asks for {k}={amount(v)} but the largest node has {k}={amount(have)}: "
            f"it stays pending until a node with enough {k} joins. Ask for less, or give more "
            f"with {more}; get(ref, timeout=...) stops waiting for it",
            InfeasibleWarning, stacklevel=3)
    return True
