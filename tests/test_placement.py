"""Placement (minirt/_placement.py): a pure function, tested without any process."""

from minirt._ledger import Ledger
from minirt._placement import place


def _nodes(*cpus):
    return [Ledger({"CPU": c}) for c in cpus]


def test_no_room_anywhere_is_none():
    nodes = _nodes(1, 2)
    assert place({"CPU": 3.0}, nodes) is None
    assert place({"GPU": 1.0}, nodes) is None


def test_packs_on_the_first_node_under_half_load():
    nodes = _nodes(4, 4)
    assert place({"CPU": 1.0}, nodes) == 0
    nodes[0].acquire("a", {"CPU": 1.0})         # 25 % busy: still under half
    assert place({"CPU": 1.0}, nodes) == 0
    nodes[0].acquire("b", {"CPU": 1.0})         # 50 %: the next node is preferred
    assert place({"CPU": 1.0}, nodes) == 1


def test_spreads_to_the_least_busy_when_all_are_half_busy():
    nodes = _nodes(2, 4)
    nodes[0].acquire("a", {"CPU": 1.0})         # 50 %
    nodes[1].acquire("b", {"CPU": 3.0})         # 75 %
    assert place({"CPU": 1.0}, nodes) == 0
    nodes[0].acquire("c", {"CPU": 1.0})         # full
    assert place({"CPU": 1.0}, nodes) == 1


def test_prefers_the_node_holding_most_argument_bytes():
    nodes = _nodes(4, 4, 4)
    assert place({"CPU": 1.0}, nodes, {1: 100, 2: 500}) == 2
    assert place({"CPU": 1.0}, nodes, {1: 500, 2: 500}) == 1     # a tie: lower index
    nodes[2].acquire("a", {"CPU": 4.0})
    assert place({"CPU": 1.0}, nodes, {2: 500}) == 0             # full: normal policy


def test_removed_nodes_are_skipped():
    nodes = _nodes(4, 4)
    nodes[0] = None
    assert place({"CPU": 1.0}, nodes) == 1
    assert place({"CPU": 1.0}, nodes, {0: 1000}) == 1
    assert place({"CPU": 1.0}, [None]) is None


def test_custom_resources_pick_the_node_that_has_them():
    nodes = [Ledger({"CPU": 2}), Ledger({"CPU": 2, "accel": 1})]
    assert place({"CPU": 1.0, "accel": 1.0}, nodes) == 1
