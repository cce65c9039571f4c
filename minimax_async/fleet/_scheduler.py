"""The fleet's scheduler: the client's two clone decisions, made by Redis for every process.

:class:`FleetScheduler` implements the client's ``Coordinator`` seam (``admit``,
``acquire_clone`` and the synchronous events) with the scripts of ``lua/``. Each decision is
one script; a job that must wait is registered in Redis under its global seq and its
coroutine awaits a local future, which one of three things resolves:

- the answer of a script this process runs (a grant to its own waiter comes back at once);
- a message on this process's wake list (``{ns}:wake:<proc>``), pushed by the script of
  another process that freed room, and read by one BLPOP task;
- the periodic check (every ``check_interval``), which also makes timed changes (the end of
  a pause or of a narrowed cap) take effect, and re-registers what a flushed Redis forgot.

Events (``release_clone``, ``finish``, a 429, a 596) never await: they go into an outbox that
one task flushes in order; a decision about a ticket waits until that ticket's events are
flushed. What a crash leaves unflushed is covered by the lease: a process's holds are kept
only while its ``{ns}:alive:<proc>`` key lives (renewed every ``liveness_ttl / 3``), and a
clone on the wire keeps its hold for ``inflight_hold`` after a crash.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Final

import attrs

from .._coordinator import HeldBack, NoRoomNow
from .._exceptions import (
    AccountUnavailableError,
    ClientClosedError,
    ConfigurationError,
    CoordinatorUnavailableError,
    DuplicateVoiceNameError,
    MiniMaxError,
    VoiceSlotsExhaustedError,
)
from .._models import Voice
from .._scheduler import AccountStatistics, CloneStatistics
from ._link import Link

__all__ = ["FleetScheduler", "FleetTicket"]

logger = logging.getLogger("minimax_async.fleet")

#: The Redis name of the API's default account (single-account mode).
DEFAULT_ACCOUNT: Final = "-"
#: A voice created this long before a job started may still be its clone (clock skew).
ADOPTION_CLOCK_SKEW: Final = timedelta(seconds=5)
PREFETCH_PER_ACCOUNT: Final = 1

ErrorFactory = Callable[[], BaseException]
VoiceLister = Callable[[str | None], Awaitable[list[Voice]]]


class _Gone(Exception):
    """Redis no longer knows the waiter (flushed, or the lease was lost): register again."""


class _Lost(Exception):
    """The ticket's admission is gone from Redis: be admitted again, then take a slot."""


@attrs.define(eq=False)
class FleetTicket:
    """An admitted job of the fleet: it holds one voice-slot reservation on ``account``."""

    account: str | None
    name: str | None
    token: str
    seq: str
    key: str  # the account's name in Redis
    started: float  # time.time() at admission (for the intent record)
    holds_clone_slot: bool = False
    #: Its slot is marked in Redis as sending (intent recorded, in-flight hold).
    sent: bool = False
    #: The client has sent (or is sending) a clone whose outcome is not known yet.
    posted: bool = False
    finished: bool = False
    #: In doubt: a crashed run's clone of this (account, name) made this voice; the job
    #: returns it instead of cloning (the client checks it before taking a slot).
    adopted: Voice | None = None
    #: The last event of this ticket still in the outbox.
    pending: asyncio.Future[None] | None = attrs.field(default=None, repr=False)


@attrs.define(eq=False)
class _Wait:
    stage: str  # "A": admission, "S": clone slot
    key: str  # the account's Redis name ("" for any account)
    member: str
    future: asyncio.Future[str]
    #: The ticket waiting for a slot; for an admission, its seq and name.
    ticket: FleetTicket | None = None
    seq: str = ""
    name: str | None = None


class FleetScheduler:
    """The ``Coordinator`` of one client process on a Redis namespace (see the module doc).

    Made by :meth:`minimax_async.fleet.RedisCoordinator.scheduler`; not public.
    """

    def __init__(
        self,
        link: Link,
        *,
        owned_client: bool,
        accounts: Iterable[str] | None,
        max_parallel: int,
        max_voices: int | None,
        list_voices: VoiceLister,
        cap_lowering_strikes: int,
        cap_lowered_for: float,
        account_cooldown: float,
        liveness_ttl: float,
        inflight_hold: float,
        check_interval: float,
        recheck_delay: float,
    ) -> None:
        self._link = link
        self._owned_client = owned_client
        self._fixed_accounts = accounts is not None
        self._accounts: tuple[str | None, ...] = (
            tuple(accounts) if accounts is not None else (None,)
        )
        for account in self._accounts:
            if account is not None and ("|" in account or account == DEFAULT_ACCOUNT):
                raise ConfigurationError(f"account id {account!r} cannot be coordinated")
        self._rotation = [self._key(a) for a in self._accounts]
        self._max_parallel = max_parallel
        self._max_voices = max_voices
        self._list_voices = list_voices
        self._config = {
            "cap": str(max_parallel),
            "max_voices": str(-1 if max_voices is None else max_voices),
            "prefetch": str(PREFETCH_PER_ACCOUNT),
            "strikes": str(cap_lowering_strikes),
            "lowered_ms": str(round(cap_lowered_for * 1000)),
            "cooldown_ms": str(round(account_cooldown * 1000)),
        }
        self._ttl = liveness_ttl
        self._hold_ms = round(inflight_hold * 1000)
        self._check_interval = check_interval
        self._recheck_delay = recheck_delay
        #: This process's id in the namespace (a new one for every client).
        self.process_id = secrets.token_hex(6)
        self._n = 0
        self._waiting: dict[str, _Wait] = {}
        self._active: dict[str, FleetTicket] = {}
        self._leases: dict[str, list[str]] = {}
        self._counting: set[str] = set()
        self._outbox: collections.deque[
            tuple[str, list[str | int | float], asyncio.Future[None]]
        ] = collections.deque()
        self._outbox_wake = asyncio.Event()
        #: Tickets whose FINISH is in the outbox: a RELEASE queued before it is not sent
        #: (FINISH frees the slot too), so a clone costs one round trip less.
        self._finishing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._started: asyncio.Future[None] | None = None
        self._fatal: ErrorFactory | None = None
        self._closed = False
        self._held: dict[int, tuple[str | None, Callable[[], int]]] = {}
        self._stats: dict[str, list[int]] = {}
        self._stats_any = 0
        self._stats_at = 0.0
        self._stats_task: asyncio.Task[None] | None = None
        self._check_soon: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _key(account: str | None) -> str:
        return DEFAULT_ACCOUNT if account is None else account

    @staticmethod
    def _account(key: str) -> str | None:
        return None if key == DEFAULT_ACCOUNT else key

    def _token(self) -> str:
        self._n += 1
        return f"{self.process_id}|{self._n}"

    @property
    def round_trips(self) -> int:
        """Commands this process has sent to Redis so far."""
        return self._link.round_trips

    def _raise_if_fatal(self) -> None:
        if self._fatal is not None:
            raise self._fatal()
        if self._closed:
            raise ClientClosedError("the client was closed")

    async def _script(self, name: str, *args: str | int | float) -> str:
        """Run a script as this process; handle the messages it brought; its answer."""
        answer = await self._link.script(name, [self.process_id, *args])
        for message in answer[1:]:
            self._on_message(message)
        return answer[0]

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ start and stop

    async def _start(self) -> None:
        started = self._started
        if started is None:
            started = self._started = asyncio.get_running_loop().create_future()
            try:
                await self._setup()
            except BaseException as exc:
                self._started = None
                started.set_exception(exc)
                started.exception()
                raise
            started.set_result(None)
            for loop_body in (self._heartbeats, self._wakeups, self._checks, self._flush):
                self._spawn(loop_body())
        await asyncio.shield(started)

    async def _setup(self) -> None:
        pairs = [x for field, value in self._config.items() for x in (field, value)]
        answer = await self._script(
            "setup", round(self._ttl * 1000), len(self._rotation), *self._rotation, *pairs
        )
        if answer.startswith("X|"):
            _, field, theirs, mine = answer.split("|", 3)
            raise ConfigurationError(
                f"the namespace's {field} is {theirs} but this client's is {mine}: every "
                "process on a namespace must use the same limits (max_parallel_clones, "
                "max_voices_per_account, lower_cap_after, lowered_cap_for, account_cooldown)"
            )

    async def aclose(self) -> None:
        """Fail what still waits, flush the outbox, leave the namespace, stop the tasks."""
        if self._closed:
            return
        self._closed = True
        error = self._fatal or (lambda: ClientClosedError("the client was closed"))
        self._fail_waiters(error)
        if self._started is not None and self._started.done():
            with contextlib.suppress(MiniMaxError, asyncio.TimeoutError):
                await asyncio.wait_for(self._drain(), self._ttl)
            with contextlib.suppress(MiniMaxError, asyncio.TimeoutError):
                await asyncio.wait_for(self._script("leave"), self._ttl)
        if self._stats_task is not None:
            self._stats_task.cancel()
        await self._stop_tasks()
        if self._check_soon is not None:
            self._check_soon.cancel()
        if self._owned_client:
            await self._link.redis.aclose()

    async def _stop_tasks(self) -> None:
        """Cancel the background tasks and wait for them. The BLPOP task also ends on its
        own at its next timeout (some clients do not interrupt a blocking pop at once)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self._check_interval + 1.0)

    async def kill(self) -> None:
        """Stop at once, as a SIGKILLed process would: nothing flushed, nothing left (its
        lease then expires in Redis). For tests and simulations."""
        self._closed = True
        await self._stop_tasks()
        if self._check_soon is not None:
            self._check_soon.cancel()
        for wait in self._waiting.values():
            wait.future.cancel()
        self._waiting.clear()
        if self._owned_client:
            await self._link.redis.aclose()

    async def _drain(self) -> None:
        while self._outbox:
            last = self._outbox[-1][2]
            await asyncio.shield(last)

    # ------------------------------------------------------------------ decisions

    async def admit(
        self,
        account: str | None,
        *,
        pinned: bool,
        name: str | None,
        ahead: bool = False,
        give_up: bool = False,
    ) -> FleetTicket:
        """Wait until the job is admitted on an account, fleet-wide; its ticket."""
        self._raise_if_fatal()
        await self._start()
        key = self._key(account) if pinned else ""
        prefer = self._key(account) if not pinned and account is not None else ""
        return await self._admit(self._token(), "", key, name, ahead, prefer, give_up)

    async def _admit(
        self,
        token: str,
        seq: str,
        key: str,
        name: str | None,
        ahead: bool,
        prefer: str,
        give_up: bool,
    ) -> FleetTicket:
        # A job with nothing to upload takes a free clone slot with its admission.
        flags = "1" if ahead else f"h{self._hold_ms}"
        while True:
            self._raise_if_fatal()
            answer = await self._script(
                "admit", token, seq, key, name or "", flags, prefer, "1" if give_up else "0",
                *([] if key else self._rotation),
            )  # fmt: skip
            kind, seq, rest = _split(answer)
            if kind == "A":
                return self._ticket(token, seq, rest, name)
            if kind == "D":
                raise DuplicateVoiceNameError(
                    "voice_name",
                    f"{name!r} is already being cloned on account {key} by a job of the "
                    "fleet; one live job per name and account (see the README)",
                )
            if kind == "Q":
                ticket = await self._resolve_doubt(token, seq, key, name or "", rest)
                if ticket is not None:
                    return ticket
                continue
            if kind == "O":
                raise _out_error(rest)
            if kind == "H":
                raise _hopeless_error(rest)
            if kind == "N":
                raise NoRoomNow
            # queued ("W", or "C": and this process counts the voices first)
            member = f"{token}|{flags}|{name or ''}"
            if kind == "C":
                for counted in rest.split(","):
                    self._count(counted)
                wait_ms = 0
            else:
                wait_ms = int(rest or 0)
            try:
                await self._wait(
                    _Wait("A", key, member, self._future(), seq=seq, name=name), wait_ms
                )
            except _Gone:
                continue  # register again, under the same seq
            return self._active[token]  # made when the grant arrived

    def _ticket(self, token: str, seq: str, granted: str, name: str | None) -> FleetTicket:
        key, _, sending = granted.partition("|")
        ticket = FleetTicket(self._account(key), name, token, seq, key, time.time())
        if sending == "S":  # it took a free clone slot too, marked as sending
            ticket.holds_clone_slot = ticket.sent = True
        self._active[token] = ticket
        return ticket

    @staticmethod
    def _future() -> asyncio.Future[str]:
        return asyncio.get_running_loop().create_future()

    async def _wait(self, wait: _Wait, wait_ms: int) -> str:
        """Wait for the grant (``_on_message`` resolves it, and has already updated the
        ticket when this resumes, so that a repeated message finds it granted)."""
        stage, key, member, future = wait.stage, wait.key, wait.member, wait.future
        token = token_of(member)
        self._waiting[token] = wait
        if wait_ms > 0:
            self._check_at(wait_ms / 1000)
        try:
            return await future
        except asyncio.CancelledError:
            if self._waiting.get(token) is not None and self._waiting[token].future is future:
                del self._waiting[token]
            if future.done() and not future.cancelled() and future.exception() is None:
                # granted as it was cancelled
                if stage == "A":
                    self._active.pop(token, None)
                if wait.ticket is not None:
                    wait.ticket.holds_clone_slot = wait.ticket.sent = False
                self._give_back(stage, token, future.result().partition("|")[0])
            else:
                name = member.split("|", 3)[3] if stage == "A" else ""
                self._event(None, "cancel", token, key, member if stage == "A" else "", name)
            raise

    async def acquire_clone(self, ticket: FleetTicket, *, front: bool = False) -> None:
        """Wait for one of the account's clone slots, fleet-wide (FIFO by seq; a retry keeps
        its seq, so it goes ahead of later jobs). The slot is marked as sending at once."""
        if ticket.adopted is not None:
            return
        self._raise_if_fatal()
        ticket.posted = True  # the client sends right after it has the slot
        if ticket.holds_clone_slot and ticket.sent:
            return  # taken with the admission
        if ticket.pending is not None and not ticket.pending.done():
            await asyncio.shield(ticket.pending)
        while True:
            self._raise_if_fatal()
            answer = await self._script(
                "acquire", ticket.token, ticket.seq, ticket.key, self._hold_ms,
                ticket.name or "", self._ago(ticket),
            )  # fmt: skip
            kind, _, rest = _split(answer, seq=False)
            if kind == "G":
                ticket.holds_clone_slot = ticket.sent = True
                return
            if kind == "O":
                raise _out_error(rest)
            if kind == "L":
                await self._readmit(ticket)
                continue
            try:
                wait = _Wait("S", ticket.key, ticket.token, self._future(), ticket=ticket)
                await self._wait(wait, int(rest or 0))
            except _Gone:
                continue
            except _Lost:
                await self._readmit(ticket)
                continue
            return  # the grant marked it as sending

    async def _readmit(self, ticket: FleetTicket) -> None:
        """The ticket's admission was lost (a flushed Redis, a lost lease): queue again."""
        logger.info("fleet: ticket %s lost its admission; queued again", ticket.token)
        again = await self._admit(
            ticket.token, ticket.seq, ticket.key, ticket.name, False, "", False
        )
        self._active[ticket.token] = ticket
        ticket.seq = again.seq

    def _ago(self, ticket: FleetTicket) -> int:
        return max(0, round((time.time() - ticket.started) * 1000))

    async def _resolve_doubt(
        self, token: str, seq: str, key: str, name: str, rest: str
    ) -> FleetTicket | None:
        """An earlier clone of this (account, name) may have happened (its process crashed,
        or its outcome stayed unknown): adopt its voice if the account lists one, else
        clear the intent and clone. Nobody else clones this name meanwhile."""
        wait_text, ago_text, key = rest.split("|", 2)  # key: where the doubt is
        wait_ms, ago_ms = int(wait_text), int(ago_text)
        since = datetime.now(timezone.utc) - timedelta(milliseconds=ago_ms) - ADOPTION_CLOCK_SKEW
        if wait_ms > 0:
            logger.info("fleet: %r on %s is in doubt; waiting %.1f s", name, key, wait_ms / 1e3)
            await asyncio.sleep(wait_ms / 1000)
        for check in range(2):
            if check:
                await asyncio.sleep(self._recheck_delay)
            voices = await self._list_voices(self._account(key))
            candidates = [
                v.voice_id
                for v in voices
                if v.voice_name == name
                and v.voice_id
                and (v.create_time is None or v.create_time >= since)
            ]
            answer = await self._script("events", "resolve", key, name, "1", *candidates)
            claimed = answer.split("|", 1)[1] if "|" in answer else ""
            if claimed:
                voice = next(v for v in voices if v.voice_id == claimed)
                logger.info("fleet: %r on %s adopted %s (in doubt)", name, key, claimed)
                ticket = FleetTicket(self._account(key), name, token, seq, key, time.time())
                ticket.adopted = voice
                ticket.finished = True  # holds nothing in Redis
                return ticket
        await self._script("events", "resolve", key, name, "0")
        return None

    # ------------------------------------------------------------------ events (sync)

    def _event(self, ticket: FleetTicket | None, script: str, *args: str | int | float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outbox.append((script, list(args), future))
        self._outbox_wake.set()
        if ticket is not None:
            ticket.pending = future

    def sending(self, ticket: FleetTicket) -> None:
        """The clone goes on the wire (already marked by ``acquire_clone``)."""
        if ticket.adopted is None and not ticket.sent and ticket.holds_clone_slot:
            ticket.sent = True
            self._event(
                ticket, "send", ticket.token, ticket.key, self._hold_ms, ticket.name or "",
                self._ago(ticket),
            )  # fmt: skip

    def rate_limited(self, ticket: FleetTicket, seconds: float) -> None:
        """A 429: narrow (beside another clone of the fleet) or pause, then give back."""
        if ticket.adopted is not None:
            return
        ticket.holds_clone_slot = ticket.sent = False
        ticket.posted = False  # a 429 is known not to have been processed
        self._event(
            ticket, "events", "rate_limited", ticket.key, ticket.token, round(seconds * 1000)
        )

    def release_clone(self, ticket: FleetTicket) -> None:
        """Give back the ticket's clone slot (it keeps its admission)."""
        if ticket.holds_clone_slot:
            ticket.holds_clone_slot = ticket.sent = False
            self._event(ticket, "release", ticket.token, ticket.key)

    def finish(
        self,
        ticket: FleetTicket,
        *,
        created: bool,
        lease: bool = False,
        voice_id: str | None = None,
    ) -> None:
        """End the ticket. A clone sent without a known outcome keeps its intent; a voice
        created without a known id counts until the next recount (the ledger rule)."""
        if ticket.finished:
            return
        ticket.finished = True
        ticket.holds_clone_slot = False
        self._active.pop(ticket.token, None)
        self._finishing.add(ticket.token)
        # sent, and no voice id to show for it: the outcome stays open (its intent is kept)
        unknown = ticket.posted and not (created and voice_id)
        if lease and created and voice_id:
            self._leases.setdefault(ticket.key, []).append(voice_id)
        self._event(
            ticket, "finish", ticket.token, ticket.key, voice_id if created and voice_id else "",
            ticket.name or "", "1" if lease and created else "0", "1" if unknown else "0",
            "1" if created else "0",
        )  # fmt: skip

    def take_out_of_rotation(
        self, account: str | None, seconds: float, error: ErrorFactory
    ) -> None:
        """A 596/412: no process sends there for ``seconds``; waiters everywhere are told."""
        exc = error()
        status = getattr(exc, "cause_status", 596)
        detail = str(exc).split(f"HTTP {status}: ", 1)[-1]
        key = self._key(account)
        for token, wait in list(self._waiting.items()):
            if wait.key == key:  # local waiters learn it at once
                del self._waiting[token]
                if not wait.future.done():
                    wait.future.set_exception(error())
        self._event(None, "events", "take_out", key, round(seconds * 1000), status, detail)

    def voice_deleted(self, account: str | None, voice_id: str | None = None) -> None:
        """A voice was deleted: its slot is free for every process."""
        if voice_id:
            self._event(None, "events", "deleted", self._key(account), voice_id)

    def end_lease(self, account: str | None) -> None:
        """A temporary voice's lease ended."""
        key = self._key(account)
        leases = self._leases.get(key)
        if leases:
            self._event(None, "events", "end_lease", key, leases.pop(0))

    def count_ahead(self, accounts: Iterable[str | None]) -> None:
        """Nothing to do ahead: an account's first admission asks for its count."""

    def fail_all(self, error: ErrorFactory) -> None:
        """Fail every waiting job, and every later admission."""
        self._fatal = error
        self._fail_waiters(error)

    def _fail_waiters(self, error: ErrorFactory) -> None:
        for token, wait in list(self._waiting.items()):
            del self._waiting[token]
            if not wait.future.done():
                wait.future.set_exception(error())
            if self._started is not None and self._started.done():
                slot = wait.stage == "S"
                name = "" if slot else wait.member.split("|", 3)[3]
                self._event(None, "cancel", token, wait.key, "" if slot else wait.member, name)

    def _give_back(self, stage: str, token: str, key: str) -> None:
        if stage == "A":
            self._event(None, "finish", token, key, "", "", "0", "0", "0")
        else:
            self._event(None, "release", token, key)

    # ------------------------------------------------------------------ messages

    def _on_message(self, message: str) -> None:
        kind, _, rest = message.partition("|")
        token, _, rest = rest.partition("|")
        token = f"{token}|{rest.partition('|')[0]}"
        rest = rest.partition("|")[2]
        wait = self._waiting.get(token)
        if kind in ("A", "S"):
            key = rest
            if wait is not None and wait.stage == kind:
                del self._waiting[token]
                if not wait.future.done():
                    if wait.ticket is not None:
                        wait.ticket.holds_clone_slot = wait.ticket.sent = True
                    else:
                        self._ticket(token, wait.seq, key, wait.name)
                    wait.future.set_result(key)
                return
            ticket = self._active.get(token)
            if kind == "A" and ticket is not None:
                return  # already admitted (a repeated message)
            if kind == "S" and ticket is not None and ticket.holds_clone_slot:
                return
            if kind == "S" and wait is not None:
                return  # a slot it is being told of while it waits for it again
            self._give_back(kind, token, key.partition("|")[0])  # nobody here wants it
        elif kind == "C":
            self._count(rest)
        elif wait is not None:
            del self._waiting[token]
            if wait.future.done():
                return
            if kind == "O":
                wait.future.set_exception(_out_error(rest))
            elif kind == "H":
                wait.future.set_exception(_hopeless_error(rest, with_seq=False))
            elif kind == "G":
                wait.future.set_exception(_Gone())
            elif kind == "L":
                wait.future.set_exception(_Lost())

    # ------------------------------------------------------------------ voice counts

    def _count(self, key: str) -> None:
        if key not in self._counting:
            self._counting.add(key)
            self._spawn(self._recount(key))

    async def _recount(self, key: str) -> None:
        try:
            started = time.monotonic()
            try:
                voices = await self._list_voices(self._account(key))
            except Exception as exc:
                logger.warning("fleet: counting the voices of %s failed: %s", key, exc)
                with contextlib.suppress(MiniMaxError):
                    await self._script("events", "count_failed", key)
                for token, wait in list(self._waiting.items()):
                    if wait.key == key and wait.stage == "A":
                        del self._waiting[token]
                        if not wait.future.done():
                            wait.future.set_exception(exc)
                return
            elapsed = round((time.monotonic() - started) * 1000)
            ids = [v.voice_id for v in voices if v.voice_id]
            with contextlib.suppress(CoordinatorUnavailableError):
                await self._script("recount", key, elapsed, *ids)
        finally:
            self._counting.discard(key)

    # ------------------------------------------------------------------ background tasks

    async def _flush(self) -> None:
        """Send the outbox's events in order; a failed one is tried again (Redis down)."""
        outbox = self._outbox
        while True:
            if not outbox:
                self._outbox_wake.clear()
                await self._outbox_wake.wait()
                continue
            script, args, future = outbox[0]
            if script == "release" and args[0] in self._finishing:
                outbox.popleft()  # its FINISH follows and frees the slot too
                if not future.done():
                    future.set_result(None)
                continue
            try:
                await self._script(script, *args)
            except CoordinatorUnavailableError as exc:
                if self._closed:
                    for _, _, pending in outbox:
                        if not pending.done():
                            pending.set_result(None)
                    outbox.clear()
                    return
                logger.warning("fleet: %s", exc)
                await asyncio.sleep(min(self._check_interval, 1.0))
                continue
            except Exception:  # a script error: log it, never stop the outbox
                logger.exception("fleet: the %s script failed", script)
            outbox.popleft()
            if script == "finish":
                self._finishing.discard(str(args[0]))
            if not future.done():
                future.set_result(None)

    async def _heartbeats(self) -> None:
        down_since: float | None = None
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                answer = await self._script("heartbeat", round(self._ttl * 1000))
            except CoordinatorUnavailableError as exc:
                now = time.monotonic()
                down_since = down_since or now
                message = str(exc)
                logger.warning("fleet: heartbeat failed: %s", message)
                if now - down_since >= self._ttl:
                    # the lease is surely gone: what waits here fails, typed, and later
                    # admissions try Redis again
                    self._fail_waiters(partial(CoordinatorUnavailableError, message))
                continue
            down_since = None
            if answer == "L":
                logger.warning("fleet: this process's lease was lost; re-registering")
                with contextlib.suppress(MiniMaxError):
                    await self._setup()
                self._check_at(0)

    async def _wakeups(self) -> None:
        wake = self._wake_key()
        timeout = max(0.05, self._check_interval)
        while not self._closed:
            try:
                popped = await self._link.command("BLPOP", wake, timeout)
                if popped:
                    self._on_message(popped[1])
            except CoordinatorUnavailableError:
                await asyncio.sleep(min(self._check_interval, 1.0))

    def _wake_key(self) -> str:
        return f"{self._link.prefix}:wake:{self.process_id}"

    async def _checks(self) -> None:
        while True:
            await asyncio.sleep(self._check_interval)
            await self._check()

    def _check_at(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        when = loop.time() + seconds + 0.002
        soon = self._check_soon
        if soon is not None and not soon.cancelled() and soon.when() <= when:
            return
        if soon is not None:
            soon.cancel()
        self._check_soon = loop.call_at(when, lambda: self._spawn(self._check()))

    async def _check(self) -> None:
        self._check_soon = None
        entries = [
            x for token, w in list(self._waiting.items()) for x in (w.stage, w.key, w.member)
        ]
        if not entries:
            return
        with contextlib.suppress(CoordinatorUnavailableError):
            await self._script("check", *entries)

    # ------------------------------------------------------------------ bulk runs, queries

    def hold(self, jobs: HeldBack) -> None:
        """Count a bulk run's held-back jobs as waiting."""
        self._held[id(jobs)] = (jobs.account, jobs.__len__)

    def unhold(self, jobs: HeldBack) -> None:
        """Forget held-back jobs (idempotent)."""
        self._held.pop(id(jobs), None)

    def statistics(self) -> CloneStatistics:
        """Fleet-wide figures from a snapshot at most about a second old (refreshed in the
        background when asked for)."""
        now = time.monotonic()
        if now - self._stats_at > 0.5 and not self._closed and _has_loop():
            task = self._stats_task
            if task is None or task.done():
                self._stats_task = asyncio.ensure_future(self._refresh_quietly())
        held_for: dict[str | None, int] = {}
        held_any = 0
        for account, size in self._held.values():
            if account is None:
                held_any += size()
            else:
                held_for[account] = held_for.get(account, 0) + size()
        accounts = {}
        for account in self._accounts:
            row = self._stats.get(self._key(account))
            if row is None:
                row = [0, 0, 0, self._max_parallel, -1, 0, 0]
            in_flight, waiting, admitted, cap, voices, paused_ms, out_ms = row
            accounts[account] = AccountStatistics(
                in_flight=in_flight,
                waiting=waiting + held_for.get(account, 0),
                admitted=admitted,
                cap=cap,
                voices=None if voices < 0 else voices,
                reserved=admitted,
                paused_for=paused_ms / 1000,
                out_of_rotation_for=out_ms / 1000,
            )
        return CloneStatistics(accounts, self._stats_any + held_any)

    async def _refresh_quietly(self) -> None:
        with contextlib.suppress(MiniMaxError):
            await self.refresh_statistics()

    async def refresh_statistics(self) -> None:
        """Read the fleet-wide figures now (``statistics()`` then shows them)."""
        await self._start()
        rows = await self._link.script("stats", [self.process_id, *self._rotation])
        for key, row in zip(self._rotation, rows, strict=False):
            self._stats[key] = [int(x) for x in row.split("|")]
        self._stats_any = int(rows[-1])
        self._stats_at = time.monotonic()

    @property
    def accounts(self) -> tuple[str | None, ...]:
        """The accounts this process uses."""
        return self._accounts

    @property
    def capacity(self) -> int:
        """The most jobs this process's accounts can have admitted at once."""
        return len(self._accounts) * self.account_capacity(prefetch=True)

    def account_capacity(self, *, prefetch: bool) -> int:
        """Clone slots at full cap, plus the prefetch place if the jobs upload."""
        return self._max_parallel + (PREFETCH_PER_ACCOUNT if prefetch else 0)


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def token_of(member: str) -> str:
    """``proc|n`` of a waiter's member ``proc|n|flags|name``."""
    proc, _, rest = member.partition("|")
    return f"{proc}|{rest.partition('|')[0]}"


def _split(answer: str, *, seq: bool = True) -> tuple[str, str, str]:
    """``"K|seq|rest"`` (or ``"K|rest"`` without ``seq``) into its parts."""
    kind, _, rest = answer.partition("|")
    if not seq:
        return kind, "", rest
    number, _, rest = rest.partition("|")
    return kind, number, rest


def _out_error(rest: str) -> AccountUnavailableError:
    key, status, ms, detail = rest.split("|", 3)
    account = None if key == DEFAULT_ACCOUNT else key
    return AccountUnavailableError(
        account, time.monotonic() + int(ms) / 1000, int(status or 596), detail
    )


def _hopeless_error(rest: str, *, with_seq: bool = True) -> VoiceSlotsExhaustedError:
    if not with_seq:  # a message: "account|count|limit"
        key, count, limit = rest.split("|")
        return VoiceSlotsExhaustedError(
            {None if key == DEFAULT_ACCOUNT else key: int(count)}, int(limit)
        )
    limit, _, listing = rest.partition("|")
    counts: dict[str | None, int] = {}
    for item in listing.split(","):
        key, _, count = item.rpartition("=")
        counts[None if key == DEFAULT_ACCOUNT else key] = int(count)
    return VoiceSlotsExhaustedError(counts, int(limit))
