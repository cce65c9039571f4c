"""The fake server in a process of its own, so that the client's CPU time is measured alone.

A :class:`ServerProcess` starts :class:`~minimax_async.testing.FakeMiniMax` in a spawned
child process (its own interpreter, its own event loop, pinned to its own core when the
machine has two) and drives it over a pipe: read the record, close or open the clone gate.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Final, TypeVar

import attrs

from minimax_async.testing import CloneSpan, FakeMiniMax

T = TypeVar("T")

__all__ = [
    "PIN_ENV",
    "ServerConfig",
    "ServerProcess",
    "ServerSnapshot",
    "pin_to_cpu",
    "run_driven_child",
]

#: Seconds to wait for the child to start serving or to answer a command.
_START_TIMEOUT: Final = 60.0
_COMMAND_TIMEOUT: Final = 60.0
#: The core the server runs on (the client takes the other one).
SERVER_CPU: Final = 1
CLIENT_CPU: Final = 0


#: Set (to "1") by ``--pin``; spawned processes inherit it.
PIN_ENV: Final = "MINIMAX_BENCH_PIN"


def pin_to_cpu(cpu: int) -> bool:
    """Pin this process to one core if ``--pin`` asked for it and the core exists.

    Pinning keeps the client and the fake server off each other's core, but on a machine
    shared with other work it can also trap one of them behind a busy core, so it is opt-in.
    """
    setter = getattr(os, "sched_setaffinity", None)
    if os.environ.get(PIN_ENV) != "1" or setter is None or (os.cpu_count() or 1) <= cpu:
        return False
    setter(0, {cpu})
    return True


@attrs.frozen(kw_only=True)
class ServerConfig:
    """What the child's ``FakeMiniMax`` is built with (see its docstring)."""

    accounts: tuple[str, ...]
    clone_latency: float | tuple[float, float]
    max_voices_per_account: int
    max_parallel_clones: int = 2
    seed: int = 0
    retry_after: float = 1.0


@attrs.frozen(kw_only=True)
class ServerSnapshot:
    """The parts of the fake server's ``record`` the benchmarks read."""

    requests: dict[str, int]
    rejected_over_capacity: int
    max_clones_in_flight: dict[str, int]
    max_clones_in_flight_total: int
    voices_created: int
    uploads: int
    held: int
    cpu_seconds: float
    #: When each clone was in flight on the server (``record.clone_spans``).
    clone_spans: tuple[CloneSpan, ...] = ()


def _snapshot(fake: FakeMiniMax) -> ServerSnapshot:
    record = fake.record
    return ServerSnapshot(
        requests=dict(record.requests),
        rejected_over_capacity=record.rejected_over_capacity,
        max_clones_in_flight=dict(record.max_clones_in_flight),
        max_clones_in_flight_total=record.max_clones_in_flight_total,
        voices_created=len(record.voices_created),
        uploads=record.uploads,
        held=fake.gate.held(),
        cpu_seconds=os.times().user + os.times().system,
        clone_spans=tuple(record.clone_spans),
    )


async def _serve(conn: Connection, config: ServerConfig) -> None:
    fake = FakeMiniMax(
        accounts=config.accounts,
        clone_latency=config.clone_latency,
        max_voices_per_account=config.max_voices_per_account,
        max_parallel_clones=config.max_parallel_clones,
        seed=config.seed,
        retry_after=config.retry_after,
        system_voice_count=0,
    )
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[tuple[str, ...]] = asyncio.Queue()

    def readable() -> None:
        try:
            commands.put_nowait(conn.recv())
        except EOFError:  # the parent went away
            loop.remove_reader(conn.fileno())
            commands.put_nowait(("stop",))

    async with fake:
        conn.send(("ready", fake.base_url, fake.token))
        loop.add_reader(conn.fileno(), readable)
        while True:
            command = await commands.get()
            name = command[0]
            if name == "stop":
                break
            if name == "record":
                conn.send(_snapshot(fake))
            elif name == "reset":
                fake.record.reset()
                conn.send(None)
            elif name == "gate_close":
                fake.gate.close()
                conn.send(None)
            elif name == "gate_open":
                fake.gate.open()
                conn.send(None)
            elif name == "wait_held":
                await fake.gate.wait_held(int(command[1]))
                conn.send(None)
            else:  # pragma: no cover - a bug in this module
                conn.send(ValueError(f"unknown command {name!r}"))
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(conn.fileno())
    conn.send(("stopped",))


def _child(conn: Connection, config: ServerConfig) -> None:
    pin_to_cpu(SERVER_CPU)
    asyncio.run(_serve(conn, config))


class ServerProcess:
    """A ``FakeMiniMax`` served by a child process; use it as a (sync) context manager.

    Args:
        config: The fake server's settings.
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._conn: Connection | None = None
        self._process: Any = None
        self.base_url = ""
        self.token = ""

    @property
    def accounts(self) -> Sequence[str]:
        """The fake server's accounts."""
        return self.config.accounts

    def __enter__(self) -> ServerProcess:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_child, args=(child, self.config), daemon=True)
        process.start()
        child.close()
        if not parent.poll(_START_TIMEOUT):
            process.kill()
            raise RuntimeError("the fake server process did not start")
        _, self.base_url, self.token = parent.recv()
        self._conn, self._process = parent, process
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, process = self._conn, self._process
        self._conn = self._process = None
        if conn is None:
            return
        with contextlib.suppress(OSError, EOFError):
            conn.send(("stop",))
            if conn.poll(_COMMAND_TIMEOUT):
                conn.recv()
        conn.close()
        process.join(_COMMAND_TIMEOUT)
        if process.is_alive():  # pragma: no cover - a stuck child
            process.kill()
            process.join()

    def _call(self, *command: str) -> Any:
        conn = self._conn
        if conn is None:
            raise RuntimeError("the server process is not running")
        conn.send(command)
        if not conn.poll(_COMMAND_TIMEOUT):
            raise RuntimeError(f"the server process did not answer {command[0]!r}")
        answer = conn.recv()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def snapshot(self) -> ServerSnapshot:
        """The server's record now."""
        snapshot: ServerSnapshot = self._call("record")
        return snapshot

    def reset(self) -> None:
        """Forget the server's record (after a warm-up or set-up phase)."""
        self._call("reset")

    def gate_close(self) -> None:
        """Hold every clone admitted from now on."""
        self._call("gate_close")

    def gate_open(self) -> None:
        """Release the held clones and stop holding."""
        self._call("gate_open")

    async def wait_held(self, n: int) -> None:
        """Return once ``n`` clones are held at the gate (without blocking the loop)."""
        await asyncio.to_thread(self._call, "wait_held", str(n))


def run_driven_child(
    server: ServerProcess,
    target: Callable[..., None],
    args: tuple[Any, ...],
    result_type: type[T],
    *,
    label: str,
    held: int = 0,
    timeout: float = 600.0,
) -> T:
    """Run ``target(conn, *args)`` in a spawned process that drives ``server`` over a pipe.

    The child may send ``"close gate"``, ``"open gate"`` or ``"wait held"`` (until ``held``
    clones are held), each answered with ``None`` when done; it ends by sending its result
    (a ``result_type``) or the exception that stopped it. The gate is open again afterwards.
    """
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=target, args=(child, *args), daemon=True)
    process.start()
    child.close()
    try:
        while True:
            if not parent.poll(timeout):
                raise RuntimeError(f"{label}: the child process is stuck")
            message = parent.recv()
            if message == "close gate":
                server.gate_close()
            elif message == "open gate":
                server.gate_open()
            elif message == "wait held":
                asyncio.run(server.wait_held(held))
            elif isinstance(message, Exception):
                raise message
            elif isinstance(message, result_type):
                return message
            else:
                raise RuntimeError(f"{label}: unexpected message {message!r}")
            parent.send(None)
    finally:
        parent.close()
        process.join(timeout)
        if process.is_alive():  # pragma: no cover - a stuck child
            process.kill()
        server.gate_open()
