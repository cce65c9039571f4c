"""The only module that imports aiohttp: session, auth header, timeouts, and the one place
where aiohttp's errors become ours (chained with ``from``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

import aiohttp
import attrs

from ._exceptions import ConnectError, ConnectionLostError, RequestTimeoutError
from ._wire import WireRequest

__all__ = ["RawResponse", "Transport"]

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
    """

    base_url: str
    _token: str = attrs.field(repr=False, alias="token")
    connection_limit: int = 100
    _session: aiohttp.ClientSession | None = attrs.field(default=None, init=False, repr=False)
    _closed: bool = attrs.field(default=False, init=False)
    _timeouts: dict[float, aiohttp.ClientTimeout] = attrs.field(
        factory=dict, init=False, repr=False
    )

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
        """Send one request and read the whole answer.

        Args:
            request: What to send.
            timeout: Seconds for the whole exchange (connect, send, wait, read).

        Raises:
            ConnectError: The connection could not be opened; nothing was sent.
            ConnectionLostError: The connection broke; the server may have acted.
            RequestTimeoutError: The exchange took longer than ``timeout``.
        """
        session = self._open()
        headers = {"Content-Type": request.content_type} if request.content_type else None
        started = time.perf_counter()
        try:
            async with session.request(
                request.method,
                f"{self.base_url}/{request.path}",
                params=request.params or None,
                data=request.body,
                headers=headers,
                timeout=self._timeout(timeout),
            ) as response:
                body = await response.read()
                status = response.status
                answer_headers = response.headers
        except aiohttp.ConnectionTimeoutError as exc:
            raise ConnectError(
                f"connecting timed out after {timeout:g} s",
                endpoint=request.endpoint,
                account=request.account,
            ) from exc
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise RequestTimeoutError(
                f"no answer within {timeout:g} s",
                endpoint=request.endpoint,
                account=request.account,
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise ConnectError(
                f"cannot connect: {exc.os_error.strerror or exc.os_error}",
                endpoint=request.endpoint,
                account=request.account,
            ) from exc
        except aiohttp.ClientError as exc:
            raise ConnectionLostError(
                f"connection lost ({type(exc).__name__}: {exc or 'no detail'})",
                endpoint=request.endpoint,
                account=request.account,
            ) from exc
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s account=%s -> %d in %.3f s",
                request.method,
                request.endpoint,
                request.account,
                status,
                time.perf_counter() - started,
            )
        return RawResponse(status, answer_headers, body)

    async def aclose(self) -> None:
        """Close the session and its connections (idempotent)."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()
