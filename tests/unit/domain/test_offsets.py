"""The committable offset never passes an open record."""

from __future__ import annotations

from service.domain.offsets import OffsetTracker


def test_nothing_consumed_means_nothing_to_commit() -> None:
    """Before the first record there is no offset to commit."""
    assert OffsetTracker().committable() is None


def test_the_commit_stops_at_the_lowest_open_offset() -> None:
    """Records 5..9 consumed, 6 still open: commit 6 even though 7..9 are done."""
    tracker = OffsetTracker()
    for offset in range(5, 10):
        tracker.consumed(offset)
    tracker.done([5, 7, 8, 9])
    assert tracker.committable() == 6
    tracker.done([6])
    assert tracker.committable() == 10


def test_everything_done_commits_the_next_position() -> None:
    """With nothing open, the commit is one past the last consumed record."""
    tracker = OffsetTracker()
    tracker.consumed(41)
    tracker.done([41])
    assert (tracker.committable(), tracker.open_count) == (42, 0)


def test_an_offset_consumed_again_out_of_order_holds_the_commit_back() -> None:
    """Records 10..12 consumed and done, then 7 again (a seek back): commit 7 until it is done."""
    tracker = OffsetTracker()
    for offset in (10, 11, 12):
        tracker.consumed(offset)
    tracker.done([10, 11, 12])
    tracker.consumed(7)
    assert (tracker.committable(), tracker.position) == (7, 13)
    tracker.done([7])
    assert tracker.committable() == 13
