"""Live progress of a bulk run: a rich table on a terminal, plain periodic lines elsewhere.

Both read a :class:`~minimax_async.CloneProgress` (overall and per-account counts of queued,
uploading, cloning, done and failed jobs, the rate and the ETA). On a terminal the table is
redrawn a few times a second; in CI or a pipe one line is printed every few seconds, and only
when something changed. Each finished job also gets one line of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Final

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from minimax_async import CloneProgress, JobState
from minimax_async.cli._output import redact

__all__ = ["LIVE_REFRESH_SECONDS", "PLAIN_INTERVAL_SECONDS", "ProgressView", "format_seconds"]

#: How often the live table is redrawn.
LIVE_REFRESH_SECONDS: Final = 0.25
#: How often a plain progress line may be printed (non-terminal output).
PLAIN_INTERVAL_SECONDS: Final = 2.0
_SECONDS_PER_MINUTE: Final = 60
_SECONDS_PER_HOUR: Final = 3600
_STATES: Final = (
    JobState.QUEUED,
    JobState.UPLOADING,
    JobState.READY,
    JobState.CLONING,
    JobState.DONE,
    JobState.FAILED,
)
_UNASSIGNED: Final = "(no account yet)"


def format_seconds(seconds: float | None) -> str:
    """A short duration: ``"42s"``, ``"3m05s"``, ``"1h02m"``; ``"?"`` when unknown."""
    if seconds is None:
        return "?"
    whole = max(0, round(seconds))
    if whole < _SECONDS_PER_MINUTE:
        return f"{whole}s"
    if whole < _SECONDS_PER_HOUR:
        return f"{whole // _SECONDS_PER_MINUTE}m{whole % _SECONDS_PER_MINUTE:02d}s"
    hours, rest = divmod(whole, _SECONDS_PER_HOUR)
    return f"{hours}h{rest // _SECONDS_PER_MINUTE:02d}m"


def _wants_live(console: Console) -> bool:
    """A live display only on a real terminal: ``FORCE_COLOR`` (set by many CI systems)
    makes rich treat a pipe as a terminal, which must not turn CI logs into redraws.
    ``TTY_INTERACTIVE=1``/``0`` forces the choice either way."""
    forced = os.environ.get("TTY_INTERACTIVE")
    if forced in ("0", "1"):
        return forced == "1"
    isatty = getattr(console.file, "isatty", None)
    try:
        real_tty = bool(isatty()) if isatty is not None else False
    except ValueError:  # closed file
        real_tty = False
    return real_tty and not console.is_dumb_terminal


def _busiest(
    rows: Sequence[tuple[str, Counter[JobState]]], shown: int
) -> tuple[list[tuple[str, Counter[JobState]]], list[tuple[str, Counter[JobState]]]]:
    """The ``shown - 1`` busiest rows (in their display order) and the rest, to be folded
    into one row. Busiest: most jobs at work (uploading, ready, cloning), then most queued;
    the row of jobs without an account yet is always kept."""
    keep = max(0, shown - 1)

    def busy(index: int) -> tuple[int, int, int, int]:
        name, counts = rows[index]
        working = sum(counts[s] for s in (JobState.UPLOADING, JobState.READY, JobState.CLONING))
        return (name != _UNASSIGNED, -working, -counts[JobState.QUEUED], index)

    chosen = set(sorted(range(len(rows)), key=busy)[:keep])
    kept = [row for i, row in enumerate(rows) if i in chosen]
    folded = [row for i, row in enumerate(rows) if i not in chosen]
    return kept, folded


def _per_minute(count: int, elapsed: float) -> str:
    return f"{count * _SECONDS_PER_MINUTE / elapsed:.1f}/min" if elapsed > 0 and count else "-"


class ProgressView:
    """Shows a run's progress while it is used as an async context manager.

    Args:
        console: Where to draw (stderr).
        progress: The run's counts.
        accounts: The accounts, in display order.
        title: A heading (e.g. the manifest's name).
        jobs: How many jobs the run has.
        live: Draw a live table (default: when ``console`` is a terminal).
        interval: Seconds between plain lines.
        clock: Now, on the clock of ``progress.started`` (tests pass a fixed one).
    """

    def __init__(
        self,
        console: Console,
        progress: CloneProgress,
        accounts: Sequence[str],
        *,
        title: str,
        jobs: int,
        live: bool | None = None,
        interval: float = PLAIN_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._console = console
        self._progress = progress
        self._accounts = tuple(accounts)
        self._title = title
        self._jobs = jobs
        self._use_live = _wants_live(console) if live is None else live
        self._interval = interval
        self._live: Live | None = None
        self._task: asyncio.Task[None] | None = None
        self._dirty = True
        self._last_line = ""

    async def __aenter__(self) -> ProgressView:
        self._progress.subscribe(self._changed)
        if self._use_live:
            self._live = Live(
                self._render(), console=self._console, auto_refresh=False, transient=False
            )
            self._live.start(refresh=True)
            self._task = asyncio.ensure_future(self._redraw_forever())
        else:
            self._console.print(
                Text(f"{self._title}: {self._jobs} job(s) on {len(self._accounts)} account(s)"),
                soft_wrap=True,
            )
            self._task = asyncio.ensure_future(self._print_forever())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._live is not None:
            self._live.update(self._render(), refresh=True)
            self._live.stop()
        else:
            self._print_line(force=True)

    def job_line(self, record: Mapping[str, object]) -> None:
        """Print one finished job (a ``result`` record of the results file)."""
        name = str(record.get("voice_name"))
        account = record.get("account") or "-"
        if record.get("status") == "done":
            how = "adopted" if record.get("adopted") else "done"
            text = Text.assemble(
                ("  ✓ ", "green"),
                (name, "bold"),
                f" {how} on {account}: {record.get('voice_id')}",
            )
        else:
            error = record.get("error")
            detail = ""
            if isinstance(error, Mapping):
                detail = f"{error.get('type')}: {error.get('message')}"
            text = Text.assemble(
                ("  ✗ ", "red"), (name, "bold"), (f" failed on {account}: {redact(detail)}", "red")
            )
        self._console.print(text, soft_wrap=True)

    # ------------------------------------------------------------------ internals

    def _changed(self, *_: object) -> None:
        self._dirty = True

    async def _redraw_forever(self) -> None:
        while True:
            await asyncio.sleep(LIVE_REFRESH_SECONDS)
            if self._live is not None:
                self._live.update(self._render(), refresh=True)

    async def _print_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self._print_line()

    def _elapsed(self) -> float:
        return self._clock() - self._progress.started

    def _rows(self) -> list[tuple[str, Counter[JobState]]]:
        by_account = self._progress.by_account
        names = list(self._accounts) + [
            a for a in by_account if a is not None and a not in self._accounts
        ]
        rows = [(name, by_account.get(name, Counter())) for name in names]
        unassigned = by_account.get(None, Counter())
        if any(unassigned.values()):
            rows.append((_UNASSIGNED, unassigned))
        return rows

    def _summary(self) -> str:
        progress = self._progress
        return (
            f"{progress.finished}/{progress.total} finished · "
            f"{_per_minute(progress.finished, self._elapsed())} · "
            f"ETA {format_seconds(progress.eta())} · elapsed {format_seconds(self._elapsed())}"
        )

    def _render(self) -> Group:
        """One frame: the summary line (totals, rate, ETA) first, then the table, folded to
        fit the terminal's height so that neither the summary nor the totals row scrolls
        away: the busiest accounts get rows, the others share one."""
        rows = self._rows()
        height = self._console.size.height - 1  # the line the cursor rests on
        shown = len(rows)
        frame = self._frame(rows, shown)
        while shown > 1 and self._height_of(frame) > height:
            # One row less for accounts, one for the folded row: re-measure (headers and
            # long account names may wrap).
            shown = min(shown - 1, max(1, height - (self._height_of(frame) - shown) - 1))
            frame = self._frame(rows, shown)
        return frame

    def _height_of(self, frame: Group) -> int:
        return len(self._console.render_lines(frame, self._console.options, pad=False))

    def _frame(self, rows: list[tuple[str, Counter[JobState]]], shown: int) -> Group:
        """The frame with at most ``shown`` rows of accounts (the rest folded into one)."""
        elapsed = self._elapsed()
        table = Table(title=Text(self._title, style="bold"), title_justify="left", expand=False)
        table.add_column("account")
        for state in _STATES:
            table.add_column(state.value, justify="right")
        table.add_column("rate", justify="right")
        if shown < len(rows):
            kept, folded = _busiest(rows, shown)
        else:
            kept, folded = rows, []
        for name, counts in kept:
            table.add_row(
                Text(name),
                *(str(counts[state]) for state in _STATES),
                _per_minute(counts[JobState.DONE] + counts[JobState.FAILED], elapsed),
            )
        if folded:
            rest: Counter[JobState] = Counter()
            for _, counts in folded:
                rest.update(counts)
            table.add_row(
                Text(f"+{len(folded)} more", style="dim"),
                *(Text(str(rest[state]), style="dim") for state in _STATES),
                _per_minute(rest[JobState.DONE] + rest[JobState.FAILED], elapsed),
            )
        totals = self._progress.counts
        table.add_section()
        table.add_row(
            Text("all", style="bold"),
            *(Text(str(totals[state]), style="bold") for state in _STATES),
            _per_minute(self._progress.finished, elapsed),
        )
        return Group(Text(self._summary(), style="cyan"), table)

    def _print_line(self, *, force: bool = False) -> None:
        if not (self._dirty or force):
            return
        self._dirty = False
        counts = self._progress.counts
        overall = ", ".join(f"{state.value} {counts[state]}" for state in _STATES)
        per_account = " | ".join(
            f"{name}: " + ", ".join(f"{s.value} {c[s]}" for s in _STATES if c[s])
            for name, c in self._rows()
            if any(c.values())
        )
        line = f"progress: {self._summary()} ({overall})"
        if per_account:
            line += f" | {per_account}"
        if line != self._last_line:
            self._last_line = line
            self._console.print(Text(line), soft_wrap=True)
