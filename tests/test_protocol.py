"""The wire (minirt/_protocol.py): the head's Outbox never blocks on a full pipe."""

import multiprocessing
import os
import threading

from minirt._protocol import Outbox


class _Worker:
    """What the Outbox needs of a worker: its pipe and whether it died (hashable)."""

    def __init__(self, conn):
        self.conn, self.dead = conn, False


def test_outbox_keeps_what_a_full_pipe_cannot_take_in_order():
    head_end, worker_end = multiprocessing.Pipe()
    os.set_blocking(head_end.fileno(), False)          # as Control.register_worker does
    watched, signalled = [], []
    box = Outbox(lambda w, on: watched.append(on))
    w = _Worker(head_end)
    for i in range(40):                                # 4 MB: far more than the pipe holds
        assert box.send(w, ("task", None, i, b"x" * 100_000))
    box.send(w, ("cancel_task", None, 7), now=True, then=lambda: signalled.append(True))
    assert watched == [True], "the control thread was not asked to wait for room"
    assert box.waiting(w) > 1_000_000 and not signalled

    got = []
    reader = threading.Thread(target=lambda: got.extend(worker_end.recv() for _ in range(41)))
    reader.start()
    while box.waiting(w):                              # the control thread's job: room -> flush
        box.flush(w)
    reader.join(10)
    assert [m[2] for m in got] == list(range(40)) + [7]
    assert signalled == [True], "then() did not run once its message was in the pipe"
    assert watched == [True, False]


def test_outbox_held_messages_go_after_the_backlog():
    head_end, worker_end = multiprocessing.Pipe()
    os.set_blocking(head_end.fileno(), False)
    box = Outbox(lambda w, on: None)
    w = _Worker(head_end)
    for i in range(10):
        box.send(w, ("task", None, i, b"x" * 100_000))
    box.hold()                                         # a control-thread turn
    box.send(w, ("reply", None, 10))
    box.release()
    got = []
    reader = threading.Thread(target=lambda: got.extend(worker_end.recv() for _ in range(11)))
    reader.start()
    while box.waiting(w):
        box.flush(w)
    reader.join(10)
    assert [m[2] for m in got] == list(range(11))


def test_outbox_forgets_a_dead_workers_backlog():
    head_end, worker_end = multiprocessing.Pipe()
    os.set_blocking(head_end.fileno(), False)
    watched = []
    box = Outbox(lambda w, on: watched.append(on))
    w = _Worker(head_end)
    for i in range(10):
        box.send(w, ("task", None, i, b"x" * 100_000))
    worker_end.close()
    box.flush(w)                                       # the pipe is broken: drop, stop watching
    assert box.waiting(w) == 0 and watched == [True, False]
    w.dead = True
    assert box.send(w, ("exit", None)) is False
