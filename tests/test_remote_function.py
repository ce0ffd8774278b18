"""@remote on functions: forms, options, dependencies, nesting, logical CPUs (spec: @remote)."""

import time

import numpy as np
import warnings

import pytest

import minirt


def test_decorator_forms(rt):
    @minirt.remote
    def a():
        return "a"

    @minirt.remote(num_returns=2)
    def b():
        return 1, 2

    c = minirt.remote(lambda: "c")
    assert minirt.get(a.remote()) == "a"
    assert minirt.get(b.remote()) == [1, 2]
    assert minirt.get(c.remote()) == "c"


def test_decorator_misuse():
    with pytest.raises(TypeError, match="empty parentheses"):
        minirt.remote()
    with pytest.raises(TypeError):
        minirt.remote(5)
    with pytest.raises(ValueError, match="for a task.*valid options are"):
        minirt.remote(num_cpu=1)(lambda: 1)
    with pytest.raises(ValueError, match="for an actor"):
        minirt.remote(max_calls=1)(type("A", (), {}))
    with pytest.raises(TypeError):
        minirt.remote(num_cpus="one")(lambda: 1)
    with pytest.raises(ValueError):
        minirt.remote(max_retries=-2)(lambda: 1)


def test_calling_directly_raises():
    @minirt.remote
    def f():
        return 1
    with pytest.raises(TypeError, match=r"Remote functions cannot be called directly.*f\.remote\(\)"):
        f()


def test_options_returns_new_wrapper_and_rejects_max_calls(rt):
    @minirt.remote
    def pair():
        return 1, 2
    two = pair.options(num_returns=2)
    assert minirt.get(two.remote()) == [1, 2]
    assert minirt.get(pair.remote()) == (1, 2)           # original unchanged
    with pytest.raises(ValueError, match="max_calls"):
        pair.options(max_calls=2)
    with pytest.raises(ValueError, match="valid options"):
        pair.options(max_restarts=1)                     # an actor option on a task


def test_wrong_number_of_returns_raises_on_get(rt):
    @minirt.remote(num_returns=3)
    def two():
        return 1, 2
    refs = two.remote()
    with pytest.raises(ValueError, match="num_returns=3"):
        minirt.get(refs[0])


def test_closures_lambdas_and_notebook_style_functions(rt):
    factor = 7
    scale = minirt.remote(lambda x: x * factor)
    assert minirt.get(scale.remote(6)) == 42

    def outer(k):
        @minirt.remote
        def inner(x):
            return x + k
        return inner
    assert minirt.get(outer(10).remote(5)) == 15


def test_refs_as_arguments_are_resolved_nested_ones_are_not(rt):
    @minirt.remote
    def kind(x, y=None):
        return type(x).__name__, type(y).__name__

    ref = minirt.put(np.arange(3))
    assert minirt.get(kind.remote(ref, y=ref)) == ("ndarray", "ndarray")
    assert minirt.get(kind.remote([ref])) == ("list", "NoneType")

    @minirt.remote
    def inner_is_ref(lst):
        return isinstance(lst[0], minirt.ObjectRef) and minirt.get(lst[0]).tolist()
    assert minirt.get(inner_is_ref.remote([ref])) == [0, 1, 2]


def test_dependencies_run_in_parallel_then_join():
    minirt.init(num_cpus=4)

    @minirt.remote
    def make(n):
        time.sleep(1.0)
        return np.full(n, 1.0)

    @minirt.remote
    def add(a, b):
        time.sleep(1.0)
        return a + b

    t0 = time.monotonic()
    out = minirt.get(add.remote(make.remote(5), make.remote(5)))
    elapsed = time.monotonic() - t0
    assert out.tolist() == [2.0] * 5
    assert 1.9 < elapsed < 2.9, f"two parallel 1 s tasks then a 1 s join took {elapsed:.2f} s"


def test_logical_cpus_allow_more_sleepers_than_cores():
    minirt.init(num_cpus=8)

    @minirt.remote
    def sleeper():
        time.sleep(1.0)
        return 1

    t0 = time.monotonic()
    assert sum(minirt.get([sleeper.remote() for _ in range(8)])) == 8
    assert time.monotonic() - t0 < 2.5


def test_num_cpus_limits_concurrency():
    minirt.init(num_cpus=2)

    @minirt.remote(num_cpus=2)
    def hog():
        time.sleep(0.5)
        return time.monotonic()

    ends = sorted(minirt.get([hog.remote() for _ in range(2)]))
    assert ends[1] - ends[0] > 0.4, "two tasks that each need both CPUs must not overlap"


def test_infeasible_request_stays_pending_with_one_warning(rt):
    # As in Ray: not refused, pending (a node may still join), one clear warning.
    @minirt.remote(num_cpus=64)
    def big():
        return 1
    with pytest.warns(minirt.exceptions.InfeasibleWarning, match="largest node has CPU=4"):
        ref = big.remote()
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # the second call does not warn again
        ref2 = big.remote()
    with pytest.raises(minirt.exceptions.GetTimeoutError):
        minirt.get(ref, timeout=0.5)
    minirt.cancel(ref)
    minirt.cancel(ref2)
    with pytest.raises(minirt.exceptions.TaskCancelledError):
        minirt.get(ref, timeout=10)


def test_nested_tasks_recursion_does_not_deadlock():
    minirt.init(num_cpus=2)

    @minirt.remote
    def fib(n):
        if n < 2:
            return n
        return sum(minirt.get([fib.remote(n - 1), fib.remote(n - 2)]))

    assert minirt.get(fib.remote(10), timeout=60) == 55


def test_task_submits_and_waits_inside(rt):
    @minirt.remote
    def child(i):
        return i * i

    @minirt.remote
    def parent(n):
        refs = [child.remote(i) for i in range(n)]
        ready, _ = minirt.wait(refs, num_returns=n, timeout=10)
        return len(ready), sum(minirt.get(refs))

    assert minirt.get(parent.remote(5)) == (5, 30)


def test_custom_resources():
    minirt.init(num_cpus=4, resources={"slot": 1})

    @minirt.remote(resources={"slot": 1})
    def exclusive():
        time.sleep(0.4)
        return time.monotonic()

    ends = sorted(minirt.get([exclusive.remote() for _ in range(2)]))
    assert ends[1] - ends[0] > 0.3
    assert minirt.cluster_resources()["slot"] == 1.0


def test_task_output_reaches_driver(rt, capsys):
    @minirt.remote
    def speak():
        print("hello from inside")
        return 1
    minirt.get(speak.remote())
    out = capsys.readouterr().out
    assert "(speak pid=" in out and ") hello from inside" in out


def test_log_to_driver_false_hides_output(capsys):
    minirt.init(num_cpus=1, log_to_driver=False)

    @minirt.remote
    def speak():
        print("quiet please")
        return 1
    minirt.get(speak.remote())
    time.sleep(0.3)
    assert "quiet please" not in capsys.readouterr().out
