"""Fault injection for the fake server: scripted one-shot faults and seeded chaos."""

from __future__ import annotations

import random
from collections.abc import Sequence

import attrs

__all__ = ["ANY_ENDPOINT", "ENDPOINTS", "Fault", "FaultPlan"]

#: Every endpoint name the fake server counts requests under.
ENDPOINTS: frozenset[str] = frozenset(
    {
        "accounts",
        "account",
        "create-account",
        "delete-account",
        "config",
        "voices",
        "upload-sample",
        "clone-voice",
        "delete-voice",
        "create-mp3",
        "create-stream",
        "audio-list",
        "audio",
        "delete-audio",
    }
)
#: The endpoint name that matches every endpoint in fault rules.
ANY_ENDPOINT = "*"


def _check_endpoint(endpoint: str) -> None:
    if endpoint != ANY_ENDPOINT and endpoint not in ENDPOINTS:
        known = ", ".join(sorted(ENDPOINTS))
        raise ValueError(f"unknown endpoint {endpoint!r}; known endpoints: {known}, or '*'")


@attrs.frozen(kw_only=True)
class Fault:
    """One injected misbehaviour of the fake server.

    A fault with neither ``status``, ``body`` nor ``drop`` only delays the real answer.

    Attributes:
        status: Answer this HTTP status with ``{"error": message, "code": status}``; with
            ``body`` set, the status of the raw body (200 when ``None``, so that a malformed
            200 answer can be injected).
        message: The ``error`` text of the JSON answer.
        body: A raw body to answer instead of the JSON error (plain text, an HTML gateway
            page, truncated JSON, ...), sent with ``content_type``.
        content_type: Content type of ``body``.
        retry_after: A ``Retry-After`` header value to add.
        drop: Close the connection without answering; the client sees a broken connection.
        delay: Seconds to wait before answering (a slow answer).
        after_effect: Do the real work first (e.g. create the voice), then answer with the
            fault. Without it the fault answers before any effect. Only applied when the real
            handling succeeded (a 2xx answer); a real error answer is sent unchanged.
    """

    status: int | None = None
    message: str = "Injected fault"
    body: bytes | str | None = None
    content_type: str = "application/json"
    retry_after: str | None = None
    drop: bool = False
    delay: float = attrs.field(default=0.0, validator=attrs.validators.ge(0.0))
    after_effect: bool = False

    @property
    def replaces_answer(self) -> bool:
        """Whether the fault answers (or drops) instead of the real handler's answer."""
        return self.drop or self.status is not None or self.body is not None


@attrs.define
class _ScriptedRule:
    endpoint: str
    fault: Fault
    remaining: int
    account: str | None


@attrs.define
class _ChaosRule:
    endpoint: str
    rate: float
    faults: tuple[Fault, ...]
    rng: random.Random
    account: str | None


class FaultPlan:
    """The faults the fake server injects, matched per request by endpoint and account.

    Scripted rules (``add``) are consulted first, oldest first; the first matching rule
    with uses left supplies the fault. Otherwise each matching chaos rule (``chaos``), in
    the order added, gets one draw. Faults are applied after the token check and account
    resolution, before any validation, except ``after_effect`` faults.
    """

    def __init__(self) -> None:
        self._scripted: list[_ScriptedRule] = []
        self._chaos: list[_ChaosRule] = []

    def add(
        self, endpoint: str, fault: Fault, *, times: int = 1, account: str | None = None
    ) -> None:
        """Give the next ``times`` matching requests this fault.

        Args:
            endpoint: An endpoint name (e.g. ``"clone-voice"``), or ``"*"`` for all.
            fault: What to do instead of (or after) the real answer.
            times: How many requests get the fault.
            account: Only requests resolved to this account; ``None`` for any.

        Raises:
            ValueError: Unknown endpoint name, or ``times`` below 1.
        """
        _check_endpoint(endpoint)
        if times < 1:
            raise ValueError("times must be at least 1")
        self._scripted.append(_ScriptedRule(endpoint, fault, times, account))

    def chaos(
        self,
        endpoint: str,
        rate: float,
        faults: Sequence[Fault],
        *,
        seed: int = 0,
        account: str | None = None,
    ) -> None:
        """Give each matching request, with probability ``rate``, one of ``faults``.

        Draws come from a ``random.Random(seed)`` of this rule alone, so a given sequence of
        matching requests always meets the same faults.

        Args:
            endpoint: An endpoint name, or ``"*"`` for all.
            rate: Probability of a fault per matching request, 0 to 1.
            faults: The faults to choose from, uniformly.
            seed: Seed of the rule's random generator.
            account: Only requests resolved to this account; ``None`` for any.

        Raises:
            ValueError: Unknown endpoint name, ``rate`` outside 0..1, or no faults.
        """
        _check_endpoint(endpoint)
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if not faults:
            raise ValueError("faults must not be empty")
        self._chaos.append(_ChaosRule(endpoint, rate, tuple(faults), random.Random(seed), account))

    def clear(self) -> None:
        """Remove every rule."""
        self._scripted.clear()
        self._chaos.clear()

    def pending(self, endpoint: str | None = None) -> int:
        """Return how many scripted faults are still to be served.

        Args:
            endpoint: Count only rules for this endpoint name; ``None`` for all.

        Returns:
            The remaining uses of the scripted rules.
        """
        return sum(
            rule.remaining
            for rule in self._scripted
            if endpoint is None or rule.endpoint == endpoint
        )

    def take(self, endpoint: str, account: str | None) -> Fault | None:
        """Pick the fault for one request, consuming a scripted use or a chaos draw.

        Args:
            endpoint: The request's endpoint name.
            account: The request's resolved account, if any.

        Returns:
            The fault to apply, or ``None``.
        """
        if not self._scripted and not self._chaos:
            return None
        for index, rule in enumerate(self._scripted):
            if _matches(rule.endpoint, rule.account, endpoint, account):
                rule.remaining -= 1
                if rule.remaining == 0:
                    del self._scripted[index]
                return rule.fault
        for chaos in self._chaos:
            if _matches(chaos.endpoint, chaos.account, endpoint, account):
                hit = chaos.rng.random() < chaos.rate
                choice = chaos.rng.choice(chaos.faults)
                if hit:
                    return choice
        return None


def _matches(
    rule_endpoint: str, rule_account: str | None, endpoint: str, account: str | None
) -> bool:
    return (rule_endpoint in (ANY_ENDPOINT, endpoint)) and (
        rule_account is None or rule_account == account
    )
