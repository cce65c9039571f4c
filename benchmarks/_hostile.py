"""Benchmark 8: hostile bodies take time linear in their size (or bounded).

Time per MB of a hostile body at 1, 4 and 16 MB, for what the client does with one: the
message of an error answer (a run of ``<`` once took a quadratic regex 1.5 s at 40 KB), the
check of a 2xx answer that is not JSON, the token scrub of a body full of JSON escapes, and
the whole exchange through the real client against a raw asyncio server. Linear shows as a
flat time per MB; bounded (only a prefix is read) as a time per MB that falls with size.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Final

import attrs

from minimax_async import Client, MiniMaxError
from minimax_async._converter import shared_converter
from minimax_async._models import Voice
from minimax_async._wire import (
    Redactor,
    WireRequest,
    cloned_voices_request,
    error_from_response,
    parse_response,
)

__all__ = ["HostileResult", "render_hostile", "run_hostile"]

SIZES_MB: Final = (1, 4, 16)
_MB: Final = 1024 * 1024
_TOKEN: Final = "user:4242-BenchTokenSecret0123456789abcdef"


@attrs.frozen
class HostileResult:
    """One body kind at one size: the best time of a few repeats."""

    kind: str
    megabytes: int
    seconds: float

    @property
    def ms_per_mb(self) -> float:
        """Milliseconds per MB of body."""
        return 1000 * self.seconds / self.megabytes


def _bodies(megabytes: int) -> dict[str, tuple[Callable[[bytes], object], bytes]]:
    size = megabytes * _MB
    wire: WireRequest = cloned_voices_request("100001")
    converter = shared_converter()

    def error_text(body: bytes) -> object:
        return error_from_response(wire, 502, {}, body).message

    def check_2xx(body: bytes) -> object:
        try:
            return parse_response(converter, wire, 200, {}, body, Voice)
        except MiniMaxError as exc:
            return exc

    redactor = Redactor(_TOKEN)
    return {
        "502 page of '<' (message)": (error_text, b"<" * size),
        "502 of unclosed tags (message)": (error_text, b"<a " * (size // 3)),
        "long JSON error field (message)": (
            error_text,
            b'{"error": "' + b"x" * (size - 20) + b'", "code": 500}',
        ),
        "2xx invalid JSON (shape check)": (check_2xx, b'{"voice_list": [' + b"1," * (size // 2)),
        "2xx nesting of '[' (shape check)": (check_2xx, b"{" + b"[" * (size - 1)),
        "token scrub of \\u escapes": (redactor.body, b"\\u0041" * (size // 6)),
    }


def _best(call: Callable[[bytes], object], body: bytes, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        call(body)
        best = min(best, time.perf_counter() - started)
    return best


async def _exchange(megabytes: int, repeats: int) -> float:
    """One GET through the real client; the server answers a 2xx body of garbage."""
    body = b'{"voice_list": [' + b"<" * (megabytes * _MB)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        writer.write(head.encode() + body)
        try:
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    best = float("inf")
    try:
        async with Client(
            token=_TOKEN,
            base_url=f"http://127.0.0.1:{port}/v1/minimax",
            accounts=["100001"],
            max_response_bytes=64 * _MB,
            timeout=60.0,
        ) as client:
            for _ in range(repeats):
                started = time.perf_counter()
                with contextlib.suppress(MiniMaxError):
                    await client.list_cloned_voices()
                best = min(best, time.perf_counter() - started)
    finally:
        server.close()
        await server.wait_closed()
    return best


def run_hostile(*, quick: bool, progress: Callable[[str], None] = print) -> list[HostileResult]:
    """Time each body kind at 1, 4 and 16 MB (best of 3; of 1 with ``quick``)."""
    repeats = 1 if quick else 3
    results = []
    for megabytes in SIZES_MB:
        for kind, (call, body) in _bodies(megabytes).items():
            results.append(HostileResult(kind, megabytes, _best(call, body, repeats)))
        seconds = asyncio.run(_exchange(megabytes, repeats))
        results.append(HostileResult("2xx garbage through the client", megabytes, seconds))
    for kind in dict.fromkeys(r.kind for r in results):
        row = [r for r in results if r.kind == kind]
        progress(
            f"  {kind}: " + ", ".join(f"{r.megabytes} MB {r.ms_per_mb:.2f} ms/MB" for r in row)
        )
    return results


def render_hostile(results: Sequence[HostileResult]) -> list[str]:
    """The results section of benchmark 8."""
    if not results:
        return []
    sizes = sorted({r.megabytes for r in results})
    lines = [
        "## 8. Hostile bodies",
        "",
        "Milliseconds per MB of body (best of the repeats): flat across sizes is linear "
        "time; falling is bounded (only a prefix is read or quoted). Nothing grows faster "
        "than the body (the tag regex this replaced took 1.5 s on 40 KB of '<').",
        "",
        "| body | " + " | ".join(f"{s} MB (ms/MB)" for s in sizes) + " | 16 MB / 1 MB |",
        "| --- | " + " | ".join("--:" for _ in sizes) + " | --: |",
    ]
    for kind in dict.fromkeys(r.kind for r in results):
        by_size = {r.megabytes: r for r in results if r.kind == kind}
        cells = " | ".join(f"{by_size[s].ms_per_mb:.3f}" if s in by_size else "" for s in sizes)
        first, last = by_size.get(sizes[0]), by_size.get(sizes[-1])
        ratio = f"{last.ms_per_mb / first.ms_per_mb:.2f}" if first and last else ""
        lines.append(f"| {kind} | {cells} | {ratio} |")
    return [*lines, ""]
