"""Real network parts for the tests: a throwaway CA (``trustme``) for the fake server over TLS,
and a real HTTP proxy (``tinyproxy``) started as a child process on 127.0.0.1.

The proxy writes its own log in the test's tmp folder; ``TinyProxy.requests()`` reads back
the request lines it logged (``GET http://...`` for plain http, ``CONNECT host:port`` for the
tunnels of https), which is how a test proves from the proxy's side that requests went
through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import attrs
import trustme

from tests._real import require

__all__ = ["TinyProxy", "server_context", "start_tinyproxy", "trusting_context"]

#: How tinyproxy logs each request line it received from a client.
_REQUEST_LINE: Final = re.compile(r"Request \(file descriptor \d+\): (\S+ \S+) HTTP/1\.\d")
_START_ATTEMPTS: Final = 3
_READY_POLLS: Final = 250  # x 20 ms: up to 5 s for tinyproxy to listen


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server-side context with a certificate for ``127.0.0.1`` issued by ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


def trusting_context(ca: trustme.CA) -> ssl.SSLContext:
    """A client-side context that trusts ``ca`` (and nothing else)."""
    return ssl.create_default_context(cadata=ca.cert_pem.bytes().decode())


@attrs.define
class TinyProxy:
    """A running tinyproxy: its URL and its log."""

    url: str
    log: Path

    def requests(self) -> list[str]:
        """The request lines the proxy logged so far, e.g. ``"CONNECT 127.0.0.1:4433"``."""
        if not self.log.exists():
            return []
        return _REQUEST_LINE.findall(self.log.read_text(encoding="utf-8", errors="replace"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _listening(port: int, process: asyncio.subprocess.Process) -> bool:
    for _ in range(_READY_POLLS):
        if process.returncode is not None:
            return False
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return True
        await asyncio.sleep(0.02)
    return False


@contextlib.asynccontextmanager
async def start_tinyproxy(
    folder: Path, *, basic_auth: tuple[str, str] | None = None
) -> AsyncIterator[TinyProxy]:
    """Start tinyproxy on a free port of 127.0.0.1, its config and log in ``folder``; stop it
    at the end. Skips (fails under ``MINIMAX_ASYNC_REQUIRE_REAL=1``) without tinyproxy.

    Args:
        folder: Where its config and log go.
        basic_auth: ``(user, password)`` the proxy requires (407 without them).
    """
    binary = require("tinyproxy", "apt-get install tinyproxy")
    os.makedirs(folder, exist_ok=True)
    for attempt in range(_START_ATTEMPTS):
        port = _free_port()
        log = folder / f"tinyproxy-{attempt}.log"
        config = folder / f"tinyproxy-{attempt}.conf"
        config.write_text(
            f"Port {port}\n"
            "Listen 127.0.0.1\n"
            "Timeout 60\n"
            f'LogFile "{log}"\n'
            "LogLevel Info\n"
            "MaxClients 64\n"
            "Allow 127.0.0.1\n"
            + (f"BasicAuth {basic_auth[0]} {basic_auth[1]}\n" if basic_auth else ""),
            encoding="utf-8",
        )
        process = await asyncio.create_subprocess_exec(
            binary,
            "-d",
            "-c",
            str(config),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            if await _listening(port, process):
                proxy = TinyProxy(f"http://127.0.0.1:{port}", log)
                # The readiness probe was a connection without a request: not in requests().
                yield proxy
                return
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 5)
                except asyncio.TimeoutError:
                    process.kill()
                    await process.wait()
    raise RuntimeError(f"tinyproxy did not start in {_START_ATTEMPTS} attempts (see {folder})")
