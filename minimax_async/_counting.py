"""Each account's cloned voices, listed once per account on first need, in the background.

Raw asyncio here, for a reason: a count is started from synchronous code (an admission, a
bulk run's start) and must not hold up the job that needs it (``ensure_future``), and its end
is handed to the scheduler by a done callback, so that a thousand jobs waiting for one count
cost one listing and no wake-up each. :meth:`VoiceCounts.aclose` cancels and awaits them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from functools import partial

from ._accounts import AccountState

__all__ = ["VoiceCounter", "VoiceCounts"]

#: Lists an account's cloned voices and gives their number.
VoiceCounter = Callable[[str | None], Awaitable[int]]


class VoiceCounts:
    """The voice counts under way, by account.

    Args:
        count_voices: The coroutine that counts one account's voices.
        tracked: Whether voice slots are tracked at all (``False``: nothing is counted).
        counted: Called with the account and the finished (not cancelled) count's future.
    """

    def __init__(
        self,
        count_voices: VoiceCounter,
        *,
        tracked: bool,
        counted: Callable[[AccountState, asyncio.Future[int]], None],
    ) -> None:
        self._count_voices = count_voices
        self._tracked = tracked
        self._counted = counted
        #: Counts under way, by account.
        self.loading: dict[str | None, asyncio.Future[int]] = {}
        #: Every account placed jobs may use has its voices counted (or none need be).
        self.rotation_counted = not tracked

    def start(self, state: AccountState) -> None:
        """Start counting the account's cloned voices, unless counted or being counted.

        Waiters need not wait for the count themselves: they queue as usual, and the
        account admits nobody until its count is known (``AccountState.has_voice_room``).
        """
        if not self._tracked or state.name in self.loading:
            return
        counting = asyncio.ensure_future(self._count_voices(state.name))
        self.loading[state.name] = counting
        counting.add_done_callback(partial(self._done, state))

    def rotation(self, rotation: Iterable[AccountState], now: float) -> None:
        """For a job to place: count every account in rotation not yet counted."""
        uncounted = [target for target in rotation if target.voices is None]
        self.rotation_counted = not uncounted
        for target in uncounted:
            if target.out_until <= now:
                self.start(target)

    def ahead(self, states: Iterable[AccountState | None], now: float) -> None:
        """Count these accounts now (a bulk run is about to use them), bar unknown ones
        (``None``) and those out of rotation: ``admit`` reports those."""
        if not self._tracked:
            return
        for state in states:
            if state is not None and state.voices is None and state.out_until <= now:
                self.start(state)

    def _done(self, state: AccountState, counting: asyncio.Future[int]) -> None:
        del self.loading[state.name]
        if not counting.cancelled():
            self._counted(state, counting)

    async def aclose(self) -> None:
        """Cancel the counts under way and wait until they have ended."""
        counting = list(self.loading.values())
        for future in counting:
            future.cancel()
        if counting:
            await asyncio.gather(*counting, return_exceptions=True)
