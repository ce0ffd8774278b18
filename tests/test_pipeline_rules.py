"""The pipeline's decisions (minirt/_pipeline.py) on plain records: no process started.

A stand-in scheduler records what would be sent; the workers are the pool's
real ``Worker`` records (with a dummy process), the tasks real ``Task`` records.
"""

import time
import types

import pytest

from minirt import _pipeline
from minirt._ledger import Ledger
from minirt._objects import Obj
from minirt._pipeline import DEPTH, SHORT, Pipeline
from minirt._pool import Worker
from minirt._protocol import TaskSpec
from minirt._serial import FILE, INLINE
from minirt._tasks import Task

FAST, SLOW = b"fast", b"slow"


class FakeSched:
    """What the pipeline uses of the scheduler, recording sends and events."""

    def __init__(self, nodes=1):
        self.sent, self.events = [], []
        self.fns = {FAST: b"f", SLOW: b"s"}
        self.table = types.SimpleNamespace(objects={})
        self.nodes = [types.SimpleNamespace(ledger=Ledger({"CPU": 2})) for _ in range(nodes)]
        self.pipeline = Pipeline(self)

    def send(self, worker, msg, now=False):
        self.sent.append((worker.wid, msg[0], msg[2]))
        return True

    def event(self, kind, **fields):
        self.events.append((kind, fields))

    def descriptors(self, spec, node):
        return [], spec.args[:2]

    def release(self, holder):
        return any([n.ledger.release(holder) for n in self.nodes])


_ids = iter(range(10 ** 6))


def task(fn=FAST, resources=None, **kw):
    spec = TaskSpec("task", b"t%d" % next(_ids), fn, fn.decode(), (INLINE, b""), [], [b"r"],
                    resources or {"CPU": 1.0}, **kw)
    return Task(spec)


def busy_worker(sched, wid, running, node=0):
    """A worker running ``running`` (started now), its CPUs held in the ledger."""
    w = Worker(wid, node, types.SimpleNamespace(pid=1000 + wid), None)
    w.task = running
    running.worker, running.node, running.started = w, node, time.monotonic()
    sched.nodes[node].ledger.acquire(running, running.spec.resources)
    sched.pipeline.running(w)
    return w


def short_fns(sched, *fns):
    for fn in fns:
        sched.pipeline.ran(fn, SHORT / 10)


def one_busy_worker():
    """A scheduler whose one worker runs a short task; returns (scheduler, worker)."""
    s = FakeSched()
    short_fns(s, FAST)
    return s, busy_worker(s, 1, task())


def test_a_short_task_goes_to_the_worker_with_the_shortest_queue():
    s = FakeSched()
    short_fns(s, FAST)
    a, b = busy_worker(s, 1, task()), busy_worker(s, 2, task())
    sent = [task() for _ in range(3)]
    assert all(s.pipeline.send_ahead(t) for t in sent)
    assert [len(a.queue), len(b.queue)] == [2, 1]
    assert [wid for wid, kind, _ in s.sent] == [1, 2, 1] and {k for _, k, _ in s.sent} == {"task"}
    assert s.pipeline.sent == 3
    assert sent[0].worker is a and sent[0].node == 0
    assert [k for k, _ in s.events] == ["place"] * 3
    assert s.nodes[0].ledger.avail["CPU"] == 0.0          # queued tasks hold nothing


def test_queues_are_bounded():
    s, w = one_busy_worker()
    assert all(s.pipeline.send_ahead(task()) for _ in range(DEPTH))
    assert not s.pipeline.send_ahead(task())
    assert len(w.queue) == DEPTH


@pytest.mark.parametrize("why", ["unknown function", "long function", "max_calls", "streaming",
                                 "cancelled", "other shape", "actor call"])
def test_what_is_never_sent_ahead(why):
    s = FakeSched()
    short_fns(s, FAST)
    busy_worker(s, 1, task())
    t = {"unknown function": lambda: task(fn=b"new"),
         "long function": lambda: task(fn=SLOW),
         "max_calls": lambda: task(max_calls=3),
         "streaming": lambda: task(num_returns="streaming"),
         "cancelled": lambda: task(),
         "other shape": lambda: task(resources={"CPU": 2.0}),
         "actor call": lambda: task()}[why]()
    s.pipeline.ran(SLOW, SHORT * 5)
    if why == "cancelled":
        t.cancelled = True
    if why == "actor call":
        t.spec.kind = "call"
    assert not s.pipeline.send_ahead(t)
    assert s.sent == [] and t.worker is None


@pytest.mark.parametrize("why", ["long function running", "late", "retiring", "dead"])
def test_never_behind_a_task_that_may_take_long(why):
    s = FakeSched()
    short_fns(s, FAST)
    s.pipeline.ran(SLOW, SHORT * 5)
    w = busy_worker(s, 1, task(fn=SLOW if why == "long function running" else FAST))
    if why == "late":
        w.task.started -= _pipeline.LATE * 2
    if why == "retiring":
        w.retiring = True
    if why == "dead":
        w.dead = True
    assert not s.pipeline.send_ahead(task())


def test_a_large_argument_on_another_node_is_not_sent_ahead():
    s = FakeSched(nodes=2)
    short_fns(s, FAST)
    busy_worker(s, 1, task(), node=0)
    far = Obj()
    far.ready, far.kind, far.locs = True, FILE, (1,)
    s.table.objects[b"big"] = far
    t = task()
    t.spec.deps = [b"big"]
    assert not s.pipeline.send_ahead(t)
    far.locs = (0, 1)                                  # a copy is on the worker's node
    assert s.pipeline.send_ahead(t)


def test_the_next_task_takes_over_the_finished_ones_resources():
    s, w = one_busy_worker()
    first, second = w.task, task()
    assert s.pipeline.send_ahead(second)
    assert s.pipeline.next_task(w, first)
    assert w.task is second and not w.queue
    ledger = s.nodes[0].ledger
    assert ledger.holds(second) and not ledger.holds(first)
    assert ledger.avail["CPU"] == 1.0
    assert not s.pipeline.next_task(w, second)         # nothing queued: the caller gives back


def test_a_full_queue_has_room_again_once_its_head_runs():
    s, w = one_busy_worker()
    for _ in range(DEPTH):
        s.pipeline.send_ahead(task())
    assert not s.pipeline.send_ahead(task())
    w.task.started = time.monotonic()
    s.pipeline.next_task(w, w.task)
    w.task.started = time.monotonic()
    assert s.pipeline.send_ahead(task())


def test_take_back_tells_the_worker_and_forgets_the_placement():
    s, w = one_busy_worker()
    queued = [task() for _ in range(2)]
    for t in queued:
        s.pipeline.send_ahead(t)
    s.sent.clear()
    assert s.pipeline.take_back(w) == queued
    assert s.sent == [(1, "drop_tasks", [t.spec.tid for t in queued])]
    assert all(t.worker is None and t.node is None for t in queued)
    assert s.pipeline.taken_back == 2
    assert not s.pipeline.send_ahead(task())           # a blocked worker takes no more


def test_cancel_takes_only_a_queued_task():
    s, w = one_busy_worker()
    running = w.task
    queued = task()
    s.pipeline.send_ahead(queued)
    s.sent.clear()
    assert not s.pipeline.cancel(running)              # running: the usual cancel applies
    assert s.pipeline.cancel(queued)
    assert s.sent == [(1, "drop_tasks", [queued.spec.tid])]
    assert not w.queue and queued.worker is None
    assert not s.pipeline.cancel(queued)


def test_run_times_are_remembered_pessimistically():
    p = Pipeline(FakeSched())
    p.ran(FAST, 0.001)
    p.ran(FAST, 0.009)                 # one long run: not short any more
    assert p.fn_time[FAST] >= SHORT
    p.ran(FAST, 0.0)
    p.ran(FAST, 0.0)
    p.ran(FAST, 0.0)                   # short again after a few short runs
    assert p.fn_time[FAST] < SHORT
