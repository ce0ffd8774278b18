"""Bad input gets a clear error at once, and the runtime keeps working afterwards.

Every test ends with ``_still_works()``: a trivial task on the same runtime.
The timeout marker makes "at once" concrete: a hang fails the test.
"""

from __future__ import annotations

import threading

import pytest

import minirt
from minirt.exceptions import TaskError
from tests.shared_remotes import Counter

pytestmark = pytest.mark.timeout(30)


# _still_works() gets right after .remote(), test after test: the hint about it is expected.
pytestmark = pytest.mark.filterwarnings("ignore::minirt.util._teach.MinirtTeachingWarning")


@minirt.remote
def inc(x):
    return x + 1


def _still_works():
    assert minirt.get(inc.remote(1), timeout=20) == 2


# --- get / wait ------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [1, "abc", None, {"a": 1}])
def test_get_of_a_non_ref(rt, bad):
    with pytest.raises((TypeError, ValueError)) as ei:
        minirt.get(bad)
    assert "ObjectRef" in str(ei.value)
    assert type(bad).__name__ in str(ei.value)            # says what it got
    _still_works()


def test_get_of_a_list_holding_a_non_ref(rt):
    ref = inc.remote(1)
    with pytest.raises(TypeError) as ei:
        minirt.get([ref, 5])
    assert "ObjectRef" in str(ei.value) and "5" in str(ei.value)
    assert minirt.get([ref]) == [2]
    _still_works()


def test_get_of_a_tuple_says_use_a_list(rt):
    ref = inc.remote(1)
    with pytest.raises(ValueError) as ei:
        minirt.get((ref,))
    assert "list" in str(ei.value)
    _still_works()


def test_get_with_a_bad_timeout(rt):
    ref = inc.remote(1)
    with pytest.raises(TypeError):
        minirt.get(ref, timeout="1")
    with pytest.raises(ValueError):
        minirt.get(ref, timeout=-1)
    _still_works()


def test_wait_of_a_single_ref(rt):
    ref = inc.remote(1)
    with pytest.raises(TypeError) as ei:
        minirt.wait(ref)
    assert "list" in str(ei.value)
    _still_works()


def test_wait_of_duplicates(rt):
    ref = inc.remote(1)
    with pytest.raises(ValueError) as ei:
        minirt.wait([ref, ref])
    assert "unique" in str(ei.value)
    _still_works()


def test_wait_with_a_negative_timeout(rt):
    ref = inc.remote(1)
    with pytest.raises(ValueError) as ei:
        minirt.wait([ref], timeout=-0.5)
    assert "timeout" in str(ei.value)
    _still_works()


def test_wait_num_returns_out_of_range(rt):
    refs = [inc.remote(i) for i in range(2)]
    with pytest.raises(ValueError) as ei:
        minirt.wait(refs, num_returns=3)
    assert str(ei.value) == "num_returns cannot be greater than the number of refs provided to wait."
    with pytest.raises(ValueError):
        minirt.wait(refs, num_returns=0)
    _still_works()


def test_put_of_a_ref(rt):
    with pytest.raises(TypeError):
        minirt.put(inc.remote(1))
    _still_works()


# --- options -----------------------------------------------------------------------------------
def test_unknown_option_in_options_names_it_and_lists_valid_ones(rt):
    with pytest.raises(ValueError) as ei:
        inc.options(num_cpu=1)
    msg = str(ei.value)
    assert "num_cpu" in msg and "num_cpus" in msg and "max_retries" in msg
    with pytest.raises(ValueError) as ei:
        Counter.options(max_restart=1)
    assert "max_restart" in str(ei.value) and "max_restarts" in str(ei.value)
    _still_works()


def test_option_of_the_other_kind_is_rejected(rt):
    with pytest.raises(ValueError) as ei:
        inc.options(max_restarts=1)
    assert "max_restarts" in str(ei.value) and "actor" in str(ei.value)
    with pytest.raises(ValueError) as ei:
        Counter.options(max_retries=1)
    assert "max_retries" in str(ei.value)
    _still_works()


def test_unknown_option_in_decorator_on_a_function_lists_task_options(rt):
    with pytest.raises(ValueError) as ei:
        @minirt.remote(num_cpu=1)
        def oops():
            return 1
    msg = str(ei.value)
    assert "num_cpu" in msg
    assert "max_retries" in msg              # a task option: the valid ones for a function
    assert " a actor" not in msg
    _still_works()


@pytest.mark.parametrize("opts, exc", [
    ({"num_cpus": "2"}, TypeError),
    ({"num_cpus": -1}, ValueError),
    ({"max_retries": 1.5}, TypeError),
    ({"max_retries": -2}, ValueError),
    ({"num_returns": "2"}, TypeError),
    ({"retry_exceptions": "ValueError"}, TypeError),
    ({"retry_exceptions": [ValueError, 3]}, TypeError),
    ({"resources": ["GPU"]}, TypeError),
])
def test_wrongly_typed_or_valued_task_option(rt, opts, exc):
    with pytest.raises(exc) as ei:
        inc.options(**opts)
    assert next(iter(opts)) in str(ei.value)                  # names the option
    with pytest.raises(exc):
        minirt.remote(**opts)(lambda: 1)
    _still_works()


@pytest.mark.parametrize("opts, exc", [
    ({"max_restarts": "1"}, TypeError),
    ({"max_concurrency": 0}, ValueError),
    ({"lifetime": "forever"}, ValueError),
    ({"name": 5}, TypeError),
    ({"get_if_exists": True}, ValueError),          # needs a name
])
def test_wrongly_typed_or_valued_actor_option(rt, opts, exc):
    with pytest.raises(exc):
        Counter.options(**opts)
    _still_works()


def test_max_calls_in_options_is_rejected(rt):
    with pytest.raises(ValueError) as ei:
        inc.options(max_calls=2)
    assert "max_calls" in str(ei.value)
    _still_works()


def test_remote_with_empty_parentheses_or_a_non_callable(rt):
    with pytest.raises(TypeError):
        minirt.remote()
    with pytest.raises(TypeError):
        minirt.remote(42)
    _still_works()


# --- calling remote things directly ----------------------------------------------------------------
def test_calling_a_remote_function_directly(rt):
    with pytest.raises(TypeError) as ei:
        inc(1)
    assert "cannot be called directly" in str(ei.value) and "inc.remote()" in str(ei.value)
    _still_works()


def test_instantiating_an_actor_class_directly(rt):
    with pytest.raises(TypeError) as ei:
        Counter()
    assert "Counter.remote()" in str(ei.value)
    _still_works()


def test_calling_an_actor_method_directly(rt):
    c = Counter.remote()
    with pytest.raises(TypeError) as ei:
        c.incr()
    assert "incr.remote()" in str(ei.value)
    assert minirt.get(c.incr.remote(), timeout=20) == 1
    _still_works()


# --- init ------------------------------------------------------------------------------------------
def test_init_twice(rt):
    with pytest.raises(RuntimeError) as ei:
        minirt.init(num_cpus=2)
    assert "ignore_reinit_error" in str(ei.value) and "shutdown" in str(ei.value)
    info = minirt.init(ignore_reinit_error=True, num_cpus=99)
    assert info["node_id"] == minirt.get_runtime_context().get_node_id()
    assert minirt.cluster_resources()["CPU"] == 4.0     # other arguments ignored
    _still_works()


def test_init_with_bad_arguments_starts_nothing():
    with pytest.raises(TypeError):
        minirt.init(num_cpus="2")
    with pytest.raises(ValueError):
        minirt.init(num_cpus=0)
    with pytest.raises(TypeError):
        minirt.init(no_such_option=1)
    with pytest.raises(ValueError):
        minirt.init(object_store_memory=10)
    assert not minirt.is_initialized()
    minirt.init(num_cpus=1)
    _still_works()


# --- arguments and results that cannot travel ----------------------------------------------------------
def test_unpicklable_positional_argument_is_named(rt):
    with pytest.raises(TypeError) as ei:
        inc.remote(threading.Lock())
    msg = str(ei.value)
    assert "argument 0" in msg and "inc" in msg and "lock" in msg
    _still_works()


def test_unpicklable_keyword_argument_is_named(rt):
    @minirt.remote
    def f(a, handle=None):
        return a

    with pytest.raises(TypeError) as ei:
        f.remote(1, handle=threading.Lock())
    assert "'handle'" in str(ei.value)
    _still_works()


def test_unpicklable_actor_argument_is_named(rt):
    @minirt.remote
    class Holder:
        def __init__(self, lock):
            self.lock = lock

    with pytest.raises(TypeError) as ei:
        Holder.remote(threading.Lock())
    assert "argument 0" in str(ei.value)
    _still_works()


@minirt.remote
def return_lock():
    return threading.Lock()


@minirt.remote
def return_generator():
    return (i for i in range(3))


@pytest.mark.parametrize("fn, what", [(return_lock, "lock"), (return_generator, "generator")])
def test_unpicklable_return_value(rt, fn, what):
    with pytest.raises(TypeError) as ei:
        minirt.get(fn.remote(), timeout=20)
    assert isinstance(ei.value, TaskError)
    msg = str(ei.value)
    assert "return value" in msg and what in msg and fn.__name__ in msg
    _still_works()


def test_wrong_number_of_returns(rt):
    @minirt.remote(num_returns=2)
    def one():
        return 1

    a, b = one.remote()
    with pytest.raises(ValueError) as ei:
        minirt.get(a, timeout=20)
    assert "num_returns=2" in str(ei.value)
    _still_works()


# --- other API calls ----------------------------------------------------------------------------------
def test_cancel_and_kill_of_the_wrong_thing(rt):
    c = Counter.remote()
    with pytest.raises(TypeError):
        minirt.cancel(c)
    with pytest.raises(TypeError):
        minirt.cancel("ref")
    with pytest.raises(ValueError) as ei:
        minirt.kill(inc.remote(1))
    assert "cancel" in str(ei.value)
    assert minirt.get(c.incr.remote(), timeout=20) == 1
    _still_works()


def test_get_actor_of_a_missing_name(rt):
    with pytest.raises(ValueError) as ei:
        minirt.get_actor("nobody")
    assert "nobody" in str(ei.value)
    _still_works()


def test_task_that_no_node_can_run_warns_and_does_not_block_others(rt):
    # As in Ray: pending with a warning (a node may join), never a hang for other work.
    with pytest.warns(minirt.exceptions.InfeasibleWarning, match="CPU=64"):
        big = inc.options(num_cpus=64).remote(1)
    with pytest.warns(minirt.exceptions.InfeasibleWarning, match="unicorn"):
        odd = inc.options(resources={"unicorn": 1}).remote(1)
    _still_works()
    assert minirt.wait([big, odd], num_returns=2, timeout=0.2) == ([], [big, odd])
    minirt.cancel(big)
    minirt.cancel(odd)


def test_options_error_does_not_list_max_calls_as_valid(rt):
    # .options() rejects max_calls, so its list of valid keys must not offer it.
    with pytest.raises(ValueError, match="valid options are") as ei:
        inc.options(num_cpu=2)
    listed = str(ei.value).split("valid options are:")[1]
    assert "max_calls" not in listed and "num_cpus" in listed
    with pytest.raises(ValueError) as ei:              # @remote itself still lists it
        minirt.remote(num_cpu=2)(lambda x: x)
    assert "max_calls" in str(ei.value).split("valid options are:")[1]
