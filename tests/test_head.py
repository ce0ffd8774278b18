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

from minirt._head import _MessageReader


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
