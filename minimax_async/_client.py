"""``Client``: the lifecycle and one coroutine per API operation.

It composes the other layers (models, converter, wire rules, transport, scheduler, retry
rules) and holds no parsing and no HTTP details of its own.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ipaddress
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from functools import cache, partial
from types import TracebackType
from typing import TYPE_CHECKING, Final, TypeVar
from urllib.parse import urlsplit

import anyio
import attrs
from anyio.abc import TaskGroup

if TYPE_CHECKING:
    import aiohttp

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

from ._bulk import CloneProgress, CloneResult, JobState, JobTracker, VoiceJob
from ._capacity import VoiceSlots
from ._converter import shared_converter
from ._exceptions import (
    AccountError,
    AccountPreconditionError,
    AccountUnavailableError,
    AuthenticationError,
    ClientClosedError,
    ConfigurationError,
    MiniMaxError,
    RateLimitError,
    ValidationError,
)
from ._models import (
    Account,
    AudioConfig,
    AudioStream,
    Clip,
    CloneVoiceRequest,
    CreateMp3Request,
    CreateStreamRequest,
    UploadedSample,
    Voice,
    account_from_id,
)
from ._retry import RetryPolicy, is_retryable, known_not_processed
from ._samples import LocalSample, SampleSource, load_sample
from ._scheduler import (
    MAX_PARALLEL_CLONES_PER_ACCOUNT,
    MAX_VOICES_PER_ACCOUNT,
    CloneScheduler,
    CloneStatistics,
    NoRoomNow,
    Ticket,
    out_of_rotation_error,
)
from ._transport import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RESPONSE_BYTES,
    SSLOption,
    Transport,
    make_transport,
)
from ._wire import (
    DEFAULT_CLIPS_PAGE_SIZE,
    DEFAULT_VOICES_PAGE_SIZE,
    NoBody,
    WireRequest,
    accounts_request,
    audio_list_request,
    clip_request,
    clone_voice_request,
    cloned_voices_request,
    config_request,
    create_mp3_request,
    create_stream_request,
    delete_clip_request,
    delete_voice_request,
    get_account_request,
    parse_response,
    system_voices_request,
    upload_sample_request,
)

__all__ = [
    "ADOPTION_CLOCK_SKEW",
    "BASE_URL_ENV_VAR",
    "DEFAULT_BASE_URL",
    "TOKEN_ENV_VAR",
    "Client",
    "CloneRun",
]

T = TypeVar("T")
logger = logging.getLogger("minimax_async")

#: The production API.
DEFAULT_BASE_URL: Final = "https://api.useapi.net/v1/minimax"
#: Where the token comes from when ``Client(token=...)`` is not given.
TOKEN_ENV_VAR: Final = "USEAPI_TOKEN"
#: Where the API root comes from when ``Client(base_url=...)`` is not given (unset or empty:
#: :data:`DEFAULT_BASE_URL`).
BASE_URL_ENV_VAR: Final = "USEAPI_BASE_URL"
#: Seconds for one ordinary request.
DEFAULT_TIMEOUT: Final = 30.0
#: Seconds for one clone request: "cloning can take up to 60 seconds" (contract §4.4).
DEFAULT_CLONE_TIMEOUT: Final = 120.0
#: Seconds an account stays out of rotation after a 596 (on hold) or a 412 (cannot pay).
DEFAULT_ACCOUNT_COOLDOWN: Final = 1800.0
#: Seconds between the two listings that look for the voice of an ambiguous clone failure
#: (useapi's own scripts wait 20 s after a 502/504: the job may still be queued upstream).
DEFAULT_RECHECK_DELAY: Final = 20.0
#: In-memory samples whose local check is remembered (least recently used are forgotten).
_CHECKED_BYTES_MEMO: Final = 64
#: The message of the cancellation with which ``aclose()`` ends running operations.
_ABORTED: Final = "minimax_async: the client was closed"


@cache
def _bytes_label(index: int) -> str:
    """How errors name the ``index``-th in-memory sample of a job."""
    return f"<bytes #{index + 1}>"


#: How far a voice's create_time may precede the job's start and still be adopted
#: (clock skew between this machine and MiniMax's).
ADOPTION_CLOCK_SKEW: Final = timedelta(minutes=2)
_TOKEN_UNAUTHORIZED: Final = "unauthorized"


def _check_base_url(base_url: str, name: str = "base_url") -> str:
    parts = urlsplit(base_url)
    if parts.scheme == "https" and parts.hostname:
        return base_url.rstrip("/")
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return base_url.rstrip("/")
        raise ConfigurationError(
            f"{name} {base_url!r} is plain http to a non-loopback host; the token would "
            "travel unencrypted. Use https (http is allowed only for 127.0.0.1/localhost)."
        )
    raise ConfigurationError(f"{name} {base_url!r} is not an http(s) URL")


@attrs.define
class _Options:
    """What :meth:`Client.with_options` may change per call."""

    timeout: float
    clone_timeout: float
    retry: RetryPolicy


@attrs.define
class _Shared:
    """What a client and its ``with_options`` views share."""

    transport: Transport
    scheduler: CloneScheduler
    accounts: tuple[str, ...] | None
    account_cooldown: float
    recheck_delay: float
    closing: bool = False
    aborting: bool = False
    #: Operations under way (queued or running).
    active: int = 0
    #: Tasks running guarded operations (nesting depth each), for ``aclose()`` to cancel;
    #: and the tasks it cancelled that have yet to turn that into ClientClosedError.
    running: dict[asyncio.Task[object], int] = attrs.field(factory=dict)
    aborted: set[asyncio.Task[object]] = attrs.field(factory=set)
    idle: asyncio.Event | None = None
    #: Voices counted in the clone queue's slot counts (listed when an account's count was
    #: learned, or cloned/adopted since), and the queue account they count under.
    counted_voices: dict[str, str | None] = attrs.field(factory=dict)
    #: In-memory samples already checked, by id() (the entry keeps the object alive, so an
    #: id is not reused while its entry stands): bulk jobs often share one recording.
    checked_bytes: collections.OrderedDict[int, tuple[object, LocalSample]] = attrs.field(
        factory=collections.OrderedDict
    )
    #: With ``reuse_uploads``: file ids by (account, content digest), as upload futures.
    uploads: dict[tuple[str | None, bytes], asyncio.Future[str]] | None = None
    #: With ``reuse_uploads``: digests uploaded to every account.
    uploaded_everywhere: set[bytes] = attrs.field(factory=set)

    def enter(self) -> None:
        """An operation starts."""
        self.active += 1

    def leave(self) -> None:
        """An operation ends; the last one wakes a waiting ``aclose()``."""
        self.active -= 1
        if not self.active and self.idle is not None:
            self.idle.set()


class Client:
    """An asyncio client for useapi.net's MiniMax audio API (v1).

    Use it as an async context manager::

        async with minimax_async.Client(accounts=["123456", "789012"]) as client:
            voices = await asyncio.gather(*(client.clone_voice(r) for r in requests))

    Every ``clone_voice`` passes the per-account clone queue: at most ``max_parallel_clones``
    clones run at once per account and never more voices than an account can hold, however
    many calls are awaited together.

    Args:
        token: The useapi.net API token; defaults to the ``USEAPI_TOKEN`` environment
            variable. Never shown in a repr, log or error.
        base_url: The API root; defaults to the ``USEAPI_BASE_URL`` environment variable,
            else (unset or empty) the production API. Plain ``http`` is refused except to a
            loopback host.
        accounts: The MiniMax account ids configured at useapi.net. ``None`` means
            single-account mode: ``account`` is sent only when given or derivable.
        max_parallel_clones: Clone requests in flight per account: 1 or 2.
        max_voices_per_account: Cloned voices an account holds (4); ``None`` stops the
            client from counting them.
        timeout: Seconds the server may stay silent on an ordinary request: once the
            request is sent, before its answer starts and between the answer's chunks.
            Sending the request's body does not count (an upload has its own allowance,
            below), nor does opening the connection (``connect_timeout``).
        clone_timeout: The same for one clone request (time queued does not count): the
            API answers a clone only when it is done, up to a minute later.
        retry: How transient failures are retried.
        account_cooldown: Seconds an account stays out of rotation after a 596 or 412.
        recheck_delay: After an ambiguous clone failure whose voice is not listed, seconds
            to wait before listing once more (the upstream job may still be running).
        lower_cap_after: 429s at full clone cap within a minute after which an account's
            cap drops to 1 ("one or two parallel tasks").
        lowered_cap_for: Seconds the lowered cap lasts before 2 is tried again.
        reuse_uploads: Bulk jobs upload a sample whose bytes were already uploaded to the same
            account only once, and reuse its file id: many jobs cloned from shared recordings
            then cost one upload per account, and keep their free choice of account. Off by
            default, because the API does not say how long a file id stays usable.
        connection_limit: Most HTTP connections open at once (not used with ``session``:
            the session's connector has its own limit).
        max_response_bytes: Most bytes of a successful answer the client reads (after
            decompression); a longer one raises :class:`ResponseTooLargeError` and is not
            read further. Error answers are read only as far as their message needs.
        proxy: An ``http://`` or ``https://`` proxy URL (``user:password@`` allowed) that
            every request goes through; https requests tunnel through it with CONNECT.
            ``None``: the environment's proxy if ``trust_env``, else none.
        ssl: How the server's TLS certificate is verified. ``None``: against the system's
            CAs. An ``ssl.SSLContext``: used as is (a client certificate goes in it too).
            A CA file path (``str`` or ``os.PathLike``, PEM): trust exactly the CAs in it,
            e.g. a corporate proxy's CA. ``False`` **turns verification off**: anyone on
            the network path can then read and change the traffic, the API token
            included; only for a test server you control. It is logged as a warning.
        trust_env: Read ``HTTPS_PROXY`` / ``HTTP_PROXY`` (and lower-case forms) and
            ``NO_PROXY`` once, when the client is created, as curl does; an explicit
            ``proxy`` wins. ``False``: ignore them.
        session: An ``aiohttp.ClientSession`` of your own to send through (its connector,
            limits, cookies, default headers and trace configs apply). The client never
            closes it: ``aclose()`` leaves it open. ``proxy``, ``ssl`` and ``trust_env``
            still apply, per request; a session created with ``trust_env=True`` reads the
            environment itself, so ``trust_env=False`` with it is refused. The token is
            sent with each request, never stored in the session.
        connect_timeout: Seconds for opening one connection: TCP connect, a proxy's
            CONNECT tunnel and the TLS handshake (waiting for a free connection of the
            pool does not count). A connection that cannot be opened in time is a
            ``ConnectError``: nothing was sent. The whole exchange of a request is bounded
            as well, so that nothing waits forever: ``connect_timeout`` + its timeout +
            one second per 64 KiB of body (a 20 MB upload gets five minutes to be sent).

    Raises:
        ConfigurationError: No token, a bad base URL, a bad limit, a bad proxy URL (given
            or in the environment), an unusable ``ssl`` (e.g. a missing CA file), or a
            ``session`` that is not an open ``aiohttp.ClientSession``.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        base_url: str | None = None,
        accounts: Iterable[str] | None = None,
        max_parallel_clones: int = MAX_PARALLEL_CLONES_PER_ACCOUNT,
        max_voices_per_account: int | None = MAX_VOICES_PER_ACCOUNT,
        timeout: float = DEFAULT_TIMEOUT,
        clone_timeout: float = DEFAULT_CLONE_TIMEOUT,
        retry: RetryPolicy | None = None,
        account_cooldown: float = DEFAULT_ACCOUNT_COOLDOWN,
        recheck_delay: float = DEFAULT_RECHECK_DELAY,
        lower_cap_after: int = 3,
        lowered_cap_for: float = 300.0,
        reuse_uploads: bool = False,
        connection_limit: int = 100,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        proxy: str | None = None,
        ssl: SSLOption = None,
        trust_env: bool = True,
        session: aiohttp.ClientSession | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        token = token if token is not None else os.environ.get(TOKEN_ENV_VAR)
        if not token:
            raise ConfigurationError(
                f"no API token: pass Client(token=...) or set the {TOKEN_ENV_VAR} "
                "environment variable"
            )
        if isinstance(max_parallel_clones, bool) or max_parallel_clones not in (1, 2):
            raise ConfigurationError(
                f"max_parallel_clones is {max_parallel_clones!r}; the API runs 1 or 2 "
                "clones at once per account"
            )
        if max_voices_per_account is not None and max_voices_per_account < 1:
            raise ConfigurationError("max_voices_per_account must be at least 1 (or None)")
        if timeout <= 0 or clone_timeout <= 0:
            raise ConfigurationError("timeout and clone_timeout must be positive")
        account_list = None if accounts is None else tuple(dict.fromkeys(accounts))
        if account_list is not None:
            if isinstance(accounts, str):
                raise ConfigurationError("accounts must be a list of account ids, not one string")
            if not account_list or not all(isinstance(a, str) and a for a in account_list):
                raise ConfigurationError("accounts must hold at least one non-empty account id")
        base_url_name = "base_url"
        if base_url is None:
            base_url = os.environ.get(BASE_URL_ENV_VAR) or DEFAULT_BASE_URL
            base_url_name = BASE_URL_ENV_VAR
        self._converter = shared_converter()
        self._options = _Options(timeout, clone_timeout, retry or RetryPolicy())
        #: A view made by with_options: the client that made it owns the lifecycle.
        self._is_view = False
        self._max_parallel_clones = max_parallel_clones
        self._max_voices = max_voices_per_account
        self._shared = _Shared(
            transport=make_transport(
                _check_base_url(base_url, base_url_name),
                token,
                connection_limit=connection_limit,
                max_response_bytes=max_response_bytes,
                connect_timeout=connect_timeout,
                proxy=proxy,
                ssl=ssl,
                trust_env=trust_env,
                session=session,
            ),
            scheduler=CloneScheduler(
                accounts=account_list,
                max_parallel=max_parallel_clones,
                max_voices=max_voices_per_account,
                count_voices=self._count_voices,
                cap_lowering_strikes=lower_cap_after,
                cap_lowered_for=lowered_cap_for,
            ),
            accounts=account_list,
            account_cooldown=account_cooldown,
            recheck_delay=recheck_delay,
            uploads={} if reuse_uploads else None,
        )

    def __repr__(self) -> str:
        return (
            f"Client(base_url={self.base_url!r}, accounts={self.accounts!r}, "
            f"max_parallel_clones={self._max_parallel_clones})"
        )

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """The API root this client talks to."""
        return self._shared.transport.base_url

    @property
    def accounts(self) -> tuple[str, ...] | None:
        """The configured accounts, or ``None`` in single-account mode."""
        return self._shared.accounts

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
        return self._shared.closing

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self, *, wait: bool = False) -> None:
        """Close the client and its connections.

        On a view made by :meth:`with_options` this does nothing: the view's client owns the
        connections and the queue, and closing it closes its views too.

        Args:
            wait: Let queued and running operations finish first. Without it (the default),
                each one ends at once with :class:`ClientClosedError`: running ones through
                a cancellation of their task that the client takes back, so the task carries
                on with the error. A task its caller cancels at the same moment stays
                cancelled (Python 3.11+; 3.10 cannot tell the two apart).
        """
        shared = self._shared
        if self._is_view or (shared.closing and shared.transport._session is None):
            return
        shared.closing = True
        if not wait:
            shared.aborting = True
            shared.scheduler.fail_all(lambda: ClientClosedError("the client was closed"))
            me = asyncio.current_task()
            for task in list(shared.running):
                if task is not me:
                    shared.aborted.add(task)
                    task.cancel(_ABORTED)
        if shared.active:
            # Operations end (or, without wait, unwind) before the session goes.
            shared.idle = asyncio.Event()
            await shared.idle.wait()
        shared.scheduler.fail_all(lambda: ClientClosedError("the client was closed"))
        await shared.transport.aclose()

    def with_options(
        self,
        *,
        timeout: float | None = None,
        clone_timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> Client:
        """A view of this client with other per-call settings; it shares the connections,
        the clone queue and the lifecycle::

            await client.with_options(retry=RetryPolicy(attempts=1)).clone_voice(request)

        Closing the view (``aclose()``, or leaving ``async with``) does nothing; closing the
        client closes its views too.
        """
        for name, value in (("timeout", timeout), ("clone_timeout", clone_timeout)):
            if value is not None and value <= 0:
                raise ConfigurationError(f"{name} must be positive, not {value!r}")
        view = object.__new__(Client)
        view.__dict__.update(self.__dict__)
        view._is_view = True
        view._options = attrs.evolve(
            self._options,
            timeout=self._options.timeout if timeout is None else timeout,
            clone_timeout=self._options.clone_timeout if clone_timeout is None else clone_timeout,
            retry=self._options.retry if retry is None else retry,
        )
        return view

    def clone_statistics(self) -> CloneStatistics:
        """In-flight and waiting clone counts, per account and overall."""
        return self._shared.scheduler.statistics()

    # ------------------------------------------------------------------ voices

    async def clone_voice(self, request: CloneVoiceRequest) -> Voice:
        """Clone a voice from uploaded samples (POST audio/clone-voice).

        The call waits its turn in the account's clone queue (time queued does not count
        against ``clone_timeout``). Transient failures are retried; after an *ambiguous*
        one (a timeout, a broken connection, a 5xx) the client first looks for the voice
        among the account's cloned voices and adopts it rather than cloning twice.

        Args:
            request: What to clone. Its account is ``request.account``, else the account
                inside its file ids.

        Returns:
            The new voice.

        Raises:
            ValidationError: The account is unknown or cannot be derived.
            DuplicateVoiceNameError: Another live clone has this name on this account.
            VoiceSlotsExhaustedError: The account has no free voice slot and none will free.
            AccountUnavailableError: The account is out of rotation (596/412).
            APIError: The server refused it (see the subclasses).
            TransportError: No usable reply, and the voice could not be found.
        """
        account = self._check_account(request.target_account, "clone_voice")
        return await self._clone(request, account)

    async def _clone(
        self, request: CloneVoiceRequest, account: str | None, *, lease: bool = False
    ) -> Voice:
        # Queued clones are the bulk of a big gather, so while queued they hold no cancel
        # scope (aclose() fails queued waiters through the scheduler): less memory per job.
        # For the same reason enter()/leave() rather than a with-block: a with-block keeps a
        # bound __exit__ on every waiting frame (+80 B per queued job, measured).
        shared = self._shared
        if shared.closing:
            raise ClientClosedError("the client is closed")
        shared.enter()
        try:
            ticket = await shared.scheduler.admit(account, pinned=True, name=request.voice_name)
            created = False
            try:
                voice = await self._guarded(self._clone_admitted(ticket, request), started=True)
                created = True
                return voice
            finally:
                shared.scheduler.finish(ticket, created=created, lease=lease)
        finally:
            shared.leave()

    async def _clone_admitted(
        self,
        ticket: Ticket,
        request: CloneVoiceRequest,
        *,
        on_send: Callable[[], None] | None = None,
    ) -> Voice:
        """Run one admitted clone to its end: retries, back-pressure, adoption.

        The rule that keeps clones duplicate-free: a clone is sent again only when it is
        known not to have happened. A 429 or a connection that never opened is known; after
        anything else (a timeout, a broken connection, a 5xx) the account's voices are
        listed, twice with ``recheck_delay`` between, and a voice of the same name created
        since the job started is adopted instead of cloning again.
        """
        scheduler = self._shared.scheduler
        account = ticket.account
        wire = clone_voice_request(self._converter, request, account)
        started = datetime.now(timezone.utc)
        retry = self._options.retry
        attempt = 0
        while True:
            attempt += 1
            await scheduler.acquire_clone(ticket, front=attempt > 1)
            if on_send is not None:
                on_send()
            try:
                voice = await self._send(wire, Voice, self._options.clone_timeout)
            except MiniMaxError as exc:
                delay = retry.delay(attempt, exc)
                if isinstance(exc, RateLimitError):
                    # Set before the slot is given back, so that no queued clone meets the
                    # same 429: refused beside a running clone, the account runs at one for
                    # the Retry-After time; refused alone, the whole account waits it out.
                    if scheduler.beside_others(ticket):
                        scheduler.narrow(account, delay)
                    else:
                        scheduler.pause(account, delay)
                    delay = 0.0
                scheduler.release_clone(ticket)
                if not is_retryable(exc):
                    raise
                if not known_not_processed(exc):
                    adopted = await self._find_ambiguous_clone(ticket, request, started, exc)
                    if adopted is not None:
                        return adopted
                if attempt >= retry.attempts:
                    raise
                logger.info(
                    "clone %r on account %s: retry %d/%d in %.1f s after %s",
                    request.voice_name, account, attempt, retry.attempts - 1, delay, exc,
                )  # fmt: skip
                await anyio.sleep(delay)
            else:
                scheduler.release_clone(ticket)
                if voice.voice_id:
                    self._shared.counted_voices[voice.voice_id] = account
                return voice

    async def _find_ambiguous_clone(
        self, ticket: Ticket, request: CloneVoiceRequest, started: datetime, error: MiniMaxError
    ) -> Voice | None:
        """After an ambiguous failure: the voice it created, or None if surely none."""
        for check in range(2):
            if check:
                await anyio.sleep(self._shared.recheck_delay)
            try:
                adopted = await self._adopt(ticket, request.voice_name, started)
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

    async def _adopt(self, ticket: Ticket, name: str, started: datetime) -> Voice | None:
        """The voice an ambiguous clone created, if the account lists one.

        A voice is adopted when its name matches, it was created after the job started
        (less clock skew), and this client does not already own it.
        """
        voices = await self._list_voices(ticket.account)
        owned = self._shared.counted_voices
        for voice in voices:
            if (
                voice.voice_name == name
                and voice.voice_id is not None
                and voice.voice_id not in owned
                and (
                    voice.create_time is None or voice.create_time >= started - ADOPTION_CLOCK_SKEW
                )
            ):
                owned[voice.voice_id] = ticket.account
                return voice
        return None

    async def list_cloned_voices(self, *, account: str | None = None) -> list[Voice]:
        """Every cloned voice of an account (GET audio/voices?is_system=false)."""
        account = self._check_account(account, "list_cloned_voices", required=False)
        return await self._guarded(self._list_voices(account))

    async def free_voice_slots(self, *, accounts: Iterable[str] | None = None) -> list[VoiceSlots]:
        """The free cloned-voice slots of each account, from one listing per account.

        Lists the cloned voices of every account (concurrently, one
        ``GET audio/voices?is_system=false`` each) and counts them against the per-account
        limit: call it before a bulk run to know how many of its jobs can get a voice.
        Voices made by hand in the web UI take slots too and are counted; clones this client
        has in flight are not (their voices are not listed yet).

        Args:
            accounts: The accounts to list (default: the configured accounts, or the one
                default account in single-account mode).

        Returns:
            One :class:`VoiceSlots` per account, in the order given (configured order by
            default).

        Raises:
            ValidationError: An account that is not configured.
        """
        if accounts is None:
            targets: list[str | None] = list(self._shared.accounts or [None])
        else:
            if isinstance(accounts, str):
                raise ValidationError("accounts", "must be a list of account ids, not one string")
            targets = list(dict.fromkeys(accounts))
        checked = [self._check_account(a, "free_voice_slots", required=False) for a in targets]
        limit = self._max_voices if self._max_voices is not None else MAX_VOICES_PER_ACCOUNT
        lists = await self._guarded(
            _all([partial(self._list_voices, account) for account in checked])
        )
        return [
            VoiceSlots(account, limit, tuple(voices))
            for account, voices in zip(checked, lists, strict=True)
        ]

    async def _list_voices(self, account: str | None) -> list[Voice]:
        page = await self._send_retrying(cloned_voices_request(account), _VoiceList)
        return list(page.voice_list)

    async def _count_voices(self, account: str | None) -> int:
        voices = await self._list_voices(account)
        counted = self._shared.counted_voices
        for voice in voices:
            if voice.voice_id:
                counted[voice.voice_id] = account
        return len(voices)

    async def iter_system_voices(
        self,
        *,
        tag_list: Sequence[str] | str | None = None,
        account: str | None = None,
        page_size: int = DEFAULT_VOICES_PAGE_SIZE,
    ) -> AsyncIterator[Voice]:
        """Every system voice, page by page while the API says ``has_more``.

        Args:
            tag_list: Tags every voice must have (from :meth:`get_config`), e.g.
                ``["Italian", "Female"]``.
            account: The account to ask through.
            page_size: Voices per request (the API default is 500).
        """
        account = self._check_account(account, "iter_system_voices", required=False)
        if page_size < 1:
            raise ValidationError("page_size", "must be at least 1")
        tags = tag_list if isinstance(tag_list, str) or tag_list is None else ",".join(tag_list)
        page_number = 1
        while True:
            wire = system_voices_request(
                account, page=page_number, page_size=page_size, tag_list=tags
            )
            page = await self._guarded(self._send_retrying(wire, _VoiceList))
            for voice in page.voice_list:
                yield voice
            if not page.has_more or not page.voice_list:
                return
            page_number += 1

    async def delete_voice(self, voice_id: str, *, account: str | None = None) -> None:
        """Delete a cloned voice and free its slot (POST audio/delete-voice; idempotent).

        Args:
            voice_id: As returned by :meth:`clone_voice` or :meth:`list_cloned_voices`.
            account: Derived from a composite ``voice_id`` when omitted.
        """
        if not isinstance(voice_id, str) or not voice_id.strip():
            raise ValidationError("voice_id", "must be a non-empty string")
        account = account if account is not None else account_from_id(voice_id)
        account = self._check_account(account, "delete_voice")
        await self._guarded(self._send_retrying(delete_voice_request(voice_id, account), NoBody))
        counted = self._shared.counted_voices
        if voice_id in counted:
            self._shared.scheduler.voice_deleted(counted.pop(voice_id))
        # A voice the client never counted (made by hand after it counted the account's
        # voices) does not change its count, so deleting one changes nothing either.

    # ------------------------------------------------------------------ bulk

    async def clone_from_samples(self, job: VoiceJob) -> Voice:
        """Clone one voice from local samples, end to end.

        The samples are checked locally first (format, readability, 10-60 s). The job then
        waits for an account with a free clone slot and voice slot (its own, if pinned),
        uploads its samples there (in parallel) and clones there. If that account goes on
        hold (596) or cannot pay (412), an unpinned job moves to another account.

        Raises:
            InvalidSampleError: A sample is unusable; nothing of the job was uploaded.
            VoiceSlotsExhaustedError: No account has or will get a free voice slot.
            (and everything :meth:`clone_voice` raises)
        """
        return await self._run_job(job, JobTracker(None, job))

    def clone_many(
        self, jobs: Iterable[VoiceJob], *, progress: CloneProgress | None = None
    ) -> CloneRun:
        """Clone many voices; yield one :class:`CloneResult` per job as each finishes.

        One job's failure never stops the others: it is its result's ``error``. Use it as::

            async with client.clone_many(jobs) as results:
                async for result in results:
                    print(result.job.voice_name, result.voice or result.error)

        Leaving the ``async with`` early cancels the jobs still running.

        Args:
            jobs: The jobs (validated when built).
            progress: A :class:`CloneProgress` to update (one is made if omitted; it is
                also ``run.progress``).
        """
        job_list = list(jobs)
        for job in job_list:
            if not isinstance(job, VoiceJob):
                raise ValidationError("jobs", f"expected VoiceJob items, got {type(job).__name__}")
        return CloneRun(self, job_list, progress if progress is not None else CloneProgress())

    @contextlib.asynccontextmanager
    async def temporary_voice(self, job: VoiceJob | CloneVoiceRequest) -> AsyncIterator[Voice]:
        """Clone a voice for the duration of a block, then delete it::

            async with client.temporary_voice(job) as voice:
                clip = await client.create_mp3("Hello!", voice.voice_id)

        The voice is deleted on leaving the block, also on error and on cancellation, so its
        slot is free again for the next job. Jobs waiting for a voice slot meanwhile keep
        waiting for it instead of failing.
        """
        if isinstance(job, VoiceJob):
            voice = await self._run_job(job, JobTracker(None, job), lease=True)
        else:
            account = self._check_account(job.target_account, "temporary_voice")
            voice = await self._clone(job, account, lease=True)
        key = self._shared.counted_voices.get(voice.voice_id or "")
        try:
            yield voice
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    if voice.voice_id:
                        await self.delete_voice(voice.voice_id, account=voice.account)
                finally:
                    self._shared.scheduler.end_lease(key)

    async def _run_job(
        self,
        job: VoiceJob,
        tracker: JobTracker,
        *,
        lease: bool = False,
        prefer: str | None = None,
        give_up: bool = False,
    ) -> Voice:
        # Like _clone: nothing held while the job waits, one guard around its network phases.
        shared = self._shared
        if shared.closing:
            raise ClientClosedError("the client is closed")
        scheduler = shared.scheduler
        shared.enter()
        try:
            pinned = job.pinned_account
            if pinned is not None or (self.accounts is not None and len(self.accounts) == 1):
                pinned = self._check_account(pinned, "clone_from_samples")
            # Check every local sample before the job takes a place. Files are read again
            # after admission, so that queued jobs do not hold audio in memory; bytes are kept.
            local = job.local_samples
            checked = await self._load_samples(job) if local else []
            in_memory = all(isinstance(s, (bytes, bytearray, memoryview)) for s in local)
            reusable = checked if in_memory else None
            placements = len(scheduler.accounts) if pinned is None else 1
            for placement in range(1, placements + 1):
                # A placed job's first try prefers its runner's last account; later tries
                # (after that account failed) take whichever account the scheduler picks.
                target = pinned if pinned is not None else prefer if placement == 1 else None
                ticket = await scheduler.admit(
                    target,
                    pinned=pinned is not None,
                    name=job.voice_name,
                    ahead=bool(local) and not self._uploaded_everywhere(checked),
                    give_up=give_up and placement == 1,
                )
                created = False
                try:
                    voice = await self._guarded(
                        self._upload_and_clone(job, ticket, tracker, reusable), started=True
                    )
                    created = True
                    return voice
                except (AccountError, AccountUnavailableError):
                    if pinned is not None or placement == placements:
                        raise
                    tracker.move(JobState.QUEUED)  # and on to another account
                finally:
                    scheduler.finish(ticket, created=created, lease=lease)
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            shared.leave()

    async def _upload_and_clone(
        self,
        job: VoiceJob,
        ticket: Ticket,
        tracker: JobTracker,
        checked: list[LocalSample] | None,
    ) -> Voice:
        """An admitted job's network phases, under one guard (``_guarded``): upload, then clone."""
        tracker.move(JobState.UPLOADING, ticket.account)
        file_ids = await self._upload_job(job, ticket.account, checked)
        request = CloneVoiceRequest(
            job.voice_name,
            job.language_tag,
            file_ids,
            account=ticket.account,
            need_noise_reduction=job.need_noise_reduction,
        )
        tracker.move(JobState.READY)
        return await self._clone_admitted(
            ticket, request, on_send=partial(tracker.move, JobState.CLONING)
        )

    async def _load_samples(self, job: VoiceJob) -> list[LocalSample]:
        memo = self._shared.checked_bytes
        # Many jobs often share one recording object: check it once. Jobs whose every
        # sample is such a recording, already checked, take this path without awaiting.
        known_samples: list[LocalSample] = []
        for i, source in enumerate(job.local_samples):
            known = memo.get(id(source))
            if known is None or known[0] is not source or known[1].label != _bytes_label(i):
                break
            memo.move_to_end(id(source))
            known_samples.append(known[1])
        else:
            return known_samples

        async def load(i: int, source: SampleSource) -> LocalSample:
            if not isinstance(source, (bytes, bytearray, memoryview)):
                return await load_sample(source)
            known = memo.get(id(source))
            if known is not None and known[0] is source and known[1].label == _bytes_label(i):
                memo.move_to_end(id(source))
                return known[1]
            sample = await load_sample(source, label=_bytes_label(i))
            memo[id(source)] = (source, sample)
            if len(memo) > _CHECKED_BYTES_MEMO:
                memo.popitem(last=False)
            return sample

        return await _all([partial(load, i, s) for i, s in enumerate(job.local_samples)])

    async def _upload_job(
        self, job: VoiceJob, account: str | None, checked: list[LocalSample] | None
    ) -> list[str]:
        if not job.local_samples:
            return list(job.file_ids)
        samples = checked if checked is not None else await self._load_samples(job)
        cache = self._shared.uploads
        if cache is not None:  # with reuse_uploads, most jobs find every sample uploaded
            known = [_file_id_if_uploaded(cache.get((account, s.digest))) for s in samples]
            if None not in known:
                return [*job.file_ids, *known]  # type: ignore[list-item]  # no None in it
        uploaded = await _all([partial(self._upload, account, sample) for sample in samples])
        return [*job.file_ids, *uploaded]

    def _uploaded_everywhere(self, samples: list[LocalSample]) -> bool:
        """With ``reuse_uploads``: whether every sample is already uploaded to every account.

        Such a job uploads nothing wherever it lands, so it need not be admitted ahead of a
        free clone slot (which would tie it to an account early).
        """
        cache = self._shared.uploads
        if cache is None or not samples:
            return False
        everywhere = self._shared.uploaded_everywhere
        for sample in samples:
            if sample.digest in everywhere:
                continue
            for account in self._shared.scheduler.accounts:
                if _file_id_if_uploaded(cache.get((account, sample.digest))) is None:
                    return False
            everywhere.add(sample.digest)  # file ids that worked stay in the cache
        return True

    async def _upload(self, account: str | None, sample: LocalSample) -> str:
        """Upload one checked sample; with ``reuse_uploads``, once per content and account."""
        cache = self._shared.uploads
        if cache is None:
            return await self._upload_now(account, sample)
        key = (account, sample.digest)
        pending = cache.get(key)
        if pending is None:
            pending = cache[key] = asyncio.ensure_future(self._upload_now(account, sample))
            pending.add_done_callback(
                lambda done: cache.pop(key, None) if done.cancelled() or done.exception() else None
            )
        return await asyncio.shield(pending)

    async def _upload_now(self, account: str | None, sample: LocalSample) -> str:
        wire = upload_sample_request(account, sample.data, sample.content_type)
        return (await self._send_retrying(wire, UploadedSample)).file_id

    # ------------------------------------------------------------------ samples

    async def upload_sample(
        self,
        source: SampleSource,
        *,
        account: str | None = None,
        content_type: str | None = None,
    ) -> UploadedSample:
        """Upload a voice sample (POST audio/upload-sample, the raw bytes).

        Args:
            source: The audio: bytes, or a path to an .mp3 or .wav file.
            account: The account to upload to (required when several are configured).
            content_type: ``audio/mpeg``, ``audio/wav`` or ``audio/wave``; else taken from
                the file suffix, else from the bytes themselves.

        Raises:
            InvalidSampleError: Not mp3/wav, unreadable, or not 10-60 s long; nothing sent.
        """
        account = self._check_account(account, "upload_sample")
        sample = await load_sample(source, content_type=content_type)
        wire = upload_sample_request(account, sample.data, sample.content_type)
        return await self._guarded(self._send_retrying(wire, UploadedSample))

    # ------------------------------------------------------------------ speech

    async def create_mp3(
        self,
        text: str,
        voice_id: str,
        *,
        account: str | None = None,
        model: str | None = None,
        language_boost: str | None = None,
        emotion: str | None = None,
        vol: float | None = None,
        speed: float | None = None,
        pitch: int | None = None,
        deepen_lighten: int | None = None,
        stronger_softer: int | None = None,
        nasal_crisp: int | None = None,
        spacious_echo: bool | None = None,
        lofi_telephone: bool | None = None,
        robotic: bool | None = None,
        auditorium_echo: bool | None = None,
    ) -> Clip:
        """Synthesise up to 500 characters into an mp3 (POST audio/create-mp3).

        Arguments as :class:`CreateMp3Request`; only the ones given are sent. Not retried
        after an ambiguous failure (it is not idempotent).

        Returns:
            The clip; download ``clip.audio_url``.
        """
        request = CreateMp3Request(
            text=text, voice_id=voice_id, account=account, model=model,
            language_boost=language_boost, emotion=emotion, vol=vol, speed=speed,
            pitch=pitch, deepen_lighten=deepen_lighten, stronger_softer=stronger_softer,
            nasal_crisp=nasal_crisp, spacious_echo=spacious_echo,
            lofi_telephone=lofi_telephone, robotic=robotic, auditorium_echo=auditorium_echo,
        )  # fmt: skip
        target = self._check_account(request.target_account, "create_mp3")
        wire = create_mp3_request(self._converter, request, target)
        return await self._guarded(self._send_retrying(wire, Clip))

    async def create_stream(self, request: CreateStreamRequest) -> AudioStream:
        """Start streamed speech of up to 5000 characters (POST audio/create-stream).

        Returns:
            The ``token`` and ``payload`` for the WSS endpoint.
        """
        target = self._check_account(request.target_account, "create_stream")
        wire = create_stream_request(self._converter, request, target)
        return await self._guarded(self._send_retrying(wire, AudioStream))

    async def iter_clips(
        self, *, account: str | None = None, page_size: int = DEFAULT_CLIPS_PAGE_SIZE
    ) -> AsyncIterator[Clip]:
        """Every generated clip of an account (GET audio/), page by page."""
        account = self._check_account(account, "iter_clips", required=False)
        page_number = 1
        while True:
            wire = audio_list_request(account, page=page_number, page_size=page_size)
            page = await self._guarded(self._send_retrying(wire, _ClipList))
            for clip in page.audio_list:
                yield clip
            if not page.has_more or not page.audio_list:
                return
            page_number += 1

    async def get_clip(self, audio_id: str) -> Clip:
        """One generated clip (GET audio/{audio_id})."""
        if not audio_id:
            raise ValidationError("audio_id", "must be a non-empty string")
        wire = clip_request(audio_id, account_from_id(audio_id))
        return await self._guarded(self._send_retrying(wire, Clip))

    async def delete_clip(self, audio_id: str) -> None:
        """Delete a generated clip (DELETE audio/{audio_id}; idempotent)."""
        if not audio_id:
            raise ValidationError("audio_id", "must be a non-empty string")
        wire = delete_clip_request(audio_id, account_from_id(audio_id))
        await self._guarded(self._send_retrying(wire, NoBody))

    # ------------------------------------------------------------------ accounts, config

    async def get_config(self, *, account: str | None = None) -> AudioConfig:
        """The emotion and voice-tag vocabularies (GET audio/config)."""
        account = self._check_account(account, "get_config", required=False)
        return await self._guarded(self._send_retrying(config_request(account), AudioConfig))

    async def list_accounts(self) -> list[Account]:
        """Every MiniMax account configured at useapi.net (GET accounts), by id."""
        accounts = await self._guarded(self._send_retrying(accounts_request(), dict[str, Account]))
        return [
            account if account.account else attrs.evolve(account, account=key)
            for key, account in sorted(accounts.items())
        ]

    async def get_account(self, account: str) -> Account:
        """One configured account (GET accounts/{account}).

        Raises:
            NotFoundError: The account is not configured.
        """
        if not account:
            raise ValidationError("account", "must be a non-empty string")
        return await self._guarded(self._send_retrying(get_account_request(account), Account))

    # ------------------------------------------------------------------ plumbing

    def _check_account(
        self, account: str | None, operation: str, *, required: bool = True
    ) -> str | None:
        if self._shared.closing:
            raise ClientClosedError(f"{operation}: the client is closed")
        accounts = self._shared.accounts
        if accounts is None:
            return account
        if account is None:
            if len(accounts) == 1:
                return accounts[0]
            if required:
                raise ValidationError(
                    "account",
                    f"{operation} needs an account when several are configured "
                    f"({', '.join(accounts)}); pass account=...",
                )
            return accounts[0]
        if account not in accounts:
            raise ValidationError(
                "account",
                f"{account!r} is not one of the configured accounts ({', '.join(accounts)})",
            )
        return account

    async def _guarded(self, operation: Awaitable[T], *, started: bool = False) -> T:
        """Run an operation so that ``aclose()`` can end it with ClientClosedError.

        ``started``: the operation began before (it was queued), so ``aclose(wait=True)``
        lets it run; only ``aclose()`` without wait stops it.
        """
        shared = self._shared
        if shared.aborting or (shared.closing and not started):
            if asyncio.iscoroutine(operation):
                operation.close()
            raise ClientClosedError("the client is closed")
        # The task is registered rather than wrapped in a cancel scope: an anyio scope costs
        # a task-state entry per task (15-25 us for each task of a big gather, measured),
        # and ``aclose()`` is rare. Like asyncio.timeout(), this turns only its own
        # cancellation into an error: a cancellation from anywhere else goes on.
        task: asyncio.Task[object] | None = asyncio.current_task()
        assert task is not None  # pragma: no branch - operations run in tasks
        running = shared.running
        running[task] = running.get(task, 0) + 1
        cancelling = 0
        if sys.version_info >= (3, 11):
            cancelling = task.cancelling()
        shared.enter()
        try:
            return await operation
        except asyncio.CancelledError:
            if task not in shared.aborted:
                raise
            shared.aborted.discard(task)
            if sys.version_info >= (3, 11) and task.uncancel() > cancelling:
                raise  # cancelled by someone else as well
            raise ClientClosedError("the client was closed while the operation ran") from None
        finally:
            depth = running.pop(task) - 1
            if depth:
                running[task] = depth
            else:
                shared.aborted.discard(task)
            shared.leave()

    async def _send(self, wire: WireRequest, model: type[T], seconds: float) -> T:
        """One request, one answer (within ``seconds``): parse it or raise its typed error."""
        raw = await self._shared.transport.send(wire, timeout=seconds)
        try:
            return parse_response(self._converter, wire, raw.status, raw.headers, raw.body, model)
        except AuthenticationError as exc:
            if exc.message.strip().lower() == _TOKEN_UNAUTHORIZED:
                # The token itself was refused: every job would fail the same way.
                message, endpoint, account = exc.message, exc.endpoint, exc.account
                self._shared.scheduler.fail_all(
                    lambda: AuthenticationError(401, message, endpoint=endpoint, account=account)
                )
            raise
        except AccountError as exc:
            self._take_out(exc)
            raise

    def _take_out(self, exc: AccountError) -> None:
        cooldown = self._shared.account_cooldown
        until = time.monotonic() + cooldown
        label = "cannot pay" if isinstance(exc, AccountPreconditionError) else "on hold"
        logger.warning(
            "account %s %s (HTTP %d: %s); out of rotation for %.0f s",
            exc.account,
            label,
            exc.status,
            exc.message,
            cooldown,
        )
        self._shared.scheduler.take_out_of_rotation(
            exc.account,
            cooldown,
            out_of_rotation_error(exc.account, until, exc.status, exc.message),
        )

    async def _send_retrying(self, wire: WireRequest, model: type[T]) -> T:
        """``_send`` with the retry rules; ambiguous failures are retried only when the
        request is idempotent."""
        retry = self._options.retry
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._send(wire, model, self._options.timeout)
            except MiniMaxError as exc:
                if (
                    attempt >= retry.attempts
                    or not is_retryable(exc)
                    or not (wire.idempotent or known_not_processed(exc))
                ):
                    raise
                delay = retry.delay(attempt, exc)
                logger.info(
                    "%s %s: retry %d/%d in %.1f s after %s",
                    wire.method,
                    wire.endpoint,
                    attempt,
                    retry.attempts - 1,
                    delay,
                    exc,
                )
                await anyio.sleep(delay)


def _file_id_if_uploaded(upload: asyncio.Future[str] | None) -> str | None:
    """The file id of a finished, successful upload of the ``reuse_uploads`` cache."""
    if upload is None or not upload.done() or upload.cancelled() or upload.exception():
        return None
    return upload.result()


async def _all(calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run calls concurrently; return their results in order, or raise the first error.

    Like a task group (the others are cancelled on a failure) but raising the error itself,
    not an exception group, so callers see e.g. the InvalidSampleError of the bad file.
    """
    results: list[T] = []
    if len(calls) == 1:
        return [await calls[0]()]
    slots: dict[int, T] = {}

    async def run(i: int, call: Callable[[], Awaitable[T]]) -> None:
        slots[i] = await call()

    try:
        async with anyio.create_task_group() as group:
            for i, call in enumerate(calls):
                group.start_soon(run, i, call)
    except BaseExceptionGroup as errors:
        first = errors.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from first.__cause__
    results.extend(slots[i] for i in range(len(calls)))
    return results


class _Pool:
    """The runners of a bulk run's jobs of one kind: each takes the next job, in order,
    runs it, and takes another. No task per queued job: little memory and CPU for a big run.

    A run has one pool of the jobs the client places (``account`` None) and one pool per
    account for the jobs pinned to it, so that jobs waiting for a busy account never hold
    up those of an idle one.

    A pinned pool keeps ``limit`` runners: as many as its account can admit at once. The
    pool of placed jobs starts with as many runners as the accounts can admit at once
    (clone slots plus prefetch), so that uploads overlap clones, and then keeps only the
    runners that find room: after its first job, a runner whose next job would have to
    wait puts it back and stops (the last one stays), as the room goes to the jobs already
    waiting. So a runner whose clone ends usually takes the freed slot again itself
    (``admit`` prefers its last account) and sends its next clone in the same event-loop
    step; a waiting runner would send it one step later. If an account gets room back that
    no runner takes (a pause ends, an account returns to rotation), the scheduler asks for
    one more runner (``grow``).
    """

    def __init__(
        self,
        run: CloneRun,
        jobs: collections.deque[VoiceJob],
        queued_at: float,
        *,
        limit: int,
        account: str | None = None,
    ) -> None:
        self.run = run
        self.jobs = jobs
        self.queued_at = queued_at
        #: The account of every job (``None``: jobs the client places).
        self.account = account
        #: The most runners at once.
        self.limit = limit
        self.group: TaskGroup | None = None
        self.runners = 0

    def __len__(self) -> int:
        return len(self.jobs)

    def grow(self) -> None:
        group = self.group
        # Never into a cancelled group: a task started there after the cancellation was
        # delivered is never cancelled, and spins in anyio's cancellation checkpoints.
        if group is None or group.cancel_scope.cancel_called or not self.jobs:
            return
        if self.runners < self.limit:
            self.runners += 1
            group.start_soon(self._runner)

    async def _runner(self) -> None:
        run, jobs = self.run, self.jobs
        placed = self.account is None
        ran = False
        last: str | None = None  # the account of this runner's last job
        try:
            while jobs:
                job = jobs.popleft()
                tracker = JobTracker(run.progress, job, queued_at=self.queued_at, announced=True)
                # After its first job, a runner of placed jobs that would wait stops (one
                # always stays): there are more runners than room, and the room goes to
                # those waiting.
                give_up = placed and ran and self.runners > 1
                if not await run._one(tracker, prefer=last, give_up=give_up):
                    jobs.appendleft(job)
                    return
                ran, last = True, tracker.account
        finally:
            self.runners -= 1


# Envelopes of list answers: internal, only their items reach users.


@attrs.frozen(kw_only=True)
class _VoiceList:
    voice_list: tuple[Voice, ...] = ()
    total: int | None = None
    has_more: bool = False


@attrs.frozen(kw_only=True)
class _ClipList:
    audio_list: tuple[Clip, ...] = ()
    total: int | None = None
    has_more: bool = False


class CloneRun:
    """The results of :meth:`Client.clone_many`, as an async iterator and context manager.

    Attributes:
        progress: Live counts of the run.
        total: The number of jobs (and of results it will yield).
    """

    def __init__(self, client: Client, jobs: list[VoiceJob], progress: CloneProgress) -> None:
        self._client = client
        self._jobs = jobs
        self.progress = progress
        self.total = len(jobs)
        self._results: collections.deque[CloneResult] = collections.deque()
        #: What an idle ``__anext__`` awaits: set by the next result, or by the runner's end.
        self._wakeup: asyncio.Future[None] | None = None
        self._yielded = 0
        self._runner: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"CloneRun(total={self.total}, yielded={self._yielded})"

    def _start(self) -> None:
        if self._runner is None:
            # Every job counts as queued from the start; a job's tracker is made when a
            # runner takes it, so a big run allocates little before its first request.
            queued_at = time.time()
            placed: collections.deque[VoiceJob] = collections.deque()
            pinned: dict[str, collections.deque[VoiceJob]] = {}
            for job in self._jobs:
                account = job.pinned_account
                if account is None:
                    placed.append(job)
                else:
                    pinned.setdefault(account, collections.deque()).append(job)
            self.progress._add_all(self._jobs)
            # The voice counts first, so that they are not sent after the runners start;
            # only for jobs with nothing local to check: a bad sample sends nothing at all.
            self._client._shared.scheduler.count_ahead(
                account
                for account, queue in pinned.items()
                if any(not job.local_samples for job in queue)
            )
            self._runner = asyncio.ensure_future(self._run(placed, pinned, queued_at))
            self._runner.add_done_callback(lambda _: self._wake())

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def _run(
        self,
        placed: collections.deque[VoiceJob],
        pinned: dict[str, collections.deque[VoiceJob]],
        queued_at: float,
    ) -> None:
        scheduler = self._client._shared.scheduler
        pools = [
            _Pool(
                self,
                jobs,
                queued_at,
                account=account,
                # Jobs with nothing to upload are admitted only into a free clone slot:
                # more runners than slots would only wait.
                limit=scheduler.account_capacity(prefetch=any(job.local_samples for job in jobs)),
            )
            for account, jobs in pinned.items()
        ]
        held = _Pool(self, placed, queued_at, limit=scheduler.capacity) if placed else None
        # Jobs not yet taken by a runner count as waiting (``statistics()``); the pool of
        # placed jobs may also be asked for one more runner (``HeldBack.grow``). Only a run
        # with placed jobs registers one: each dispatch then looks for room to offer it.
        if held is not None:
            scheduler.hold(held)
        for pool in pools:
            scheduler.hold(pool)
        try:
            async with anyio.create_task_group() as group:
                for pool in [*pools, held] if held is not None else pools:
                    pool.group = group
                    for _ in range(min(len(pool), pool.limit)):
                        pool.grow()
        finally:
            if held is not None:
                held.group = None
                scheduler.unhold(held)
            for pool in pools:
                pool.group = None
                scheduler.unhold(pool)

    async def _one(
        self, tracker: JobTracker, *, prefer: str | None = None, give_up: bool = False
    ) -> bool:
        """Run one job to its result; False if ``give_up`` and it would have to wait."""
        voice: Voice | None = None
        error: Exception | None = None
        try:
            voice = await self._client._run_job(
                tracker.job, tracker, prefer=prefer, give_up=give_up
            )
        except NoRoomNow:
            return False
        except Exception as exc:  # one job's failure is its result, never the run's
            error = exc
        tracker.move(JobState.DONE if error is None else JobState.FAILED)
        self._results.append(
            CloneResult(
                tracker.job, voice, error, tracker.account, tracker.queued_at,
                tracker.started_at, time.time(),
            )
        )  # fmt: skip
        self._wake()
        return True

    def __aiter__(self) -> CloneRun:
        return self

    async def __anext__(self) -> CloneResult:
        if self._yielded >= self.total:
            raise StopAsyncIteration
        self._start()
        runner = self._runner
        assert runner is not None
        results = self._results
        while not results:
            if self._yielded >= self.total:  # another reader took the last one
                raise StopAsyncIteration
            if runner.done():  # it ended without a result for every job
                runner.result()  # raises what stopped it
                raise RuntimeError("clone_many ended before every job had a result")
            # One future per wait (shared by concurrent readers), set by the next result or
            # by the runner's end: no task and no asyncio.wait() per result.
            wakeup = self._wakeup
            if wakeup is None:
                wakeup = self._wakeup = asyncio.get_running_loop().create_future()
            try:
                await wakeup
            except asyncio.CancelledError:
                await self.aclose()
                raise
            finally:
                if self._wakeup is wakeup:
                    self._wakeup = None
        self._yielded += 1
        return results.popleft()

    async def __aenter__(self) -> CloneRun:
        self._start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel the jobs still running and wait until they have unwound."""
        runner = self._runner
        if runner is not None and not runner.done():
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
