"""``Client``: the public surface, one thin coroutine per API operation.

It checks arguments, resolves accounts and wires the layers together; the work is done by
the units it composes, each handed its collaborators:

- :mod:`._lifecycle`: the client's state and the guard through which ``aclose()`` ends
  operations;
- :mod:`._sending`: one request, its answer parsed, the account reactions, the retries;
- :mod:`._uploads`: sample checks and (``reuse_uploads``) the upload cache;
- :mod:`._cloning`: the clone engine (429 back-pressure, adoption, job placement);
- :mod:`._clone_run`: ``clone_many``'s runner pools;
- :mod:`._scheduler`: who waits and who goes, and where.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

import anyio
import attrs

if TYPE_CHECKING:
    import aiohttp

from ._accounts import PREFETCH_PER_ACCOUNT
from ._bulk import CloneProgress, JobTracker, VoiceJob
from ._capacity import VoiceSlots
from ._checks import (
    check_account_arg,
    check_accounts,
    check_base_url,
    check_count,
    check_flag,
    check_path_id,
    check_sample_source,
    check_seconds,
    check_token,
)
from ._clone_run import CloneRun
from ._cloning import ADOPTION_CLOCK_SKEW, DEFAULT_RECHECK_DELAY, Cloner
from ._converter import shared_converter
from ._coordinator import Coordinator, CoordinatorFactory
from ._exceptions import ClientClosedError, ConfigurationError, ValidationError
from ._lifecycle import ClientState, Operations
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
from ._retry import RetryPolicy
from ._samples import LocalSample, SampleSource, load_sample
from ._scheduler import (
    MAX_PARALLEL_CLONES_PER_ACCOUNT,
    MAX_VOICES_PER_ACCOUNT,
    CloneScheduler,
    CloneStatistics,
)
from ._sending import Options, Sender
from ._transport import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RESPONSE_BYTES,
    SSLOption,
    make_transport,
)
from ._uploads import SampleChecks, UploadCache, gather_first_error
from ._wire import (
    DEFAULT_CLIPS_PAGE_SIZE,
    DEFAULT_VOICES_PAGE_SIZE,
    NoBody,
    WireRequest,
    _ClipList,
    _VoiceList,
    accounts_request,
    audio_list_request,
    clip_request,
    config_request,
    create_mp3_request,
    create_stream_request,
    delete_clip_request,
    delete_voice_request,
    get_account_request,
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


class _Page(Protocol):
    """An envelope of a paged listing (``_wire._VoiceList``, ``_wire._ClipList``)."""

    @property
    def has_more(self) -> bool:
        """Whether another page follows."""


PageT = TypeVar("PageT", bound=_Page)

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
#: Connections for everything but the clone queue's own traffic (listings, uploads and
#: syntheses the application starts itself); see :func:`default_connection_limit`.
DEFAULT_CONNECTION_LIMIT: Final = 100
#: The error of every queued clone when the client closes.
_CLOSED_MESSAGE: Final = "the client was closed"


def default_connection_limit(accounts: int, max_parallel_clones: int) -> int:
    """The connection pool a client gets unless told otherwise.

    Each account may have its clones and one prefetched upload on the wire at once; on
    top of those, :data:`DEFAULT_CONNECTION_LIMIT` for everything else. With aiohttp's
    usual 100, a run on more than about 33 accounts queued its clones for connections
    (measured in benchmark 7: 4.0x the makespan bound at 200 accounts, against 1.11).
    """
    return DEFAULT_CONNECTION_LIMIT + accounts * (max_parallel_clones + PREFETCH_PER_ACCOUNT)


def _check_base_url(base_url: str, name: str = "base_url") -> str:
    return check_base_url(base_url, name)


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
            the session's connector has its own limit); ``0`` for no limit. By default
            :data:`DEFAULT_CONNECTION_LIMIT` plus room for every account's clones and its
            prefetched upload, so that the clone queue never waits for a connection (a
            request waiting for one spends its timeout there, and a clone that times out
            that way looks ambiguous to the client).
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
        coordinator: ``None`` (the default): the limits hold within this client, in memory.
            A :class:`minimax_async.fleet.RedisCoordinator` (extra ``minimax_async[redis]``):
            they hold for every process on its namespace (FIFO, clone slots, voice slots,
            429 and 596/412 handling, one live job per name, adoption after a crash), and
            ``clone_statistics()`` shows fleet-wide figures. It fails closed:
            :class:`~minimax_async.CoordinatorUnavailableError` when Redis is unreachable.

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
        connection_limit: int | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        proxy: str | None = None,
        ssl: SSLOption = None,
        trust_env: bool = True,
        session: aiohttp.ClientSession | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        coordinator: CoordinatorFactory | None = None,
    ) -> None:
        token = token if token is not None else os.environ.get(TOKEN_ENV_VAR)
        if not token:
            raise ConfigurationError(
                f"no API token: pass Client(token=...) or set the {TOKEN_ENV_VAR} "
                "environment variable"
            )
        token = check_token(token)
        check_seconds("timeout", timeout)
        check_seconds("clone_timeout", clone_timeout)
        check_seconds("account_cooldown", account_cooldown, allow_zero=True)
        check_seconds("recheck_delay", recheck_delay, allow_zero=True)
        check_seconds("lowered_cap_for", lowered_cap_for, allow_zero=True)
        check_count("lower_cap_after", lower_cap_after)
        if connection_limit is not None:
            check_count("connection_limit", connection_limit, minimum=0)  # 0: no limit
        check_count("max_response_bytes", max_response_bytes)
        check_flag("reuse_uploads", reuse_uploads)
        if max_voices_per_account is not None:
            check_count("max_voices_per_account", max_voices_per_account)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
        if isinstance(max_parallel_clones, bool) or max_parallel_clones not in (1, 2):
            raise ConfigurationError(
                f"max_parallel_clones is {max_parallel_clones!r}; the API runs 1 or 2 "
                "clones at once per account"
            )
        if max_voices_per_account is not None and max_voices_per_account < 1:
            raise ConfigurationError("max_voices_per_account must be at least 1 (or None)")
        if timeout <= 0 or clone_timeout <= 0:
            raise ConfigurationError("timeout and clone_timeout must be positive")
        if coordinator is not None and not callable(getattr(coordinator, "scheduler", None)):
            raise ConfigurationError(
                "coordinator must be a minimax_async.fleet.RedisCoordinator (or None), not "
                f"{type(coordinator).__name__}"
            )
        account_list = check_accounts(accounts)
        base_url_name = "base_url"
        if base_url is None:
            base_url = os.environ.get(BASE_URL_ENV_VAR) or DEFAULT_BASE_URL
            base_url_name = BASE_URL_ENV_VAR
        converter = shared_converter()
        self._options = Options(timeout, clone_timeout, retry or RetryPolicy())
        #: A view made by with_options: the client that made it owns the lifecycle.
        self._is_view = False
        self._converter = converter
        self._max_parallel_clones = max_parallel_clones
        self._max_voices = max_voices_per_account
        self._accounts = account_list
        #: The configured ids, for the clone path's one-lookup account check.
        self._account_set: frozenset[str] = frozenset(account_list or ())
        self._operations = Operations()
        self._transport = make_transport(
            _check_base_url(base_url, base_url_name),
            token,
            connection_limit=(
                connection_limit
                if connection_limit is not None
                else default_connection_limit(len(account_list or ()) or 1, max_parallel_clones)
            ),
            max_response_bytes=max_response_bytes,
            connect_timeout=connect_timeout,
            proxy=proxy,
            ssl=ssl,
            trust_env=trust_env,
            session=session,
        )
        self._assemble(
            max_voices_per_account=max_voices_per_account,
            account_cooldown=account_cooldown,
            recheck_delay=recheck_delay,
            lower_cap_after=lower_cap_after,
            lowered_cap_for=lowered_cap_for,
            reuse_uploads=reuse_uploads,
            coordinator=coordinator,
        )

    def _assemble(
        self,
        *,
        coordinator: CoordinatorFactory | None,
        max_voices_per_account: int | None,
        account_cooldown: float,
        recheck_delay: float,
        lower_cap_after: int,
        lowered_cap_for: float,
        reuse_uploads: bool,
    ) -> None:
        """Build the units the client composes, each handed its collaborators."""
        base_options, converter = self._options, self._converter

        async def count_voices(account: str | None) -> int:
            return await cloner.count_voices(account, base_options)

        async def list_voices(account: str | None) -> list[Voice]:
            return await cloner.counted_listing(account, base_options)

        scheduler: Coordinator[Any]
        if coordinator is None:
            scheduler = CloneScheduler(
                accounts=self._accounts,
                max_parallel=self._max_parallel_clones,
                max_voices=max_voices_per_account,
                count_voices=count_voices,
                cap_lowering_strikes=lower_cap_after,
                cap_lowered_for=lowered_cap_for,
            )
        else:  # one process of a fleet (minimax_async.fleet)
            scheduler = coordinator.scheduler(
                accounts=self._accounts,
                max_parallel=self._max_parallel_clones,
                max_voices=max_voices_per_account,
                list_voices=list_voices,
                cap_lowering_strikes=lower_cap_after,
                cap_lowered_for=lowered_cap_for,
                account_cooldown=account_cooldown,
                clone_timeout=self._options.clone_timeout,
                recheck_delay=recheck_delay,
            )
        self._scheduler = scheduler
        self._sender = sender = Sender(self._transport, converter, scheduler, account_cooldown)
        self._uploads = uploads = UploadCache(self._upload_now, reuse=reuse_uploads)
        self._cloner = cloner = Cloner(
            sender=sender,
            converter=converter,
            scheduler=scheduler,
            operations=self._operations,
            checks=SampleChecks(),
            uploads=uploads,
            recheck_delay=recheck_delay,
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
        return self._transport.base_url

    @property
    def accounts(self) -> tuple[str, ...] | None:
        """The configured accounts, or ``None`` in single-account mode."""
        return self._accounts

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
        return self._operations.state is not ClientState.OPEN

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
        operations = self._operations
        if self._is_view or operations.state is ClientState.CLOSED:
            return
        scheduler = self._scheduler
        if wait:
            operations.close()
        else:
            scheduler.fail_all(lambda: ClientClosedError(_CLOSED_MESSAGE))
            operations.abort()
        # Operations end (or, without wait, unwind) before the session goes.
        await operations.wait_idle()
        await scheduler.aclose()  # fails what is still queued; ends its background counts
        await self._uploads.aclose()  # shared uploads no job waits for any more
        await self._transport.aclose()
        operations.closed()

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
            if value is not None:
                check_seconds(name, value)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
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
        """In-flight and waiting clone counts, per account and overall (with a fleet
        coordinator: fleet-wide, from a snapshot at most about a second old)."""
        return self._scheduler.statistics()

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
        return await self._cloner.clone(request, account, self._options)

    async def list_cloned_voices(self, *, account: str | None = None) -> list[Voice]:
        """Every cloned voice of an account (GET audio/voices?is_system=false)."""
        account = self._check_account(account, "list_cloned_voices", required=False)
        return await self._guarded(self._cloner.list_voices(account, self._options))

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
            targets: list[str | None] = list(self._accounts or [None])
        else:
            if isinstance(accounts, str):
                raise ValidationError("accounts", "must be a list of account ids, not one string")
            targets = list(dict.fromkeys(accounts))
        checked = [self._check_account(a, "free_voice_slots", required=False) for a in targets]
        limit = self._max_voices if self._max_voices is not None else MAX_VOICES_PER_ACCOUNT
        list_voices = partial(self._cloner.list_voices, options=self._options)
        lists = await self._guarded(
            gather_first_error([partial(list_voices, account) for account in checked])
        )
        return [
            VoiceSlots(account, limit, tuple(voices))
            for account, voices in zip(checked, lists, strict=True)
        ]

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
        check_count("page_size", page_size, error=ValidationError)
        if not (tag_list is None or isinstance(tag_list, str)) and not all(
            isinstance(tag, str) for tag in tag_list
        ):
            raise ValidationError("tag_list", "must be a string or a sequence of strings")
        tags = tag_list if isinstance(tag_list, str) or tag_list is None else ",".join(tag_list)
        pages = self._pages(
            lambda n: system_voices_request(account, page=n, page_size=page_size, tag_list=tags),
            _VoiceList,
            lambda page: page.voice_list,
        )
        async with contextlib.aclosing(pages):
            async for voice in pages:
                yield voice

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
        await self._guarded(self._send(delete_voice_request(voice_id, account), NoBody))
        self._cloner.deleted(voice_id)

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
        if isinstance(jobs, (str, bytes)) or not isinstance(jobs, Iterable):
            raise ValidationError("jobs", f"must be an iterable of VoiceJob, not {jobs!r:.40}")
        job_list = list(jobs)
        for job in job_list:
            if not isinstance(job, VoiceJob):
                raise ValidationError("jobs", f"expected VoiceJob items, got {type(job).__name__}")
        return CloneRun(
            self._run_job,
            self._scheduler,
            job_list,
            progress if progress is not None else CloneProgress(),
        )

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
            voice = await self._cloner.clone(job, account, self._options, lease=True)
        key = self._cloner.counted_voices.get(voice.voice_id or "")
        try:
            yield voice
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    if voice.voice_id:
                        await self.delete_voice(voice.voice_id, account=voice.account)
                finally:
                    self._scheduler.end_lease(key)

    async def _run_job(
        self,
        job: VoiceJob,
        tracker: JobTracker,
        *,
        lease: bool = False,
        prefer: str | None = None,
        give_up: bool = False,
    ) -> Voice:
        """One bulk job (the :class:`._clone_run.JobRunner` of ``clone_many``)."""
        pinned = job.pinned_account
        if pinned is not None or (self._accounts is not None and len(self._accounts) == 1):
            pinned = self._check_account(pinned, "clone_from_samples")
        return await self._cloner.run_job(
            job, tracker, self._options, pinned=pinned, lease=lease, prefer=prefer, give_up=give_up
        )

    async def _upload_now(self, account: str | None, sample: LocalSample) -> str:
        wire = upload_sample_request(account, sample.data, sample.content_type)
        return (await self._send(wire, UploadedSample)).file_id

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
        check_sample_source(source)
        if content_type is not None and not isinstance(content_type, str):
            raise ValidationError("content_type", f"must be a string, not {content_type!r}")
        sample = await load_sample(source, content_type=content_type)
        wire = upload_sample_request(account, sample.data, sample.content_type)
        return await self._guarded(self._send(wire, UploadedSample))

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
        return await self._guarded(self._send(wire, Clip))

    async def create_stream(self, request: CreateStreamRequest) -> AudioStream:
        """Start streamed speech of up to 5000 characters (POST audio/create-stream).

        Returns:
            The ``token`` and ``payload`` for the WSS endpoint.
        """
        target = self._check_account(request.target_account, "create_stream")
        wire = create_stream_request(self._converter, request, target)
        return await self._guarded(self._send(wire, AudioStream))

    async def iter_clips(
        self, *, account: str | None = None, page_size: int = DEFAULT_CLIPS_PAGE_SIZE
    ) -> AsyncIterator[Clip]:
        """Every generated clip of an account (GET audio/), page by page."""
        account = self._check_account(account, "iter_clips", required=False)
        check_count("page_size", page_size, error=ValidationError)
        pages = self._pages(
            lambda n: audio_list_request(account, page=n, page_size=page_size),
            _ClipList,
            lambda page: page.audio_list,
        )
        async with contextlib.aclosing(pages):
            async for clip in pages:
                yield clip

    async def get_clip(self, audio_id: str) -> Clip:
        """One generated clip (GET audio/{audio_id})."""
        check_path_id("audio_id", audio_id)
        wire = clip_request(audio_id, account_from_id(audio_id))
        return await self._guarded(self._send(wire, Clip))

    async def delete_clip(self, audio_id: str) -> None:
        """Delete a generated clip (DELETE audio/{audio_id}; idempotent)."""
        check_path_id("audio_id", audio_id)
        wire = delete_clip_request(audio_id, account_from_id(audio_id))
        await self._guarded(self._send(wire, NoBody))

    # ------------------------------------------------------------------ accounts, config

    async def get_config(self, *, account: str | None = None) -> AudioConfig:
        """The emotion and voice-tag vocabularies (GET audio/config)."""
        account = self._check_account(account, "get_config", required=False)
        return await self._guarded(self._send(config_request(account), AudioConfig))

    async def list_accounts(self) -> list[Account]:
        """Every MiniMax account configured at useapi.net (GET accounts), by id."""
        accounts = await self._guarded(self._send(accounts_request(), dict[str, Account]))
        return [
            account if account.account else attrs.evolve(account, account=key)
            for key, account in sorted(accounts.items())
        ]

    async def get_account(self, account: str) -> Account:
        """One configured account (GET accounts/{account}).

        Raises:
            NotFoundError: The account is not configured.
        """
        check_path_id("account", account)
        return await self._guarded(self._send(get_account_request(account), Account))

    # ------------------------------------------------------------------ plumbing

    def _check_account(
        self, account: str | None, operation: str, *, required: bool = True
    ) -> str | None:
        if type(account) is str and account in self._account_set:
            # A configured id was checked when it was configured: one lookup (hot path).
            self._operations.check_open(operation)
            return account
        account = check_account_arg(account)
        self._operations.check_open(operation)
        accounts = self._accounts
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
        if account not in self._account_set:
            raise ValidationError(
                "account",
                f"{account!r} is not one of the configured accounts ({', '.join(accounts)})",
            )
        return account

    async def _pages(
        self,
        request: Callable[[int], WireRequest],
        envelope: type[PageT],
        items: Callable[[PageT], Sequence[T]],
    ) -> AsyncGenerator[T, None]:
        """Every item of a paged listing, page by page while the API says ``has_more``."""
        number = 1
        while True:
            page = await self._guarded(self._send(request(number), envelope))
            found = items(page)
            for item in found:
                yield item
            if not page.has_more or not found:
                return
            number += 1

    def _guarded(self, operation: Awaitable[T]) -> Awaitable[T]:
        return self._operations.guarded(operation)

    def _send(self, wire: WireRequest, model: type[T]) -> Awaitable[T]:
        return self._sender.send_retrying(wire, model, self._options)
