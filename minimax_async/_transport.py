"""The only module that imports aiohttp: session, auth header, timeouts, proxy and TLS
settings, and the one place where aiohttp's errors become ours (chained with ``from``)."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import platform
import ssl as _ssl
import time
import urllib.request
from collections.abc import Mapping
from typing import Final, Literal
from urllib.parse import urlsplit

import aiohttp
import attrs
from aiohttp import hdrs

from ._exceptions import (
    ClientClosedError,
    ConfigurationError,
    ConnectError,
    ConnectionLostError,
    RequestTimeoutError,
    ResponseTooLargeError,
    TransportError,
)
from ._version import __version__
from ._wire import Redactor, WireRequest, clean_text

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "MAX_ERROR_BODY_BYTES",
    "SEND_RATE_FLOOR",
    "RawResponse",
    "SSLOption",
    "Transport",
    "check_proxy",
    "environment_proxy",
    "load_ssl",
    "make_transport",
    "user_agent",
]

#: Most bytes of a successful answer the client reads (the largest real one, a page of 500
#: system voices, is well under 1 MiB); past it, ResponseTooLargeError.
DEFAULT_MAX_RESPONSE_BYTES: Final = 8 * 1024 * 1024
#: Most bytes of an error answer read for its message; the rest is not read.
MAX_ERROR_BODY_BYTES: Final = 64 * 1024
#: Bytes read at a time, so that nothing past the limit is ever buffered.
_READ_CHUNK: Final = 64 * 1024
#: Timeouts are built once per (seconds, body size) for bodies up to this size (JSON
#: requests), at most _CACHED_TIMEOUTS of them; other requests build theirs.
_CACHED_TIMEOUT_BODY: Final = 4096
#: Answers with a Content-Length up to this (and no Content-Encoding) are read at once:
#: within every limit (MAX_ERROR_BODY_BYTES for error answers too).
_FAST_READ_LIMIT: Final = MAX_ERROR_BODY_BYTES
_CACHED_TIMEOUTS: Final = 512

logger = logging.getLogger("minimax_async")

#: Seconds for opening one connection: TCP, a proxy's CONNECT tunnel, the TLS handshake.
DEFAULT_CONNECT_TIMEOUT: Final = 10.0
#: Bytes per second a request body is given to be sent, over and above its ``timeout``
#: (64 KiB/s: a 20 MB upload may take 5 minutes more than a request without a body).
SEND_RATE_FLOOR: Final = 64 * 1024

#: Bodies larger than this are sent from a BytesIO (aiohttp's ``TOO_LARGE_BYTES_BODY``).
_RAW_BODY_LIMIT: Final = 2**20

#: What ``Client(ssl=...)`` takes: a context, a CA file path, ``False`` (no verification)
#: or ``None`` (the system's CAs).
SSLOption = _ssl.SSLContext | str | os.PathLike[str] | Literal[False] | None


def user_agent() -> str:
    """The ``User-Agent`` header: ``minimax-async/<version> aiohttp/<version> python/<version>``."""
    return (
        f"minimax-async/{__version__} aiohttp/{aiohttp.__version__} "
        f"python/{platform.python_version()}"
    )


def check_proxy(proxy: object, *, name: str = "proxy") -> str:
    """Check a proxy URL: ``http://`` or ``https://`` with a host (credentials allowed).

    Args:
        proxy: The URL.
        name: How errors name where it came from (``proxy``, ``HTTPS_PROXY``...).

    Returns:
        The URL.

    Raises:
        ConfigurationError: Not a string, another scheme, or no host. The message never
            repeats the URL (it may hold a password).
    """
    if not isinstance(proxy, str):
        raise ConfigurationError(f"{name} must be a URL string such as 'http://proxy:3128'")
    try:
        parts = urlsplit(proxy)
        host, _ = parts.hostname, parts.port
    except ValueError:
        raise ConfigurationError(f"{name} is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        scheme = repr(parts.scheme) if parts.scheme else "no scheme"
        raise ConfigurationError(
            f"{name} has {scheme}; only http:// and https:// proxies are supported "
            "(e.g. 'http://proxy:3128')"
        )
    if not host:
        raise ConfigurationError(f"{name} has no host (e.g. 'http://proxy:3128')")
    return proxy


def environment_proxy(base_url: str) -> str | None:
    """The proxy the environment names for ``base_url``, read once.

    ``HTTPS_PROXY`` (for an https base URL) or ``HTTP_PROXY`` (for http), lower case too;
    ``NO_PROXY`` bypasses hosts, as curl and requests read them. A value without a scheme
    means ``http://``.

    Raises:
        ConfigurationError: The variable holds something other than an http(s) proxy URL.
    """
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    proxies = urllib.request.getproxies_environment()
    found = proxies.get(parts.scheme)
    if not found or urllib.request.proxy_bypass(host):
        return None
    if "://" not in found:
        found = f"http://{found}"
    return check_proxy(found, name=f"the {parts.scheme.upper()}_PROXY environment variable")


def load_ssl(value: object) -> _ssl.SSLContext | bool:
    """Turn ``Client(ssl=...)`` into what aiohttp takes.

    Args:
        value: An ``ssl.SSLContext`` (used as is), a CA file path (``str`` or ``PathLike``:
            a PEM bundle that replaces the system's CAs), ``False`` (no verification) or
            ``None`` (the system's CAs).

    Returns:
        A context, ``True`` for aiohttp's default verification, or ``False``.

    Raises:
        ConfigurationError: Another type, or a CA file that is missing, unreadable or not PEM.
    """
    if value is None:
        return True
    if value is False:
        logger.warning(
            "ssl=False: TLS certificates are NOT verified; anyone on the network path can "
            "read and change the traffic, the API token included"
        )
        return False
    if isinstance(value, _ssl.SSLContext):
        return value
    if isinstance(value, (str, os.PathLike)) and not isinstance(value, bool):
        path = os.fspath(value)
        try:
            return _ssl.create_default_context(cafile=path)
        except FileNotFoundError:
            raise ConfigurationError(f"ssl: the CA file {path!r} does not exist") from None
        except (_ssl.SSLError, ValueError) as exc:  # SSLError is an OSError: first
            raise ConfigurationError(
                f"ssl: the CA file {path!r} holds no usable PEM certificate ({exc})"
            ) from None
        except OSError as exc:
            raise ConfigurationError(
                f"ssl: cannot read the CA file {path!r}: {exc.strerror or type(exc).__name__}"
            ) from None
    raise ConfigurationError(
        f"ssl must be an ssl.SSLContext, a CA file path or False, not {type(value).__name__}"
    )


def _payload(body: bytes | None) -> bytes | io.BytesIO | None:
    """A body over aiohttp's 1 MiB limit for raw bytes goes as a BytesIO: it is then
    written in chunks that let the event loop run between them (no ResourceWarning)."""
    if body is not None and len(body) > _RAW_BODY_LIMIT:
        return io.BytesIO(body)  # shares the bytes until written to; no copy
    return body


@attrs.frozen
class RawResponse:
    """An answer as it came: status, headers and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes = attrs.field(repr=False)


@attrs.define
class Transport:
    """An aiohttp session bound to one base URL and one API token.

    The session is created on first use, inside the running event loop, unless one of the
    user's own is given: then it is used as it is and never closed. The token and the
    ``User-Agent`` go with each request, never into a session's default headers.

    Args:
        base_url: e.g. ``"https://api.useapi.net/v1/minimax"`` (no trailing slash).
        token: The useapi.net API token; sent as a bearer header, never shown.
        connection_limit: Most connections open at once (own session only; 0: no limit).
            Requests beyond it wait for a connection outside every timeout.
        max_response_bytes: Most bytes of a successful answer read (decompressed).
        connect_timeout: Seconds for opening one connection (TCP, proxy tunnel, TLS).
        proxy: The proxy URL every request goes through, or ``None``.
        ssl: What ``load_ssl`` made of ``Client(ssl=...)``.
        session: The user's own session, or ``None``.
    """

    base_url: str
    _token: str = attrs.field(repr=False, alias="token")
    connection_limit: int = 100
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    # repr=False: a proxy URL may carry a password.
    proxy: str | None = attrs.field(default=None, repr=False)
    ssl: _ssl.SSLContext | bool = attrs.field(default=True, repr=False)
    _user_session: aiohttp.ClientSession | None = attrs.field(
        default=None, repr=False, alias="session"
    )
    _redactor: Redactor = attrs.field(init=False, repr=False)
    _session: aiohttp.ClientSession | None = attrs.field(default=None, init=False, repr=False)
    #: Own session with a connection limit: its connections, taken before aiohttp's timer
    #: starts, so that waiting for one counts against no timeout (nothing was sent yet).
    _connections: asyncio.Semaphore | None = attrs.field(default=None, init=False, repr=False)
    _closed: bool = attrs.field(default=False, init=False)
    _headers: dict[str, str] = attrs.field(init=False, repr=False)
    #: Timeouts by (seconds, body size), of bodies up to _CACHED_TIMEOUT_BODY bytes.
    _timeouts: dict[tuple[float, int], aiohttp.ClientTimeout] = attrs.field(
        factory=dict, init=False, repr=False
    )
    #: The headers with each body's content type, built once per type (not per request).
    _typed_headers: dict[str, dict[str, str]] = attrs.field(factory=dict, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._redactor = Redactor(self._token)

    @_headers.default
    def _make_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}", "User-Agent": user_agent()}

    @property
    def owns_session(self) -> bool:
        """Whether the session is this transport's own (closed by ``aclose``)."""
        return self._user_session is None

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called: a closed transport opens no session again."""
        return self._closed

    def _open(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None:
            if self._closed:
                raise ClientClosedError("the client is closed")
            session = self._user_session
            if session is None:
                session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=self.connection_limit, ssl=self.ssl),
                    # The JSON is parsed once by the converter; no aiohttp decoding wanted.
                    auto_decompress=True,
                    raise_for_status=False,
                    # The environment's proxy was read once, by the client (trust_env):
                    # aiohttp's own lookup would cost two thread hops per request and
                    # could add ~/.netrc credentials next to the bearer token.
                    trust_env=False,
                )
                if self.connection_limit:
                    self._connections = asyncio.Semaphore(self.connection_limit)
            self._session = session
        return session

    def _timeout(self, seconds: float, body: bytes | None) -> aiohttp.ClientTimeout:
        """``seconds`` bounds the server's silence once the request is sent (sock_read);
        opening is bounded by ``connect_timeout``; the whole exchange by their sum plus
        the body's sending allowance (``SEND_RATE_FLOOR``)."""
        size = len(body) if body else 0
        key = (seconds, size)
        found = self._timeouts.get(key)
        if found is None:
            found = aiohttp.ClientTimeout(
                total=self.connect_timeout + seconds + size / SEND_RATE_FLOOR,
                sock_connect=self.connect_timeout,
                sock_read=seconds,
            )
            # JSON bodies come in a few sizes; samples' sizes vary without end: keep few.
            if size <= _CACHED_TIMEOUT_BODY and len(self._timeouts) < _CACHED_TIMEOUTS:
                self._timeouts[key] = found
        return found

    async def send(self, request: WireRequest, *, timeout: float) -> RawResponse:
        """Send one request and read the answer, up to its size limit.

        The answer's body comes back with the token scrubbed out (a gateway may echo it).
        Redirects are not followed (the API never redirects; a 3xx is an error answer).
        Errors chain a plain exception that holds what aiohttp's said, scrubbed, without
        the request headers aiohttp's exceptions carry.

        Args:
            request: What to send.
            timeout: Seconds the server may stay silent once the request is sent: before
                the answer starts, and between its chunks. Opening the connection has
                ``connect_timeout``; the whole exchange at most ``connect_timeout +
                timeout`` plus one second per ``SEND_RATE_FLOOR`` bytes of body. Waiting
                for a free connection (own session, ``connection_limit``) counts against
                none of these: nothing has been sent yet.

        Raises:
            ConnectError: The connection could not be opened (within ``connect_timeout``,
                through the proxy, or the server's certificate was not trusted); nothing
                was sent.
            ConnectionLostError: The connection broke; the server may have acted.
            RequestTimeoutError: The server was silent longer than ``timeout``, or the
                whole exchange took longer than its bound.
            ResponseTooLargeError: A 2xx answer longer than ``max_response_bytes``.
        """
        session = self._open()
        started = time.perf_counter()
        failure: tuple[TransportError, Exception] | None = None
        # A request waiting for one of the connections has sent nothing: it waits here,
        # outside aiohttp's total timeout, which would otherwise count the wait and turn a
        # request never sent into an ambiguous RequestTimeoutError. (A session of the
        # user's own keeps its pool waits inside the timeout: such a timeout stays
        # ambiguous, the safe reading.)
        connections = self._connections
        if connections is not None:
            await connections.acquire()
        # The typed error is raised after the except block, not in it: raised there, it
        # would keep aiohttp's exception (request headers, token included) as __context__.
        try:
            async with session.request(
                request.method,
                f"{self.base_url}/{request.path}",
                params=request.params or None,
                data=_payload(request.body),
                headers=self._headers_for(request.content_type),
                timeout=self._timeout(timeout, request.body),
                allow_redirects=False,
                proxy=self.proxy,
                ssl=self.ssl,
                raise_for_status=False,
                auto_decompress=True,
            ) as response:
                status = response.status
                answer_headers = response.headers
                body = await self._body(request, response)
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            failure = self._failure(exc, request, timeout)
        finally:
            if connections is not None:
                connections.release()
        if failure is not None:
            error, cause = failure
            raise error from cause
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s account=%s -> %d in %.3f s",
                request.method,
                request.endpoint,
                request.account,
                status,
                time.perf_counter() - started,
            )
        return RawResponse(status, answer_headers, self._redactor.body(body))

    def _headers_for(self, content_type: str | None) -> dict[str, str]:
        """The per-request headers (token, User-Agent), with the body's content type."""
        headers = self._headers
        if not content_type:
            return headers
        typed = self._typed_headers.get(content_type)
        if typed is None:
            typed = self._typed_headers[content_type] = {**headers, "Content-Type": content_type}
        return typed

    async def _body(self, request: WireRequest, response: aiohttp.ClientResponse) -> bytes:
        """The answer's body, within its limit (:meth:`_read`); in one read when its length
        is known, small, and not inflated by decompression (aiohttp stops at
        Content-Length), not a loop of chunks."""
        length = response.content_length
        if (
            length is not None
            and length <= _FAST_READ_LIMIT
            and length <= self.max_response_bytes
            and hdrs.CONTENT_ENCODING not in response.headers
        ):
            return await response.read()
        return await self._read(request, response)

    def _failure(
        self, exc: BaseException, request: WireRequest, timeout: float
    ) -> tuple[TransportError, Exception]:
        """The typed error for what aiohttp raised, and the plain, scrubbed exception it
        chains (never aiohttp's own: it would carry the request headers).

        The order matters: aiohttp's connect timeout is a timeout, its certificate and
        proxy errors are connector errors, and every one of them is a ``ClientError``.
        """
        endpoint, account = request.endpoint, request.account
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return (
                ConnectError(
                    f"connecting timed out after {self.connect_timeout:g} s",
                    endpoint=endpoint,
                    account=account,
                ),
                TimeoutError(self._detail(exc)),
            )
        if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
            return (
                RequestTimeoutError(
                    f"no answer within {timeout:g} s", endpoint=endpoint, account=account
                ),
                TimeoutError(self._detail(exc)),
            )
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            reason = self._text(str(exc.certificate_error))
            return (
                ConnectError(
                    f"the server's TLS certificate was not trusted ({reason}); pass "
                    "Client(ssl=...) a CA file or an ssl.SSLContext that trusts it",
                    endpoint=endpoint,
                    account=account,
                ),
                OSError(reason),
            )
        if isinstance(exc, aiohttp.ClientProxyConnectionError):
            os_error = exc.os_error
            reason = self._text(str(os_error.strerror or os_error))
            return (
                ConnectError(
                    f"cannot connect to the proxy: {reason}", endpoint=endpoint, account=account
                ),
                OSError(os_error.errno, reason),
            )
        if isinstance(exc, aiohttp.ClientHttpProxyError):
            reason = f"{exc.status} {self._text(str(exc.message))}"
            return (
                ConnectError(
                    f"the proxy refused the tunnel: {reason}", endpoint=endpoint, account=account
                ),
                ConnectionError(reason),
            )
        if isinstance(exc, aiohttp.ClientConnectorError):
            os_error = exc.os_error
            reason = self._text(str(os_error.strerror or os_error))
            return ConnectError(
                f"cannot connect: {reason}", endpoint=endpoint, account=account
            ), OSError(os_error.errno, reason)
        detail = self._detail(exc)
        return ConnectionLostError(
            f"connection lost ({detail})", endpoint=endpoint, account=account
        ), ConnectionError(detail)

    async def _read(self, request: WireRequest, response: aiohttp.ClientResponse) -> bytes:
        """The body, read a chunk at a time and never buffered past its limit.

        A 2xx answer past ``max_response_bytes`` raises; an error answer is cut to its first
        :data:`MAX_ERROR_BODY_BYTES` (enough for its message).
        """
        status = response.status
        success = 200 <= status <= 299
        limit = (
            self.max_response_bytes
            if success
            else min(self.max_response_bytes, MAX_ERROR_BODY_BYTES)
        )
        length = response.content_length
        if success and length is not None and length > limit:
            response.close()
            raise ResponseTooLargeError(
                limit, endpoint=request.endpoint, account=request.account, status=status
            )
        body = bytearray()
        async for chunk in response.content.iter_chunked(_READ_CHUNK):
            body += chunk
            if len(body) > limit:
                response.close()
                if success:
                    raise ResponseTooLargeError(
                        limit, endpoint=request.endpoint, account=request.account, status=status
                    )
                del body[limit:]
                break
        return bytes(body)

    def _text(self, text: str) -> str:
        return clean_text(self._redactor.text(text))

    def _detail(self, exc: BaseException) -> str:
        """What an aiohttp error said, without the token: its class and message."""
        message = self._text(str(exc)) or "no detail"
        return f"{type(exc).__name__}: {message}"

    async def aclose(self) -> None:
        """Close the session and its connections (idempotent); a user's session is left
        open, as it came."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self.owns_session:
            await session.close()


def make_transport(
    base_url: str,
    token: str,
    *,
    connection_limit: int,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    connect_timeout: float,
    proxy: object,
    ssl: object,
    trust_env: bool,
    session: object,
) -> Transport:
    """Check the network options of ``Client(...)`` and build its transport.

    With ``session`` (the user's own), ``proxy`` and ``ssl`` still apply, per request;
    ``connection_limit`` does not (the session's connector has its own limit).

    Raises:
        ConfigurationError: A bad proxy URL or environment proxy, a bad ``ssl``, a
            ``connect_timeout`` that is not a positive number, a ``session`` that is not an
            open ``aiohttp.ClientSession``, or ``trust_env=False`` with a session created
            with ``trust_env=True`` (that session would read the environment anyway).
    """
    if (
        isinstance(connect_timeout, bool)
        or not isinstance(connect_timeout, (int, float))
        or not connect_timeout > 0
    ):
        raise ConfigurationError("connect_timeout must be a positive number of seconds")
    if not isinstance(trust_env, bool):
        raise ConfigurationError("trust_env must be True or False")
    if session is not None:
        if not isinstance(session, aiohttp.ClientSession):
            raise ConfigurationError(
                f"session must be an aiohttp.ClientSession, not {type(session).__name__}"
            )
        if session.closed:
            raise ConfigurationError("session is closed")
        if not trust_env and session.trust_env:
            raise ConfigurationError(
                "trust_env=False, but the session was created with trust_env=True and "
                "would read the proxy variables anyway: create it with trust_env=False"
            )
    if proxy is not None:
        chosen: str | None = check_proxy(proxy)
    else:
        chosen = environment_proxy(base_url) if trust_env else None
    return Transport(
        base_url,
        token,
        connection_limit,
        max_response_bytes,
        float(connect_timeout),
        proxy=chosen,
        ssl=load_ssl(ssl),
        session=session,
    )
