"""Session logs (minirt/_logs.py): the directory that outlives shutdown, worker output
files, head.log's start/exit lines with their reasons, rotation and size caps."""

from __future__ import annotations

import fcntl
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time

import pytest

import minirt
from minirt import _logs
from tests.conftest import wait_until


@pytest.fixture
def root(monkeypatch, tmp_path):
    path = str(tmp_path / "rt")
    monkeypatch.setenv("MINIRT_TMPDIR", path)
    return path


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@minirt.remote
def chatty(i):
    import sys
    print("python stdout line", i)
    print("python stderr line", i, file=sys.stderr)
    os.write(1, b"C-level stdout line\n")
    return os.getpid()


@pytest.mark.parametrize("log_to_driver", [True, False])
def test_session_dir_holds_worker_output_and_outlives_shutdown(root, log_to_driver, capfd):
    minirt.init(num_cpus=1, log_to_driver=log_to_driver)
    head = minirt._context.peek()
    session = head.logs.path
    pid = minirt.get(chatty.remote(7), timeout=30)
    assert os.path.dirname(session) == root
    assert _mode(root) == 0o700 and _mode(session) == 0o700
    assert os.path.realpath(os.path.join(root, "session_latest")) == session
    sock = os.path.join(session, "admin.sock")
    assert stat.S_ISSOCK(os.stat(sock).st_mode) and _mode(sock) == 0o600
    assert _logs.is_live(session)
    minirt.shutdown()
    assert os.path.isdir(session) and not os.path.exists(sock)
    assert not _logs.is_live(session)
    logs = os.path.join(session, "logs")
    [out] = [f for f in os.listdir(logs) if f.endswith(f"-{pid}.out")]
    text = open(os.path.join(logs, out)).read()
    assert "python stdout line 7" in text and "C-level stdout line" in text
    assert ":task_name:chatty" in text
    err = open(os.path.join(logs, out[:-4] + ".err")).read()
    assert "python stderr line 7" in err
    shown = capfd.readouterr().out
    assert ("python stdout line 7" in shown) == log_to_driver    # the driver's view unchanged
    head_log = open(os.path.join(logs, "head.log")).read()
    assert f"(pid {pid}) started on node 0" in head_log
    assert "stopped: minirt.shutdown()" in head_log and "head shut down" in head_log


@minirt.remote
def crash():
    os._exit(3)


@minirt.remote
class Victim:
    def pid(self):
        return os.getpid()


@minirt.remote(max_calls=1)
def once():
    return os.getpid()


@minirt.remote
def sleeper():
    time.sleep(60)


def test_head_log_says_why_each_worker_exited(root):
    minirt.init(num_cpus=2)
    head = minirt._context.peek()
    v = Victim.remote()
    vpid = minirt.get(v.pid.remote(), timeout=30)
    minirt.kill(v)
    with pytest.raises(minirt.exceptions.WorkerCrashedError):
        minirt.get(crash.options(max_retries=0).remote(), timeout=30)
    opid = minirt.get(once.remote(), timeout=30)
    # What the memory monitor does: set exit_reason on the worker record, then kill it.
    ref = sleeper.options(max_retries=0).remote()
    def running():
        return [t.worker for t in list(head.tasks.values())
                if t.spec.name == "sleeper" and t.worker is not None and not t.worker.dead]
    assert wait_until(running, 10)
    with head._lock:
        w = running()[0]
        w.exit_reason = "killed by the memory monitor"
    os.kill(w.pid, signal.SIGKILL)
    with pytest.raises(minirt.exceptions.WorkerCrashedError):
        minirt.get(ref, timeout=30)
    log = os.path.join(head.logs.logs_dir, "head.log")

    def exited(pid):
        return any(f"(pid {pid})" in ln and "exited" in ln for ln in open(log))
    assert wait_until(lambda: all(exited(p) for p in (vpid, opid, w.pid)), 10), open(log).read()
    lines = open(log).read().splitlines()

    def line_of(pid):
        return next(ln for ln in lines if f"(pid {pid})" in ln and "exited" in ln)
    assert "killed by signal SIGKILL): killed with minirt.kill(); actor Victim" in line_of(vpid)
    assert any("(exit code 3): crashed; task crash" in ln for ln in lines), lines
    assert "max_calls reached" in line_of(opid)
    assert "killed by the memory monitor; task sleeper" in line_of(w.pid)


def test_only_the_newest_sessions_are_kept_and_live_ones_never_removed(root):
    os.makedirs(root)
    for i in range(15):
        os.makedirs(os.path.join(root, f"session_2000-01-01_00-00-{i:02d}_000000_1"))
    live = os.path.join(root, "session_1999-01-01_00-00-00_000000_1")   # the oldest
    os.makedirs(live)
    for other in ("session_latest.4242.tmp", "session_notes"):    # not sessions
        os.symlink(os.path.basename(live), os.path.join(root, other))
    fd = os.open(os.path.join(live, "session.lock"), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)          # another runtime holds it
    try:
        s = _logs.Session("default")
        s.close()
        left = _logs.sessions(root)
        assert len(left) == _logs.KEEP_SESSIONS + 1, left
        assert s.path == left[0] and live in left
        assert all(os.path.basename(p).startswith("session_2") or p == live for p in left)
        assert os.path.basename(os.readlink(os.path.join(root, "session_latest"))) == \
            os.path.basename(s.path)
    finally:
        os.close(fd)


def test_a_log_file_is_capped(tmp_path):
    path = tmp_path / "x.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        log = _logs.LogFile(fd, limit=100)
        for _ in range(50):
            log.write("0123456789\n")
    finally:
        os.close(fd)
    text = path.read_text()
    assert text.startswith("0123456789\n") and "later output is not saved" in text
    assert len(text) < 200


def test_markers_are_written_only_before_output_and_not_counted(tmp_path):
    path = tmp_path / "x.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    log = _logs.LogFile(fd, limit=40)
    writes = []
    real_write = os.write
    try:
        os.write = lambda f, b: writes.append(b) or real_write(f, b)
        for i in range(1000):           # tasks that print nothing: no system call
            log.mark(f":task_name:quiet{i}")
        assert writes == []
        log.write("from f")             # a partial line: the next marker starts a line
        log.mark(":task_name:f")
        log.mark(":task_name:g")        # only the last one before output counts
        log.write("from g\n")
        for i in range(100):            # markers alone never reach the cap
            log.mark(f":task_name:t{i}")
        log.mark(":task_name:h")
        log.write("from h\n")
        log.flush()
    finally:
        os.write = real_write
        os.close(fd)
    assert path.read_text() == ":task_name:quiet999\nfrom f\n:task_name:g\nfrom g\n" \
                               ":task_name:h\nfrom h\n"


def test_the_cap_cuts_at_a_character_boundary_and_close_drops_later_writes(tmp_path):
    path = tmp_path / "x.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    log = _logs.LogFile(fd, limit=10)
    log.write("aaaaaaaaa\u00e9\u00e9\n")         # the cap falls inside the first é
    path.read_bytes().decode("utf-8")               # strict: no cut character
    assert path.read_text().startswith("aaaaaaaaa\n[minirt: this log reached")
    log2 = _logs.LogFile(os.open(tmp_path / "y.log", os.O_WRONLY | os.O_CREAT), limit=100)
    log2.write("before\n")
    log2.close()
    assert log2.fd == -1
    log2.write("after\n")                          # dropped, not written to a reused fd
    log2.flush()
    log2.close()
    assert (tmp_path / "y.log").read_text() == "before\n"


@minirt.remote
def one():
    return 1


def test_a_root_others_can_write_to_is_refused_and_the_runtime_runs_without_logs(
        monkeypatch, tmp_path, capfd):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("MINIRT_TMPDIR", str(shared))
    minirt.init(num_cpus=1)
    assert minirt._context.peek().logs is None
    assert minirt.get(one.remote(), timeout=30) == 1
    minirt.shutdown()
    assert "no session logs" in capfd.readouterr().err
    assert os.listdir(shared) == []


def test_the_default_root_cannot_shadow_the_package(monkeypatch):
    """A script run from the temp dir imports minirt, not the folder of session logs
    (a ``<tempdir>/minirt`` folder did shadow it: ``minirt.init`` was missing)."""
    monkeypatch.delenv("MINIRT_TMPDIR", raising=False)
    root = _logs.root_dir()
    assert os.path.dirname(root) == tempfile.gettempdir()
    assert not os.path.basename(root).isidentifier(), f"{root} could be imported as a package"
    os.makedirs(root, mode=0o700, exist_ok=True)
    run = subprocess.run([sys.executable, "-c", "import minirt; print(minirt.init.__module__)"],
                         cwd=tempfile.gettempdir(), capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "minirt._start", run.stderr     # the package's own init
