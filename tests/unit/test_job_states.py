"""A bulk job's moves are checked against one table (``minimax_async._bulk.TRANSITIONS``)."""

from __future__ import annotations

import itertools

import pytest

from minimax_async import CloneProgress, JobState, VoiceJob
from minimax_async._bulk import TRANSITIONS, JobTracker

FILE_ID = "user:1-minimax-audio:2"


def tracker_in(state: JobState, progress: CloneProgress | None = None) -> JobTracker:
    """A tracker walked to ``state`` by legal moves only."""
    tracker = JobTracker(progress, VoiceJob("Alice", "English", [FILE_ID]))
    path = {
        JobState.QUEUED: [],
        JobState.UPLOADING: [JobState.UPLOADING],
        JobState.READY: [JobState.UPLOADING, JobState.READY],
        JobState.CLONING: [JobState.UPLOADING, JobState.READY, JobState.CLONING],
        JobState.DONE: [JobState.UPLOADING, JobState.READY, JobState.CLONING, JobState.DONE],
        JobState.FAILED: [JobState.FAILED],
    }[state]
    for step in path:
        tracker.move(step, "acct" if step is JobState.UPLOADING else None)
    assert tracker.state is state
    return tracker


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param(a, b, id=f"{a.name}->{b.name}")
        for a, b in itertools.product(JobState, JobState)
    ],
)
def test_every_move_is_allowed_exactly_when_the_table_says(old: JobState, new: JobState) -> None:
    """Each of the 36 pairs: a move in the table happens (and is counted); any other one
    raises and changes nothing; staying put is always a no-op."""
    progress = CloneProgress()
    tracker = tracker_in(old, progress)
    before = dict(progress.counts)
    if new is old:
        tracker.move(new)
        assert (tracker.state, dict(progress.counts)) == (old, before)
    elif new in TRANSITIONS[old]:
        tracker.move(new)
        assert tracker.state is new
        assert progress.counts[new] == before.get(new, 0) + 1
    else:
        with pytest.raises(RuntimeError, match=f"from {old.name} to {new.name}"):
            tracker.move(new)
        assert (tracker.state, dict(progress.counts)) == (old, before)


def test_the_table_covers_every_state_and_final_states_have_no_way_out() -> None:
    """Every state has a row; DONE and FAILED lead nowhere; every other state may fail."""
    assert set(TRANSITIONS) == set(JobState)
    assert TRANSITIONS[JobState.DONE] == TRANSITIONS[JobState.FAILED] == frozenset()
    for state in (JobState.QUEUED, JobState.UPLOADING, JobState.READY, JobState.CLONING):
        assert JobState.FAILED in TRANSITIONS[state]


def test_a_re_placed_job_goes_back_to_queued_and_starts_again_elsewhere() -> None:
    """After a 596 on its account, a placed job is queued again and uploads elsewhere."""
    progress = CloneProgress()
    tracker = tracker_in(JobState.READY, progress)
    tracker.move(JobState.QUEUED)
    tracker.move(JobState.UPLOADING, "other")
    assert (tracker.state, tracker.account) == (JobState.UPLOADING, "other")
    assert progress.counts[JobState.UPLOADING] == 1
    assert progress.counts[JobState.READY] == 0
