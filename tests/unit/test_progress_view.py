"""The live progress table of ``minimax-async clone``, rendered into a fixed-size terminal."""

from __future__ import annotations

import io
import time
from collections import Counter

import pytest
from rich.console import Console

from minimax_async import CloneProgress, JobState
from minimax_async.cli._progress import ProgressView

WIDTH, HEIGHT = 80, 24
MINUTES_ELAPSED = 10


def busy_run(accounts: list[str]) -> CloneProgress:
    """A run ten minutes in: each account has queued, cloning, done and failed jobs; the
    last account is the only one uploading."""
    progress = CloneProgress()
    progress.started = time.monotonic() - MINUTES_ELAPSED * 60
    for i, account in enumerate(accounts):
        counts = Counter(
            {
                JobState.QUEUED: 4,
                JobState.CLONING: i % 2,
                JobState.DONE: 3,
                JobState.FAILED: i % 3 == 0,
            }
        )
        if i == len(accounts) - 1:
            counts[JobState.UPLOADING] = 2
        progress.by_account[account] = counts
        progress.counts.update(counts)
    progress.total = sum(progress.counts.values())
    return progress


def frame_lines(accounts: int) -> tuple[list[str], CloneProgress]:
    """One frame of the live table for ``accounts`` accounts, as an 80x24 terminal shows it."""
    names = [str(100001 + i) for i in range(accounts)]
    progress = busy_run(names)
    console = Console(file=io.StringIO(), width=WIDTH, height=HEIGHT, color_system=None)
    view = ProgressView(
        console,
        progress,
        names,
        title="cloning big.csv",
        jobs=progress.total,
        clock=lambda: progress.started + MINUTES_ELAPSED * 60,  # the frame's "now"
    )
    frame = view._render()
    lines = console.render_lines(frame, console.options, pad=False)
    return ["".join(segment.text for segment in line).rstrip() for line in lines], progress


@pytest.mark.parametrize("accounts", [25, 200])
def test_totals_rate_and_eta_fit_in_an_80x24_frame(accounts: int) -> None:
    """25 (or 200) accounts: the frame fits the terminal, with the summary and totals rows."""
    lines, progress = frame_lines(accounts)
    assert len(lines) < HEIGHT  # nothing is cropped, and the cursor line is left free
    assert all(len(line) <= WIDTH for line in lines)
    summary = lines[0]
    assert summary.startswith(f"{progress.finished}/{progress.total} finished · ")
    assert "/min · ETA " in summary
    assert f"elapsed {MINUTES_ELAPSED}m00s" in summary
    totals = next(line for line in lines if line.strip("│ ").startswith("all "))
    cells = [cell.strip() for cell in totals.split("│")[1:-1]]
    assert cells[1] == str(progress.counts[JobState.QUEUED])
    assert cells[5] == str(progress.counts[JobState.DONE])
    folded = next(line for line in lines if "more" in line)
    shown = [line for line in lines if line.strip("│ ")[:6].isdigit()]
    assert f"+{accounts - len(shown)} more" in folded


def test_the_busiest_accounts_keep_their_rows() -> None:
    """The uploading account and the cloning ones are shown; idle ones are folded first."""
    lines, _ = frame_lines(25)
    shown = {line.strip("│ ")[:6] for line in lines if line.strip("│ ")[:6].isdigit()}
    assert "100025" in shown  # the only one uploading
    cloning = {str(100001 + i) for i in range(25) if i % 2}
    assert shown <= cloning | {"100025"}


def test_few_accounts_are_not_folded() -> None:
    """Three accounts: every account has its row, and there is no folded row."""
    lines, _ = frame_lines(3)
    assert {"100001", "100002", "100003"} <= {line.strip("│ ")[:6] for line in lines}
    assert not any("more" in line for line in lines)
