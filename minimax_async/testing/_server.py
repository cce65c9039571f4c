"""``FakeMiniMax``: an in-process aiohttp server enforcing the useapi.net MiniMax audio contract."""

from __future__ import annotations

import copy
import enum
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import attrs
from aiohttp import web

from minimax_async.testing import _accounts, _tts, _voices
from minimax_async.testing._faults import ENDPOINTS, Fault, FaultPlan
from minimax_async.testing._http import ApiError, Call, error_response, read_fields
from minimax_async.testing._state import AccountState, ServerState, parse_audio_id

if TYPE_CHECKING:
    import ssl
    from types import TracebackType

    from minimax_async.testing._gate import CloneGate
    from minimax_async.testing._record import ServerRecord

__all__ = ["BASE_PATH", "FakeMiniMax"]

#: Path prefix of every route, as on ``https://api.useapi.net``.
BASE_PATH = "/v1/minimax"
_HOST = "127.0.0.1"
# How long shutdown waits for handlers that are neither sleeping nor held at the gate.
_SHUTDOWN_TIMEOUT_S = 5.0
# Large enough for a 60 s WAV at CD quality; the official MiniMax upload limit is 20 MB.
_MAX_BODY_BYTES = 20 * 1024 * 1024
_DEFAULT_STATUS_MESSAGES = {
    412: "Account {account} cannot be used: it has no active audio subscription",
    596: "Account {account} is on hold, try again in a few hours or delete and add it again",
}

_Handler = Callable[[ServerState, Call], Awaitable[web.StreamResponse]]


class _AccountFrom(enum.Enum):
    NONE = enum.auto()  # no account (account listing and creation)
    PATH = enum.auto()  # /accounts/{account}; unknown ones answer the plain-text 404
    QUERY = enum.auto()  # ?account=
    BODY = enum.auto()  # the account field of a JSON or form body
    AUDIO_ID = enum.auto()  # embedded in the {audio_id} path segment


class _Body(enum.Enum):
    NONE = enum.auto()
    FIELDS = enum.auto()  # JSON object or form
    RAW = enum.auto()  # raw bytes (upload-sample)


@attrs.frozen
class _Endpoint:
    name: str
    method: str
    path: str
    handler: _Handler
    account_from: _AccountFrom
    body: _Body = _Body.NONE


_ENDPOINTS: tuple[_Endpoint, ...] = (
    _Endpoint("accounts", "GET", "/accounts", _accounts.list_accounts, _AccountFrom.NONE),
    _Endpoint("account", "GET", "/accounts/{account}", _accounts.get_account, _AccountFrom.PATH),
    _Endpoint(
        "create-account",
        "POST",
        "/accounts",
        _accounts.create_account,
        _AccountFrom.NONE,
        _Body.FIELDS,
    ),
    _Endpoint(
        "delete-account",
        "DELETE",
        "/accounts/{account}",
        _accounts.delete_account,
        _AccountFrom.PATH,
    ),
    _Endpoint("config", "GET", "/audio/config", _voices.get_config, _AccountFrom.QUERY),
    _Endpoint("voices", "GET", "/audio/voices", _voices.list_voices, _AccountFrom.QUERY),
    _Endpoint(
        "upload-sample",
        "POST",
        "/audio/upload-sample",
        _voices.upload_sample,
        _AccountFrom.QUERY,
        _Body.RAW,
    ),
    _Endpoint(
        "clone-voice",
        "POST",
        "/audio/clone-voice",
        _voices.clone_voice,
        _AccountFrom.BODY,
        _Body.FIELDS,
    ),
    _Endpoint(
        "delete-voice",
        "POST",
        "/audio/delete-voice",
        _voices.delete_voice,
        _AccountFrom.BODY,
        _Body.FIELDS,
    ),
    _Endpoint(
        "create-mp3", "POST", "/audio/create-mp3", _tts.create_mp3, _AccountFrom.BODY, _Body.FIELDS
    ),
    _Endpoint(
        "create-stream",
        "POST",
        "/audio/create-stream",
        _tts.create_stream,
        _AccountFrom.BODY,
        _Body.FIELDS,
    ),
    _Endpoint("audio-list", "GET", "/audio", _tts.list_audio, _AccountFrom.QUERY),
    _Endpoint("audio", "GET", "/audio/{audio_id}", _tts.get_audio, _AccountFrom.AUDIO_ID),
    _Endpoint(
        "delete-audio", "DELETE", "/audio/{audio_id}", _tts.delete_audio, _AccountFrom.AUDIO_ID
    ),
)
assert {endpoint.name for endpoint in _ENDPOINTS} == ENDPOINTS


def _still_configured(state: ServerState, endpoint: _Endpoint, account: str | None) -> str | None:
    if account is None or endpoint.account_from is _AccountFrom.PATH:
        return account
    return state.resolve(account)


async def _unknown_route(request: web.Request) -> web.StreamResponse:
    return error_response(404, f"Not found: {request.method} {request.path}")


class FakeMiniMax:
    """A fake useapi.net MiniMax v1 audio API, served in-process on ``127.0.0.1``.

    It enforces the documented contract (token, account selection, sample format and
    length, ``files`` as one comma-joined string, at most ``max_voices_per_account``
    cloned voices, at most ``max_parallel_clones`` clones in flight per account, text
    limits), records what it saw in ``record``, lets tests hold clones at ``gate``, and
    injects the faults of ``faults``. Use it as an async context manager::

        async with FakeMiniMax(accounts=("100001", "100002")) as fake:
            client = Client(token=fake.token, base_url=fake.base_url)

    Args:
        token: The API token requests must carry (``user:<number>-<alphanumeric>``).
        accounts: The configured MiniMax accounts.
        max_voices_per_account: Cloned-voice slots per account.
        max_parallel_clones: Clones processed at once per account; more answer 429.
        clone_latency: Seconds a clone takes, or a ``(low, high)`` range drawn uniformly
            from a generator seeded with ``seed``.
        request_latency: Extra seconds for every endpoint other than clone-voice.
        seed: Seed of the system-voice catalogue and of the latency draws.
        retry_after: Seconds sent as ``Retry-After`` with the over-capacity 429.
        system_voice_count: Size of the generated system-voice catalogue.
        cancel_on_disconnect: Cancel a handler when its client disconnects. By default,
            like the real service, a clone whose client went away still completes and
            occupies a slot.
        ssl_context: Serve HTTPS with this server-side context (e.g. from a throwaway CA
            made with ``trustme``); ``base_url`` then starts with ``https://``.

    Raises:
        ValueError: Malformed token or out-of-range setting.
    """

    def __init__(
        self,
        *,
        token: str = "user:1234-FakeToken0123456789",
        accounts: Sequence[str] = ("100001",),
        max_voices_per_account: int = 4,
        max_parallel_clones: int = 2,
        clone_latency: float | tuple[float, float] = (10.0, 60.0),
        request_latency: float = 0.0,
        seed: int = 0,
        retry_after: float = 1.0,
        system_voice_count: int = 1200,
        cancel_on_disconnect: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if isinstance(accounts, str):
            raise ValueError("accounts must be a sequence of account ids, not one string")
        if max_voices_per_account < 0 or max_parallel_clones < 1 or system_voice_count < 0:
            raise ValueError(
                "max_voices_per_account and system_voice_count must not be negative, "
                "max_parallel_clones must be at least 1"
            )
        latencies = clone_latency if isinstance(clone_latency, tuple) else (clone_latency,)
        if min((*latencies, request_latency, retry_after)) < 0:
            raise ValueError("latencies and retry_after must not be negative")
        self._state = ServerState(
            token=token,
            accounts=accounts,
            max_voices_per_account=max_voices_per_account,
            max_parallel_clones=max_parallel_clones,
            clone_latency=clone_latency,
            request_latency=request_latency,
            seed=seed,
            retry_after=retry_after,
            system_voice_count=system_voice_count,
        )
        self._faults = FaultPlan()
        self._cancel_on_disconnect = cancel_on_disconnect
        self._ssl_context = ssl_context
        self._app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> FakeMiniMax:
        """Start the server; see ``start``."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the server; see ``close``."""
        await self.close()

    async def start(self) -> None:
        """Start serving on ``127.0.0.1`` on a free port.

        Raises:
            RuntimeError: Already started.
        """
        if self._runner is not None:
            raise RuntimeError("FakeMiniMax is already running")
        self._state.gate._reset_loop()
        runner = web.AppRunner(
            self.app(),
            access_log=None,
            handle_signals=False,
            handler_cancellation=self._cancel_on_disconnect,
            shutdown_timeout=_SHUTDOWN_TIMEOUT_S,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, _HOST, 0, ssl_context=self._ssl_context)
            await site.start()
            address = runner.addresses[0]
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(address[1])

    async def close(self) -> None:
        """Stop serving: cut held and sleeping handlers short, close every connection.

        A clone cut short creates no voice. Closing a stopped server does nothing.
        """
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._state.cancel_slow()
        await runner.cleanup()

    def app(self) -> web.Application:
        """Return the aiohttp application, for mounting it in another server.

        Returns:
            The application (the same one on every call).
        """
        if self._app is None:
            app = web.Application(client_max_size=_MAX_BODY_BYTES)
            for endpoint in _ENDPOINTS:
                handler = self._make_handler(endpoint)
                path = BASE_PATH + endpoint.path
                app.router.add_route(endpoint.method, path, handler)
                app.router.add_route(endpoint.method, path + "/", handler)
            # Last resort, so that unknown routes answer the JSON envelope too.
            app.router.add_route("*", "/{tail:.*}", _unknown_route)
            self._app = app
        return self._app

    # -- public state ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API base URL, ``http://127.0.0.1:<port>/v1/minimax`` (no trailing slash;
        ``https://`` with ``ssl_context``).

        Raises:
            RuntimeError: The server is not running.
        """
        if self._port is None or self._runner is None:
            raise RuntimeError("FakeMiniMax is not running; use 'async with' or start()")
        scheme = "http" if self._ssl_context is None else "https"
        return f"{scheme}://{_HOST}:{self._port}{BASE_PATH}"

    @property
    def token(self) -> str:
        """The API token requests must carry."""
        return self._state.token

    @property
    def user_id(self) -> str:
        """The user number of the token (``user:<number>-...``)."""
        return self._state.user_id

    @property
    def accounts(self) -> tuple[str, ...]:
        """The currently configured accounts, in configuration order."""
        return tuple(self._state.accounts)

    @property
    def record(self) -> ServerRecord:
        """What the server saw; see ``ServerRecord``."""
        return self._state.record

    @property
    def gate(self) -> CloneGate:
        """The gate that can hold admitted clones; see ``CloneGate``."""
        return self._state.gate

    @property
    def faults(self) -> FaultPlan:
        """The injected faults; see ``FaultPlan``."""
        return self._faults

    def voices(self, account: str) -> list[dict[str, object]]:
        """Return copies of the cloned voices currently on ``account``.

        Args:
            account: A configured account.

        Returns:
            The voices as wire objects, oldest first.

        Raises:
            KeyError: Unknown account.
        """
        return copy.deepcopy(list(self._account(account).voices.values()))

    def add_voice(
        self, account: str, voice_name: str, *, language_tag: str = "English"
    ) -> dict[str, object]:
        """Add a voice as if cloned by hand in the web UI; it occupies a slot.

        Such voices are not listed in ``record.voices_created``.

        Args:
            account: A configured account.
            voice_name: The voice's name.
            language_tag: Its language tag.

        Returns:
            A copy of the voice's wire object.

        Raises:
            KeyError: Unknown account.
            ValueError: The account has no free slot.
        """
        info = self._account(account)
        if len(info.voices) >= self._state.max_voices_per_account:
            raise ValueError(f"account {account} has no free voice slot")
        voice = self._state.make_voice(account, voice_name, language_tag, "", cloned=False)
        return copy.deepcopy(voice)

    def set_account_status(
        self, account: str, status: int | None, message: str | None = None
    ) -> None:
        """Make every request for ``account`` answer ``status`` (e.g. 596 on hold, 412).

        The answer is ``{"error": message, "code": status}``; the account object of
        GET /accounts then carries ``error``. ``None`` restores normal service.

        Args:
            account: A configured account.
            status: The HTTP status to answer, or ``None``.
            message: The ``error`` text; a status-specific default when ``None``.

        Raises:
            KeyError: Unknown account.
        """
        info = self._account(account)
        if status is None:
            info.status = None
            return
        if message is None:
            template = _DEFAULT_STATUS_MESSAGES.get(status, "Account {account} is unavailable")
            message = template.format(account=account)
        info.status = (status, message)

    def set_clone_limit(self, account: str, limit: int | None) -> None:
        """Make ``account`` run at most ``limit`` clones at once (more answer 429).

        For an account whose upstream runs fewer parallel clones than the server's
        ``max_parallel_clones``; ``None`` restores the server-wide limit.

        Args:
            account: A configured account.
            limit: Clones processed at once (at least 1), or ``None``.

        Raises:
            KeyError: Unknown account.
            ValueError: ``limit`` is below 1.
        """
        if limit is not None and limit < 1:
            raise ValueError("limit must be at least 1")
        self._account(account).clone_limit = limit

    def _account(self, account: str) -> AccountState:
        try:
            return self._state.accounts[account]
        except KeyError:
            raise KeyError(f"account {account!r} is not configured") from None

    # -- request pipeline ------------------------------------------------------------

    def _make_handler(
        self, endpoint: _Endpoint
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._dispatch(endpoint, request)

        return handle

    async def _dispatch(self, endpoint: _Endpoint, request: web.Request) -> web.StreamResponse:
        state = self._state
        record = state.record
        name = endpoint.name
        record.requests[name] += 1
        record.user_agents[request.headers.get("User-Agent", "")] += 1
        if request.headers.get("Authorization") != state.auth_header:
            record.requests_by_account[(name, None)] += 1
            return error_response(401, "Unauthorized")
        try:
            call = await self._prepare(endpoint, request)
        except ApiError as exc:
            record.requests_by_account[(name, None)] += 1
            return exc.response()
        account = call.account
        record.requests_by_account[(name, account)] += 1
        if account is not None and endpoint.account_from is not _AccountFrom.PATH:
            status = state.accounts[account].status
            if status is not None:
                return error_response(status[0], status[1])
        fault = self._faults.take(name, account)
        if fault is not None and not fault.after_effect:
            record._fault_applied(name, fault)
            early = await self._apply_fault(request, fault)
            if early is not None:
                return early
        if name != "clone-voice" and state.request_latency > 0:
            await state.sleep(state.request_latency)
        try:
            if fault is not None or state.request_latency > 0:
                # The account may have been deleted while this request was delayed.
                call.account = _still_configured(state, endpoint, account)
            response = await endpoint.handler(state, call)
        except ApiError as exc:
            response = exc.response()
        if fault is not None and fault.after_effect and 200 <= response.status < 300:
            record._fault_applied(name, fault)
            replaced = await self._apply_fault(request, fault)
            if replaced is not None:
                return replaced
        return response

    async def _prepare(self, endpoint: _Endpoint, request: web.Request) -> Call:
        """Read the body and resolve the account; raises ApiError for bad input."""
        state = self._state
        fields: dict[str, object] = {}
        is_form = False
        raw = b""
        if endpoint.body is _Body.FIELDS:
            fields, is_form = await read_fields(request)
            if endpoint.name == "clone-voice":
                state.record.clone_bodies.append(dict(fields))
        elif endpoint.body is _Body.RAW:
            try:
                raw = await request.read()
            except web.HTTPRequestEntityTooLarge as exc:
                raise ApiError(413, "Request body is too large") from exc
        account: str | None = None
        source = endpoint.account_from
        if source is _AccountFrom.PATH:
            path_account = request.match_info["account"]
            account = path_account if path_account in state.accounts else None
        elif source is _AccountFrom.QUERY:
            account = state.resolve(request.query.get("account") or None)
        elif source is _AccountFrom.BODY:
            requested = fields.get("account")
            if requested is not None and not isinstance(requested, str):
                raise ApiError(400, "Parameter account must be a string")
            account = state.resolve(requested or None)
        elif source is _AccountFrom.AUDIO_ID:
            parsed = parse_audio_id(request.match_info["audio_id"])
            requested = parsed[1] if parsed else request.query.get("account") or None
            account = state.resolve(requested)
        return Call(request, endpoint.name, account, fields, is_form, raw)

    async def _apply_fault(self, request: web.Request, fault: Fault) -> web.StreamResponse | None:
        """Answer with ``fault`` (after its delay); ``None`` when it only delays."""
        await self._state.sleep(fault.delay)
        if fault.drop:
            # Close the socket under the request; writing the answer then fails quietly
            # inside aiohttp and the client sees the connection end without a reply.
            request.protocol.force_close()
            return web.Response(status=200)
        if fault.body is not None:
            body = fault.body.encode() if isinstance(fault.body, str) else fault.body
            response = web.Response(
                status=fault.status or 200, body=body, headers={"Content-Type": fault.content_type}
            )
        elif fault.status is not None:
            response = error_response(fault.status, fault.message)
        else:
            return None
        if fault.retry_after is not None:
            response.headers["Retry-After"] = fault.retry_after
        return response
