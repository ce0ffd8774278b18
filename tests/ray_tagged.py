"""Ray processes tagged by their RAY_TMPDIR: find them, and kill the ones a run left behind.

A test that runs Ray (a notebook on Ray, a workload script) gives the run a private
``RAY_TMPDIR``; every process Ray starts inherits it, so it tags them all, even the
daemons that leave the run's process tree. test_on_ray.py and test_state.py use this
to check for and clean up such escapees.
"""

from __future__ import annotations

import psutil


def tagged(tmp) -> list:
    """Pids of the live processes started with RAY_TMPDIR=tmp."""
    found = []
    for p in psutil.process_iter():
        try:
            if p.environ().get("RAY_TMPDIR") == tmp and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p.pid)
        except psutil.Error:
            pass
    return found


def kill_tagged(tmp) -> list:
    """Kill what was started with RAY_TMPDIR=tmp and escaped the kernel's process tree.

    Returns:
        The pids still alive 10 s later (none, normally).
    """
    if not tmp:
        return []
    procs = []
    for pid in tagged(tmp):
        try:
            p = psutil.Process(pid)
            p.kill()
            procs.append(p)
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=10)
    return [p.pid for p in alive]
