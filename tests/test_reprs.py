"""Rich reprs (issue #14): init context, ObjectRef, ActorHandle, errors; never block or raise."""

from __future__ import annotations

import queue
import threading
import time

import numpy as np
import pytest

import minirt
from minirt.util import _reprs
from minirt.exceptions import (ActorDiedError, GetTimeoutError, ObjectLostError,
                               ObjectStoreFullError, WorkerCrashedError)

from tests.conftest import start_kernel, wait_until


def helper(d):
    return d["missing"]


@minirt.remote
def lookup(d):
    return helper(d)


@minirt.remote
def slow(t):
    time.sleep(t)
    return t


@minirt.remote
class Counter:
    def incr(self):
        return 1


def test_runtime_info_text_and_html():
    info = minirt.init(num_cpus=3, num_nodes=2)
    text = str(info)
    assert "state: running" in text and "nodes: 2" in text and "CPUs: 3 per node (6 in all)" in text
    assert info["session_dir"] in text and "object store" in text and "in use" in text
    assert repr(info).startswith("RuntimeInfo(")          # repr keeps Ray's shape
    page = info._repr_html_()
    assert "<table" in page and "running" in page and "3 per node" in page
    minirt.shutdown()
    assert "not running" in str(info) and "not running" in info._repr_html_()


def test_object_ref_html_shows_state_size_and_node(rt):
    pending = slow.remote(0.5)
    assert repr(pending) == f"ObjectRef({pending.hex()})"
    page = pending._repr_html_()
    assert "pending" in page and "slow" in page and pending.hex() in page
    big = minirt.put(np.zeros(1_000_000))
    page = big._repr_html_()
    assert "ready" in page and "7.6 MiB" in page and "<td style='text-align:left'>0</td>" in page
    failed = lookup.remote({})
    minirt.wait([failed])
    assert "failed" in failed._repr_html_()
    minirt.get(pending)


def test_actor_handle_html(rt):
    c = Counter.options(name="tally").remote()
    minirt.get(c.incr.remote())
    page = c._repr_html_()
    for word in ("Counter", "tally", "ALIVE", "restarts"):
        assert word in page
    assert repr(c).startswith("Actor(Counter, ")
    minirt.kill(c)
    assert wait_until(lambda: "DEAD" in c._repr_html_())


def test_reprs_never_block_while_the_head_is_busy(rt):
    ref = minirt.put(1)
    head = minirt._context.peek()
    out = queue.Queue()
    with head._lock:                       # e.g. the control thread in a long step
        th = threading.Thread(target=lambda: out.put((ref._repr_html_(), str(minirt.init(
            ignore_reinit_error=True)))))
        t0 = time.monotonic()
        th.start()
        th.join(5)
        took = time.monotonic() - t0
    page, _ = out.get_nowait()
    assert took < 2.0 and "unknown" in page


def test_reprs_after_shutdown_still_work():
    minirt.init(num_cpus=1)
    ref = minirt.put(np.arange(10))
    c = Counter.remote()
    minirt.shutdown()
    assert "unknown" in ref._repr_html_()
    assert "Counter" in c._repr_html_()
    assert repr(ref).startswith("ObjectRef(")


def test_task_error_shows_the_learners_frame_first(rt):
    with pytest.raises(KeyError) as info:
        minirt.get(lookup.remote({}))
    lines = info.value._render_traceback_()
    assert lines[0].startswith("Your code (in task lookup")
    assert __file__ in lines[0] and "in helper" in lines[0]
    assert lines[1].strip() == 'return d["missing"]'
    assert lines[2] == "KeyError: 'missing'"
    assert lines[3].startswith("Advice: Your function raised") and "lessons/08_patterns" in lines[3]
    text = "\n".join(lines)
    assert "minirt frame" in text and "_worker.py" not in text and "api.py" not in text
    page = info.value._repr_html_()
    assert "<details>" in page and "helper" in page


@pytest.mark.parametrize("err, words", [
    (WorkerCrashedError("the worker died"), "max_retries"),
    (ActorDiedError("killed"), "max_restarts"),
    (ObjectLostError("gone"), "keep the ref"),
    (GetTimeoutError("timed out"), "wait()"),
    (ObjectStoreFullError("full"), "object_store_memory"),
])
def test_one_line_of_advice_per_error_type(err, words):
    lines = err._render_traceback_()
    advice = [ln for ln in lines if ln.startswith("Advice: ")]
    assert len(advice) == 1 and words in advice[0]
    assert lines[0 if "Your code" not in lines[0] else 1].startswith(type(err).__name__)


def test_out_of_memory_advice_by_name():
    OutOfMemoryError = type("OutOfMemoryError", (minirt.exceptions.MinirtError,), {})
    assert "memory" in _reprs.advice_for(OutOfMemoryError("x"))


def test_render_never_raises():
    class Weird(minirt.exceptions.MinirtError):
        def __str__(self):
            raise RuntimeError("no str for you")
    lines = Weird()._render_traceback_()
    assert isinstance(lines, list) and lines


def test_in_a_real_kernel(tmp_path):
    """Through jupyter_client: a raised TaskError's traceback, a ref's HTML."""
    with start_kernel(cwd=tmp_path) as (_, kc):
        def run(code):
            msg_id = kc.execute(code)
            outs = []
            while True:
                m = kc.get_iopub_msg(timeout=60)
                if m["parent_header"].get("msg_id") != msg_id:
                    continue
                if m["msg_type"] in ("error", "execute_result", "display_data"):
                    outs.append(m)
                if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                    return outs

        try:
            run("import minirt\nminirt.init(num_cpus=1)\n"
                "@minirt.remote\ndef f(d):\n    return d['nope']\n")
            (err,) = run("minirt.get(f.remote({}))")
            tb = "\n".join(err["content"]["traceback"])
            assert err["content"]["ename"].startswith("TaskError")
            assert "Your code (in task f" in tb and "return d['nope']" in tb and "Advice:" in tb
            (res,) = run("minirt.put(41)")
            assert "ready" in res["content"]["data"]["text/html"]
            assert res["content"]["data"]["text/plain"].startswith("ObjectRef(")
        finally:
            run("minirt.shutdown()")


def test_state_lists_show_as_tables(rt):
    from minirt.util import state
    c = Counter.options(name="tally").remote()
    minirt.get(c.incr.remote())
    actors = state.list_actors()
    assert actors == list(actors) and isinstance(actors, list)     # still a plain list to use
    page = actors._repr_html_()
    assert "<table" in page and "tally" in page and "ALIVE" in page and "1 ActorState record" in page
    assert "no records" in state.list_actors(filters=[("state", "=", "DEAD")])._repr_html_()
