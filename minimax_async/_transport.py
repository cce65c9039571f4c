"""The only module that imports aiohttp: session, auth header, timeouts, and the one place
where aiohttp's errors become ours (chained with ``from``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Final

import aiohttp
import attrs

from ._exceptions import (
    ConnectError,
    ConnectionLostError,
    RequestTimeoutError,
    ResponseTooLargeError,
    TransportError,
)
from ._wire import Redactor, WireRequest, clean_text

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "MAX_ERROR_BODY_BYTES", "RawResponse", "Transport"]

#: Most bytes of a successful answer the client reads (the largest real one, a page of 500
#: system voices, is well under 1 MiB); past it, ResponseTooLargeError.
DEFAULT_MAX_RESPONSE_BYTES: Final = 8 * 1024 * 1024
#: Most bytes of an error answer read for its message; the rest is not read.
MAX_ERROR_BODY_BYTES: Final = 64 * 1024
#: Bytes read at a time, so that nothing past the limit is ever buffered.
_READ_CHUNK: Final = 64 * 1024

logger = logging.getLogger("minimax_async")


@attrs.frozen
class RawResponse:
    """An answer as it came: status, headers and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes = attrs.field(repr=False)


@attrs.define
class Transport:
    """An aiohttp session bound to one base URL and one API token.

    The session is created on first use, inside the running event loop.

    Args:
        base_url: e.g. ``"https://api.useapi.net/v1/minimax"`` (no trailing slash).
        token: The useapi.net API token; sent as a bearer header, never shown.
        connection_limit: Most connections open at once.
        max_response_bytes: Most bytes of a successful answer read (decompressed).
    """

    base_url: str
    _token: str = attrs.field(repr=False, alias="token")
    connection_limit: int = 100
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    _redactor: Redactor = attrs.field(init=False, repr=False)
    _session: aiohttp.ClientSession | None = attrs.field(default=None, init=False, repr=False)
    _closed: bool = attrs.field(default=False, init=False)
    _timeouts: dict[float, aiohttp.ClientTimeout] = attrs.field(
        factory=dict, init=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        self._redactor = Redactor(self._token)

    def _open(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None:
            session = self._session = aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {self._token}"},
                connector=aiohttp.TCPConnector(limit=self.connection_limit),
                # The JSON is parsed once by the converter; no aiohttp decoding wanted.
                auto_decompress=True,
                raise_for_status=False,
            )
        return session

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        found = self._timeouts.get(seconds)
        if found is None:
            found = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        return found

    async def send(self, request: WireRequest, *, timeout: float) -> RawResponse:
        """Send one request and read the answer, up to its size limit.

        The answer's body comes back with the token scrubbed out (a gateway may echo it).
        Redirects are not followed (the API never redirects; a 3xx is an error answer).
        Errors chain a plain exception that holds what aiohttp's said, scrubbed, without
        the request headers aiohttp's exceptions carry.

        Args:
            request: What to send.
            timeout: Seconds for the whole exchange (connect, send, wait, read).

        Raises:
            ConnectError: The connection could not be opened; nothing was sent.
            ConnectionLostError: The connection broke; the server may have acted.
            RequestTimeoutError: The exchange took longer than ``timeout``.
            ResponseTooLargeError: A 2xx answer longer than ``max_response_bytes``.
        """
        session = self._open()
        headers = {"Content-Type": request.content_type} if request.content_type else None
        started = time.perf_counter()
        failure: TransportError | None = None
        cause: Exception | None = None
        # The typed error is raised after the except blocks, not in them: raised there, it
        # would keep aiohttp's exception (request headers, token included) as __context__.
        try:
            async with session.request(
                request.method,
                f"{self.base_url}/{request.path}",
                params=request.params or None,
                data=request.body,
                headers=headers,
                timeout=self._timeout(timeout),
                allow_redirects=False,
            ) as response:
                status = response.status
                answer_headers = response.headers
                body = await self._read(request, response)
        except aiohttp.ConnectionTimeoutError as exc:
            failure = ConnectError(
                f"connecting timed out after {timeout:g} s",
                endpoint=request.endpoint,
                account=request.account,
            )
            cause = TimeoutError(self._detail(exc))
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            failure = RequestTimeoutError(
                f"no answer within {timeout:g} s",
                endpoint=request.endpoint,
                account=request.account,
            )
            cause = TimeoutError(self._detail(exc))
        except aiohttp.ClientConnectorError as exc:
            os_error = exc.os_error
            failure = ConnectError(
                f"cannot connect: {self._text(str(os_error.strerror or os_error))}",
                endpoint=request.endpoint,
                account=request.account,
            )
            cause = OSError(os_error.errno, self._text(str(os_error.strerror or os_error)))
        except aiohttp.ClientError as exc:
            detail = self._detail(exc)
            failure = ConnectionLostError(
                f"connection lost ({detail})", endpoint=request.endpoint, account=request.account
            )
            cause = ConnectionError(detail)
        if failure is not None:
            raise failure from cause
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
        """Close the session and its connections (idempotent)."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()
