"""Processes and descriptors (minirt/_procs.py and the parts that wait on descriptors)."""

import os
import resource

import pytest

import minirt
from minirt.exceptions import WorkerCrashedError


@minirt.remote
def one():
    return 1


@minirt.remote
def die():
    os._exit(1)


@pytest.fixture
def high_descriptors():
    """1,100 descriptors open, so the runtime's own get numbers above 1,024 (a few hundred
    actors do the same: each worker takes 4 in the driver)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.skip(f"the hard limit on open files is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4096), hard))
    fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    yield
    for fd in fds:
        os.close(fd)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_descriptors_numbered_above_1024_work(high_descriptors):
    minirt.init(num_cpus=2)
    try:
        assert minirt.get(one.remote(), timeout=30) == 1
        with pytest.raises(WorkerCrashedError):       # a death: its pidfd and sentinel
            minirt.get(die.options(max_retries=0).remote(), timeout=30)
        assert minirt.get([one.remote() for _ in range(4)], timeout=30) == [1] * 4
    finally:
        minirt.shutdown()                             # waits for the workers' pidfds
