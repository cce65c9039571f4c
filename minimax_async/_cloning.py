"""The clone engine: everything between "admitted" and "voice".

:class:`Cloner` owns the clone-slot use of an admitted clone, the 429 back-pressure, the
recovery after an ambiguous failure with the ONE adoption rule (:func:`adoptable`, which the
CLI uses too), the ledger of the voices the client counts, and the placement loop of a job
across accounts (:meth:`Cloner.run_job`: upload, then clone).

**The clone 429 rule** (stated in :mod:`._retry` as well): a clone refused with 429 tells the
scheduler to pause the account (refused alone) or to run it at one clone (refused beside
another) for the ``Retry-After`` time, else the back-off, *before* its clone slot is given
back, so that no queued clone meets the same 429. The retry then waits for a clone slot
(first in line), not for a back-off of its own.

**The duplicate rule**: a clone is sent again only when it is known not to have happened (a
429, a connection that never opened). After anything else (a timeout, a broken connection, a
5xx) the account's voices are listed, twice with ``recheck_delay`` between, and a voice that
:func:`adoptable` accepts is adopted instead of cloning again. A listing that cannot be read,
or a same-named voice of unknown age, fails the job with the original error: it is unknown
whether the clone happened.

**The ledger rule** (the voice slots never show room the server does not have): an attempt
that failed ambiguously and was not resolved by adopting its voice may still make a voice,
even after both listings (a server that finishes after the client gave up). So it keeps the
voice slot it was sent into: a job that ends with an error after one counts that slot as a
voice (``finish(created=True)``), it does not move to another account, and before it sends
the clone again it counts the unresolved attempt as a voice and is admitted once more, for a
slot of its own (:meth:`Cloner._readmit`). Counting a voice that never appears costs a slot
until the next count; counting too few sends a clone the server refuses (400) and, before
this rule, every later job on that account too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any, Final

import anyio
from cattrs.preconf.json import JsonConverter

from ._bulk import JobState, JobTracker, VoiceJob
from ._coordinator import Coordinator
from ._exceptions import (
    AccountError,
    AccountUnavailableError,
    MiniMaxError,
    RateLimitError,
    UnexpectedResponseError,
    VoiceSlotsExhaustedError,
)
from ._lifecycle import Operations
from ._models import CloneVoiceRequest, Voice
from ._retry import Retrying, is_retryable, known_not_processed
from ._samples import LocalSample
from ._scheduler import Ticket
from ._sending import Options, Sender
from ._uploads import SampleChecks, UploadCache
from ._wire import _VoiceList, clone_voice_request, cloned_voices_request

__all__ = ["ADOPTION_CLOCK_SKEW", "DEFAULT_RECHECK_DELAY", "Cloner", "adoptable"]

logger = logging.getLogger("minimax_async")

#: How far a voice's create_time may precede the job's start and still be adopted
#: (clock skew between this machine and MiniMax's).
ADOPTION_CLOCK_SKEW: Final = timedelta(minutes=2)
#: Seconds between the two listings that look for the voice of an ambiguous clone failure
#: (useapi's own scripts wait 20 s after a 502/504: the job may still be queued upstream).
DEFAULT_RECHECK_DELAY: Final = 20.0


def adoptable(
    voice: Voice,
    *,
    name: str,
    since: datetime,
    owned: Container[str],
    skew: timedelta = ADOPTION_CLOCK_SKEW,
) -> bool:
    """Whether a listed voice may be taken as the voice of a clone of ``name`` that started
    at ``since``: the one adoption rule of the library and the CLI.

    The voice must have this name and an id, not be ``owned`` already (counted by the
    client, or recorded for another job), and have been created at ``since - skew`` or
    later. A voice of unknown age is never adopted: it may predate the job.
    """
    return (
        voice.voice_name == name
        and bool(voice.voice_id)
        and voice.voice_id not in owned
        and voice.create_time is not None
        and voice.create_time >= since - skew
    )


def _answered_yes_unreadably(error: MiniMaxError) -> bool:
    """A 2xx clone answer that failed the answer check: the clone may have happened."""
    return (
        isinstance(error, UnexpectedResponseError)
        and error.status is not None
        and 200 <= error.status <= 299
    )


def _of_unknown_age(voice: Voice, name: str, owned: Container[str]) -> bool:
    """A same-named voice that :func:`adoptable` refuses only for its unknown age."""
    return (
        voice.voice_name == name
        and bool(voice.voice_id)
        and voice.voice_id not in owned
        and voice.create_time is None
    )


def _adopted(ticket: object) -> Voice | None:
    """A fleet coordinator's ticket may carry the voice of an earlier clone of the same
    (account, name) that a crashed process left in doubt: the job returns it, cloning nothing
    (``minimax_async.fleet``). The local scheduler's tickets never do."""
    adopted = getattr(ticket, "adopted", None)
    return adopted if isinstance(adopted, Voice) else None


class _Admission:
    """The ticket a job holds now, and whether a clone sent under it is unresolved.

    :meth:`Cloner.clone_admitted` may replace the ticket (:meth:`Cloner._readmit`); the
    caller finishes the one it holds at the end, counting a voice when ``unresolved``.
    """

    __slots__ = ("ticket", "unresolved")

    def __init__(self, ticket: Ticket) -> None:
        self.ticket = ticket
        #: An attempt under this ticket failed ambiguously and its voice was not found:
        #: it may still appear, so the ticket's slot counts as taken.
        self.unresolved = False

    def finish(self, scheduler: Coordinator[Any], voice: Voice | None, *, lease: bool) -> None:
        """End the job's ticket: with its voice's id if one was created or adopted; as a
        voice of unknown id if an attempt is unresolved (the ledger rule)."""
        if voice is not None:
            scheduler.finish(self.ticket, created=True, lease=lease, voice_id=voice.voice_id)
        else:
            scheduler.finish(self.ticket, created=self.unresolved)


class Cloner:
    """Admitted clones to voices, duplicate-free, and jobs to accounts.

    Args:
        sender: The send pipeline.
        converter: Builds the clone requests.
        scheduler: Admission, clone slots, back-pressure.
        operations: The client's lifecycle guard (network phases run guarded).
        checks: The local checks of samples.
        uploads: Uploads (with ``reuse_uploads``, the cache of file ids).
        recheck_delay: Seconds between the two listings after an ambiguous failure.
    """

    def __init__(
        self,
        *,
        sender: Sender,
        converter: JsonConverter,
        scheduler: Coordinator[Any],
        operations: Operations,
        checks: SampleChecks,
        uploads: UploadCache,
        recheck_delay: float,
    ) -> None:
        self._sender = sender
        self._converter = converter
        self._scheduler = scheduler
        self._operations = operations
        self._checks = checks
        self._uploads = uploads
        self._recheck_delay = recheck_delay
        #: The voice ledger: voices counted in the clone queue's slot counts (listed when
        #: an account's count was learned, or cloned/adopted since), and the queue account
        #: they count under.
        self.counted_voices: dict[str, str | None] = {}

    # ------------------------------------------------------------------ voice ledger

    async def list_voices(self, account: str | None, options: Options) -> list[Voice]:
        """Every cloned voice of ``account``."""
        page = await self._sender.send_retrying(cloned_voices_request(account), _VoiceList, options)
        return list(page.voice_list)

    async def count_voices(self, account: str | None, options: Options) -> int:
        """The account's cloned voices, now counted (for the scheduler's voice slots)."""
        return len(await self.counted_listing(account, options))

    async def counted_listing(self, account: str | None, options: Options) -> list[Voice]:
        """The account's cloned voices, each now counted in the voice ledger (a fleet
        coordinator merges the ids into the fleet's count itself)."""
        voices = await self.list_voices(account, options)
        counted = self.counted_voices
        for voice in voices:
            if voice.voice_id:
                counted[voice.voice_id] = account
        return voices

    def deleted(self, voice_id: str) -> None:
        """A voice was deleted: its slot is free again, if the client counted it."""
        counted = self.counted_voices
        if voice_id in counted:
            self._scheduler.voice_deleted(counted.pop(voice_id), voice_id)
        # A voice the client never counted (made by hand after it counted the account's
        # voices) does not change its count, so deleting one changes nothing either.

    # ------------------------------------------------------------------ one clone

    async def clone(
        self,
        request: CloneVoiceRequest,
        account: str | None,
        options: Options,
        *,
        lease: bool = False,
    ) -> Voice:
        """Queue for ``account``, then clone (:meth:`clone_admitted`)."""
        # Queued clones are the bulk of a big gather, so while queued they hold no cancel
        # scope (aclose() fails queued waiters through the scheduler): less memory per job.
        operations = self._operations
        operations.check_open()
        operations.enter()
        try:
            scheduler = self._scheduler
            ticket = await scheduler.admit(account, pinned=True, name=request.voice_name)
            admission = _Admission(ticket)
            voice: Voice | None = None
            try:
                # operations.guarded(), inline: one coroutine frame fewer on every resume.
                guard = operations.begin(started=True)
                try:
                    voice = await self.clone_admitted(admission, request, options)
                    return voice
                except BaseException as exc:
                    operations.failed(guard, exc)  # aclose()'s cancellation: ClientClosedError
                    raise
                finally:
                    operations.end(guard)
            finally:
                admission.finish(scheduler, voice, lease=lease)
        finally:
            operations.leave()

    async def clone_admitted(
        self,
        admission: _Admission,
        request: CloneVoiceRequest,
        options: Options,
        *,
        on_send: Callable[[], None] | None = None,
    ) -> Voice:
        """Run one admitted clone to its end: retries, back-pressure, adoption (see the
        module docstring for the 429 rule, the duplicate rule and the ledger rule)."""
        adopted = _adopted(admission.ticket)
        if adopted is not None:
            return adopted
        scheduler = self._scheduler
        account = admission.ticket.account
        wire = clone_voice_request(self._converter, request, account)
        started = datetime.now(timezone.utc)
        retrying = Retrying(options.retry, "clone %r on account %s", request.voice_name, account)
        async for attempt in retrying:
            ticket = admission.ticket
            await scheduler.acquire_clone(ticket, front=attempt.number > 1)
            scheduler.sending(ticket)
            if on_send is not None:
                on_send()
            try:
                voice = await self._sender.send(wire, Voice, options.clone_timeout)
            except MiniMaxError as exc:
                waited_by = self._back_off(ticket, attempt.number, exc, options)
                scheduler.release_clone(ticket)
                if _answered_yes_unreadably(exc):
                    # A 2xx whose body cannot be believed (no voice_id, an envelope, too
                    # large): the voice may exist. Look for it; never send the clone again.
                    adopted = await self._look_for(admission, request, started, exc, options)
                    if adopted is None:
                        raise
                    return adopted
                if not is_retryable(exc):
                    raise
                if not known_not_processed(exc):
                    adopted = await self._look_for(admission, request, started, exc, options)
                    if adopted is not None:
                        return adopted
                if not attempt.retry(exc, waited_by=waited_by):
                    raise
                if admission.unresolved:
                    await self._readmit(admission, request, exc)
            except BaseException:
                # Cancelled (or worse) with the request possibly on the wire.
                scheduler.release_clone(ticket)
                admission.unresolved = True
                raise
            else:
                scheduler.release_clone(ticket)
                if voice.voice_id:
                    self.counted_voices[voice.voice_id] = account
                return voice
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _look_for(
        self,
        admission: _Admission,
        request: CloneVoiceRequest,
        started: datetime,
        error: MiniMaxError,
        options: Options,
    ) -> Voice | None:
        """Look for the voice of an ambiguous attempt. It is unresolved until its voice is
        found: if the listing fails, or nothing is listed, the voice may still appear (the
        ledger rule)."""
        admission.unresolved = True
        adopted = await self._find_ambiguous_clone(
            admission.ticket, request, started, error, options
        )
        if adopted is not None:
            admission.unresolved = False
        return adopted

    async def _readmit(
        self, admission: _Admission, request: CloneVoiceRequest, error: MiniMaxError
    ) -> None:
        """Before a clone is sent again after an unresolved attempt: that attempt keeps its
        slot as a voice, and the resend waits for a slot of its own (the ledger rule).

        Raises:
            MiniMaxError: ``error`` (chained from the VoiceSlotsExhaustedError) when the
                account has no slot for the resend, nor will have one: the job ends with
                why it failed.
        """
        scheduler = self._scheduler
        ticket = admission.ticket
        scheduler.finish(ticket, created=True)
        admission.unresolved = False
        try:
            admission.ticket = await scheduler.admit(
                ticket.account, pinned=True, name=request.voice_name
            )
        except VoiceSlotsExhaustedError as no_room:
            raise error from no_room

    def _back_off(
        self, ticket: Ticket, attempt: int, exc: MiniMaxError, options: Options
    ) -> str | None:
        """The clone 429 rule: tell the scheduler, and say how the retry waits (None: not a
        429, the retry loop backs off as usual)."""
        if not isinstance(exc, RateLimitError):
            return None
        seconds = options.retry.delay(attempt, exc)
        # Told before the slot is given back, so that no queued clone meets the same 429:
        # refused beside a running clone, the account runs at one for the Retry-After time;
        # refused alone, the whole account waits it out.
        self._scheduler.rate_limited(ticket, seconds)
        return (
            f"when the scheduler gives it a clone slot (the account's 429 wait: {seconds:.3g} s,"
            " paused or at one clone)"
        )

    async def _find_ambiguous_clone(
        self,
        ticket: Ticket,
        request: CloneVoiceRequest,
        started: datetime,
        error: MiniMaxError,
        options: Options,
    ) -> Voice | None:
        """After an ambiguous failure: the voice it created, or None if surely none."""
        for check in range(2):
            if check:
                await anyio.sleep(self._recheck_delay)
            try:
                adopted = await self._adopt(ticket, request.voice_name, started, options)
            except MiniMaxError as list_error:
                # Unknown whether the clone happened: fail rather than risk a duplicate.
                raise error from list_error
            if adopted is not None:
                logger.info(
                    "clone %r on account %s: adopted %s after %s",
                    request.voice_name, ticket.account, adopted.voice_id, type(error).__name__,
                )  # fmt: skip
                return adopted
        return None

    async def _adopt(
        self, ticket: Ticket, name: str, started: datetime, options: Options
    ) -> Voice | None:
        """The voice an ambiguous clone created, if the account lists one (:func:`adoptable`).

        Raises:
            MiniMaxError: The listing failed, or a voice of that name has no creation time
                (it may be this clone's or an older one: neither adopting nor cloning again
                is safe).
        """
        voices = await self.list_voices(ticket.account, options)
        owned = self.counted_voices
        for voice in voices:
            if adoptable(voice, name=name, since=started, owned=owned):
                assert voice.voice_id is not None  # adoptable checked it
                owned[voice.voice_id] = ticket.account
                return voice
        if any(_of_unknown_age(voice, name, owned) for voice in voices):
            raise UnexpectedResponseError(
                f"a voice named {name!r} is listed without a creation time",
                endpoint="audio/voices",
                account=ticket.account,
            )
        return None

    # ------------------------------------------------------------------ one job

    async def run_job(
        self,
        job: VoiceJob,
        tracker: JobTracker,
        options: Options,
        *,
        pinned: str | None,
        lease: bool = False,
        prefer: str | None = None,
        give_up: bool = False,
    ) -> Voice:
        """Check a job's samples, place it on an account and clone it there; on a 596/412
        of that account, an unpinned job moves to another.

        Args:
            pinned: The job's account, checked by the caller (None: the scheduler places).
            prefer: For a placed job's first try, the account its runner used last.
            give_up: Raise NoRoomNow rather than wait for the first admission.
        """
        # Like clone(): nothing held while the job waits, one guard around its network phases.
        operations = self._operations
        operations.check_open()
        scheduler = self._scheduler
        operations.enter()
        try:
            reusable, ahead = await self._check(job) if job.local_samples else (None, False)
            placements = len(scheduler.accounts) if pinned is None else 1
            for placement in range(1, placements + 1):
                # A placed job's first try prefers its runner's last account; later tries
                # (after that account failed) take whichever account the scheduler picks.
                target = pinned if pinned is not None else prefer if placement == 1 else None
                ticket = await scheduler.admit(
                    target,
                    pinned=pinned is not None,
                    name=job.voice_name,
                    ahead=ahead,
                    give_up=give_up and placement == 1,
                )
                admission = _Admission(ticket)
                voice: Voice | None = None
                try:
                    voice = await operations.guarded(
                        self._upload_and_clone(job, admission, tracker, reusable, options),
                        started=True,
                    )
                    return voice
                except (AccountError, AccountUnavailableError):
                    # An unresolved attempt may yet make this job's voice here: moving on
                    # could make a second one elsewhere.
                    if pinned is not None or placement == placements or admission.unresolved:
                        raise
                    tracker.move(JobState.QUEUED)  # and on to another account
                finally:
                    admission.finish(scheduler, voice, lease=lease)
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            operations.leave()

    async def _check(self, job: VoiceJob) -> tuple[list[LocalSample] | None, bool]:
        """Check every local sample of ``job`` before it takes a place.

        Returns:
            The checked samples to reuse after admission (only when all are bytes: files
            are read again then, so that queued jobs do not hold audio in memory), and
            whether the job is admitted ahead of a free clone slot (it has uploads to do).
        """
        checked = await self._checks.load(job)
        reusable = checked if SampleChecks.all_in_memory(job) else None
        return reusable, not self._uploads.uploaded_everywhere(checked, self._scheduler.accounts)

    async def _upload_and_clone(
        self,
        job: VoiceJob,
        admission: _Admission,
        tracker: JobTracker,
        checked: list[LocalSample] | None,
        options: Options,
    ) -> Voice:
        """An admitted job's network phases, under one guard: upload, then clone."""
        ticket = admission.ticket
        adopted = _adopted(ticket)
        if adopted is not None:
            return adopted
        tracker.move(JobState.UPLOADING, ticket.account)
        if job.local_samples:
            samples = checked if checked is not None else await self._checks.load(job)
            file_ids = await self._uploads.upload_job(job, ticket.account, samples)
        else:
            file_ids = list(job.file_ids)
        request = CloneVoiceRequest(
            job.voice_name,
            job.language_tag,
            file_ids,
            account=ticket.account,
            need_noise_reduction=job.need_noise_reduction,
        )
        tracker.move(JobState.READY)
        return await self.clone_admitted(
            admission, request, options, on_send=partial(tracker.move, JobState.CLONING)
        )
