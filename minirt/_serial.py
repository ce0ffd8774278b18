"""Turning values into bytes and back, without copying large buffers.

Values are pickled with protocol 5 (via cloudpickle, so lambdas, closures and
functions defined in a notebook work). Buffers of at least
``_OOB_MIN`` bytes (a NumPy array's data, for one) are kept *out of band*::

    value --cloudpickle(protocol 5)--> meta bytes + [large buffers]
              small total (< INLINE_MAX)         | large total
                 v                               v
          ("inline", bytes)            one file in the node's store:
          travels inside messages      [header][meta][buf 0][buf 1]...
                                       (each part 64-byte aligned)

A reader maps the file read-only (``mmap`` with ``PROT_READ``) and hands the
mapped slices to ``pickle.loads(buffers=...)``: a NumPy array comes back as a
read-only view of the shared pages, so ``get`` of 100 MB costs microseconds
and copies nothing. The file stays mapped for as long as any array uses it.

The lesson "How the runtime works" walks through this file.
"""

from __future__ import annotations

import mmap
import os
import pickle
import struct
import traceback

import cloudpickle

from ._refs import _collecting

INLINE_MAX = 100 * 1024   # values below this travel inside messages (as Ray's 100 KiB)
_OOB_MIN = 16 * 1024      # buffers at least this big are kept out of band
_ALIGN = 64
_MAGIC = b"MRT1"
_HEAD = struct.Struct("<4sIQ")     # magic, number of buffers, meta length
_ENTRY = struct.Struct("<QQ")      # offset, length of one part

INLINE, FILE = 0, 1


def _align(n: int) -> int:
    return (n + _ALIGN - 1) & ~(_ALIGN - 1)


class Serialized:
    """A pickled value: meta bytes plus out-of-band buffers, and the refs inside."""

    __slots__ = ("meta", "buffers", "contained", "size")

    def __init__(self, meta: bytes, buffers: list, contained: list[bytes]):
        self.meta = meta
        self.buffers = buffers
        self.contained = contained
        self.size = len(meta) + sum(b.nbytes for b in buffers)


_PLAIN = frozenset({type(None), bool, int, float, complex, str})


def serialize(value) -> Serialized:
    """Pickle ``value``; large contiguous buffers are returned separately."""
    if type(value) in _PLAIN:          # fast path: nothing cloudpickle or buffers could add
        return Serialized(pickle.dumps(value, protocol=5), [], [])
    buffers: list[memoryview] = []

    def keep(pb: pickle.PickleBuffer):
        raw = pb.raw()
        if raw.nbytes < _OOB_MIN:
            return True           # small: serialize in band
        buffers.append(raw)
        return None               # large: out of band

    with _collecting() as contained:
        meta = cloudpickle.dumps(value, protocol=5, buffer_callback=keep)
    return Serialized(meta, buffers, list(contained))


def to_inline(s: Serialized) -> bytes:
    """Return one bytes object holding the whole value (re-pickling buffers in band)."""
    if not s.buffers:
        return s.meta
    value = pickle.loads(s.meta, buffers=s.buffers)
    return cloudpickle.dumps(value, protocol=5)


def write_file(s: Serialized, path: str) -> int:
    """Write ``s`` into a new file at ``path`` (mode 0600); return its size."""
    parts = [s.meta] + s.buffers
    header_len = _HEAD.size + _ENTRY.size * len(parts)
    offsets, pos = [], _align(header_len)
    for p in parts:
        n = p.nbytes if isinstance(p, memoryview) else len(p)
        offsets.append((pos, n))
        pos = _align(pos + n)
    header = _HEAD.pack(_MAGIC, len(s.buffers), len(s.meta)) + b"".join(
        _ENTRY.pack(o, n) for o, n in offsets)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.ftruncate(fd, pos)
        _pwrite_all(fd, header, 0)
        for (off, _), part in zip(offsets, parts):
            _pwrite_all(fd, part, off)
    except BaseException:
        os.close(fd)
        _unlink(path)
        raise
    os.close(fd)
    return pos


def _pwrite_all(fd: int, data, offset: int) -> None:
    view = memoryview(data).cast("B")
    while view.nbytes:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def map_file(path: str):
    """Map a store file read-only and return its value (arrays stay zero-copy)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        mm = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
    finally:
        os.close(fd)
    view = memoryview(mm)
    magic, nbuf, _ = _HEAD.unpack_from(view, 0)
    if magic != _MAGIC:
        raise ValueError(f"{path} is not a minirt object file")
    parts = []
    for i in range(nbuf + 1):
        off, n = _ENTRY.unpack_from(view, _HEAD.size + i * _ENTRY.size)
        parts.append(view[off:off + n])
    return pickle.loads(parts[0], buffers=parts[1:])


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def load(kind: int, data):
    """Rebuild a value from ``(INLINE, bytes)`` or ``(FILE, (path, spill_path))``.

    A file may be spilled to disk between the moment its path was sent and the
    moment it is opened; spilling copies before it removes, so one of the two
    paths always exists.
    """
    if kind == INLINE:
        return pickle.loads(data)
    path, spill_path = data
    try:
        return map_file(path)
    except FileNotFoundError:
        return map_file(spill_path)


def dumps_function(fn) -> bytes:
    """Pickle a function or class by value when it cannot be imported by name."""
    return cloudpickle.dumps(fn, protocol=5)


class _Raised:
    """What a failed task stores instead of a value: the error to raise on ``get``."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException):
        self.error = error

    def __reduce__(self):
        return (_Raised, (self.error,))


def describe_exception(exc: BaseException, function_name: str, pid: int):
    """Wrap a user exception as a picklable TaskError carrying its traceback."""
    from .exceptions import TaskError, MinirtError
    if isinstance(exc, MinirtError) and not isinstance(exc, TaskError):
        return exc                     # e.g. an upstream ActorDiedError: pass it through
    if isinstance(exc, TaskError):
        return exc                     # an upstream failure re-raised by a nested get
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    cause = exc
    try:
        cloudpickle.dumps(exc)
    except Exception:
        cause = RuntimeError(f"{type(exc).__name__}: {exc} (the original exception could not be pickled)")
    cause.__traceback__ = None
    return TaskError(function_name, tb, cause, pid)
