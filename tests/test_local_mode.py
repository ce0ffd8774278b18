"""Local mode (minirt/_local.py): the core API behaves the same with and without it.

The first tests run twice through the ``mode`` fixture: on the multi-process
runtime and with ``init(local_mode=True)``. The rest check what only local
mode promises: everything runs in the driver's process, in submission
order, with no child process, and ``init`` says that nothing runs in parallel.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import psutil
import pytest

import minirt
from minirt import _local
from minirt.exceptions import (ActorAlreadyExistsError, ActorDiedError, GetTimeoutError,
                               TaskError)
from tests.conftest import start_kernel
from tests.shared_remotes import Counter


@minirt.remote
def echo(x):
    return x


@minirt.remote
def where():
    return os.getpid()


@minirt.remote
def add_one_nested(x):
    return minirt.get(echo.remote(x)) + 1


@minirt.remote
def divide(a, b):
    quotient = a / b
    return quotient


@minirt.remote
def mutate(arr):
    arr.append(99)
    return len(arr)


@minirt.remote(max_retries=2, retry_exceptions=[KeyError])
def fails_until(path):
    with open(path, "a") as f:
        f.write("x")
    with open(path) as f:
        n = len(f.read())
    if n < 3:
        raise KeyError(f"attempt {n}")
    return n


@minirt.remote
class AsyncCounter:
    def __init__(self):
        self.n = 0

    async def incr(self):
        await asyncio.sleep(0.001)
        self.n += 1
        return self.n


@minirt.remote
def squares(n):
    for i in range(n):
        yield i * i


# --- the same tests in both modes ------------------------------------------------------
def test_tasks_and_nested_tasks(mode):
    assert minirt.get([echo.remote(i) for i in range(5)]) == [0, 1, 2, 3, 4]
    assert minirt.get(add_one_nested.remote(41)) == 42
    assert minirt.get(echo.remote(echo.remote(7))) == 7      # a ref argument is resolved


def test_put_get_and_a_task_cannot_change_the_callers_object(mode):
    data = [1, 2, 3]
    assert minirt.get(mutate.remote(data)) == 4
    assert data == [1, 2, 3]
    ref = minirt.put(data)
    assert minirt.get(mutate.remote(ref)) == 4
    assert minirt.get(ref) == [1, 2, 3]
    big = np.arange(300_000)                                 # above the inline size
    assert minirt.get(echo.remote(minirt.put(big))).sum() == big.sum()
    assert minirt.get(echo.remote(big)).sum() == big.sum()


def test_wait(mode):
    refs = [echo.remote(i) for i in range(4)]
    ready, rest = minirt.wait(refs, num_returns=4, timeout=30)
    assert ready == refs and rest == []
    ready, rest = minirt.wait(refs, num_returns=1, timeout=30)
    assert len(ready) == 1 and len(rest) == 3


def test_errors_keep_their_type_and_cause(mode):
    ref = divide.remote(1, 0)
    with pytest.raises(ZeroDivisionError) as info:
        minirt.get(ref)
    err = info.value
    assert isinstance(err, TaskError) and isinstance(err, minirt.exceptions.RayTaskError)
    assert isinstance(err.__cause__, ZeroDivisionError)
    assert "quotient = a / b" in str(err) and "divide" in str(err)
    assert err.task_id is not None and err.actor_id is None
    # a task depending on a failed one fails with the same error, without running
    with pytest.raises(ZeroDivisionError):
        minirt.get(echo.remote(ref))


def test_retries_of_exceptions(mode, tmp_path):
    path = str(tmp_path / "attempts")
    assert minirt.get(fails_until.remote(path)) == 3        # two failures retried
    with open(path) as f:
        assert f.read() == "xxx"
    retried = [e for e in minirt.events() if e["kind"] == "retry"]
    assert len(retried) == 2


def test_actors_keep_state_named_and_killed(mode):
    c = Counter.options(name="tally").remote(10)
    assert minirt.get([c.incr.remote() for _ in range(3)]) == [11, 12, 13]
    same = minirt.get_actor("tally")
    assert minirt.get(same.incr.remote(5)) == 18
    with pytest.raises(ActorAlreadyExistsError):
        Counter.options(name="tally").remote()
    with pytest.raises(IndexError) as info:
        minirt.get(c.boom.remote())
    assert info.value.actor_id is not None
    assert minirt.get(c.incr.remote()) == 19                 # an error does not end the actor
    minirt.kill(c)
    with pytest.raises(ActorDiedError):
        minirt.get(c.incr.remote(), timeout=30)
    with pytest.raises(ValueError):
        minirt.get_actor("tally")


def test_async_actor(mode):
    a = AsyncCounter.remote()
    assert minirt.get([a.incr.remote() for _ in range(3)]) == [1, 2, 3]


def test_generator_task(mode):
    assert [minirt.get(r) for r in squares.remote(4)] == [0, 1, 4, 9]


def test_cancel_of_a_finished_task_is_a_no_op(mode):
    ref = echo.remote(1)
    assert minirt.get(ref) == 1
    minirt.cancel(ref)
    assert minirt.get(ref) == 1


def test_resources_nodes_and_timeline(mode):
    assert minirt.cluster_resources()["CPU"] == 2.0
    assert minirt.available_resources()["CPU"] == 2.0
    nodes = minirt.nodes()
    assert len(nodes) == 1 and nodes[0]["Alive"] and nodes[0]["Resources"]["CPU"] == 2.0
    minirt.get([echo.remote(i) for i in range(3)])
    rows = [e for e in minirt.timeline() if e["name"] == "echo"]
    assert len(rows) == 3 and all(e["dur"] >= 0 for e in rows)


# --- local mode only ---------------------------------------------------------------
@pytest.fixture
def local(capsys):
    minirt.init(num_cpus=2, local_mode=True)
    yield capsys
    minirt.shutdown()


def test_init_says_nothing_runs_in_parallel(local):
    assert "nothing runs in parallel" in local.readouterr().out


def test_everything_runs_in_the_driver_and_starts_no_process(local):
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    c = Counter.remote()
    assert minirt.get(where.remote()) == os.getpid()
    assert minirt.get(c.pid.remote()) == os.getpid()
    assert minirt.get(add_one_nested.remote(1)) == 2
    assert {p.pid for p in psutil.Process().children(recursive=True)} == before
    assert not any(f"minirt-{os.getpid()}-" in name for name in os.listdir("/dev/shm"))


def test_tasks_run_at_submission_in_order(local):
    refs = [echo.remote(i) for i in range(5)]
    # Each ran when it was submitted, before the next was: submit, finish, submit, finish...
    steps = [(e["kind"], e["id"]) for e in minirt.events()
             if e["kind"] in ("submit", "finish") and e.get("task") == "echo"]
    assert len(steps) == 10
    assert [k for k, _ in steps] == ["submit", "finish"] * 5
    rows = [e for e in minirt.timeline() if e["name"] == "echo"]
    assert len(rows) == 5 and all(r["ts"] + r["dur"] <= s["ts"] + 1 for r, s in zip(rows, rows[1:]))
    assert minirt.get(refs) == [0, 1, 2, 3, 4]


def test_prints_appear_at_once_in_the_driver(local):
    @minirt.remote
    def shout():
        print("hello from the task")

    shout.remote()
    assert "hello from the task" in local.readouterr().out   # before any get


def test_the_cause_keeps_the_tasks_frames(local):
    with pytest.raises(ZeroDivisionError) as info:
        minirt.get(divide.remote(1, 0))
    tb = info.value.__cause__.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    assert tb.tb_frame.f_code.co_name == "divide"
    assert tb.tb_frame.f_locals == {"a": 1, "b": 0}


def test_objects_are_freed_when_no_ref_is_left(local):
    core = minirt._context.peek()
    assert isinstance(core, _local.LocalCore)
    ref = minirt.put(np.ones(1000))
    oid = ref._id
    inner = echo.remote([minirt.put("kept inside")])
    minirt.get(echo.remote(1))
    assert oid in core.local_objects.values
    del ref
    minirt.get(echo.remote(2))           # (reference changes are applied at API calls)
    assert oid not in core.local_objects.values
    assert minirt.get(minirt.get(inner)[0]) == "kept inside"   # held by the list's value


def test_actor_ends_with_its_last_handle(local):
    core = minirt._context.peek()
    c = Counter.remote()
    aid = c._aid
    minirt.get(c.incr.remote())
    del c
    minirt.get(echo.remote(0))
    assert core._actors.get(aid).dead


def test_get_of_what_never_comes_raises_instead_of_hanging(local):
    ref = minirt.ObjectRef(os.urandom(16))
    with pytest.raises(GetTimeoutError):
        minirt.get(ref, timeout=1)
    with pytest.raises(minirt.exceptions.ObjectLostError):
        minirt.get(ref)
    assert minirt.wait([ref], timeout=None) == ([], [ref])


def test_exit_actor_and_sys_exit_do_not_end_the_driver(local):
    @minirt.remote
    class Quitter:
        def stop(self):
            minirt.actor.exit_actor()

    @minirt.remote(max_retries=0)
    def leave():
        sys.exit(3)

    q = Quitter.remote()
    with pytest.raises(ActorDiedError, match=r"exit_actor\(\)"):
        minirt.get(q.stop.remote())
    with pytest.raises(minirt.exceptions.WorkerCrashedError, match="sys.exit"):
        minirt.get(leave.remote())


def test_bad_local_mode_arguments():
    with pytest.raises(TypeError, match="local_mode"):
        minirt.init(local_mode="yes")
    with pytest.raises(ValueError, match="local_mode"):
        minirt.init(local_mode=True, num_nodes=2)
    assert not minirt.is_initialized()


def test_breakpoint_in_a_task_is_plain_pdb(tmp_path):
    """A script in local mode: breakpoint() in a task reads the terminal (piped stdin)."""
    script = tmp_path / "bp.py"
    script.write_text(textwrap.dedent("""
        import minirt
        minirt.init(num_cpus=1, local_mode=True)

        @minirt.remote
        def task(x):
            y = x * 2
            breakpoint()
            return y

        print("result", minirt.get(task.remote(21)))
        minirt.shutdown()
    """))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONBREAKPOINT"}
    out = subprocess.run([sys.executable, str(script)], input="p y\nc\n", capture_output=True,
                         text=True, timeout=60, env=env, cwd=os.getcwd())
    assert out.returncode == 0, out.stderr
    assert "(Pdb) 42" in out.stdout and "result 42" in out.stdout


def _kernel_cell(kc, code, answers=()):
    """Run ``code`` in the kernel, answering its input requests (pdb's prompts) in turn."""
    out, asked, answers = [], [], list(answers)

    def on_output(m):
        if m["msg_type"] == "stream":
            out.append(m["content"]["text"])
        elif m["msg_type"] == "error":
            out.append("\n".join(m["content"]["traceback"]))

    def on_input(m):
        asked.append(m["content"]["prompt"])
        kc.input(answers.pop(0) if answers else "q")

    reply = kc.execute_interactive(code, timeout=90, allow_stdin=True, stdin_hook=on_input,
                                   output_hook=on_output)
    return reply["content"]["status"], "".join(out), asked


def test_breakpoint_and_debug_in_a_real_jupyter_kernel():
    with start_kernel(env={"PYTHONBREAKPOINT": ""}) as (_, kc):
        status, out, _ = _kernel_cell(kc, "import minirt\n_ = minirt.init(num_cpus=1, local_mode=True)")
        assert status == "ok" and "nothing runs in parallel" in out
        status, out, asked = _kernel_cell(kc, textwrap.dedent("""
            @minirt.remote
            def task(x):
                y = x * 2
                breakpoint()
                return y + 1
            print("result", minirt.get(task.remote(21)))
        """), ["p y", "c"])
        assert status == "ok" and asked, out
        assert "42" in out and "result 43" in out
        status, out, _ = _kernel_cell(kc, textwrap.dedent("""
            @minirt.remote
            def divide(a, b):
                quotient = a / b
                return quotient
            minirt.get(divide.remote(7, 0))
        """))
        assert status == "error" and "ZeroDivisionError" in out
        status, out, asked = _kernel_cell(kc, "%debug", ["p a, b", "q"])
        out = re.sub(r"\x1b\[[0-9;]*m", "", out)      # (the kernel's pdb colours)
        assert status == "ok" and asked, out
        assert "(7, 0)" in out                       # %debug reached the task's frame
        assert "quotient = a / b" in out             # and shows its source (a cell's)
        _kernel_cell(kc, "minirt.shutdown()")


def test_what_local_mode_cannot_do_raises_clearly(local):
    from minirt.util import state

    @minirt.remote
    class SelfCaller:
        async def outer(self, me):
            return await me.inner.remote()

        async def inner(self):
            return 1

    with pytest.raises(RuntimeError, match="not available in local mode"):
        state.list_tasks()
    s = SelfCaller.remote()
    with pytest.raises(RuntimeError, match="cannot call its own methods"):
        minirt.get(s.outer.remote(s))              # instead of waiting for itself forever


def test_the_runtime_view_says_local_mode():
    info = minirt.init(num_cpus=2, local_mode=True)
    assert "running in local mode" in str(info)
    minirt.shutdown()
    assert "not running" in str(info)
