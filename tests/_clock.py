"""A clock the test advances by hand, for the scheduler's timed behaviour (no real sleep)."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

import attrs


@attrs.define(eq=False)
class ManualTimer:
    """A callback scheduled on a :class:`ManualClock` (the ``Timer`` protocol)."""

    _when: float
    callback: Callable[[], object]
    _cancelled: bool = False

    def cancel(self) -> None:
        """Do not run the callback."""
        self._cancelled = True

    def cancelled(self) -> bool:
        """Whether it was cancelled."""
        return self._cancelled

    def when(self) -> float:
        """When it runs."""
        return self._when


@attrs.define(eq=False)
class ManualClock:
    """Time stands still until :meth:`advance`, which runs the callbacks that fall due, in
    order, each with the clock reading its own deadline."""

    now: float = 1000.0
    _due: list[tuple[float, int, ManualTimer]] = attrs.field(factory=list)
    _order: itertools.count[int] = attrs.field(factory=itertools.count)

    def time(self) -> float:
        """Now."""
        return self.now

    def call_at(self, when: float, callback: Callable[[], object]) -> ManualTimer:
        """Schedule ``callback`` for ``when``."""
        timer = ManualTimer(when, callback)
        heapq.heappush(self._due, (when, next(self._order), timer))
        return timer

    def advance(self, seconds: float) -> None:
        """Move time on by ``seconds``, running what falls due on the way."""
        end = self.now + seconds
        while self._due and self._due[0][0] <= end:
            when, _, timer = heapq.heappop(self._due)
            self.now = max(self.now, when)
            if not timer.cancelled():
                timer.callback()
        self.now = end

    @property
    def pending(self) -> int:
        """Callbacks scheduled and neither run nor cancelled."""
        return sum(not timer.cancelled() for _, _, timer in self._due)
