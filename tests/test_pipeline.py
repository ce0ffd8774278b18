"""Pipelining (minirt/_pipeline.py): short tasks sent ahead to busy workers.

Each test checks that the mechanism ran (the head's ``sent``/``taken_back``
counters) and that what the caller sees is as without it: every result, no
task run twice or lost, cancels and crashes blamed on the right task.
"""

import os
import time

import pytest

import minirt
from minirt import _context, _pipeline
from minirt.exceptions import TaskCancelledError, WorkerCrashedError

# Thousands of no-op tasks on purpose: the granularity hint is expected.
pytestmark = pytest.mark.filterwarnings("ignore::minirt.util._teach.MinirtTeachingWarning")


@minirt.remote
def short(i):
    return i * 2


@minirt.remote
def mark(path, i):
    """Short; leaves a file per call, so a test can count the runs."""
    with open(os.path.join(path, f"{i}-{os.getpid()}-{time.monotonic_ns()}"), "w"):
        pass
    return i


@minirt.remote
def sleepy(seconds):
    time.sleep(seconds)
    return seconds


@minirt.remote
def crasher(then_exit):
    if then_exit:
        time.sleep(0.3)
        os._exit(1)
    return "ok"


@minirt.remote
def crasher_big(then_exit):
    """Like crasher, but its result (90 KB, inline) takes two reads of the pipe."""
    if then_exit:
        os._exit(1)
    return b"x" * 90_000


@minirt.remote
def parent(n):
    """Short when ``n`` is 0; else submits ``n`` children and waits for them."""
    if not n:
        return []
    return minirt.get([short.remote(i) for i in range(n)])


def _pipeline_of():
    return _context.peek().sched.pipeline


def _runs(path, i):
    return [f for f in os.listdir(path) if f.startswith(f"{i}-")]


@pytest.fixture
def one_cpu():
    minirt.init(num_cpus=1)
    yield
    minirt.shutdown()


def test_short_tasks_are_sent_ahead_and_all_results_come_back():
    minirt.init(num_cpus=2)
    try:
        minirt.get([short.remote(i) for i in range(50)])        # now known to be short
        p = _pipeline_of()
        before = p.sent
        assert minirt.get([short.remote(i) for i in range(3000)]) == \
            [i * 2 for i in range(3000)]
        assert p.sent > before, "no task was sent ahead to a busy worker"
        assert not any(w.queue for n in _context.peek().nodes for w in n.workers)
        assert minirt.available_resources()["CPU"] == 2
    finally:
        minirt.shutdown()


def test_long_tasks_are_never_sent_ahead(one_cpu):
    minirt.get(sleepy.remote(0.05))                   # its function is known to be long
    p = _pipeline_of()
    before = p.sent
    t0 = time.monotonic()
    assert minirt.get([sleepy.remote(0.05) for _ in range(4)]) == [0.05] * 4
    assert p.sent == before
    assert time.monotonic() - t0 >= 0.2               # one at a time on the one CPU


def test_no_short_task_is_queued_behind_a_long_one():
    minirt.init(num_cpus=2)
    try:
        minirt.get([short.remote(i) for i in range(20)])
        minirt.get(sleepy.remote(0.05))
        slow = sleepy.remote(2.0)                # holds one CPU
        time.sleep(0.05)
        quick = [short.remote(i) for i in range(200)]   # pipelined on the other worker
        assert minirt.get(quick, timeout=30) == [i * 2 for i in range(200)]
        ready, _ = minirt.wait([slow], timeout=0)
        assert not ready, "the short tasks waited for the long one"
        assert minirt.get(slow) == 2.0
    finally:
        minirt.shutdown()


def test_the_state_api_says_which_task_runs_and_which_is_queued(one_cpu):
    from minirt.util.state import list_tasks
    minirt.get([sleepy.remote(0) for _ in range(20)])               # known to be short
    head = _context.peek()
    with head._lock:
        first = sleepy.remote(0.5)
        queued = sleepy.remote(0)
    states = sorted(t.state for t in list_tasks(filters=[("name", "=", "sleepy")])
                    if t.state != "FINISHED")
    assert states == ["RUNNING", "SUBMITTED_TO_WORKER"]
    assert minirt.get([first, queued], timeout=30) == [0.5, 0]


def test_a_cancelled_queued_task_never_runs(one_cpu, tmp_path):
    path = str(tmp_path)
    minirt.get([mark.remote(path, -1) for _ in range(20)])          # known to be short
    minirt.get([sleepy.remote(0) for _ in range(20)])               # this one too
    p = _pipeline_of()
    sent, back = p.sent, p.taken_back
    head = _context.peek()
    with head._lock:                     # the control thread reads nothing meanwhile
        first = sleepy.remote(0.3)       # runs on the one CPU...
        queued = mark.remote(path, 7)    # ...so this one can only be queued behind it
        assert p.sent == sent + 1
        minirt.cancel(queued)
    assert p.taken_back == back + 1
    with pytest.raises(TaskCancelledError):
        minirt.get(queued, timeout=30)
    assert minirt.get(first, timeout=30) == 0.3
    assert minirt.get(mark.remote(path, 8), timeout=30) == 8   # the worker goes on
    assert _runs(path, 7) == [], "the cancelled task ran"
    assert len(_runs(path, 8)) == 1


def test_a_crash_is_blamed_on_the_running_task_and_the_queue_is_placed_again(one_cpu, tmp_path):
    path = str(tmp_path)
    minirt.get([crasher.remote(False) for _ in range(20)])
    minirt.get([mark.remote(path, -1) for _ in range(20)])
    p = _pipeline_of()
    sent, back = p.sent, p.taken_back
    dying = crasher.options(max_retries=0).remote(True)
    queued = [mark.options(max_retries=0).remote(path, i) for i in range(3)]
    assert p.sent == sent + 3, "the tasks were not queued behind the running one"
    with pytest.raises(WorkerCrashedError):
        minirt.get(dying, timeout=30)
    # Queued behind it, never started: placed again without using a retry.
    assert minirt.get(queued, timeout=30) == [0, 1, 2]
    assert p.taken_back == back + 3
    for i in range(3):
        assert len(_runs(path, i)) == 1, f"task {i} ran {len(_runs(path, i))} times"


@pytest.mark.parametrize("fn", ["crasher", "crasher_big"])
def test_a_result_written_before_the_worker_died_is_not_lost(one_cpu, fn):
    fn = globals()[fn]
    minirt.get([fn.remote(False) for _ in range(20)])
    p = _pipeline_of()
    sent = p.sent
    head = _context.peek()
    with head._lock:          # both the "done" and the death wait for the control thread
        first = fn.options(max_retries=0).remote(False)
        second = fn.options(max_retries=0).remote(True)     # queued, then exits
        assert p.sent == sent + 1
        time.sleep(1.0)
    # The death is seen while the first's "done" is (partly) unread: it is read first.
    assert minirt.get(first, timeout=30) in ("ok", b"x" * 90_000), \
        "the finished task was blamed for the crash"
    with pytest.raises(WorkerCrashedError):
        minirt.get(second, timeout=30)


def test_a_task_that_blocks_in_get_hands_its_queue_back(one_cpu):
    minirt.get([parent.remote(0) for _ in range(20)])
    minirt.get([short.remote(i) for i in range(20)])
    p = _pipeline_of()
    back = p.taken_back
    # On one CPU the children are queued behind their parent, which then waits for
    # them: without the hand-back this would never finish.
    assert minirt.get(parent.remote(3), timeout=30) == [0, 2, 4]
    assert p.taken_back > back


def test_a_late_cancel_signal_does_not_hit_the_next_task(one_cpu):
    minirt.get([crasher.remote(False) for _ in range(20)])
    minirt.get([sleepy.remote(0) for _ in range(20)])             # known to be short
    p = _pipeline_of()
    sent = p.sent
    head = _context.peek()
    with head._lock:                     # the control thread reads nothing meanwhile
        first = crasher.remote(False)
        second = sleepy.remote(1.0)      # short so far: queued behind "first"
        assert p.sent == sent + 1
        time.sleep(0.5)                  # "first" has finished, "second" is running
        minirt.cancel(first)             # the head still thinks "first" runs: it signals
    assert minirt.get(second, timeout=30) == 1.0, "the signal for 'first' stopped 'second'"
    assert minirt.get(first, timeout=30) == "ok"      # it had finished: the cancel came late


def test_constants_are_sane():
    assert _pipeline.DEPTH >= 1 and 0 < _pipeline.SHORT < _pipeline.LATE


@minirt.remote
def chatty_or_echo(data, chatty):
    """Short (returns the size of ``data``), unless ``chatty``: then 2 MB of prints
    and a pause, while short tasks with 100 KB arguments are queued behind it."""
    if chatty:
        for _ in range(20_000):
            print("y" * 100)
        time.sleep(2)
    return len(data)


def test_a_full_pipe_never_blocks_the_head(one_cpu):
    # The head used to write to a worker's pipe with a blocking write, under its
    # lock: 4 queued tasks of 100 KB each do not fit in the pipe, so the submitting
    # thread waited for the chatty task to end, holding the lock; the worker's
    # prints then filled its own pipe to the head, which nobody read: a deadlock.
    minirt.get([chatty_or_echo.remote(b"", False) for _ in range(5)])   # known short
    p = _pipeline_of()
    before = p.sent
    first = chatty_or_echo.remote(b"", True)
    time.sleep(0.01)
    refs = [chatty_or_echo.remote(b"x" * 100_000, False) for _ in range(8)]
    assert p.sent - before >= 3, "the 100 KB tasks were not queued on the busy worker"
    ready, _ = minirt.wait([first], timeout=0)
    assert not ready, "submitting waited for the chatty task to end"
    assert minirt.put(1) is not None                  # the API answers meanwhile
    assert minirt.get(refs + [first], timeout=60) == [100_000] * 8 + [0]
