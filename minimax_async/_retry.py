"""When to try a request again, and how long to wait first: the one place for retry rules.

Transient answers (429, 5xx other than 596) and "no usable reply" are retried with
exponential back-off and full jitter; a ``Retry-After`` is honoured up to a cap. Nothing
else is retried: 400, 401, 402, 403, 404, 412, 422 and 596 say the same again.

Whether a retry is *safe* is a separate question, answered per request by
:func:`may_resend` from the request's ``idempotent`` flag (set per operation in ``_wire``): an
idempotent request may always be sent again; one that is not (a clone, ``create_mp3``,
``create_stream``) only when the failure shows it did not happen (a 429, a connection that
never opened). After a 5xx, a timeout or a broken connection the server may have acted, so
such a request is not sent again (a clone then looks for its voice first: ``_cloning``).

The loop itself is written once, as an attempt iterator (:class:`Retrying`, after stamina's
``retry_context``), and both the send path (``_sending``) and the clone path (``_cloning``)
use it.

**The clone 429 rule.** A clone refused with 429 is retried, but not after this module's
back-off: the clone engine (``_cloning.Cloner``) hands the ``Retry-After`` (else the
back-off) to the scheduler instead, which pauses the account (refused alone) or runs it at
one clone (refused beside another), so that no queued clone meets the same 429. The retry
then waits for its clone slot; :meth:`Retrying.retry` is told so (``waited_by``) and logs
the wait that really happens. Clones refused for other reasons follow the rules above; after
an ambiguous failure the engine looks for the voice (adoption) before any resend.
"""

from __future__ import annotations

import logging
import math
import random
from typing import Any, Final

import anyio
import attrs

from ._exceptions import (
    AccountError,
    APIError,
    ConfigurationError,
    ConnectError,
    RateLimitError,
    ServerError,
    TransportError,
)

__all__ = ["RetryPolicy", "Retrying", "is_retryable", "known_not_processed", "may_resend"]

logger = logging.getLogger("minimax_async")

_RETRYABLE_STATUSES: Final = frozenset({429})
#: Growth stops here: beyond it every back-off is max_delay anyway (and floats overflow).
_MAX_EXPONENT: Final = 64


def _at_least(low: float) -> Any:
    def check(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or not value >= low
            or (attribute.name == "attempts" and not isinstance(value, int))
        ):
            raise ConfigurationError(
                f"RetryPolicy.{attribute.name} must be >= {low}, not {value!r}"
            )

    return check


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How a client retries transient failures.

    Args:
        attempts: Tries in all, the first included (1 disables retries).
        initial_delay: Back-off before the first retry, in seconds.
        max_delay: Largest back-off, in seconds.
        multiplier: Growth of the back-off per retry.
        max_retry_after: Largest ``Retry-After`` honoured; longer ones are cut to this.
        rng: Source of jitter (seed it for reproducible tests).
    """

    attempts: int = attrs.field(default=5, validator=_at_least(1))
    initial_delay: float = attrs.field(default=1.0, validator=_at_least(0))
    max_delay: float = attrs.field(default=30.0, validator=_at_least(0))
    multiplier: float = attrs.field(default=2.0, validator=_at_least(1))
    max_retry_after: float = attrs.field(default=120.0, validator=_at_least(0))
    rng: random.Random = attrs.field(factory=random.Random, repr=False, eq=False)

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based): full jitter."""
        growth = self.multiplier ** min(retry - 1, _MAX_EXPONENT)
        ceiling = min(self.max_delay, self.initial_delay * growth)
        return self.rng.uniform(0.0, ceiling)

    def delay(self, retry: int, error: BaseException) -> float:
        """Seconds to wait before retrying after ``error``: its Retry-After, else back-off."""
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            return min(error.retry_after, self.max_retry_after)
        return self.backoff(retry)


def is_retryable(error: BaseException) -> bool:
    """Whether ``error`` is transient: 429, 5xx (not 596), or no usable reply."""
    if isinstance(error, TransportError):
        return True
    if isinstance(error, AccountError):
        return False
    return isinstance(error, ServerError) or (
        isinstance(error, APIError) and error.status in _RETRYABLE_STATUSES
    )


def known_not_processed(error: BaseException) -> bool:
    """Whether the server surely did not act on the request (so a clone may be resent).

    True for a 429 (refused for capacity) and for a connection that never opened. A
    timeout, a broken connection or any 5xx may come after the work was done.
    """
    return isinstance(error, (RateLimitError, ConnectError))


def may_resend(error: BaseException, *, idempotent: bool) -> bool:
    """Whether a request that failed with ``error`` may be sent again.

    Only transient failures are retried, and a request that is not idempotent only when
    the failure shows the server did not act on it (:func:`known_not_processed`).
    """
    return is_retryable(error) and (idempotent or known_not_processed(error))


class Retrying:
    """The one retry loop: an async iterator of attempts (after stamina's ``retry_context``).

    ::

        async for attempt in Retrying(policy, "%s %s", method, endpoint):
            try:
                return await send()
            except MiniMaxError as exc:
                if not may_resend(exc, idempotent=...) or not attempt.retry(exc):
                    raise

    The iterator yields itself (one object per call, not one per attempt); ``number`` is
    the attempt under way (1-based). An attempt that neither returns nor asks for a retry
    ends the loop. Before each retry it waits what :meth:`retry` decided.

    Args:
        policy: How many attempts and how long to wait between them.
        label: A %-format naming the operation in the retry log line, and its arguments.
    """

    __slots__ = ("_label", "_wait", "number", "policy")

    def __init__(self, policy: RetryPolicy, label: str, *label_args: object) -> None:
        self.policy = policy
        self.number = 0
        self._label = (label, label_args)
        #: Seconds to wait before the next attempt; None: no next attempt was asked for.
        self._wait: float | None = 0.0

    def __aiter__(self) -> Retrying:
        return self

    async def __anext__(self) -> Retrying:
        wait = self._wait
        if wait is None:
            raise StopAsyncIteration
        self._wait = None
        if self.number:
            await anyio.sleep(wait)  # also a checkpoint when the wait happened elsewhere
        self.number += 1
        return self

    def retry(self, error: BaseException, *, waited_by: str | None = None) -> bool:
        """Ask for another attempt after ``error``; False if this was the last one.

        Args:
            error: Why the attempt failed (the caller has decided it may be retried).
            waited_by: The wait happens elsewhere, described by this text (the clone 429
                rule: the scheduler's pause or narrowed cap); the loop then does not wait.
        """
        policy = self.policy
        if self.number >= policy.attempts:
            return False
        if waited_by is None:
            delay = policy.delay(self.number, error)
            when = f"in {delay:.1f} s"
        else:
            delay, when = 0.0, waited_by
        label, args = self._label
        logger.info(
            f"{label}: retry %d/%d %s after %s",
            *args,
            self.number,
            policy.attempts - 1,
            when,
            error,
        )
        self._wait = delay
        return True
