"""Actors: state, ordering, handles, names, lifetimes, failures, resources (spec: Actors)."""

import os
import signal
import time

import psutil
import pytest

import minirt
from minirt.exceptions import ActorAlreadyExistsError, ActorDiedError
from tests.conftest import wait_until
from tests.shared_remotes import Counter


def test_state_and_order_of_1000_calls(rt):
    c = Counter.remote()
    assert minirt.get([c.incr.remote() for _ in range(1000)]) == list(range(1, 1001))


def test_constructor_args_and_num_returns(rt):
    c = Counter.remote(start=5)
    a, b = c.pair.remote()
    assert minirt.get([a, b]) == [5, -5]
    assert minirt.get(c.pair.options(num_returns=1).remote()) == (5, -5)


def test_direct_instantiation_and_method_call_raise(rt):
    with pytest.raises(TypeError, match=r"Actors cannot be instantiated directly.*Counter\.remote\(\)"):
        Counter()
    c = Counter.remote()
    with pytest.raises(TypeError, match=r"Actor methods cannot be called directly.*incr\.remote\(\)"):
        c.incr()
    with pytest.raises(AttributeError):
        c.missing
    with pytest.raises(ValueError, match="valid options"):
        Counter.options(max_calls=3)


def test_handle_passed_to_tasks_and_actors(rt):
    c = Counter.remote()

    @minirt.remote
    def bump(handle, k):
        return minirt.get(handle.incr.remote(k))

    minirt.get([bump.remote(c, 1) for _ in range(5)])
    assert minirt.get(c.value.remote()) == 5


def test_tree_of_actors_supervisor(rt):
    @minirt.remote
    class Worker:
        def __init__(self):
            self.done = 0

        def work(self, n):
            for _ in range(n):
                time.sleep(0.01)
                self.done += 1
            return self.done

        def state(self):
            return self.done

    @minirt.remote
    class Supervisor:
        def __init__(self, k):
            self.workers = [Worker.remote() for _ in range(k)]

        def run(self, n):
            return minirt.get([w.work.remote(n) for w in self.workers])

        def states(self):
            return minirt.get([w.state.remote() for w in self.workers])

    sup = Supervisor.remote(3)
    assert minirt.get(sup.run.remote(10), timeout=30) == [10, 10, 10]
    assert minirt.get(sup.states.remote()) == [10, 10, 10]


def test_five_actors_fit_on_two_cpus():
    minirt.init(num_cpus=2)
    actors = [Counter.remote() for _ in range(5)]
    assert minirt.get([a.incr.remote() for a in actors], timeout=20) == [1] * 5
    assert minirt.available_resources()["CPU"] == 2.0


def test_actor_with_num_cpus_holds_them():
    minirt.init(num_cpus=2)
    a = Counter.options(num_cpus=1).remote()
    minirt.get(a.incr.remote())
    assert minirt.available_resources()["CPU"] == 1.0
    minirt.kill(a)
    assert wait_until(lambda: minirt.available_resources().get("CPU") == 2.0)


def test_named_actor_lookup_duplicate_and_get_if_exists(rt):
    c = Counter.options(name="tally").remote()
    minirt.get(c.incr.remote())
    same = minirt.get_actor("tally")
    assert minirt.get(same.incr.remote()) == 2
    with pytest.raises(ActorAlreadyExistsError) as info:
        Counter.options(name="tally").remote()
    assert isinstance(info.value, ValueError)
    again = Counter.options(name="tally", get_if_exists=True).remote()
    assert minirt.get(again.value.remote()) == 2
    other_ns = Counter.options(name="tally", namespace="elsewhere").remote()
    assert minirt.get(other_ns.value.remote()) == 0
    with pytest.raises(ValueError, match="Failed to look up actor"):
        minirt.get_actor("nobody")
    with pytest.raises(ValueError):
        minirt.get_actor("tally", namespace="third")


def test_init_namespace_scopes_names():
    minirt.init(num_cpus=2, namespace="course")
    Counter.options(name="c", lifetime="detached").remote()
    assert minirt.get_actor("c", namespace="course") is not None
    assert minirt.get_runtime_context().namespace == "course"


def _gone(pid):
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_actor_exits_when_handles_are_gone(rt):
    c = Counter.remote()
    pid = minirt.get(c.pid.remote())
    del c
    assert wait_until(lambda: _gone(pid))


def test_actor_finishes_in_flight_calls_before_exiting(rt):
    @minirt.remote
    class Slow:
        def work(self):
            time.sleep(0.5)
            return "done"
    s = Slow.remote()
    ref = s.work.remote()
    del s
    assert minirt.get(ref, timeout=10) == "done"


def test_detached_actor_outlives_its_handles(rt):
    c = Counter.options(name="keeper", lifetime="detached").remote()
    pid = minirt.get(c.pid.remote())
    del c
    time.sleep(0.5)
    assert psutil.pid_exists(pid)
    assert minirt.get(minirt.get_actor("keeper").pid.remote()) == pid


def test_kill_fails_queued_and_later_calls(rt):
    @minirt.remote
    class Sleeper:
        def nap(self, s):
            time.sleep(s)
            return s
    s = Sleeper.remote()
    running = s.nap.remote(5)
    queued = s.nap.remote(0)
    time.sleep(0.3)
    minirt.kill(s)
    for ref in (running, queued, s.nap.remote(0)):
        with pytest.raises(ActorDiedError):
            minirt.get(ref, timeout=10)


def test_restart_after_sigkill_resets_state_and_changes_pid(rt):
    c = Counter.options(max_restarts=1).remote()
    assert minirt.get([c.incr.remote() for _ in range(3)]) == [1, 2, 3]
    pid = minirt.get(c.pid.remote())
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: _gone(pid))
    new_pid = minirt.get(c.pid.remote(), timeout=20)
    assert new_pid != pid
    assert minirt.get(c.incr.remote()) == 1           # __init__ re-ran: state reset
    os.kill(new_pid, signal.SIGKILL)
    assert wait_until(lambda: _gone(new_pid))
    with pytest.raises(ActorDiedError, match="max_restarts=1"):
        minirt.get(c.incr.remote(), timeout=20)


def test_max_task_retries_reruns_interrupted_call(rt):
    @minirt.remote(max_restarts=1, max_task_retries=1)
    class Fragile:
        def __init__(self):
            self.calls = 0

        def crash_once(self, marker):
            if not os.path.exists(marker):
                open(marker, "w").close()
                os._exit(1)
            return "survived"

    f = Fragile.remote()
    marker = os.path.join(minirt.get_runtime_context().get_node_id() and "/tmp",
                          f"minirt-test-{os.getpid()}-{time.time_ns()}")
    try:
        assert minirt.get(f.crash_once.remote(marker), timeout=20) == "survived"
    finally:
        os.remove(marker)


def test_interrupted_call_without_task_retries_fails(rt):
    @minirt.remote(max_restarts=1)
    class Fragile:
        def die(self):
            os._exit(1)

        def ok(self):
            return "ok"

    f = Fragile.remote()
    with pytest.raises(ActorDiedError):
        minirt.get(f.die.remote(), timeout=20)
    assert minirt.get(f.ok.remote(), timeout=20) == "ok"


def test_failing_init_makes_every_call_raise_with_its_traceback(rt):
    @minirt.remote
    class Broken:
        def __init__(self):
            raise ZeroDivisionError("bad start")

        def f(self):
            return 1

    b = Broken.remote()
    for _ in range(2):
        with pytest.raises(ActorDiedError, match="bad start") as info:
            minirt.get(b.f.remote(), timeout=20)
    assert "__init__" in str(info.value)


def test_method_retry_exceptions(rt):
    @minirt.remote
    class Flaky:
        def __init__(self):
            self.tries = 0

        @minirt.method(retry_exceptions=[ConnectionError], max_task_retries=3)
        def call(self):
            self.tries += 1
            if self.tries < 3:
                raise ConnectionError("try again")
            return self.tries

    assert minirt.get(Flaky.remote().call.remote(), timeout=20) == 3


def test_max_concurrency_runs_calls_in_threads(rt):
    @minirt.remote(max_concurrency=4)
    class Parallel:
        def nap(self):
            time.sleep(0.5)
            return 1

    p = Parallel.remote()
    minirt.get(p.nap.remote())
    t0 = time.monotonic()
    assert sum(minirt.get([p.nap.remote() for _ in range(4)])) == 4
    assert time.monotonic() - t0 < 1.5


def test_actor_calls_in_timeline(rt):
    c = Counter.remote()
    minirt.get([c.incr.remote() for _ in range(3)])
    names = [e["name"] for e in minirt.timeline()]
    assert names.count("Counter.incr") == 3


def test_no_actor_process_left_after_kill(rt):
    c = Counter.remote()
    pid = minirt.get(c.pid.remote())
    minirt.kill(c)
    assert wait_until(lambda: _gone(pid))


def test_actor_whose_worker_cannot_start_is_dead_and_frees_its_cpu(monkeypatch):
    minirt.init(num_cpus=2)
    assert wait_until(lambda: minirt.nodes()[0]["Workers"] == 2)   # prestart done
    from minirt import _procs

    def refuse(*args, **kwargs):
        raise BrokenPipeError("the new process died at birth")
    monkeypatch.setattr(_procs, "start_process", refuse)
    c = Counter.remote()
    with pytest.raises(ActorDiedError, match="could not start a worker"):
        minirt.get(c.incr.remote(), timeout=10)
    assert minirt.available_resources()["CPU"] == 2.0
    monkeypatch.undo()
    assert minirt.get(Counter.remote().incr.remote(), timeout=20) == 1


class LoginError(Exception):
    """``__init__`` takes two arguments: pickle cannot rebuild it from ``args``."""

    def __init__(self, msg, status):
        super().__init__(msg)
        self.status = status


def test_init_raising_an_odd_exception_makes_calls_raise_actor_died(rt):
    @minirt.remote
    class Client:
        def __init__(self):
            raise LoginError("login failed", 401)

        def ping(self):
            return "pong"

    c = Client.remote()
    with pytest.raises(ActorDiedError, match="login failed") as info:
        minirt.get(c.ping.remote(), timeout=20)
    assert "LoginError" in str(info.value)


def test_method_raising_an_odd_exception_keeps_its_type(rt):
    @minirt.remote
    class Client:
        @minirt.method(retry_exceptions=[ConnectionError], max_task_retries=2)
        def fetch(self):
            raise LoginError("expired", 401)

    with pytest.raises(LoginError) as info:
        minirt.get(Client.remote().fetch.remote(), timeout=20)
    assert info.value.status == 401


def test_sys_exit_in_an_actor_method_kills_the_actor(rt):
    # As Ray 2.60: the actor's process exits, this and later calls raise ActorDiedError.
    @minirt.remote
    class Quitter:
        def bye(self):
            import sys
            sys.exit(2)

        def ping(self):
            return "pong"

    q = Quitter.remote()
    assert minirt.get(q.ping.remote(), timeout=20) == "pong"
    with pytest.raises(ActorDiedError) as info:
        minirt.get(q.bye.remote(), timeout=20)
    assert not isinstance(info.value, SystemExit) and "exit code 2" in str(info.value)
    with pytest.raises(ActorDiedError):
        minirt.get(q.ping.remote(), timeout=20)


def test_default_actor_starts_while_tasks_hold_every_cpu():
    minirt.init(num_cpus=2)
    try:
        @minirt.remote
        def busy(s):
            time.sleep(s)
            return 1

        @minirt.remote
        class A:
            def ping(self):
                return "pong"

        @minirt.remote(num_cpus=1)
        class B:
            def ping(self):
                return "pong"

        refs = [busy.remote(6) for _ in range(2)]
        time.sleep(1.0)
        t0 = time.monotonic()
        actors = [A.remote() for _ in range(3)]
        assert minirt.get([a.ping.remote() for a in actors], timeout=4) == ["pong"] * 3
        assert time.monotonic() - t0 < 4
        b = B.remote()                    # with num_cpus it waits for a free CPU
        with pytest.raises(minirt.exceptions.GetTimeoutError):
            minirt.get(b.ping.remote(), timeout=1.5)
        assert minirt.get(refs) == [1, 1]
        assert minirt.get(b.ping.remote(), timeout=10) == "pong"
    finally:
        minirt.shutdown()


def test_actor_asking_for_more_than_any_node_has_warns_and_stays_pending(rt):
    @minirt.remote(resources={"nowhere": 1})
    class Nowhere:
        def ping(self):
            return "pong"

    with pytest.warns(minirt.exceptions.InfeasibleWarning, match="nowhere"):
        actor = Nowhere.remote()
    with pytest.raises(minirt.exceptions.GetTimeoutError):
        minirt.get(actor.ping.remote(), timeout=0.5)
    minirt.kill(actor)


def test_exit_actor_ends_the_actor_for_good(rt):
    @minirt.remote(max_restarts=3)
    class Once:
        def ping(self):
            return os.getpid()

        def stop(self):
            minirt.actor.exit_actor()
            return "not reached"

    a = Once.remote()
    pid = minirt.get(a.ping.remote())
    stop, later = a.stop.remote(), a.ping.remote()
    for ref in (stop, later):
        with pytest.raises(ActorDiedError, match=r"exit_actor\(\)"):
            minirt.get(ref, timeout=30)
    wait_until(lambda: not psutil.pid_exists(pid), 10)       # no restart despite max_restarts
    with pytest.raises(ActorDiedError):
        minirt.get(a.ping.remote(), timeout=30)


def test_exit_actor_outside_an_actor_is_a_type_error(rt):
    with pytest.raises(TypeError, match="inside an actor method"):
        minirt.actor.exit_actor()

    @minirt.remote
    def task():
        try:
            minirt.actor.exit_actor()
        except TypeError as e:
            return str(e)

    assert "not an actor method" in minirt.get(task.remote())


def test_cancel_of_a_queued_actor_call_and_of_a_running_one(rt):
    @minirt.remote
    class Slow:
        @minirt.method(enable_task_events=False)          # accepted, as in Ray
        def nap(self, s):
            time.sleep(s)
            return s

    a = Slow.remote()
    minirt.get(a.nap.remote(0))
    running = a.nap.remote(1.5)

    @minirt.remote
    def late():
        time.sleep(3)
        return 0.1

    queued = a.nap.remote(late.remote())     # its argument is not ready: queued in the head
    time.sleep(0.3)
    minirt.cancel(queued)
    minirt.cancel(running)                    # already running: runs to its end, as in Ray
    with pytest.raises(minirt.exceptions.TaskCancelledError):
        minirt.get(queued, timeout=30)
    assert minirt.get(running, timeout=30) == 1.5
    with pytest.raises(ValueError, match="force=True"):
        minirt.cancel(a.nap.remote(0), force=True)
    assert minirt.get(a.nap.remote(0), timeout=30) == 0            # the actor lives on
