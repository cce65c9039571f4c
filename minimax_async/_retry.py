"""When to try a request again, and how long to wait first: the one place for retry rules.

Transient answers (429, 5xx other than 596) and "no usable reply" are retried with
exponential back-off and full jitter; a ``Retry-After`` is honoured up to a cap. Nothing
else is retried: 400, 401, 402, 403, 404, 412, 422 and 596 say the same again.

Whether a retry is *safe* is a separate question, answered by the caller: idempotent requests
may always be sent again, a clone only when it is known not to have happened (see
``Client.clone_voice``).
"""

from __future__ import annotations

import random
from typing import Any, Final

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

__all__ = ["RetryPolicy", "is_retryable", "known_not_processed"]

_RETRYABLE_STATUSES: Final = frozenset({429})
#: Growth stops here: beyond it every back-off is max_delay anyway (and floats overflow).
_MAX_EXPONENT: Final = 64


def _at_least(low: float) -> Any:
    def check(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= low:
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
