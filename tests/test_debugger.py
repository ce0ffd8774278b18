"""``breakpoint()`` in a task or actor method: pdb in the worker, driven from the driver.

In-process tests answer pdb's prompts by replacing ``builtins.input`` (what
the serving thread calls); the script tests run a real driver with piped
standard input; the notebook test drives a real Jupyter kernel and answers its
``input_request`` messages, as JupyterLab's input box does.
"""

from __future__ import annotations

import builtins
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading

import psutil
import pytest

import minirt
from tests.conftest import wait_until

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Answers:
    """Stands for the user at the keyboard: records prompts, answers from a script."""

    def __init__(self, lines):
        self.lines = list(lines)
        self.prompts: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, prompt=""):
        with self.lock:
            self.prompts.append(prompt)
            if not self.lines:
                raise EOFError
            return self.lines.pop(0)


def _paused(n):
    return lambda: sum(e["kind"] == "debug_paused" for e in minirt.events()) >= n


@minirt.remote
def doubled(x):
    y = x * 2
    breakpoint()
    y += 1
    return y


def test_breakpoint_pauses_and_p_shows_the_tasks_value(rt, monkeypatch, capsys):
    answers = Answers(["p x", "p y", "c"])
    monkeypatch.setattr(builtins, "input", answers)
    assert minirt.get(doubled.remote(21), timeout=60) == 43
    out = capsys.readouterr().out
    assert "21\n" in out and "42\n" in out
    assert "-> y += 1" in out                      # stopped on the line after breakpoint()
    assert len(answers.prompts) == 3
    assert answers.prompts[0].startswith("(Pdb worker-") and " task doubled) " in answers.prompts[0]
    kinds = [e["kind"] for e in minirt.events()]
    assert "debug_paused" in kinds and "debug_resumed" in kinds


@minirt.remote
def with_set_trace(x):
    import pdb
    pdb.set_trace(header="look here")
    return x + 1


def test_pdb_set_trace_in_a_task_works_like_breakpoint(rt, monkeypatch, capsys):
    monkeypatch.setattr(builtins, "input", Answers(["p x * 3", "c"]))
    assert minirt.get(with_set_trace.remote(5), timeout=60) == 6
    out = capsys.readouterr().out
    assert "look here\n" in out and "15\n" in out


@minirt.remote
def chatty(x):
    breakpoint()
    print("printed by the task", x)
    return x


def test_what_the_task_prints_comes_before_the_next_stop(rt, monkeypatch, capsys):
    monkeypatch.setattr(builtins, "input", Answers(["n", "c"]))
    assert minirt.get(chatty.remote(3), timeout=60) == 3
    out = capsys.readouterr().out
    assert "printed by the task 3" in out and "-> return x" in out
    assert out.index("printed by the task 3") < out.index("-> return x")


def test_q_ends_the_session_and_the_task_goes_on(rt, monkeypatch):
    monkeypatch.setattr(builtins, "input", Answers(["q"]))
    assert minirt.get(doubled.remote(1), timeout=60) == 3


def test_end_of_input_continues_the_task(rt, monkeypatch):
    answers = Answers([])
    monkeypatch.setattr(builtins, "input", answers)
    assert minirt.get(doubled.remote(2), timeout=60) == 5
    assert len(answers.prompts) == 1


@minirt.remote
def quiet(x):
    os.environ["PYTHONBREAKPOINT"] = "0"
    try:
        breakpoint()
        return x
    finally:
        del os.environ["PYTHONBREAKPOINT"]


def test_pythonbreakpoint_0_disables_it(rt, monkeypatch):
    answers = Answers(["c"])
    monkeypatch.setattr(builtins, "input", answers)
    assert minirt.get(quiet.remote(7), timeout=60) == 7
    assert answers.prompts == []
    assert not any(e["kind"] == "debug_paused" for e in minirt.events())


def test_two_paused_workers_are_served_one_after_another(rt, monkeypatch, capsys):
    refs = [doubled.remote(10), doubled.remote(20)]
    assert wait_until(_paused(2), 60)
    answers = Answers(["p x", "c", "p x", "c"])
    monkeypatch.setattr(builtins, "input", answers)
    assert minirt.get(refs, timeout=60) == [21, 41]
    p = answers.prompts
    assert len(p) == 4 and p[0] == p[1] and p[2] == p[3] and p[0] != p[2]   # not interleaved
    out = capsys.readouterr().out
    assert "10\n" in out and "20\n" in out


@minirt.remote
class Counter:
    def __init__(self):
        self.n = 5

    def incr(self, k):
        breakpoint()
        self.n += k
        return self.n


def test_breakpoint_in_an_actor_method(rt, monkeypatch, capsys):
    monkeypatch.setattr(builtins, "input", Answers(["p self.n, k", "n", "p self.n", "c"]))
    c = Counter.remote()
    assert minirt.get(c.incr.remote(3), timeout=60) == 8
    out = capsys.readouterr().out
    assert "(5, 3)\n" in out and "8\n" in out


def test_a_progress_bar_serves_the_session(rt, monkeypatch, capsys):
    monkeypatch.setattr(builtins, "input", Answers(["p x * 11", "c", "p x * 11", "c"]))
    assert minirt.util.progress([doubled.remote(8), doubled.remote(9)]) == [17, 19]
    out = capsys.readouterr().out
    assert "88\n" in out and "99\n" in out


def test_attach_serves_a_session_without_a_get(rt, monkeypatch, capsys):
    monkeypatch.setattr(builtins, "input", Answers(["p x", "c"]))
    ref = doubled.remote(4)
    assert minirt.util.debug.attach(timeout=60) == 1
    assert "4\n" in capsys.readouterr().out
    assert minirt.get(ref, timeout=60) == 9


def test_attach_with_nothing_paused(rt, capsys):
    assert minirt.util.debug.attach() == 0
    assert "no task is paused" in capsys.readouterr().out
    with pytest.raises(ValueError):
        minirt.util.debug.attach(-1)
    with pytest.raises(TypeError):
        minirt.util.debug.attach("1")


def test_a_paused_task_does_not_use_up_a_get_timeout(rt, monkeypatch):
    import time

    def slow(prompt=""):
        time.sleep(4)                     # the user reads the code for a while
        return "c"
    monkeypatch.setattr(builtins, "input", slow)
    # 3 s: time to reach breakpoint() on a loaded machine, and less than the pause
    assert minirt.get(doubled.remote(0), timeout=3.0) == 1


# --- a script, with piped standard input ---------------------------------------------------
SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    import minirt

    @minirt.remote
    def f(x):
        y = x + 1
        breakpoint()
        z = y * 10
        return z

    minirt.init(num_cpus=1)
    print("result", minirt.get(f.remote(41)))
    minirt.shutdown()
""")


def _run_script(tmp_path, stdin, env=None):
    path = tmp_path / "driver.py"
    path.write_text(SCRIPT.format(repo=REPO))
    return subprocess.run([sys.executable, str(path)], input=stdin, capture_output=True,
                          text=True, timeout=90, env={**os.environ, **(env or {})})


def test_script_with_piped_stdin(tmp_path):
    proc = _run_script(tmp_path, "p x\nn\np z\nc\n")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "(Pdb worker-" in out and " task f) " in out
    assert " task f) 41\n" in out                             # p x (stdin is not echoed)
    assert "-> return z" in out                               # n
    assert "420\n" in out                                     # p z
    assert "result 420" in out


def test_script_whose_stdin_is_empty_goes_on(tmp_path):
    proc = _run_script(tmp_path, "")
    assert proc.returncode == 0, proc.stderr
    assert "result 420" in proc.stdout


def test_script_with_pythonbreakpoint_0(tmp_path):
    proc = _run_script(tmp_path, "", env={"PYTHONBREAKPOINT": "0"})
    assert proc.returncode == 0, proc.stderr
    assert "result 420" in proc.stdout and "(Pdb" not in proc.stdout


KILLED = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, {repo!r})
    import minirt

    @minirt.remote
    def f():
        import os
        breakpoint()
        return os.getpid()

    minirt.init(num_cpus=1)
    ref = f.remote()
    while not any(e["kind"] == "debug_paused" for e in minirt.events()):
        time.sleep(0.05)
    pid = [e for e in minirt.events() if e["kind"] == "debug_paused"][0]["pid"]
    print(json.dumps({{"pid": pid}}), flush=True)
    time.sleep(600)
""")


@pytest.mark.own_leak_check
def test_a_paused_worker_exits_when_its_driver_is_killed():
    driver = subprocess.Popen([sys.executable, "-c", KILLED.format(repo=REPO)],
                              stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        line = driver.stdout.readline()
        pid = json.loads(line)["pid"]
        worker = psutil.Process(pid)
        assert worker.is_running()
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
        assert wait_until(lambda: not worker.is_running()
                          or worker.status() == psutil.STATUS_ZOMBIE, 10)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        driver.stdout.close()


# --- a real Jupyter kernel ---------------------------------------------------------------
CELL_DEFS = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    import minirt
    minirt.init(num_cpus=1)

    def helper(v):
        return v + 1

    @minirt.remote
    def g(x):
        y = x * 3
        breakpoint()
        return helper(y) - 1
""")


def test_pdb_through_a_real_jupyter_kernel(kernel):
    _, kc = kernel
    answers = ["p x", "ll", "b helper", "c", "p v * 100", "c"]
    prompts, out = [], []

    def on_input(msg):
        prompts.append(msg["content"]["prompt"])
        kc.input(answers.pop(0) if answers else "c")

    def on_output(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "execute_result":
            out.append(msg["content"]["data"]["text/plain"])

    reply = kc.execute_interactive(CELL_DEFS.format(repo=REPO), timeout=60)
    assert reply["content"]["status"] == "ok"
    reply = kc.execute_interactive("minirt.get(g.remote(14))", timeout=60,
                                   allow_stdin=True, stdin_hook=on_input,
                                   output_hook=on_output)
    text = "".join(out)
    assert reply["content"]["status"] == "ok", text
    assert len(prompts) == 6 and " task g) " in prompts[0], prompts
    assert "14\n" in text                               # p x
    assert "y = x * 3" in text and "breakpoint()" in text   # ll: the cell's source
    assert "Breakpoint 1 at Cell In[" in text            # b helper: found in the cell
    assert "4200\n" in text                             # stopped in helper: p v * 100
    assert "42" in text.splitlines()[-1]                 # the task's result
    kc.execute_interactive("minirt.shutdown()", timeout=60)


def test_a_paused_task_shows_as_paused_in_the_state_api_and_live_view(rt, monkeypatch):
    from minirt.util import _introspect, state
    ref = doubled.remote(3)
    assert wait_until(_paused(1), 60)
    tasks = [t for t in state.list_tasks(detail=True) if t.name == "doubled"]
    assert [t.is_debugger_paused for t in tasks] == [True]
    workers = [w for w in state.list_workers(detail=True) if w.num_paused_threads]
    assert len(workers) == 1 and workers[0].pid == tasks[0].worker_pid
    head = _introspect.driver_head()
    snap = _introspect.live_snapshot(head, _introspect.start_cursor(head), timeout=5)
    assert [w.paused for w in snap.workers if w.task == "doubled"] == [True]
    from minirt.util import _cli_answers, _cli_format
    status = _cli_format.format_status(_cli_answers._h_status(head, {}))   # `minirt status`
    assert "1 of the RUNNING paused at breakpoint()" in status, status
    monkeypatch.setattr(builtins, "input", Answers(["c"]))
    assert minirt.get(ref, timeout=60) == 7
    tasks = [t for t in state.list_tasks(detail=True) if t.name == "doubled"]
    assert [t.is_debugger_paused for t in tasks] == [False]


def test_cancel_of_a_paused_task(rt):
    ref = doubled.remote(5)
    assert wait_until(_paused(1), 60)
    minirt.cancel(ref)
    assert wait_until(lambda: any(e["kind"] == "debug_resumed" for e in minirt.events()), 10)
    with pytest.raises(minirt.exceptions.TaskCancelledError):
        minirt.get(ref, timeout=60)


def test_a_driver_without_stdin_lets_the_task_go_on(rt, monkeypatch, capsys):
    def no_stdin(prompt=""):
        raise NotImplementedError("raw_input was called, but this frontend does not "
                                  "support input requests")     # ipykernel's, under nbconvert
    monkeypatch.setattr(builtins, "input", no_stdin)
    assert minirt.get(doubled.remote(1), timeout=60) == 3
    assert "cannot read input here" in capsys.readouterr().out


def test_interrupting_the_driver_leaves_the_task_paused(rt, monkeypatch):
    def interrupted(prompt=""):
        raise KeyboardInterrupt
    monkeypatch.setattr(builtins, "input", interrupted)
    ref = doubled.remote(6)
    with pytest.raises(KeyboardInterrupt):
        minirt.get(ref, timeout=60)
    answers = Answers(["p x", "c"])
    monkeypatch.setattr(builtins, "input", answers)
    assert minirt.get(ref, timeout=60) == 13
    assert len(answers.prompts) == 2


def test_shutdown_while_a_task_is_paused():
    minirt.init(num_cpus=1)
    doubled.remote(1)
    assert wait_until(_paused(1), 60)
    minirt.shutdown()                   # no_leaks: the paused worker is gone too
