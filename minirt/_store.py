"""The object store of one node: shared-memory files, capacity, spilling.

Each node owns a private directory on the shared-memory filesystem
(``/dev/shm/minirt-<session>/n<i>``, mode 0700). A large object is one file
there, written once by the process that made it (see ``_serial.py``) and
mapped read-only by every reader on the node::

    producer --write_file--> /dev/shm/minirt-<s>/n0/<id>   (counted in `used`)
                                   |  over capacity?
                                   v
                             <session_dir>/spill/n0/<id>   (on disk, still mappable)

Past ``capacity`` the oldest objects are *spilled*: copied to disk and
removed from shared memory. Readers that already mapped an object keep their
mapping (the kernel keeps the pages until they unmap), and later readers map
the spilled file, so data read back is always the data written. If spilling
fails too, :class:`~minirt.exceptions.ObjectStoreFullError` is raised and
nothing is counted that was not stored.

``/dev/shm`` itself may be smaller than the store's capacity (Docker gives
64 MB) or filled by others: a producer that cannot write its file there
writes it straight into the spill directory (:func:`write_value`), and the
store counts it as spilled.

The disk holding the spill directory counts as full above
``RAY_local_fs_capacity_threshold`` (Ray's name, default 0.95) of its size,
counting the object about to be written (1 turns the check off): spilling then raises
:class:`~minirt.exceptions.OutOfDiskError` (an ``ObjectStoreFullError``)
naming the directory and its free space, before anything is written. A write
that fails anyway (ENOSPC, EDQUOT...) raises the same error, and the
half-written file is removed: never a raw ``OSError``, never a partial file.

Only the head uses this class, under its lock, except for the slow part of
spilling: :meth:`NodeStore.write_spills` copies files without it (see
``_spill.py``: plan under the lock, write without it, count under it again).
Copies between simulated nodes (``init(num_nodes=3)``) run on copy threads
(:meth:`~minirt._objects.ObjectTable.fetch`).
"""

from __future__ import annotations

import collections
import errno
import os
import shutil

from . import _serial
from ._serial import unlink
from .exceptions import ObjectStoreFullError, OutOfDiskError

# write errors that mean "this filesystem is full", not "this value is broken"
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.ENOMEM, errno.EFBIG)
FS_CAPACITY_THRESHOLD = 0.95      # Ray's default for RAY_local_fs_capacity_threshold


def disk_usage(path: str):
    """``shutil.disk_usage`` of the filesystem holding ``path`` (which may not exist yet)."""
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return shutil.disk_usage(path)


def fs_capacity_threshold() -> float:
    """``RAY_local_fs_capacity_threshold`` (default 0.95): the fraction of a disk that
    spilling may fill (1: no limit). A value that is not a number in (0, 1] means the default."""
    raw = os.environ.get("MINIRT_local_fs_capacity_threshold",
                         os.environ.get("RAY_local_fs_capacity_threshold", ""))
    try:
        value = float(raw)
    except ValueError:
        return FS_CAPACITY_THRESHOLD
    return value if 0.0 < value <= 1.0 else FS_CAPACITY_THRESHOLD


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


_DISK_ADVICE = ("free space on that disk, drop references to objects you no longer need "
                "(del ref) so less is spilled, or pass a larger object_store_memory to "
                "minirt.init() so less must be spilled")


def check_disk(spill_dir: str, size: int) -> None:
    """Raise OutOfDiskError if writing ``size`` bytes would fill ``spill_dir``'s disk past
    ``RAY_local_fs_capacity_threshold``.

    Args:
        spill_dir: where the spilled file would go.
        size: the bytes to be written.

    Raises:
        OutOfDiskError: the disk is (or would be) too full; the message names the
            directory, its free space and what to do.

    >>> check_disk("/tmp", 0)       # a disk with room: nothing happens
    """
    threshold = fs_capacity_threshold()
    if threshold >= 1.0:
        return                  # 1 turns the check off: only a failed write says "full"
    try:
        du = disk_usage(spill_dir)
    except OSError:
        return                  # cannot tell: the write itself will say
    if du.total <= 0:
        return
    full = 1.0 - (du.free - size) / du.total
    if full > threshold:
        raise OutOfDiskError(
            f"cannot spill {size} bytes to {spill_dir}: its disk has {_gib(du.free)} free of "
            f"{_gib(du.total)} and would be {full:.1%} full, over "
            f"RAY_local_fs_capacity_threshold={threshold}; {_DISK_ADVICE} (or raise the "
            "threshold with RAY_local_fs_capacity_threshold)")


def _write_failed(what: str, path: str, error: OSError) -> ObjectStoreFullError:
    """The error for a failed write to the spill directory (no raw OSError for the user)."""
    try:
        free = f"{_gib(disk_usage(path).free)} free"
    except OSError:
        free = "free space unknown"
    cls = OutOfDiskError if error.errno in _FULL_ERRNOS else ObjectStoreFullError
    return cls(f"{what} to the spill directory {path} failed ({error.strerror or error}; "
               f"{free} there); "
               f"{_DISK_ADVICE}")


def write_value(s, name: str, shm_dir: str, spill_dir: str) -> int:
    """Write a serialized value as store file ``name``; return its size.

    The file goes to ``shm_dir`` (shared memory); if that filesystem is full,
    straight to ``spill_dir`` on disk, where the store finds it (see
    :meth:`NodeStore.add`).

    Raises:
        ObjectStoreFullError: neither shared memory nor the spill directory
            could take the value.
    """
    try:
        return _serial.write_file(s, os.path.join(shm_dir, name))
    except OSError as e:
        if e.errno not in _FULL_ERRNOS:
            raise
        first = e
    try:
        check_disk(spill_dir, s.size)
    except OutOfDiskError as e:
        raise OutOfDiskError(f"no room for an object of {s.size} bytes: shared memory "
                             f"({shm_dir}) is full ({first.strerror}), and {e}") from None
    try:
        _private_dirs(spill_dir)
        return _serial.write_file(s, os.path.join(spill_dir, name))    # removed if it fails
    except OSError as e:
        raise _write_failed(f"shared memory ({shm_dir}) is full ({first.strerror}) and "
                            f"writing an object of {s.size} bytes",
                            spill_dir, e) from e


class NodeStore:
    """Book-keeping for the files of one node's store."""

    def __init__(self, index: int, shm_dir: str, spill_dir: str, capacity: int):
        self.index = index
        self.shm_dir = shm_dir
        self.spill_dir = spill_dir
        self.capacity = capacity
        self.used = 0
        self.spilled_bytes = 0
        # oid -> [size, spilled?]; insertion order = age, for spilling oldest first
        self._files: collections.OrderedDict[bytes, list] = collections.OrderedDict()
        self._being_spilled: set[bytes] = set()   # chosen by plan_spill, not ended yet
        self._spilling = 0                         # their bytes (still counted in `used`)
        _private_dirs(shm_dir)

    def shm_path(self, oid: bytes) -> str:
        return os.path.join(self.shm_dir, oid.hex())

    def locate(self, oid: bytes) -> tuple[str, str]:
        """Where a reader should look: the shared-memory path first, then the spill path."""
        shm, spill = self.shm_path(oid), os.path.join(self.spill_dir, oid.hex())
        entry = self._files.get(oid)
        return (spill, spill) if entry is not None and entry[1] else (shm, spill)

    def __contains__(self, oid: bytes) -> bool:
        return oid in self._files

    def needs_room(self, oid: bytes, size: int) -> bool:
        """True if counting ``oid`` (``size`` bytes, not counted yet) would first need a spill."""
        return (oid not in self._files and self.used + size > self.capacity
                and not os.path.exists(os.path.join(self.spill_dir, oid.hex())))

    def add(self, oid: bytes, size: int) -> None:
        """Account for a file a producer wrote at ``shm_path(oid)``; spill if needed.

        A file the producer had to write to the spill directory is counted as
        spilled. Raises ObjectStoreFullError, with nothing counted, if it does not fit.
        (The head spills first, without its lock: see ``_spill.py``.)
        """
        if os.path.exists(os.path.join(self.spill_dir, oid.hex())):
            self._files[oid] = [size, True]
            self.spilled_bytes += size
            return
        if self.used + size > self.capacity:
            self.make_room(size)
        self._files[oid] = [size, False]
        self.used += size

    def discard(self, oid: bytes) -> None:
        """Delete the file of an object that was never counted (both places it may be)."""
        unlink(self.shm_path(oid))
        unlink(os.path.join(self.spill_dir, oid.hex()))

    def remove(self, oid: bytes) -> None:
        entry = self._files.pop(oid, None)
        if entry is None:
            return
        size, spilled = entry
        if spilled:
            self.spilled_bytes -= size
            unlink(os.path.join(self.spill_dir, oid.hex()))
        else:
            self.used -= size
            unlink(self.shm_path(oid))

    def make_room(self, size: int) -> None:
        """Spill the oldest objects until ``size`` more bytes fit in shared memory, at once
        (:meth:`plan_spill`, :meth:`write_spills` and :meth:`end_spill` in one go).

        Raises:
            ObjectStoreFullError: spilling failed, or could not free enough.
        """
        victims = self.plan_spill(size)
        copied, failed, error = self.write_spills(victims)
        error = self.end_spill(victims, copied, failed, error)
        if error is not None:
            raise error
        if self.used + size > self.capacity:
            raise self._full(size)

    # Spilling in three steps, so that the copying runs outside the head's lock:
    # plan (under it) -> write (without it) -> end (under it: the bookkeeping).
    def plan_spill(self, size: int) -> list[tuple[bytes, int]]:
        """Choose the oldest objects to spill so that ``size`` more bytes fit once the
        spills in progress are done, and mark them as being spilled.

        Returns:
            ``[(oid, size), ...]``: give it to :meth:`write_spills` then :meth:`end_spill`
            (empty if the spills in progress make room already).

        Raises:
            ObjectStoreFullError: even spilling everything would not make room.
        """
        room = self.capacity - self.used + self._spilling
        victims = []
        for oid, entry in self._files.items():
            if room >= size:
                break
            if entry[1] or oid in self._being_spilled:
                continue
            victims.append((oid, entry[0]))
            room += entry[0]
        if room < size:
            raise self._full(size)
        for oid, n in victims:
            self._being_spilled.add(oid)
            self._spilling += n
        return victims

    def write_spills(self, victims):
        """Copy the files of ``victims`` to the spill directory (slow: call it without the
        head's lock; nothing is counted here). Stops at the first failure.

        Returns:
            ``(copied oids, the oid that failed or None, its ObjectStoreFullError or None)``.
        """
        copied = []
        for oid, size in victims:
            try:
                self._write_spill(oid, size)
            except ObjectStoreFullError as e:
                return copied, oid, e
            copied.append(oid)
        return copied, None, None

    def end_spill(self, victims, copied, failed, error):
        """Count the spills :meth:`write_spills` did (under the lock); return the error to
        report, or None (an object freed while it was copied is no failure)."""
        for oid, n in victims:
            self._being_spilled.discard(oid)
            self._spilling -= n
        for oid in copied:
            entry = self._files.get(oid)
            if entry is None or entry[1]:          # freed (or cleared) meanwhile
                unlink(os.path.join(self.spill_dir, oid.hex()))
                continue
            unlink(self.shm_path(oid))
            entry[1] = True
            self.used -= entry[0]
            self.spilled_bytes += entry[0]
        if failed is not None and failed not in self._files:
            return None                            # its source was freed under the copy
        return error

    def _full(self, size: int) -> ObjectStoreFullError:
        return ObjectStoreFullError(
            f"node {self.index}'s object store is full ({self.used} of {self.capacity} bytes "
            f"used, {size} more wanted) "
            "and nothing more could be spilled; drop references you no longer need "
            "or pass a larger object_store_memory to minirt.init()")

    def _write_spill(self, oid: bytes, size: int) -> None:
        check_disk(self.spill_dir, size)
        src, dst = self.shm_path(oid), os.path.join(self.spill_dir, oid.hex())
        try:
            _private_dirs(self.spill_dir)
            copy_private(src, dst)
        except OSError as e:
            unlink(dst)             # never a half-written file
            raise _write_failed(f"spilling object {oid.hex()} ({size} bytes)",
                                self.spill_dir, e) from e

    def clear(self) -> None:
        shutil.rmtree(self.shm_dir, ignore_errors=True)
        shutil.rmtree(self.spill_dir, ignore_errors=True)
        self._files.clear()
        self.used = self.spilled_bytes = 0


def _private_dirs(path: str) -> None:
    """Create ``path`` and any missing parents with mode 0700 (makedirs' mode skips parents)."""
    if not os.path.isdir(path):
        _private_dirs(os.path.dirname(path))
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass


def copy_private(src: str, dst: str) -> None:
    """Copy a file into a new file that only the user can read (mode 0600 from the start)."""
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(src, "rb") as fsrc, os.fdopen(fd, "wb") as fdst:
        shutil.copyfileobj(fsrc, fdst, 1 << 22)
