"""What the fake server saw: request counts, clone concurrency, bodies and created voices."""

from __future__ import annotations

import asyncio
from collections import Counter

import attrs

from minimax_async.testing._faults import Fault

__all__ = ["CloneSpan", "CreatedVoice", "ServerRecord"]


@attrs.frozen
class CreatedVoice:
    """A voice the fake server created through POST audio/clone-voice.

    Attributes:
        account: The MiniMax account that holds the voice.
        voice_id: The voice's id as answered on the wire.
        voice_name: The name the clone request asked for.
        create_time: Creation time in epoch milliseconds.
    """

    account: str
    voice_id: str
    voice_name: str
    create_time: int


@attrs.frozen
class CloneSpan:
    """When one admitted clone was in flight, by the server's event-loop clock (``loop.time()``:
    ``time.monotonic()`` on a standard loop, virtual time under a virtual-time loop).

    Attributes:
        account: The account it ran on.
        started: When the server admitted it (after the capacity check).
        finished: When it ended (voice created, or failed after admission).
    """

    account: str
    started: float
    finished: float

    @property
    def seconds(self) -> float:
        """The latency it served, timer overshoot included."""
        return self.finished - self.started


@attrs.define
class ServerRecord:
    """Observations of one fake server, for tests and benchmarks to assert on.

    Attributes:
        requests: Requests per endpoint name, counting every request that reached a
            handler, refused ones included.
        requests_by_account: Requests per ``(endpoint, account)``; the account is ``None``
            when it could not be resolved (bad token, missing or unknown account).
        clones_in_flight: Admitted clone requests currently being processed, per account.
        max_clones_in_flight: The highest value ``clones_in_flight`` reached, per account.
        max_clones_in_flight_total: The highest number of admitted clones in flight over
            all accounts at once.
        clone_bodies: Each clone-voice request body as received (parsed JSON, or the form
            fields as strings), in arrival order.
        voices_created: Every voice created by clone-voice, including voices whose answer an
            injected fault then replaced.
        rejected_over_capacity: Clone requests answered 429 because the account already had
            the maximum number of clones in flight.
        uploads: Successful sample uploads.
        clone_spans: When each admitted clone was in flight, in finishing order.
        faults_applied: Each injected fault that took effect, with its endpoint, in order
            (an ``after_effect`` fault only counts when the real answer was a success).
        faults_applied_at: When each entry of ``faults_applied`` took effect
            (the event loop's clock, that of ``clone_spans``), in the same order.
        user_agents: Requests per ``User-Agent`` header value (``""`` when absent), counting
            the same requests as ``requests``.
    """

    requests: Counter[str] = attrs.Factory(Counter)
    requests_by_account: Counter[tuple[str, str | None]] = attrs.Factory(Counter)
    clones_in_flight: dict[str, int] = attrs.Factory(dict)
    max_clones_in_flight: dict[str, int] = attrs.Factory(dict)
    max_clones_in_flight_total: int = 0
    clone_bodies: list[dict[str, object]] = attrs.Factory(list)
    voices_created: list[CreatedVoice] = attrs.Factory(list)
    rejected_over_capacity: int = 0
    uploads: int = 0
    clone_spans: list[CloneSpan] = attrs.Factory(list)
    faults_applied: list[tuple[str, Fault]] = attrs.Factory(list)
    faults_applied_at: list[float] = attrs.Factory(list)
    user_agents: Counter[str] = attrs.Factory(Counter)

    @property
    def total_requests(self) -> int:
        """The number of requests that reached a handler, over all endpoints."""
        return sum(self.requests.values())

    def reset(self) -> None:
        """Forget all observations, e.g. after a test's set-up phase.

        ``clones_in_flight`` is live state, not history, so it is kept; the maxima restart
        from the current in-flight values.
        """
        self.requests.clear()
        self.requests_by_account.clear()
        self.max_clones_in_flight = {
            account: count for account, count in self.clones_in_flight.items() if count
        }
        self.max_clones_in_flight_total = sum(self.clones_in_flight.values())
        self.clone_bodies.clear()
        self.voices_created.clear()
        self.rejected_over_capacity = 0
        self.uploads = 0
        self.clone_spans.clear()
        self.faults_applied.clear()
        self.faults_applied_at.clear()
        self.user_agents.clear()

    def _fault_applied(self, endpoint: str, fault: Fault) -> None:
        self.faults_applied.append((endpoint, fault))
        self.faults_applied_at.append(asyncio.get_running_loop().time())

    def _clone_admitted(self, account: str) -> None:
        in_flight = self.clones_in_flight.get(account, 0) + 1
        self.clones_in_flight[account] = in_flight
        if in_flight > self.max_clones_in_flight.get(account, 0):
            self.max_clones_in_flight[account] = in_flight
        total = sum(self.clones_in_flight.values())
        self.max_clones_in_flight_total = max(total, self.max_clones_in_flight_total)

    def _clone_finished(self, account: str, started: float) -> None:
        self.clones_in_flight[account] -= 1
        self.clone_spans.append(CloneSpan(account, started, asyncio.get_running_loop().time()))
