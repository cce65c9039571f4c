"""A byte-level hostile server: a proxy in front of ``FakeMiniMax`` that mangles answers.

Requests go through to the real fake server (so it records and acts: a clone creates its
voice), unless a rule says otherwise; a rule then answers with whatever bytes it likes, from
a well-formed but lying answer to a broken status line, a drip, or a closed socket. Raw
asyncio streams only: nothing here parses HTTP more than a hostile server would.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import zlib
from collections.abc import Awaitable, Callable
from typing import Final

import attrs

__all__ = ["Answer", "HostileProxy", "Request", "Rule", "Upstream", "http_answer"]

#: Most seconds a drip or a huge body keeps the connection busy (bounds every case).
MAX_STALL: Final = 5.0
_CHUNK: Final = 64 * 1024


@attrs.frozen
class Request:
    """One request as the proxy read it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def authorization(self) -> str:
        """The request's Authorization header (what an echoing gateway sends back)."""
        return self.headers.get("authorization", "")


@attrs.frozen
class Upstream:
    """The real fake server's answer: status, header lines and body."""

    status: int
    headers: dict[str, str]
    body: bytes


#: How a rule answers: it writes raw bytes (or nothing) to the client.
Answer = Callable[[asyncio.StreamWriter, Request, "Upstream | None"], Awaitable[None]]


@attrs.define
class Rule:
    """Mangle the next ``times`` requests whose target contains ``path``.

    Attributes:
        path: A substring of the request target (``"audio/clone-voice"``).
        answer: What to send back.
        forward: Send the request to the real fake first (its effect happens).
        times: How many matching requests the rule takes.
        skip: Matching requests to let through untouched before the rule applies.
    """

    path: str
    answer: Answer
    forward: bool = True
    times: int = 1
    skip: int = 0


def http_answer(
    status: int | str,
    body: bytes,
    *,
    headers: dict[str, str] | None = None,
    content_length: int | None = None,
    reason: str = "Whatever",
) -> bytes:
    """The bytes of an answer; ``content_length`` may lie."""
    lines = [f"HTTP/1.1 {status} {reason}", "Connection: close"]
    extra = {"Content-Type": "application/json", **(headers or {})}
    if "Transfer-Encoding" not in extra:
        extra["Content-Length"] = str(len(body) if content_length is None else content_length)
    lines += [f"{k}: {v}" for k, v in extra.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class HostileProxy:
    """The proxy: start it, point a Client at :attr:`base_url`, add rules.

    Attributes:
        rules: Pending rules, oldest first.
        seen: Every request target that arrived, in order.
        mangled: How many requests a rule answered.
    """

    def __init__(self, upstream_base_url: str) -> None:
        host_port = upstream_base_url.split("//", 1)[1].split("/", 1)[0]
        host, port = host_port.rsplit(":", 1)
        self._upstream = (host, int(port))
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.rules: list[Rule] = []
        self.seen: list[str] = []
        self.mangled = 0

    @property
    def base_url(self) -> str:
        """The URL to give ``Client(base_url=...)``."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1/minimax"

    def add(self, rule: Rule) -> None:
        """Queue a rule."""
        self.rules.append(rule)

    async def __aenter__(self) -> HostileProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        await self._server.wait_closed()

    def _take(self, target: str) -> Rule | None:
        for rule in self.rules:
            if rule.path in target:
                if rule.skip:
                    rule.skip -= 1
                    return None
                rule.times -= 1
                if rule.times == 0:
                    self.rules.remove(rule)
                return rule
        return None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await asyncio.wait_for(self._serve(reader, writer), MAX_STALL * 2)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        request = Request(method, target, headers, body)
        self.seen.append(target)
        rule = self._take(target)
        upstream = await self._forward(lines, body) if rule is None or rule.forward else None
        if rule is None:
            assert upstream is not None
            writer.write(_reencode(upstream))
            await writer.drain()
            return
        self.mangled += 1
        await rule.answer(writer, request, upstream)

    async def _forward(self, lines: list[str], body: bytes) -> Upstream:
        kept = [
            line
            for line in lines[1:]
            if line and not line.lower().startswith(("connection:", "accept-encoding:"))
        ]
        head = "\r\n".join([lines[0], *kept, "Connection: close"]) + "\r\n\r\n"
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        try:
            up_writer.write(head.encode("latin-1") + body)
            await up_writer.drain()
            raw = await up_reader.read()
        finally:
            up_writer.close()
            with contextlib.suppress(Exception):
                await up_writer.wait_closed()
        answer_head, _, answer_body = raw.partition(b"\r\n\r\n")
        answer_lines = answer_head.decode("latin-1").split("\r\n")
        status = int(answer_lines[0].split(" ", 2)[1])
        answer_headers: dict[str, str] = {}
        for line in answer_lines[1:]:
            name, _, value = line.partition(":")
            answer_headers[name.strip()] = value.strip()
        if answer_headers.get("Transfer-Encoding", "").lower() == "chunked":
            answer_body = _unchunk(answer_body)
        return Upstream(status, answer_headers, answer_body)


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


def _reencode(upstream: Upstream) -> bytes:
    content_type = upstream.headers.get("Content-Type", "application/json")
    return http_answer(upstream.status, upstream.body, headers={"Content-Type": content_type})


# ---------------------------------------------------------------------------- answers


def raw(data: bytes) -> Answer:
    """Send these bytes, then close."""

    async def answer(writer: asyncio.StreamWriter, _: Request, __: Upstream | None) -> None:
        writer.write(data)
        await writer.drain()

    return answer


def status_body(status: int, body: bytes, content_type: str = "application/json") -> Answer:
    """A well-formed answer with this status and body."""
    return raw(http_answer(status, body, headers={"Content-Type": content_type}))


def huge(status: int, total: int, unit: bytes, *, chunked: bool = False) -> Answer:
    """A ``total``-byte body of ``unit`` repeated, streamed in 64 KiB writes."""

    async def answer(writer: asyncio.StreamWriter, _: Request, __: Upstream | None) -> None:
        headers = {"Content-Type": "text/html"}
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        writer.write(http_answer(status, b"", headers=headers, content_length=total))
        block = (unit * (_CHUNK // len(unit) + 1))[:_CHUNK]
        sent = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + MAX_STALL
        while sent < total and loop.time() < deadline:
            writer.write(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)
            await writer.drain()
            sent += len(block)
        if chunked:
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    return answer


def drip(status: int, body: bytes, every: float) -> Answer:
    """Headers at once, then the body one byte per ``every`` seconds."""

    async def answer(writer: asyncio.StreamWriter, _: Request, __: Upstream | None) -> None:
        writer.write(http_answer(status, b"", content_length=len(body)))
        await writer.drain()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + MAX_STALL
        for byte in body:
            if loop.time() > deadline:
                return
            await asyncio.sleep(every)
            writer.write(bytes([byte]))
            await writer.drain()

    return answer


def transformed(change: Callable[[Upstream], bytes]) -> Answer:
    """The real answer, re-encoded by ``change`` (gzip, chunks, a lying length...)."""

    async def answer(writer: asyncio.StreamWriter, _: Request, upstream: Upstream | None) -> None:
        assert upstream is not None
        writer.write(change(upstream))
        await writer.drain()

    return answer


def echo(status: int, template: str, *, status_line: str | None = None) -> Answer:
    """Answer with the request's Authorization in the body (``{auth}``) and in headers."""

    async def answer(writer: asyncio.StreamWriter, request: Request, _: Upstream | None) -> None:
        auth = request.authorization
        body = template.replace("{auth}", auth).replace("{token}", auth.removeprefix("Bearer "))
        data = http_answer(
            status,
            body.encode(),
            headers={
                "Content-Type": "application/json" if body.startswith("{") else "text/html",
                "X-Echo-Authorization": auth,
                "Set-Cookie": f"session={auth.removeprefix('Bearer ')}",
            },
        )
        if status_line is not None:
            data = (
                status_line.replace("{token}", auth.removeprefix("Bearer ")).encode()
                + (data[data.index(b"\r\n") :])
            )
        writer.write(data)
        await writer.drain()

    return answer


def gzipped(upstream: Upstream) -> bytes:
    """The real answer, gzip-encoded."""
    return http_answer(
        upstream.status, gzip.compress(upstream.body), headers={"Content-Encoding": "gzip"}
    )


def chunked(upstream: Upstream) -> bytes:
    """The real answer in three chunks."""
    body = upstream.body
    thirds = [
        body[: len(body) // 3],
        body[len(body) // 3 : 2 * len(body) // 3],
        body[2 * len(body) // 3 :],
    ]
    encoded = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in thirds if p) + b"0\r\n\r\n"
    return http_answer(upstream.status, encoded, headers={"Transfer-Encoding": "chunked"})


def gzip_bomb(size: int) -> bytes:
    """A gzip stream that inflates to ``size`` zero bytes (about size/1000 compressed)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1024 * 1024)
    parts = [compressor.compress(block) for _ in range(size // len(block))]
    return b"".join(parts) + compressor.flush()
