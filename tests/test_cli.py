"""The ``minirt`` command line (minirt/util/cli.py) and its control socket (minirt/_admin.py),
run against a driver in another process, as an operator would."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

import minirt
from minirt import _admin, _logs
from minirt.util import cli
from tests.conftest import wait_until, with_default_signals

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DRIVER = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {repo!r})
    import numpy as np
    import minirt
    minirt.init(num_cpus=2, log_to_driver={log_to_driver})

    @minirt.remote
    def napper(s):
        print("napper starts", s, flush=True)
        time.sleep(s)

    @minirt.remote
    def make_array(n):
        return np.ones(n, dtype=np.uint8)

    @minirt.remote
    class Counter:
        def __init__(self):
            print("Counter is ready", flush=True)
            self.n = 0
        def incr(self):
            self.n += 1
            return self.n

    big = minirt.put(np.zeros(5_000_000, dtype=np.uint8))
    arr = make_array.remote(3_000_000)
    minirt.get(arr)
    c = Counter.remote()
    minirt.get(c.incr.remote())
    running = napper.remote(600)
    while not minirt.util.state.list_tasks(filters=[("state", "=", "RUNNING")]):
        time.sleep(0.05)
    print(minirt._context.peek().logs.path, flush=True)
    sys.stdin.readline()
    minirt.shutdown()
""")


@pytest.fixture
def root(monkeypatch):
    # A short path: a Unix socket address is at most 107 bytes.
    path = tempfile.mkdtemp(prefix="minirt-cli-test-")
    monkeypatch.setenv("MINIRT_TMPDIR", path)
    yield path
    import shutil
    shutil.rmtree(path, ignore_errors=True)


def _start_driver(tmp_path, log_to_driver=True, name="driver.py"):
    script = tmp_path / name
    script.write_text(DRIVER.format(repo=REPO, log_to_driver=log_to_driver))
    proc = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ))
    session = ""
    while not session.startswith("/"):        # after what the tasks printed
        line = proc.stdout.readline()
        assert line, proc.stderr.read()[-3000:]
        session = line.strip()
    return proc, session


def _stop_driver(proc):
    if proc.poll() is None:
        try:
            proc.stdin.write("\n")
            proc.stdin.flush()
            proc.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(10)


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "minirt", *args], capture_output=True,
                          text=True, timeout=60, cwd=REPO, env=env or dict(os.environ))


def _run(capsys, *args) -> str:
    """The CLI in this process (quicker than a new interpreter for each command)."""
    assert cli.main(list(args)) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def test_every_command_shows_the_running_drivers_state(root, tmp_path, capsys):
    proc, session = _start_driver(tmp_path)
    try:
        assert os.path.dirname(session) == root
        sock = os.path.join(session, "admin.sock")
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(session).st_mode) == 0o700

        r = _cli("status")                   # the real entry point, once
        assert r.returncode == 0, r.stderr
        assert f"driver pid {proc.pid}" in r.stdout
        assert "/2.0 CPU" in r.stdout and "1 RUNNING" in r.stdout and "1 ALIVE" in r.stdout
        assert "object_store_memory" in r.stdout

        out = _run(capsys, "memory")
        assert "Object references status" in out and "shared memory" in out
        assert "4.77MiB" in out and "2.86MiB" in out and "LOCAL_REFERENCE" in out

        out = _run(capsys, "list", "tasks")
        assert "napper" in out and "RUNNING" in out and "make_array" in out and "FINISHED" in out
        out = _run(capsys, "list", "tasks", "--filter", "state=RUNNING")
        assert "napper" in out and "make_array" not in out
        rows = json.loads(_run(capsys, "list", "tasks", "--format", "json", "--limit", "1"))
        assert len(rows) == 1 and rows[0]["name"] == "make_array"
        out = _run(capsys, "list", "tasks", "--detail", "--filter", "name=napper")
        assert "start_time_ms" in out
        assert "Counter" in _run(capsys, "list", "actors")
        out = _run(capsys, "list", "objects")
        assert "5000192" in out and "3000192" in out
        out = _run(capsys, "list", "workers")
        assert "DRIVER" in out and str(proc.pid) in out
        assert "ALIVE" in _run(capsys, "list", "nodes")

        out = _run(capsys, "summary", "tasks")
        assert "napper" in out and "RUNNING: 1" in out
        assert "ALIVE: 1" in _run(capsys, "summary", "actors")
        assert "LOCAL_REFERENCE" in _run(capsys, "summary", "objects")

        trace = tmp_path / "trace.json"
        _run(capsys, "timeline", "-o", str(trace))
        events = json.loads(trace.read_text())
        assert {"make_array", "Counter.incr"} <= {e["name"] for e in events}
        assert all("cname" in e for e in events)      # as minirt.timeline() makes them

        out = _run(capsys, "stack")
        assert "Stack dump for the driver" in out and "readline" in out
        assert "task napper" in out and "in napper" in out      # the worker's own frame

        assert _run(capsys, "logs", "--task", "napper").strip() == "napper starts 600"
        assert "Counter is ready" in _run(capsys, "logs", "--actor", "Counter")
        assert "started on node 0" in _run(capsys, "logs", "head.log", "--tail", "2")
    finally:
        _stop_driver(proc)
    assert not os.path.exists(os.path.join(session, "admin.sock"))


def test_no_runtime_is_one_line_and_exit_status_1(tmp_path):
    r = _cli("status", env=dict(os.environ, MINIRT_TMPDIR=str(tmp_path)))
    assert r.returncode == 1 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "no running minirt" in r.stderr


def test_two_runtimes_all_lists_both_and_address_chooses(root, tmp_path, capsys):
    a, sa = _start_driver(tmp_path, name="a.py")
    try:
        b, sb = _start_driver(tmp_path, name="b.py")
        try:
            out = _run(capsys, "status", "--all")
            assert sa in out and sb in out and "2 running" in out
            assert f"driver pid {b.pid}" in _run(capsys, "status")    # the newest by default
            assert f"driver pid {a.pid}" in _run(capsys, "status", "--address", sa)
        finally:
            _stop_driver(b)
    finally:
        _stop_driver(a)


def test_logs_are_read_after_the_driver_is_killed(root, tmp_path, capsys):
    proc, session = _start_driver(tmp_path, log_to_driver=False)
    proc.kill()
    proc.wait(10)
    assert wait_until(lambda: not _logs.is_live(session), 10)
    assert cli.main(["status"]) == 1
    capsys.readouterr()
    assert _run(capsys, "logs", "--task", "napper").strip() == "napper starts 600"
    out = _run(capsys, "logs")
    assert "ended" in out and "head.log" in out


@minirt.remote
def add(x, y):
    return x + y


def test_a_silent_client_does_not_block_the_runtime(root, monkeypatch):
    monkeypatch.setattr(_admin, "CONN_TIMEOUT", 120.0)   # they keep their slots throughout
    minirt.init(num_cpus=1)
    head = minirt._context.peek()
    silent = []
    for _ in range(_admin.MAX_REQUESTS + 2):   # more than the server serves at once
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(head.admin.path)
        s.sendall(b'{"op": "stat')              # half a request, then nothing
        silent.append(s)
    try:
        with pytest.raises(RuntimeError, match="already answering"):
            _admin.request(head.admin.path, "ping", timeout=5)
        t0 = time.monotonic()
        assert minirt.get(add.remote(1, 2), timeout=20) == 3
        assert minirt.get(minirt.put(5), timeout=5) == 5
        assert time.monotonic() - t0 < 15
        with pytest.raises(RuntimeError, match="already answering"):
            _admin.request(head.admin.path, "ping", timeout=5)
    finally:
        for s in silent:
            s.close()
    # Once the silent clients are gone, requests are answered again.
    assert wait_until(lambda: _ping(head.admin.path), 15)
    minirt.shutdown()


def _ping(path) -> bool:
    try:
        return _admin.request(path, "ping", timeout=5)["pid"] == os.getpid()
    except (RuntimeError, OSError):
        return False


def test_the_cli_sees_a_runtime_in_a_notebook_kernel(root, kernel):
    # (root comes first: the kernel inherits the MINIRT_TMPDIR it sets)
    _, kc = kernel
    out = []
    reply = kc.execute_interactive(
        f"import os, sys; sys.path.insert(0, {REPO!r}); import minirt; "
        "minirt.init(num_cpus=1); print(os.getpid())", timeout=60,
        output_hook=lambda m: out.append(m["content"].get("text", ""))
        if m["msg_type"] == "stream" else None)
    assert reply["content"]["status"] == "ok", out
    kernel_pid = int("".join(out).split()[-1])
    r = _cli("status")
    assert r.returncode == 0, r.stderr
    assert f"driver pid {kernel_pid}" in r.stdout
    kc.execute_interactive("minirt.shutdown()", timeout=60)


@contextlib.contextmanager
def _following(tmp_path, text, *args):
    """``minirt logs --follow ARGS`` on a session whose worker-1-123.out holds ``text``:
    yields (the file, the command's stdout); stops it with SIGINT (exit status 0)."""
    logs = tmp_path / "session_x" / "logs"
    logs.mkdir(parents=True)
    out = logs / "worker-1-123.out"
    out.write_text(text)
    proc = subprocess.Popen(with_default_signals([sys.executable, "-m", "minirt", "logs",
                                                  "--address", str(tmp_path / "session_x"),
                                                  *args, "--follow"]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        yield out, proc.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0


def test_logs_follow_prints_what_is_appended(tmp_path):
    with _following(tmp_path, ":task_name:f\nfirst line\n", "--pid", "123") as (out, stdout):
        assert stdout.readline() == "first line\n"
        with open(out, "a") as f:
            f.write(":task_name:g\nsecond line\n")
        assert stdout.readline() == "second line\n"


def test_logs_follow_of_a_task_prints_only_that_tasks_later_output(tmp_path):
    with _following(tmp_path, ":task_name:f\nfrom f\n", "--task", "f") as (out, stdout):
        assert stdout.readline() == "from f\n"
        with open(out, "a") as f:      # g's output, then f's again (its marker in two writes)
            f.write("more from f\n:task_name:g\nfrom g\n:task_na")
            f.flush()
            time.sleep(0.5)
            f.write("me:f\nf again\n")
        assert stdout.readline() == "more from f\n"
        assert stdout.readline() == "f again\n"


def test_stack_never_signals_a_process_without_a_handler_for_it(tmp_path):
    """A worker just forked has the default action for STACK_SIGNAL (it would end it):
    `stack` signals only a process that catches it, and through its pidfd."""
    from minirt.util._cli_answers import _send_stack_signal
    ready, dump = tmp_path / "ready", tmp_path / "dump"
    newborn = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    grown = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import faulthandler, signal, time
        faulthandler.register(signal.SIGUSR2, file=open({str(dump)!r}, "w"), all_threads=True)
        open({str(ready)!r}, "w").close()
        time.sleep(60)
        """)])
    fds = [os.pidfd_open(p.pid) for p in (newborn, grown)]
    try:
        assert wait_until(ready.exists, 20)
        assert not _send_stack_signal(newborn.pid, fds[0], signal.SIGUSR2)
        assert _send_stack_signal(grown.pid, fds[1], signal.SIGUSR2)
        assert wait_until(lambda: "<module>" in dump.read_text(), 10)
        time.sleep(0.3)
        assert newborn.poll() is None and grown.poll() is None
    finally:
        for p in (newborn, grown):
            p.kill()
            p.wait()
        for fd in fds:
            os.close(fd)
    assert not _send_stack_signal(newborn.pid, None, signal.SIGUSR2)    # gone


def test_memory_says_which_objects_are_spilled(root, capsys):
    import numpy as np
    minirt.init(num_cpus=1, object_store_memory=30 * 2**20)
    refs = [minirt.put(np.full(12 * 2**20, i, dtype=np.uint8)) for i in range(4)]
    out = _run(capsys, "memory")
    assert out.count("spilled ") >= 1 and "shared memory" in out, out
    where = {r["object_id"]: r["where"] for r in _admin.request(
        minirt._context.peek().admin.path, "memory")["rows"]}
    assert {where[r.hex()] for r in refs} == {"shared memory", "spilled"}
    status = _run(capsys, "status")
    assert "0B spilled" not in status.split("object_store_memory")[1].splitlines()[0]
    minirt.shutdown()


def test_a_child_of_the_driver_reaches_its_runtime_even_when_another_started_later(root, tmp_path):
    """`!minirt status` in a notebook runs as a child of the kernel: init() sets
    MINIRT_ADDRESS there, so it sees that kernel's runtime, not the newest one."""
    minirt.init(num_cpus=1)
    mine = os.environ["MINIRT_ADDRESS"]
    assert _logs.is_live(mine)
    other, other_session = _start_driver(tmp_path)         # a newer runtime, elsewhere
    try:
        assert other_session != mine
        out = _cli("status")
        assert f"driver pid {os.getpid()}" in out.stdout, out.stdout + out.stderr
        env = {k: v for k, v in os.environ.items() if k != "MINIRT_ADDRESS"}
        assert f"driver pid {other.pid}" in _cli("status", env=env).stdout   # the newest
    finally:
        _stop_driver(other)
    minirt.shutdown()
    assert "MINIRT_ADDRESS" not in os.environ
