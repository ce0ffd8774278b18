"""Turning values into bytes and back, without copying large buffers.

Values are pickled with protocol 5 (via cloudpickle, so lambdas, closures and
functions defined in a notebook work). Buffers (a NumPy array's data, for one)
are kept *out of band*, and both forms share one layout::

    value --cloudpickle(protocol 5)--> meta bytes + [buffers]
              small total (< INLINE_MAX)         | large total
                 v                               v
          ("inline", bytes)            one file in the node's store:
          travels inside messages      [header][meta][buf 0][buf 1]...
          (plain pickle if no buffers) (each part 64-byte aligned)

A reader maps the file read-only (``mmap`` with ``PROT_READ``) and hands the
mapped slices to ``pickle.loads(buffers=...)``: a NumPy array comes back as a
read-only view of the shared pages, so ``get`` of 100 MB costs microseconds
and copies nothing. The file stays mapped for as long as any array uses it.
Inline bytes are read the same way, so every NumPy array a task receives or
``get`` returns is read-only, small or large, as in Ray (write to a copy:
``a = a.copy()``).

Functions defined in a notebook or a script are pickled *by value*. Their code
objects keep the file name and line numbers they were compiled with (a
notebook cell is named as Jupyter shows it, ``Cell In[3]``), and the source
text travels with them into the worker's ``linecache``: a remote traceback
points at the learner's own line, whatever cloudpickle version is installed.

A failed task stores :class:`Raised`: the error pickled so that the reader
can always rebuild *something*. The worker checks that the user's exception
survives a round trip; if its class cannot be rebuilt as pickled (an
``__init__`` with extra arguments, say), it is rebuilt from its state without
calling ``__init__``; if even that fails, the reader gets a ``TaskError``
carrying the type name, message and remote traceback text.

The lesson "How the runtime works" walks through this file.
"""

from __future__ import annotations

import collections
import io
import linecache
import marshal
import mmap
import os
import pickle
import struct
import sys
import traceback
import types

import cloudpickle

from ._protocol import Result
from ._refs import collecting
from .exceptions import MinirtError, TaskError

INLINE_MAX = 100 * 1024   # values below this travel inside messages (as Ray's 100 KiB)
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


PLAIN = frozenset({type(None), bool, int, float, complex, str})


def serialize(value) -> Serialized:
    """Pickle ``value``; large contiguous buffers are returned separately."""
    if type(value) in PLAIN:          # fast path: nothing cloudpickle or buffers could add
        return Serialized(pickle.dumps(value, protocol=5), [], [])
    buffers: list[memoryview] = []

    def keep(pb: pickle.PickleBuffer):
        buffers.append(pb.raw())
        return None               # out of band: read back as a read-only view

    with collecting() as contained:
        meta = dumps(value, buffer_callback=keep)
    return Serialized(meta, buffers, list(contained))


def to_inline(s: Serialized) -> bytes:
    """Return one bytes object holding the whole value (the file layout, in memory)."""
    if not s.buffers:
        return s.meta
    header, offsets, total = _layout(s)
    out = bytearray(total)
    out[:len(header)] = header
    for (off, n), part in zip(offsets, [s.meta] + s.buffers):
        out[off:off + n] = part
    return bytes(out)


# --- code objects keep their file, lines and source -----------------------------
class _Pickler(cloudpickle.Pickler):
    """cloudpickle's pickler, except for code objects (see the module docstring)."""

    dispatch_table = collections.ChainMap({types.CodeType: lambda code: _reduce_code(code)},
                                          cloudpickle.Pickler.dispatch_table)


def dumps(value, buffer_callback=None) -> bytes:
    """``cloudpickle.dumps(value, protocol=5)`` keeping code objects' file names."""
    with io.BytesIO() as f:
        _Pickler(f, protocol=5, buffer_callback=buffer_callback).dump(value)
        return f.getvalue()


_sources: dict[str, tuple] = {}    # file name -> (linecache's list, joined text) last sent


def _shown_filename(filename: str) -> str:
    """The name a traceback should show: ``Cell In[3]`` for a notebook cell, as IPython does."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return filename
    try:
        shell = ipython.get_ipython()
        label = shell.compile.format_code_name(filename) if shell is not None else None
    except Exception:  # noqa: BLE001 - an unusual shell: keep the real name
        return filename
    return f"{label[0]} {label[1]}" if label else filename


def _source_of(filename: str):
    """The source text to send along, or None when the worker can read the file itself."""
    if os.path.isfile(filename):
        return None
    lines = linecache.getlines(filename)
    if not lines:
        return None
    cached = _sources.get(filename)
    if cached is None or cached[0] is not lines:   # the same str object: pickled once per dump
        cached = _sources[filename] = (lines, "".join(lines))
    return cached[1]


def _renamed(code: types.CodeType, filename: str) -> types.CodeType:
    consts = tuple(_renamed(c, filename) if isinstance(c, types.CodeType) else c
                   for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def _reduce_code(code: types.CodeType):
    real = code.co_filename
    shown = _shown_filename(real)
    source = _source_of(real)
    if shown != real:
        code = _renamed(code, shown)
    try:
        data = marshal.dumps(code)
    except ValueError:        # a constant marshal cannot write: cloudpickle's own way
        return cloudpickle.Pickler.dispatch_table[types.CodeType](code)
    return (_load_code, (data, shown, source))


def _load_code(data: bytes, filename: str, source):
    """Rebuild a code object; make its source known to this process's ``linecache``."""
    if source is not None:
        lines = source.splitlines(True)
        # pdb looks a file up by its absolute path ("Cell In[3]" -> /cwd/Cell In[3]).
        for name in (filename, os.path.abspath(filename)):
            if name not in linecache.cache:
                linecache.cache[name] = (len(source), None, lines, name)
    return marshal.loads(data)


def _layout(s: Serialized):
    """Return (header bytes, [(offset, length)] of meta and buffers, total size)."""
    parts = [s.meta] + s.buffers
    header_len = _HEAD.size + _ENTRY.size * len(parts)
    offsets, pos = [], _align(header_len)
    for p in parts:
        n = p.nbytes if isinstance(p, memoryview) else len(p)
        offsets.append((pos, n))
        pos = _align(pos + n)
    header = _HEAD.pack(_MAGIC, len(s.buffers), len(s.meta)) + b"".join(
        _ENTRY.pack(o, n) for o, n in offsets)
    return header, offsets, pos


def write_file(s: Serialized, path: str) -> int:
    """Write ``s`` into a new file at ``path`` (mode 0600); return its size."""
    header, offsets, pos = _layout(s)
    parts = [s.meta] + s.buffers
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.ftruncate(fd, pos)
        _pwrite_all(fd, header, 0)
        for (off, _), part in zip(offsets, parts):
            _pwrite_all(fd, part, off)
    except BaseException:
        os.close(fd)
        unlink(path)
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
    if view[:4] != _MAGIC:
        raise ValueError(f"{path} is not a minirt object file")
    return _unpack(view)


def _unpack(view: memoryview):
    """Rebuild a value from the layout of :func:`_layout` held in a read-only view."""
    _, nbuf, _ = _HEAD.unpack_from(view, 0)
    parts = []
    for i in range(nbuf + 1):
        off, n = _ENTRY.unpack_from(view, _HEAD.size + i * _ENTRY.size)
        parts.append(view[off:off + n])
    return pickle.loads(parts[0], buffers=parts[1:])


def unlink(path: str) -> None:
    """Delete a file if it is there."""
    try:
        os.unlink(path)
    except (FileNotFoundError, NotADirectoryError):
        pass


def load(kind: int, data):
    """Rebuild a value from ``(INLINE, bytes)`` or ``(FILE, (path, spill_path))``.

    A file may be spilled to disk between the moment its path was sent and the
    moment it is opened; spilling copies before it removes, so one of the two
    paths always exists.
    """
    if kind == INLINE:
        if data[:4] == _MAGIC:            # out-of-band buffers: see to_inline
            return _unpack(memoryview(data))
        return pickle.loads(data)
    path, spill_path = data
    try:
        return map_file(path)
    except FileNotFoundError:
        return map_file(spill_path)


def dumps_function(fn) -> bytes:
    """Pickle a function or class by value when it cannot be imported by name."""
    return dumps(fn)


class Raised:
    """What a failed task stores instead of a value: the error to raise on ``get``.

    Pickled as the error's own pickle (checked by :func:`error_bytes`) plus the
    plain text needed to build a ``TaskError`` when that pickle cannot be loaded.
    """

    __slots__ = ("error",)

    def __init__(self, error: BaseException):
        self.error = error

    def __reduce__(self):
        return (_raised_from, (_portable_blob(self.error), _fallback_fields(self.error)))


def error_bytes(error: BaseException) -> bytes:
    """Pickle ``error`` (a TaskError or a minirt error) so that loading it never fails."""
    return pickle.dumps(Raised(error), protocol=5)


def error_results(returns, error: BaseException) -> list:
    """Every one of ``returns`` (ids) set to ``error``: the results of a failed task."""
    data = error_bytes(error)
    return [Result(oid, INLINE, data, True, ()) for oid in returns]


def _raised_from(blob, fallback) -> Raised:
    if blob is not None:
        try:
            return Raised(pickle.loads(blob))
        except Exception:  # noqa: BLE001 - e.g. a class the reader cannot import
            pass
    function_name, traceback_str, pid, type_name = fallback
    return Raised(TaskError(function_name, traceback_str, None, pid, cause_name=type_name))


def _fallback_fields(error: BaseException) -> tuple:
    if isinstance(error, TaskError):
        name = type(error.cause).__name__ if error.cause is not None else error.cause_name
        return (error.function_name, error.traceback_str, error.pid, name)
    return ("minirt", f"{type(error).__name__}: {error}", None, type(error).__name__)


def _portable_blob(error: BaseException):
    """A pickle of ``error`` that loads again here, or None.

    Tried in turn: the normal pickle; the user's exceptions rebuilt from their
    state (``__new__``, ``args``, ``__dict__``) without calling ``__init__``,
    which takes care of ``__init__(self, msg, status)``; the same with the
    ``args`` only (as text when they are not plain values).
    """
    for pickler in (_Pickler, _StatePickler, _ArgsPickler):
        try:
            with io.BytesIO() as f:
                pickler(f, protocol=5).dump(error)
                blob = f.getvalue()
            pickle.loads(blob)
            return blob
        except Exception:  # noqa: BLE001 - try the next, simpler form
            continue
    return None


class _StatePickler(_Pickler):
    """Pickles user exceptions (not minirt's) by state instead of by constructor call."""

    keep_state = True

    def reducer_override(self, obj):
        if isinstance(obj, BaseException) and not isinstance(obj, MinirtError):
            state = dict(getattr(obj, "__dict__", None) or {}) if self.keep_state else {}
            args = obj.args if self.keep_state else tuple(
                a if type(a) in PLAIN else repr(a) for a in obj.args)
            return (_exception_from_state, (type(obj), args, state))
        return super().reducer_override(obj)


class _ArgsPickler(_StatePickler):
    keep_state = False


def _exception_from_state(cls, args, state):
    err = cls.__new__(cls, *args)
    err.args = args
    if state:
        err.__dict__.update(state)
    return err


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def user_frames(exc):
    """``exc``'s traceback from its first frame outside minirt (None if it has none)."""
    tb = getattr(exc, "__traceback__", None)
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        tb = tb.tb_next
    return tb


def remote_traceback(exc: BaseException) -> str:
    """Format ``exc`` as seen from user code: minirt's own outer frames are left out."""
    tb = user_frames(exc)
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))


def describe_exception(exc: BaseException, function_name: str, pid: int):
    """Wrap a user exception as a TaskError carrying its traceback (see :func:`error_bytes`)."""
    if isinstance(exc, MinirtError):
        return exc      # an upstream TaskError or ActorDiedError re-raised by a nested get
    return TaskError(function_name, remote_traceback(exc), exc, pid)
