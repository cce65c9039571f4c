"""``clone``: run a manifest through ``Client.clone_many``, resumably, never cloning twice.

A run, in order:

1. checks the manifest against the API (pinned accounts configured, language tags known);
2. opens and locks the results file, reads what earlier runs recorded, appends a ``run`` line;
3. skips the jobs recorded as done;
4. on resume, *settles* the jobs in doubt: those an earlier run had sent to clone without
   recording how they ended (a kill, a crash, Ctrl-C while clones were in flight). Their
   voices may still appear on the server, up to ``settle`` seconds after that run was last
   alive; it waits for them (or for that time to pass);
5. *adopts* every pending job whose voice already exists: same name, on its pinned account
   (any configured account if unpinned), created after the file's first ``run`` line less
   two minutes of clock skew, and not already recorded for another job;
6. clones the rest, appending a ``clone`` line when a job reaches its clone request and a
   ``result`` line when it ends, then an ``end`` line.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Final

import attrs
from rich.table import Table
from rich.text import Text

from minimax_async import (
    ADOPTION_CLOCK_SKEW,
    CloneProgress,
    CloneResult,
    JobState,
    Voice,
    VoiceJob,
    __version__,
)
from minimax_async._cloning import adoptable
from minimax_async.cli._manifest import (
    JobKey,
    Manifest,
    ManifestError,
    ManifestRow,
    check_against_api,
)
from minimax_async.cli._messages import cli_message
from minimax_async.cli._output import (
    err_console,
    out_console,
    print_note,
    print_warning,
    redact,
)
from minimax_async.cli._plan import CapacityPlan, plan_capacity
from minimax_async.cli._progress import ProgressView, format_seconds
from minimax_async.cli._results import (
    HEARTBEAT_SECONDS,
    History,
    InDoubt,
    ResultsBusyError,
    ResultsFile,
    format_time,
)
from minimax_async.cli._session import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Session,
    check_results_path,
    unwrap,
)

__all__ = [
    "DEFAULT_SETTLE_SECONDS",
    "FULL_TABLE_ROWS",
    "CloneOptions",
    "CloneOutcome",
    "check_capacity",
    "check_manifest",
    "run_clone",
]

#: How long after an interrupted run a clone it sent may still create its voice: the API's
#: clones take "up to 60 seconds" (contract §4.4), plus a margin.
DEFAULT_SETTLE_SECONDS: Final = 90.0
#: Runs with at most this many results print them all; longer ones print only failures.
FULL_TABLE_ROWS: Final = 50
_SETTLE_POLL_SECONDS: Final = 1.0
_CLOCK_SKEW_SECONDS: Final = ADOPTION_CLOCK_SKEW.total_seconds()
_DURATION_DECIMALS: Final = 3


@attrs.frozen
class CloneOptions:
    """How ``clone`` runs.

    Attributes:
        results: The results file.
        settle: Seconds an interrupted run's clones may still complete on the server.
        title: Heading of the progress display.
        full_table: Print every result at the end (``None``: up to :data:`FULL_TABLE_ROWS`).
        allow_partial: Clone the jobs that fit when the free voice slots are too few
            (otherwise the run is refused before anything is uploaded).
    """

    results: Path
    settle: float = DEFAULT_SETTLE_SECONDS
    title: str = "clone"
    full_table: bool | None = None
    allow_partial: bool = False


@attrs.define
class CloneOutcome:
    """What a run did.

    Attributes:
        skipped: Jobs already done by earlier runs.
        records: The ``result`` lines this run wrote (adopted and cloned jobs).
    """

    skipped: int = 0
    records: list[dict[str, object]] = attrs.Factory(list)

    @property
    def done(self) -> int:
        """Jobs of this run that ended with a voice."""
        return sum(1 for r in self.records if r.get("status") == "done")

    @property
    def adopted(self) -> int:
        """Jobs of this run whose voice already existed."""
        return sum(1 for r in self.records if r.get("adopted"))

    @property
    def failed(self) -> int:
        """Jobs of this run that failed."""
        return sum(1 for r in self.records if r.get("status") == "failed")

    @property
    def exit_status(self) -> int:
        """0 when no job failed, else 1."""
        return EXIT_FAILED if self.failed else EXIT_OK


def _job_fields(row: ManifestRow) -> dict[str, object]:
    return {
        "voice_name": row.voice_name,
        "pinned_account": row.pinned_account,
        "line": row.line,
        "language_tag": row.job.language_tag,
    }


def _result_record(row: ManifestRow, result: CloneResult) -> dict[str, object]:
    record: dict[str, object] = {
        "type": "result",
        "status": "done" if result.ok else "failed",
        **_job_fields(row),
        "account": result.account,
    }
    if result.voice is not None:
        record["voice_id"] = result.voice.voice_id
        record["adopted"] = False
    if result.error is not None:
        error = unwrap(result.error)
        record["error"] = {"type": type(error).__name__, "message": redact(cli_message(error))}
    started = result.started_at
    record.update(
        queued_at=format_time(result.queued_at),
        started_at=format_time(started) if started is not None else None,
        finished_at=format_time(result.finished_at),
        duration_s=round(result.finished_at - (started or result.queued_at), _DURATION_DECIMALS),
    )
    return record


def _adopted_record(row: ManifestRow, voice: Voice, account: str) -> dict[str, object]:
    created = voice.create_time
    return {
        "type": "result",
        "status": "done",
        **_job_fields(row),
        "account": account,
        "voice_id": voice.voice_id,
        "adopted": True,
        "voice_created_at": format_time(created.timestamp()) if created is not None else None,
        "finished_at": format_time(time.time()),
    }


def _created_epoch(voice: Voice) -> float:
    return voice.create_time.timestamp() if voice.create_time is not None else -math.inf


async def _list_voices(session: Session, accounts: Iterable[str]) -> dict[str, list[Voice]]:
    names = sorted(set(accounts))
    lists = await asyncio.gather(
        *(session.client.list_cloned_voices(account=account) for account in names)
    )
    return dict(zip(names, lists, strict=True))


def _candidates(
    voices: Mapping[str, Sequence[Voice]],
    accounts: Iterable[str],
    name: str,
    threshold: float,
    claimed: Mapping[str, object],
) -> list[tuple[str, Voice]]:
    # The one adoption rule (minimax_async._cloning.adoptable); ``threshold`` is already
    # the first run's start less the clock skew.
    since = datetime.fromtimestamp(threshold, timezone.utc)
    found = [
        (account, voice)
        for account in accounts
        for voice in voices.get(account, ())
        if adoptable(voice, name=name, since=since, owned=claimed, skew=timedelta(0))
    ]
    return sorted(found, key=lambda pair: _created_epoch(pair[1]))


async def _settle(
    session: Session,
    doubts: Sequence[InDoubt],
    *,
    deadline: float,
    threshold: float,
    claimed: Mapping[str, object],
) -> None:
    """Wait until the voices of jobs in doubt appear, or until ``deadline``."""
    remaining: dict[JobKey, InDoubt] = {}
    for doubt in doubts:
        if doubt.account is not None and doubt.account not in session.accounts:
            print_warning(
                f"{doubt.key[0]!r} was being cloned on account {doubt.account} by an earlier "
                "run; this run does not use that account, so it cannot check for that voice"
            )
        else:
            remaining[doubt.key] = doubt
    if time.time() < deadline:
        print_note(
            f"{len(remaining)} clone(s) sent by an earlier run did not report back; waiting up "
            f"to {format_seconds(deadline - time.time())} for them to finish on the server "
            "(see --settle)"
        )
    while remaining:
        accounts: set[str] = set()
        for doubt in remaining.values():
            accounts.update([doubt.account] if doubt.account is not None else session.accounts)
        voices = await _list_voices(session, accounts)
        for key, doubt in list(remaining.items()):
            where = [doubt.account] if doubt.account is not None else list(session.accounts)
            if _candidates(voices, where, key[0], threshold, claimed):
                del remaining[key]
        wait = deadline - time.time()
        if not remaining or wait <= 0:
            break
        await asyncio.sleep(min(_SETTLE_POLL_SECONDS, wait))
    if remaining:
        shown = ", ".join(sorted(repr(key[0]) for key in remaining))
        print_note(f"no voice appeared for {shown}: cloning again", style="dim")


def _matches(
    session: Session,
    pending: Sequence[ManifestRow],
    voices: Mapping[str, Sequence[Voice]],
    *,
    threshold: float,
    claimed: dict[str, JobKey],
) -> list[tuple[ManifestRow, list[tuple[str, Voice]]]]:
    """The pending jobs whose voices exist, each with its candidates (oldest first); the
    adopted voice (the first) is added to ``claimed``."""
    matched: list[tuple[ManifestRow, list[tuple[str, Voice]]]] = []
    for row in pending:
        pinned = row.pinned_account
        where = [pinned] if pinned is not None else list(session.accounts)
        found = _candidates(voices, where, row.voice_name, threshold, claimed)
        if found:
            voice_id = found[0][1].voice_id
            assert voice_id is not None
            claimed[voice_id] = row.key
            matched.append((row, found))
    return matched


def _adoption_threshold(history: History) -> float:
    # Without any readable time (a damaged file) no voice is recent enough to be adopted.
    since = history.since if history.since is not None else math.inf
    return since - _CLOCK_SKEW_SECONDS


def _adopt(
    session: Session,
    pending: Sequence[ManifestRow],
    voices: Mapping[str, Sequence[Voice]],
    *,
    threshold: float,
    claimed: dict[str, JobKey],
) -> list[tuple[ManifestRow, dict[str, object]]]:
    records: list[tuple[ManifestRow, dict[str, object]]] = []
    for row, found in _matches(session, pending, voices, threshold=threshold, claimed=claimed):
        (account, voice), *others = found
        records.append((row, _adopted_record(row, voice, account)))
        for other_account, other in others:
            print_warning(
                f"voice {row.voice_name!r} also exists on account {other_account} "
                f"({other.voice_id}); it was not adopted: delete it if it is a duplicate"
            )
    return records


async def _resume(
    session: Session,
    pending: Sequence[ManifestRow],
    results: ResultsFile,
    options: CloneOptions,
    outcome: CloneOutcome,
) -> list[ManifestRow]:
    """Settle the jobs in doubt, adopt the voices that exist; the jobs left to clone."""
    history = results.history
    threshold = _adoption_threshold(history)
    claimed = dict(history.claimed_voice_ids)
    pending_keys = {row.key for row in pending}
    doubts = [d for key, d in history.in_doubt.items() if key in pending_keys]
    if doubts:
        await _settle(
            session,
            doubts,
            deadline=results.last_alive + options.settle,
            threshold=threshold,
            claimed=claimed,
        )
    concerned = {row.pinned_account for row in pending}
    accounts = session.accounts if None in concerned else sorted(a for a in concerned if a)
    voices = await _list_voices(session, accounts)
    adopted = _adopt(session, pending, voices, threshold=threshold, claimed=claimed)
    for _, record in adopted:
        results.append(record)
        outcome.records.append(record)
    if adopted:
        print_note(f"{len(adopted)} job(s) adopted: their voices already exist")
    adopted_keys = {row.key for row, _ in adopted}
    return [row for row in pending if row.key not in adopted_keys]


async def check_capacity(
    session: Session, pending: Sequence[ManifestRow], history: History
) -> CapacityPlan:
    """Count the jobs still to do against the free voice slots (one listing per account).

    Jobs a resumed run would adopt (their voices already exist, so they take no new slot)
    are left out; everything else needs a slot of its own.
    """
    slots = await session.client.free_voice_slots(accounts=session.accounts)
    adoptable: set[JobKey] = set()
    if history.runs and not session.sandbox:
        voices = {str(s.account): list(s.voices) for s in slots}
        claimed = dict(history.claimed_voice_ids)
        matched = _matches(
            session, pending, voices, threshold=_adoption_threshold(history), claimed=claimed
        )
        adoptable = {row.key for row, _ in matched}
    to_clone = [row for row in pending if row.key not in adoptable]
    return plan_capacity(to_clone, slots, adoptable=len(adoptable))


def _refuse_or_warn(plan: CapacityPlan, *, allow_partial: bool) -> None:
    if not plan.would_fail:
        return
    if allow_partial:
        print_warning(f"{plan.summary()}; going on anyway (--allow-partial)")
        return
    raise CliError(
        f"{plan.summary()}. Nothing was uploaded or cloned: free slots "
        "('minimax-async delete-voices'), add accounts, or run again with --allow-partial "
        "to clone the jobs that fit",
        EXIT_USAGE,
        details=plan.details(),
    )


def _open_results(path: Path, session: Session) -> ResultsFile:
    check_results_path(path)
    try:
        results = ResultsFile.open(path)
    except ResultsBusyError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except OSError as exc:
        raise CliError(f"cannot open {path}: {exc.strerror or exc}", EXIT_USAGE) from None
    history = results.history
    if history.sandbox and history.sandbox != {session.sandbox}:
        results.close()
        earlier = "sandbox" if True in history.sandbox else "real"
        now = "sandbox" if session.sandbox else "real"
        raise CliError(
            f"{path} holds results of a {earlier} run; a {now} run cannot resume it "
            "(use another --results file)",
            EXIT_USAGE,
        )
    if history.unreadable:
        print_warning(
            f"{path}: skipped {len(history.unreadable)} unreadable line(s) "
            f"(first: line {history.unreadable[0]})"
        )
    return results


async def _heartbeat(results: ResultsFile) -> None:
    while True:
        results.heartbeat()
        await asyncio.sleep(HEARTBEAT_SECONDS)


async def _clone_rows(
    session: Session,
    rows: Sequence[ManifestRow],
    results: ResultsFile,
    options: CloneOptions,
    outcome: CloneOutcome,
) -> None:
    by_job: dict[int, ManifestRow] = {id(row.job): row for row in rows}
    progress = CloneProgress()

    def on_change(_: CloneProgress, job: VoiceJob, state: JobState, account: str | None) -> None:
        # Written before the clone request can leave: a crash from here on leaves the job
        # "in doubt", and the next run waits for its voice instead of cloning it again.
        if state is JobState.CLONING:
            row = by_job[id(job)]
            results.append(
                {
                    "type": "clone",
                    "time": format_time(time.time()),
                    **_job_fields(row),
                    "account": account,
                }
            )

    progress.subscribe(on_change)
    view = ProgressView(
        err_console, progress, session.accounts, title=options.title, jobs=len(rows)
    )
    async with view, session.client.clone_many([r.job for r in rows], progress=progress) as run:
        async for result in run:
            record = _result_record(by_job[id(result.job)], result)
            results.append(record)
            outcome.records.append(record)
            view.job_line(record)


async def check_manifest(session: Session, manifest: Manifest) -> None:
    """The checks that need the API: pinned accounts configured, language tags known.

    Raises:
        ManifestError: Every row that fails them.
    """
    languages = (await session.client.get_config()).languages
    problems = check_against_api(manifest, session.accounts, languages)
    if problems:
        raise ManifestError(manifest.path or Path("<manifest>"), problems)


async def run_clone(session: Session, manifest: Manifest, options: CloneOptions) -> CloneOutcome:
    """Clone every job of ``manifest`` not yet done per the results file.

    Returns:
        What this run did.

    Raises:
        ManifestError: A row names an account that is not configured or an unknown
            language (nothing written).
        CliError: The results file cannot be used (nothing written).
        asyncio.CancelledError: Interrupted; the results file ends with an ``end`` line.
    """
    await check_manifest(session, manifest)
    results = _open_results(options.results, session)
    history = results.history
    outcome = CloneOutcome()
    pending = [row for row in manifest.rows if row.key not in history.done]
    outcome.skipped = len(manifest.rows) - len(pending)
    try:
        if pending:
            plan = await check_capacity(session, pending, history)
            _refuse_or_warn(plan, allow_partial=options.allow_partial)
    except BaseException:
        results.close()
        if results.created:
            # Refused before the run started: leave no trace of it.
            with contextlib.suppress(OSError):
                options.results.unlink()
        raise
    started = time.time()
    heartbeat = asyncio.ensure_future(_heartbeat(results))
    end_status = "aborted"
    try:
        results.append(
            {
                "type": "run",
                "time": format_time(started),
                "manifest": str(manifest.path) if manifest.path is not None else None,
                "sandbox": session.sandbox,
                "base_url": session.base_url,
                "accounts": list(session.accounts),
                "jobs": len(manifest.rows),
                "pending": len(pending),
                "version": __version__,
            }
        )
        if outcome.skipped:
            print_note(f"{outcome.skipped} of {len(manifest.rows)} job(s) already done: skipped")
        if pending and history.runs and not session.sandbox:
            # The sandbox server is new in every process: nothing of an earlier run is on it.
            pending = await _resume(session, pending, results, options, outcome)
        if pending:
            await _clone_rows(session, pending, results, options, outcome)
        end_status = "complete"
    except asyncio.CancelledError:
        end_status = "interrupted"
        raise
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
        with contextlib.suppress(OSError):
            results.append(
                {
                    "type": "end",
                    "time": format_time(time.time()),
                    "status": end_status,
                    "done": outcome.done,
                    "adopted": outcome.adopted,
                    "failed": outcome.failed,
                    "skipped": outcome.skipped,
                }
            )
        results.close()
    return outcome


def print_outcome(outcome: CloneOutcome, options: CloneOptions, *, show_path: bool = True) -> None:
    """The results table (all rows, or only failures for long runs) and a summary line."""
    records = outcome.records
    full = options.full_table if options.full_table is not None else len(records) <= FULL_TABLE_ROWS
    shown = records if full else [r for r in records if r.get("status") != "done"]
    if shown:
        table = Table(title="results" if full else "failed jobs", title_justify="left")
        for column in ("line", "voice name", "account", "status", "voice id / error", "time"):
            table.add_column(
                column,
                justify="right" if column in ("line", "time") else "left",
                overflow="fold",  # ids must stay whole, never end in an ellipsis
            )
        for record in sorted(shown, key=lambda r: int(str(r.get("line", 0)))):
            ok = record.get("status") == "done"
            error = record.get("error")
            detail = (
                str(record.get("voice_id"))
                if ok
                else (
                    f"{error.get('type')}: {error.get('message')}"
                    if isinstance(error, dict)
                    else "?"
                )
            )
            status = ("adopted" if record.get("adopted") else "done") if ok else "failed"
            duration = record.get("duration_s")
            table.add_row(
                str(record.get("line")),
                Text(str(record.get("voice_name"))),
                Text(str(record.get("account") or "-")),
                Text(status, style="green" if ok else "red"),
                Text(redact(detail)),
                f"{duration:.1f}s" if isinstance(duration, (int, float)) else "-",
            )
        out_console.print(table)
    summary = (
        f"{outcome.done} done ({outcome.adopted} adopted), {outcome.failed} failed, "
        f"{outcome.skipped} already done before"
    )
    if show_path:
        summary += f"; results in {options.results}"
    out_console.print(Text(summary, style="bold red" if outcome.failed else "bold green"))
