"""minirt.util.debug.rerun: a failed task re-run in the driver, under pdb's post-mortem.

Most tests run in both modes (multi-process and local mode); the real pdb is
driven through a subprocess with piped standard input.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import minirt
from minirt import _scheduler
from minirt.util import debug


@minirt.remote
def halve(n, table):
    half = n // 2
    if half * 2 != n + table["offset"]:      # (not assert: pytest rewrites those here)
        raise ValueError(f"{n} is odd")
    return half


@minirt.remote
def outer(n):
    return minirt.get(halve.remote(n, {"offset": 0}))


@minirt.remote
def total(arr):
    s = float(arr.sum())
    raise RuntimeError(f"sum {s}")


@minirt.remote
def fine(x):
    return x


@minirt.remote
class Shelf:
    def __init__(self):
        self.items = []

    def take(self):
        return self.items.pop()


def _innermost(exc):
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame


def test_rerun_of_a_ref_shows_the_failing_frame(mode):
    ref = halve.remote(minirt.put(7), {"offset": 0})       # a ref argument, resolved again
    exc = debug.rerun(ref, debugger=False)
    assert isinstance(exc, ValueError) and str(exc) == "7 is odd"
    frame = _innermost(exc)
    assert frame.f_code.co_name == "halve"
    assert frame.f_locals["half"] == 3 and frame.f_locals["table"] == {"offset": 0}


def test_rerun_of_the_caught_error(mode):
    with pytest.raises(ValueError) as info:
        minirt.get(halve.remote(5, {"offset": 0}))
    exc = debug.rerun(info.value, debugger=False)
    assert _innermost(exc).f_locals["n"] == 5


def test_rerun_of_a_nested_failure_runs_the_inner_task(mode):
    with pytest.raises(ValueError) as info:
        minirt.get(outer.remote(9))
    exc = debug.rerun(info.value, debugger=False)
    frame = _innermost(exc)
    assert frame.f_code.co_name == "halve" and frame.f_locals["n"] == 9


def test_rerun_with_a_large_argument(mode):
    arr = np.ones(300_000)                                 # arguments go in a file
    exc = debug.rerun(total.remote(arr), debugger=False)
    assert str(exc) == "sum 300000.0"


def test_an_actor_method_is_not_rerun_but_its_traceback_shown(mode, capsys):
    shelf = Shelf.remote()
    with pytest.raises(IndexError) as info:
        minirt.get(shelf.take.remote())
    assert debug.rerun(info.value) is None
    out = capsys.readouterr().out
    assert "Shelf.take is an actor method" in out and "cannot re-run" in out
    assert "return self.items.pop()" in out                # the remote traceback


def test_what_cannot_be_rerun(mode):
    with pytest.raises(ValueError, match="did not fail"):
        debug.rerun(fine.remote(1))
    with pytest.raises(TypeError, match="ObjectRef of a failed task"):
        debug.rerun("halve")
    with pytest.raises(TypeError, match="debugger"):
        debug.rerun(fine.remote(1), debugger="no")


def test_only_the_last_failed_tasks_are_kept(mode):
    first = halve.remote(1, {"offset": 0})
    assert debug.rerun(first, debugger=False) is not None
    later = [halve.remote(3, {"offset": 0}) for _ in range(_scheduler.FAILED_MAX)]
    minirt.wait(later, num_returns=len(later), timeout=60)
    with pytest.raises(ValueError, match="no longer keeps"):
        debug.rerun(first, debugger=False)
    assert debug.rerun(later[-1], debugger=False) is not None


def test_a_crash_is_not_a_task_error():
    minirt.init(num_cpus=1)

    @minirt.remote(max_retries=0)
    def crash():
        os._exit(1)

    with pytest.raises(ValueError, match="WorkerCrashedError"):
        debug.rerun(crash.remote())


def test_the_head_keeps_few_failed_tasks_and_unpins_their_arguments():
    minirt.init(num_cpus=2)
    head = minirt._context.peek()
    arg = minirt.put(np.ones(10))
    minirt.wait([total.remote(arg)], timeout=60)
    assert len(head.sched.failed) == 1
    oid = arg._id
    refs = [halve.remote(1, {"offset": 0}) for _ in range(_scheduler.FAILED_MAX)]
    minirt.wait(refs, num_returns=len(refs), timeout=60)
    assert len(head.sched.failed) == _scheduler.FAILED_MAX
    del arg
    minirt.get(fine.remote(0))
    assert oid not in head.objects          # unpinned when its record went


@pytest.mark.parametrize("local", [False, True], ids=["processes", "local"])
def test_real_pdb_with_piped_stdin(tmp_path, local):
    script = tmp_path / "post_mortem.py"
    script.write_text(textwrap.dedent(f"""
        import minirt
        from minirt.util import debug
        minirt.init(num_cpus=1, local_mode={local})

        @minirt.remote
        def scale(values, factor):
            x = sum(values) * factor
            return 100 / (x - 42)

        ref = scale.remote([1, 2, 3, 1], 6)
        debug.rerun(ref)
        print("after the debugger")
        minirt.shutdown()
    """))
    out = subprocess.run([sys.executable, str(script)], input="p x\nq\n", capture_output=True,
                         text=True, timeout=90, cwd=os.getcwd())
    assert out.returncode == 0, out.stderr
    assert "it raised ZeroDivisionError" in out.stdout
    assert "-> return 100 / (x - 42)" in out.stdout        # the failing line of the task
    assert "(Pdb) 42" in out.stdout                          # p x: its local variable
    assert "after the debugger" in out.stdout


def test_rerun_in_a_real_jupyter_kernel(kernel):
    """The post-mortem prompt is the kernel's input box (answered here through jupyter_client)."""
    _, kc = kernel
    out, asked, answers = [], [], ["p x", "q"]

    def on_output(m):
        if m["msg_type"] == "stream":
            out.append(m["content"]["text"])

    def on_input(m):
        asked.append(m["content"]["prompt"])
        kc.input(answers.pop(0) if answers else "q")

    code = textwrap.dedent("""
        import minirt
        from minirt.util import debug
        _ = minirt.init(num_cpus=1)

        @minirt.remote
        def scale(values, factor):
            x = sum(values) * factor
            return 100 / (x - 42)

        debug.rerun(scale.remote([1, 2, 3, 1], 6))
        minirt.shutdown()
    """)
    reply = kc.execute_interactive(code, timeout=90, allow_stdin=True, stdin_hook=on_input,
                                   output_hook=on_output)
    text = re.sub(r"\x1b\[[0-9;]*m", "", "".join(out))      # (the kernel's pdb colours)
    assert reply["content"]["status"] == "ok", text
    assert len(asked) == 2 and "db>" in asked[0]      # pdb (ipdb> in a kernel)
    assert "return 100 / (x - 42)" in text and "42" in text.split("return 100 / (x - 42)")[-1]


def test_a_task_with_huge_arguments_is_not_kept(monkeypatch):
    monkeypatch.setattr(_scheduler, "FAILED_ARGS_MAX", 100_000)     # (256 MiB by default)
    minirt.init(num_cpus=1)
    small = halve.remote(3, {"offset": 0})
    big = total.remote(np.ones(300_000))                 # 2.4 MB of arguments
    minirt.wait([small, big], num_returns=2, timeout=60)
    assert debug.rerun(small, debugger=False) is not None
    with pytest.raises(ValueError, match="256 MiB"):
        debug.rerun(big, debugger=False)


def test_kept_arguments_are_capped_in_all_the_oldest_dropped_first(monkeypatch):
    monkeypatch.setattr(_scheduler, "FAILED_ARGS_MAX", 5 * 800_000)   # about 5 of these
    minirt.init(num_cpus=1)
    refs = [total.remote(np.ones(100_000)) for _ in range(8)]       # 800 kB each, all fail
    minirt.wait(refs, num_returns=8, timeout=60)
    head = minirt._context.peek()
    kept = head.sched.failed
    assert 0 < len(kept) < 8 and head.sched.failed_bytes <= 5 * 800_000
    assert head.sched.failed_bytes == sum(k.size for k in kept.values())
    with pytest.raises(ValueError, match="no longer keeps"):
        debug.rerun(refs[0], debugger=False)                  # the oldest went first
    assert isinstance(debug.rerun(refs[-1], debugger=False), RuntimeError)   # re-raised here
