"""The client's lifecycle: its :class:`ClientState`, and the guard through which ``aclose()``
ends the operations under way.

Raw asyncio here, for a reason: ``aclose()`` ends a running operation by cancelling the
*task* that runs it and taking that cancellation back (``Task.uncancel``), so the task
carries on with :class:`ClientClosedError`. A cancel scope per operation would do the same
at 15-25 us and a task-state entry for each task of a big gather (measured); tasks are
registered instead, and ``aclose()`` is rare.
"""

from __future__ import annotations

import asyncio
import enum
import sys
from collections.abc import Awaitable
from typing import Final, TypeVar

from ._exceptions import ClientClosedError

__all__ = ["ClientState", "Operations"]

T = TypeVar("T")
#: A guarded operation's task, and its count of pending cancellations when it began.
_Guard = tuple["asyncio.Task[object]", int]

#: The message of the cancellation with which ``aclose()`` ends running operations.
_ABORTED: Final = "minimax_async: the client was closed"


class ClientState(enum.Enum):
    """Where a client is in its life. It only moves forward: OPEN, then CLOSING and/or
    ABORTING, then CLOSED."""

    #: Operations are accepted.
    OPEN = "open"
    #: ``aclose(wait=True)`` is under way: operations already started (queued or running)
    #: finish; new ones raise ClientClosedError.
    CLOSING = "closing"
    #: ``aclose()`` without wait is under way: queued operations have failed, running ones
    #: are being cancelled into ClientClosedError; nothing new starts.
    ABORTING = "aborting"
    #: ``aclose()`` has returned: no operation is under way, the background tasks are
    #: ended and the connections closed. Every operation raises ClientClosedError.
    CLOSED = "closed"


class Operations:
    """Which operations of a client are under way, and how ``aclose()`` ends them.

    An operation is *entered* (``enter``/``leave``) for its whole life, queued time
    included, so that ``aclose()`` waits for it (:meth:`wait_idle`); its network phases run
    *guarded* (:meth:`guarded`), so that ``aclose()`` without wait can cancel them
    (:meth:`abort`).
    """

    __slots__ = ("_idle", "aborted", "active", "running", "state")

    def __init__(self) -> None:
        self.state = ClientState.OPEN
        #: Operations under way (queued or running).
        self.active = 0
        #: Tasks running guarded operations (nesting depth each), for ``abort()`` to cancel;
        #: and the tasks it cancelled that have yet to turn that into ClientClosedError.
        self.running: dict[asyncio.Task[object], int] = {}
        self.aborted: set[asyncio.Task[object]] = set()
        self._idle: asyncio.Event | None = None

    @property
    def open(self) -> bool:
        """Whether new operations are accepted."""
        return self.state is ClientState.OPEN

    def check_open(self, operation: str | None = None) -> None:
        """Raise ClientClosedError unless new operations are accepted."""
        if self.state is not ClientState.OPEN:
            where = f"{operation}: " if operation else ""
            raise ClientClosedError(f"{where}the client is closed")

    # Operations call enter()/leave() rather than use a with-block: a with-block keeps a
    # bound __exit__ on every waiting frame (+80 B per queued job, measured).

    def enter(self) -> None:
        """An operation starts."""
        self.active += 1

    def leave(self) -> None:
        """An operation ends; the last one wakes a waiting ``aclose()``."""
        self.active -= 1
        if not self.active and self._idle is not None:
            self._idle.set()

    async def guarded(self, operation: Awaitable[T], *, started: bool = False) -> T:
        """Run an operation so that ``aclose()`` can end it with ClientClosedError.

        ``started``: the operation began before (it was queued), so ``aclose(wait=True)``
        lets it run; only ``aclose()`` without wait stops it. (The clone path does the same
        inline, with :meth:`begin`, :meth:`failed` and :meth:`end`: one coroutine frame
        fewer on every resume of its request.)
        """
        try:
            guard = self.begin(started=started)
        except ClientClosedError:
            if asyncio.iscoroutine(operation):
                operation.close()
            raise
        try:
            return await operation
        except BaseException as exc:
            self.failed(guard, exc)
            raise
        finally:
            self.end(guard)

    def begin(self, *, started: bool = False) -> _Guard:
        """Start guarding the current task's operation (see :meth:`guarded`).

        Raises:
            ClientClosedError: The client no longer takes this operation.
        """
        state = self.state
        if state is not ClientState.OPEN and (not started or state is not ClientState.CLOSING):
            raise ClientClosedError("the client is closed")
        task: asyncio.Task[object] | None = asyncio.current_task()
        assert task is not None  # pragma: no branch - operations run in tasks
        running = self.running
        running[task] = running.get(task, 0) + 1
        self.active += 1
        # Like asyncio.timeout(), the guard turns only its own cancellation into an error:
        # a cancellation from anywhere else goes on.
        cancelling = 0
        if sys.version_info >= (3, 11):
            cancelling = task.cancelling()
        return task, cancelling

    def failed(self, guard: _Guard, error: BaseException) -> None:
        """The guarded operation raised ``error``: return to let it go on, or raise
        ClientClosedError for the cancellation with which ``aclose()`` ended it."""
        task, cancelling = guard
        if not isinstance(error, asyncio.CancelledError) or task not in self.aborted:
            return
        self.aborted.discard(task)
        if sys.version_info >= (3, 11) and task.uncancel() > cancelling:
            return  # cancelled by someone else as well
        raise ClientClosedError("the client was closed while the operation ran") from None

    def end(self, guard: _Guard) -> None:
        """The guarded operation is over (however it ended)."""
        task = guard[0]
        running = self.running
        depth = running.pop(task) - 1
        if depth:
            running[task] = depth
        else:
            self.aborted.discard(task)
        self.leave()

    def close(self) -> None:
        """``aclose(wait=True)`` starts: no new operation, the started ones finish."""
        if self.state is ClientState.OPEN:
            self.state = ClientState.CLOSING

    def abort(self) -> None:
        """``aclose()`` without wait: cancel every task running a guarded operation (but
        the caller's), each once; they raise ClientClosedError."""
        if self.state is not ClientState.CLOSED:
            self.state = ClientState.ABORTING
        me = asyncio.current_task()
        for task in list(self.running):
            if task is not me and task not in self.aborted:
                self.aborted.add(task)
                task.cancel(_ABORTED)

    async def wait_idle(self) -> None:
        """Return once no operation is under way."""
        while self.active:
            if self._idle is None or self._idle.is_set():
                self._idle = asyncio.Event()
            await self._idle.wait()

    def closed(self) -> None:
        """``aclose()`` has finished."""
        self.state = ClientState.CLOSED
