"""Tests for util/internals.py: reading minirt's event log (lesson 07).

Hand-made entries pin down each sentence; one real run on a simulated cluster
checks that :func:`recorded_run` reads what the runtime actually records.
"""

import numpy as np
import pytest

import minirt
from minirt.cluster_utils import Cluster
from util.internals import (Run, Stored, copy_hints, describe, placement_hints, recorded_run,
                            show_events)

NODES = {0: "head", 1: "ingest", 2: "accel"}
OBJECTS = {"weights": "aa", "raw": "bb", "summary": "cc"}


def _log():
    """A small diary: a put on node 0, a task on node 1, its result copied to node 2."""
    return [
        {"time": 0.0, "kind": "store", "object": "aa", "task": None, "node": 0,
         "bytes": 8_000_000, "where": "shared memory", "error": False},
        {"time": 0.1, "kind": "place", "task": "load", "id": "t1", "node": 1, "worker": 4,
         "attempt": 0},
        {"time": 0.2, "kind": "finish", "task": "load", "id": "t1", "node": 1, "error": False},
        {"time": 0.2, "kind": "store", "object": "bb", "task": "load", "node": 1,
         "bytes": 8_000_000, "where": "shared memory", "error": False},
        {"time": 0.3, "kind": "copy", "object": "bb", "src": 1, "dst": 2, "bytes": 8_000_000,
         "seconds": 0.01},
        {"time": 0.4, "kind": "store", "object": "cc", "task": "report", "node": 0, "bytes": 41,
         "where": "inline", "error": False},
        {"time": 0.5, "kind": "copy", "object": "zz", "src": 0, "dst": 1, "bytes": 9,
         "seconds": 0.0},                                  # an object of another run
    ]


def test_describe_reads_each_kind():
    names = {"bb": "raw"}
    log = _log()
    assert describe(log[1]) == "load placed on node 1"
    assert describe(log[3], names) == "raw stored by load on node 1: 8.0 MB, shared memory"
    assert describe(log[4], names) == "raw copied from node 1's store to node 2's: 8.0 MB"
    assert describe(log[5]) == "an unnamed object stored by report on node 0: under 1 KB, inline"
    assert describe({"kind": "mystery", "time": 1.0, "x": 3}) == "mystery: x=3"


def test_describe_rejects_what_is_not_an_entry():
    with pytest.raises(TypeError, match="one entry of events"):
        describe("place")
    with pytest.raises(TypeError, match="names must be a dict"):
        describe(_log()[1], names=["raw"])


def test_show_events_numbers_the_picked_kinds(capsys):
    show_events(_log(), {"bb": "raw"}, kinds={"copy"})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    # Copies in a row run side by side, so they are shown sorted, whatever order they ended in.
    assert lines[0] == " 1. copy          an unnamed object copied from node 0's store to node 1's: 0.0 MB"
    assert lines[1] == " 2. copy          raw copied from node 1's store to node 2's: 8.0 MB"
    show_events(list(reversed(_log())), {"bb": "raw"}, kinds={"copy"})
    assert capsys.readouterr().out.splitlines() == lines
    with pytest.raises(TypeError, match="must be a list"):
        show_events(iter(_log()))


def test_recorded_run_names_placements_stores_and_copies():
    run = recorded_run(_log(), OBJECTS, NODES)
    assert run.placement == {"load": "ingest"}
    assert run.finished == {"load"}
    assert run.stored == {"weights": Stored("head", False, "put"),
                          "raw": Stored("ingest", False, "load"),
                          "summary": Stored("head", True, "report")}
    assert run.copies == {("raw", "accel")}         # the unnamed object's copy is not counted
    with pytest.raises(TypeError):
        recorded_run(_log(), list(OBJECTS), NODES)


def test_placement_hints_diagnose_without_naming_the_node():
    run = recorded_run(_log(), OBJECTS, NODES)
    assert placement_hints({"load": "ingest"}, run, {}) == []
    hints = placement_hints({"load": "head"}, run, {"load": ["weights"]})
    text = " ".join(hints)
    assert "load on 'head'" in text and "resources" in text
    assert "driver's node is not special" in text
    assert "near its input (load)" in text           # weights sits on head
    assert "ingest" not in text                      # the right answer is not given away


def test_copy_hints_say_why_each_difference_is_wrong():
    run = recorded_run(_log(), OBJECTS, NODES)
    assert copy_hints({("raw", "accel")}, run) == []
    put_here, = copy_hints({("raw", "accel"), ("weights", "head")}, run)
    assert "when the driver put it" in put_here
    small, = copy_hints({("raw", "accel"), ("summary", "head")}, run)
    assert "small" in small
    unknown, = copy_hints({("raw", "accel"), ("model", "head")}, run)
    assert "no object of that name" in unknown
    elsewhere, = copy_hints({("raw", "accel"), ("weights", "ingest")}, run)
    assert "nothing that ran on 'ingest' needed weights" in elsewhere
    missing, = copy_hints(set(), run)
    assert missing.startswith("1 copy between nodes happened that your set lacks")


def test_recorded_run_matches_a_real_run_on_a_simulated_cluster():
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {"head": 1}})
    other = cluster.add_node(num_cpus=1, resources={"far": 1})
    try:
        minirt.init(address=cluster.address)

        @minirt.remote(resources={"far": 1})
        def make(n):
            return np.ones(n)

        @minirt.remote(resources={"head": 1})
        def total(a):
            return float(a.sum())

        big = make.remote(200_000)                   # 1.6 MB: a file in the far node's store
        result = total.remote(big)
        assert minirt.get(result) == 200_000.0
        index = {n["NodeID"]: n["NodeIndex"] for n in minirt.nodes()}
        node_names = {index[cluster.head_node.node_id]: "head", index[other.node_id]: "far"}
        run = recorded_run(minirt.events(), {"big": big.hex(), "result": result.hex()}, node_names)
        assert isinstance(run, Run)
        assert run.placement == {"make": "far", "total": "head"}
        assert run.stored["big"] == Stored("far", False, "make")
        assert run.stored["result"].inline
        assert run.copies == {("big", "head")}
    finally:
        minirt.shutdown()
        cluster.shutdown()
