"""The head's reading of worker pipes: whole messages only, and never a blocking read.

A worker may stop in the middle of a message (stopped, slow, or killed); the
control thread must then keep what it has and go on serving everyone else,
never wait in a ``recv`` for the rest while it holds the head's lock.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import threading

import pytest

from minirt._protocol import MessageReader as _MessageReader


def _pipe():
    return multiprocessing.Pipe(duplex=True)


def _wire(msg) -> bytes:
    """The bytes Connection.send writes for ``msg``."""
    a, b = _pipe()
    a.send(msg)
    data = b""
    while b.poll(0):
        data += os.read(b.fileno(), 1 << 20)
    a.close()
    b.close()
    return data


def test_reader_returns_whole_messages_from_any_split():
    big = "z" * 40_000                          # > 16 KiB: header and body sent apart
    msgs = [("log", None, "p", big), ("done", [(b"x", 1)], b"t", [], 1.0, 2.0), ("refs", None)]
    wire = b"".join(_wire(m) for m in msgs)
    for step in (1, 3, 4096, len(wire)):
        a, b = _pipe()
        reader = _MessageReader(b.fileno())
        got = []
        for i in range(0, len(wire), step):
            os.write(a.fileno(), wire[i:i + step])
            while select.select([b.fileno()], [], [], 0)[0]:
                got += reader.read()               # never blocks: the pipe was readable
        assert got == msgs, step
        a.close()
        with pytest.raises(EOFError):
            reader.read()
        b.close()


def test_reader_never_waits_for_the_rest_of_a_message():
    a, b = _pipe()
    wire = _wire(("log", None, "p", "y" * 100_000))
    os.write(a.fileno(), wire[:10_000])           # the sender stops half-way
    reader = _MessageReader(b.fileno())
    done = threading.Event()
    box = []

    def read():
        box.append(reader.read())
        done.set()
    threading.Thread(target=read, daemon=True).start()
    assert done.wait(5), "read() blocked on a partial message"
    assert box == [[]]
    os.write(a.fileno(), wire[10_000:])
    got = []
    while select.select([b.fileno()], [], [], 0.5)[0] and not got:
        got += reader.read()
    assert got == [("log", None, "p", "y" * 100_000)]
    a.close()
    b.close()


# --- no slow work under the head's lock ---------------------------------------------------
GB = 1 << 30
COPY_BYTES = 1 * GB       # the size; /dev/shm here has room for it (df -h /dev/shm)


def test_a_big_cross_node_copy_does_not_stall_other_calls():
    """While node 1's 1 GB object is copied to the head node for a get, a get of a ready
    small object and f.remote() answer within 50 ms (the copy runs outside the lock)."""
    import time

    import numpy as np

    import minirt
    from minirt.cluster_utils import Cluster

    @minirt.remote
    def make(n):
        return np.ones(n, dtype=np.uint8)

    @minirt.remote
    def one():
        return 1

    store = 3 * COPY_BYTES
    c = Cluster(initialize_head=True,
                head_node_args={"num_cpus": 1, "object_store_memory": store})
    try:
        c.add_node(num_cpus=1, resources={"far": 1}, object_store_memory=store)
        minirt.init(address=c.address)
        big = make.options(resources={"far": 1}).remote(COPY_BYTES)
        minirt.wait([big], timeout=120)
        small = minirt.put(7)
        minirt.get(one.remote())                   # warm: a worker is idle on the head node
        head = minirt._context.peek()
        dst = os.path.join(head.nodes[0].store.shm_dir, big._id.hex())

        got = {}
        getter = threading.Thread(target=lambda: got.setdefault("v", minirt.get(big)))
        getter.start()
        deadline = time.monotonic() + 60
        while not os.path.exists(dst):             # the copy into node 0 has begun
            assert time.monotonic() < deadline, "the copy never started"
            time.sleep(0.001)
        slowest = 0.0
        for _ in range(5):
            t0 = time.monotonic()
            assert minirt.get(small) == 7
            ref = one.remote()
            slowest = max(slowest, time.monotonic() - t0)
        copying = getter.is_alive()                # the calls above overlapped the copy
        getter.join(120)
        assert copying, "the copy ended before the calls were measured: nothing was shown"
        assert slowest < 0.05, f"get/f.remote() took {slowest * 1000:.0f} ms during the copy"
        assert minirt.get(ref) == 1
        assert got["v"].nbytes == COPY_BYTES and got["v"][-1] == 1
        del got, big
    finally:
        c.shutdown()
