"""The resource ledger (minirt/_ledger.py): pure bookkeeping, no process started."""

import pytest

from minirt._ledger import Ledger


def test_acquire_and_release_are_keyed_by_holder():
    ledger = Ledger({"CPU": 4, "GPU": 1})
    ledger.acquire("a", {"CPU": 1.0})
    ledger.acquire("b", {"CPU": 2.0, "GPU": 1.0})
    assert ledger.avail == {"CPU": 1.0, "GPU": 0.0}
    assert ledger.holds("a") and ledger.holds("b")
    assert ledger.release("b") is True
    assert ledger.avail == {"CPU": 3.0, "GPU": 1.0}
    assert not ledger.holds("b")


def test_double_release_gives_nothing_back():
    ledger = Ledger({"CPU": 2})
    ledger.acquire("a", {"CPU": 2.0})
    assert ledger.release("a") is True
    assert ledger.release("a") is False
    assert ledger.avail == {"CPU": 2.0}
    assert ledger.release("never-held") is False
    assert ledger.avail == {"CPU": 2.0}


def test_double_acquire_by_one_holder_is_refused():
    ledger = Ledger({"CPU": 2})
    ledger.acquire("a", {"CPU": 1.0})
    with pytest.raises(ValueError, match="already holds"):
        ledger.acquire("a", {"CPU": 1.0})
    assert ledger.avail == {"CPU": 1.0}


def test_fits_and_load():
    ledger = Ledger({"CPU": 4, "mem": 1})
    assert ledger.fits({"CPU": 4.0, "mem": 1.0})
    assert not ledger.fits({"CPU": 4.5})
    assert not ledger.fits({"GPU": 1.0})        # a resource the node lacks
    assert ledger.fits({"GPU": 0.0})
    assert ledger.load() == 0.0
    ledger.acquire("a", {"CPU": 3.0})
    assert ledger.load() == pytest.approx(0.75)
    assert not ledger.fits({"CPU": 2.0})
    assert Ledger({"mem": 1}).load() == 0.0   # no CPUs: never "busy"


def test_oversubscription_is_allowed_but_not_more_than_total_available():
    # A task resuming after get() takes its CPUs back even if they were lent out.
    ledger = Ledger({"CPU": 1})
    ledger.acquire("a", {"CPU": 1.0})
    ledger.acquire("b", {"CPU": 1.0})
    assert ledger.avail["CPU"] == -1.0
    ledger.release("a")
    ledger.release("b")
    assert ledger.avail["CPU"] == 1.0


def test_available_above_total_is_an_error_in_one_place():
    ledger = Ledger({"CPU": 1})
    with pytest.raises(AssertionError, match="CPU"):
        ledger._apply({"CPU": 1.0}, +1)      # what a double release would have done


def test_hand_over_moves_a_holding_without_freeing_it():
    ledger = Ledger({"CPU": 2.0, "GPU": 1.0})
    ledger.acquire("running", {"CPU": 1.0, "GPU": 1.0})
    ledger.hand_over("running", "queued")
    assert not ledger.holds("running") and ledger.holds("queued")
    assert ledger.avail == {"CPU": 1.0, "GPU": 0.0}      # nothing was free in between
    assert ledger.release("queued") and ledger.avail == ledger.total
    ledger.acquire("a", {"CPU": 1.0})
    ledger.acquire("b", {"CPU": 1.0})
    with pytest.raises(ValueError, match="already holds"):
        ledger.hand_over("a", "b")                         # would lose one of the two
    with pytest.raises(ValueError, match="holds nothing"):
        ledger.hand_over("nobody", "c")
    assert ledger.holds("a") and ledger.holds("b") and not ledger.holds("c")
