"""A gate that holds admitted clone requests until a test lets them through."""

from __future__ import annotations

import asyncio
from collections import deque

import attrs

__all__ = ["CloneGate"]


@attrs.define(eq=False)  # identity: two held clones are never the same entry
class _HeldClone:
    account: str
    voice_name: str
    released: asyncio.Future[None]


class CloneGate:
    """Holds admitted clone-voice requests so that tests control when clones finish.

    While the gate is closed, every admitted clone request (already counted in flight)
    waits here until released, and the server's clone latency is not applied. The gate
    starts open.
    """

    def __init__(self) -> None:
        self._closed = False
        self._held: deque[_HeldClone] = deque()
        self._condition: asyncio.Condition | None = None

    @property
    def is_closed(self) -> bool:
        """Whether newly admitted clones are being held."""
        return self._closed

    def close(self) -> None:
        """Hold every clone admitted from now on until it is released."""
        self._closed = True

    def open(self) -> None:
        """Release every held clone and stop holding new ones."""
        self._closed = False
        self.release(len(self._held))

    def release(self, n: int = 1, account: str | None = None) -> int:
        """Let the ``n`` oldest held clones proceed.

        Args:
            n: How many clones to release at most.
            account: Only release clones of this account; ``None`` for any account.

        Returns:
            The number of clones released (fewer than ``n`` when fewer were held).
        """
        released = 0
        kept: deque[_HeldClone] = deque()
        while self._held:
            entry = self._held.popleft()
            if released < n and (account is None or entry.account == account):
                if not entry.released.done():
                    entry.released.set_result(None)
                released += 1
            else:
                kept.append(entry)
        self._held = kept
        return released

    def held(self, account: str | None = None) -> int:
        """Return how many clones are held at the gate.

        Args:
            account: Count only this account's clones; ``None`` for all.

        Returns:
            The number of held clones.
        """
        if account is None:
            return len(self._held)
        return sum(1 for entry in self._held if entry.account == account)

    def held_voice_names(self, account: str | None = None) -> list[str]:
        """Return the ``voice_name`` of each clone held at the gate, oldest first.

        Args:
            account: Only this account's clones; ``None`` for all.

        Returns:
            The names the held clone requests asked for.
        """
        return [e.voice_name for e in self._held if account is None or e.account == account]

    async def wait_held(self, n: int, account: str | None = None) -> None:
        """Return once at least ``n`` clones are held at the gate.

        Args:
            n: The number of held clones to wait for.
            account: Count only this account's clones; ``None`` for all.
        """
        condition = self._get_condition()
        async with condition:
            await condition.wait_for(lambda: self.held(account) >= n)

    async def _pass(self, account: str, voice_name: str) -> None:
        """Wait at the gate until released (server side; the caller checked ``is_closed``)."""
        entry = _HeldClone(account, voice_name, asyncio.get_running_loop().create_future())
        self._held.append(entry)
        try:
            condition = self._get_condition()
            async with condition:
                condition.notify_all()
            await entry.released
        finally:
            if not entry.released.done():
                entry.released.cancel()
            if entry in self._held:
                self._held.remove(entry)

    def _get_condition(self) -> asyncio.Condition:
        # Created lazily so that the gate binds to the loop that uses it.
        if self._condition is None:
            self._condition = asyncio.Condition()
        return self._condition

    def _reset_loop(self) -> None:
        """Forget loop-bound state when the server starts (possibly on a new loop)."""
        self._condition = None
        self._held.clear()
