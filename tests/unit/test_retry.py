"""Retry rules (minimax_async._retry): the policy's back-off and which errors to retry."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minimax_async import (
    AccountError,
    AccountOnHoldError,
    AccountPreconditionError,
    AccountUnavailableError,
    APIError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConfigurationError,
    ConnectError,
    ConnectionLostError,
    ContentModeratedError,
    CoordinatorUnavailableError,
    DuplicateVoiceNameError,
    InvalidSampleError,
    MiniMaxError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ResponseTooLargeError,
    RetryPolicy,
    SchedulingError,
    ServerError,
    TransportError,
    UnexpectedResponseError,
    ValidationError,
    VoiceSlotsExhaustedError,
    _exceptions,
)
from minimax_async._retry import is_retryable, known_not_processed

WHERE: dict[str, Any] = {"endpoint": "audio/clone-voice", "account": "100001"}


class Ceiling(random.Random):
    """A "random" source that always picks the top of the range, to expose the ceiling."""

    def uniform(self, a: float, b: float) -> float:
        """Return ``b``."""
        return b


# --------------------------------------------------------------------------- the policy


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("attempts", 0, id="attempts-0"),
        pytest.param("attempts", -1, id="attempts-negative"),
        pytest.param("initial_delay", -0.001, id="initial_delay-negative"),
        pytest.param("max_delay", -1.0, id="max_delay-negative"),
        pytest.param("multiplier", 0.99, id="multiplier-below-1"),
        pytest.param("max_retry_after", -1.0, id="max_retry_after-negative"),
    ],
)
def test_policy_refuses_bad_values(field: str, value: Any) -> None:
    """A policy with a value out of range cannot be built; the error names the field."""
    with pytest.raises(ValueError, match=field):
        RetryPolicy(**{field: value})


def test_policy_error_is_a_minimax_error() -> None:
    """A bad policy raises a MiniMaxError (ConfigurationError), like any bad client setting."""
    with pytest.raises(ConfigurationError):
        RetryPolicy(attempts=0)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({}, id="defaults"),
        pytest.param({"attempts": 1}, id="no-retries"),
        pytest.param({"initial_delay": 0, "max_delay": 0}, id="no-waiting"),
        pytest.param({"multiplier": 1}, id="constant-backoff"),
        pytest.param({"max_retry_after": 0}, id="ignore-retry-after"),
    ],
)
def test_policy_accepts_boundaries(kwargs: dict[str, Any]) -> None:
    """A policy at the edge of every range builds."""
    RetryPolicy(**kwargs)


def test_backoff_ceiling_grows_to_max_delay() -> None:
    """The back-off ceiling doubles from initial_delay per retry and stops at max_delay."""
    policy = RetryPolicy(initial_delay=1.0, multiplier=2.0, max_delay=10.0, rng=Ceiling())
    assert [policy.backoff(retry) for retry in range(1, 8)] == [1, 2, 4, 8, 10, 10, 10]


def test_full_jitter_within_ceiling() -> None:
    """Each back-off is drawn uniformly from [0, ceiling]: within it, and spread out."""
    policy = RetryPolicy(initial_delay=0.5, multiplier=3.0, max_delay=20.0, rng=random.Random(7))
    for retry, ceiling in [(1, 0.5), (2, 1.5), (3, 4.5), (4, 13.5), (5, 20.0), (9, 20.0)]:
        draws = [policy.backoff(retry) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in draws)
        assert min(draws) < ceiling / 4
        assert max(draws) > ceiling * 3 / 4


def test_seeded_backoff_is_reproducible() -> None:
    """Two policies seeded alike draw the same delays."""
    first = RetryPolicy(rng=random.Random(2024))
    second = RetryPolicy(rng=random.Random(2024))
    assert [first.backoff(r) for r in range(1, 6)] == [second.backoff(r) for r in range(1, 6)]


@given(
    retry=st.integers(min_value=1, max_value=64),
    initial_delay=st.floats(min_value=0, max_value=100),
    max_delay=st.floats(min_value=0, max_value=1000),
    multiplier=st.floats(min_value=1, max_value=10),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_backoff_never_exceeds_max_delay(
    retry: int, initial_delay: float, max_delay: float, multiplier: float, seed: int
) -> None:
    """Whatever the settings, a back-off is between 0 and max_delay."""
    policy = RetryPolicy(
        initial_delay=initial_delay,
        max_delay=max_delay,
        multiplier=multiplier,
        rng=random.Random(seed),
    )
    assert 0.0 <= policy.backoff(retry) <= max_delay


def test_backoff_of_a_late_retry_is_capped() -> None:
    """A very late retry still waits at most max_delay (no overflow)."""
    policy = RetryPolicy(attempts=2000, multiplier=2.0, max_delay=30.0, rng=Ceiling())
    assert policy.backoff(1500) == 30.0


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        pytest.param(7.0, 7.0, id="honoured"),
        pytest.param(0.0, 0.0, id="zero"),
        pytest.param(120.0, 120.0, id="at-cap"),
        pytest.param(3600.0, 120.0, id="capped"),
        pytest.param(float("inf"), 120.0, id="infinite-capped"),
    ],
)
def test_delay_uses_retry_after(retry_after: float, expected: float) -> None:
    """A 429's Retry-After is the delay, cut to max_retry_after."""
    policy = RetryPolicy(max_retry_after=120.0, rng=Ceiling())
    error = RateLimitError(429, "busy", retry_after=retry_after, **WHERE)
    assert policy.delay(1, error) == expected


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(RateLimitError(429, "busy", **WHERE), id="429-without-retry-after"),
        pytest.param(ServerError(502, "Bad Gateway", **WHERE), id="502"),
        pytest.param(ConnectionLostError("reset", **WHERE), id="connection-lost"),
    ],
)
def test_delay_falls_back_to_backoff(error: MiniMaxError) -> None:
    """Without a Retry-After, the delay is the back-off of that retry."""
    policy = RetryPolicy(initial_delay=1.0, multiplier=2.0, max_delay=30.0, rng=Ceiling())
    assert policy.delay(3, error) == 4.0


# --------------------------------------------------------------------------- which errors

#: One instance of every error class, and whether it is retried. Transient: 429, 5xx other
#: than 596, no usable reply. Everything else says the same again.
RETRYABLE: list[Any] = [
    pytest.param(RateLimitError(429, "busy", **WHERE), True, id="RateLimitError-429"),
    pytest.param(ServerError(500, "oops", **WHERE), True, id="ServerError-500"),
    pytest.param(ServerError(502, "Bad Gateway", **WHERE), True, id="ServerError-502"),
    pytest.param(ServerError(503, "unavailable", **WHERE), True, id="ServerError-503"),
    pytest.param(ServerError(504, "Gateway Timeout", **WHERE), True, id="ServerError-504"),
    pytest.param(ServerError(599, "odd", **WHERE), True, id="ServerError-599"),
    pytest.param(APIError(429, "busy", **WHERE), True, id="APIError-429"),
    pytest.param(TransportError("failed", **WHERE), True, id="TransportError"),
    pytest.param(ConnectError("refused", **WHERE), True, id="ConnectError"),
    pytest.param(ConnectionLostError("reset", **WHERE), True, id="ConnectionLostError"),
    pytest.param(RequestTimeoutError("slow", **WHERE), True, id="RequestTimeoutError"),
    pytest.param(BadRequestError(400, "bad", **WHERE), False, id="BadRequestError-400"),
    pytest.param(AuthenticationError(401, "no", **WHERE), False, id="AuthenticationError-401"),
    pytest.param(PaymentRequiredError(402, "pay", **WHERE), False, id="PaymentRequiredError-402"),
    pytest.param(
        PermissionDeniedError(403, "not yours", **WHERE), False, id="PermissionDeniedError-403"
    ),
    pytest.param(NotFoundError(404, "none", **WHERE), False, id="NotFoundError-404"),
    pytest.param(
        AccountPreconditionError(412, "no credit", **WHERE),
        False,
        id="AccountPreconditionError-412",
    ),
    pytest.param(
        ContentModeratedError(422, "moderated", **WHERE), False, id="ContentModeratedError-422"
    ),
    pytest.param(AccountOnHoldError(596, "on hold", **WHERE), False, id="AccountOnHoldError-596"),
    pytest.param(AccountError(596, "on hold", **WHERE), False, id="AccountError"),
    pytest.param(APIError(418, "teapot", **WHERE), False, id="APIError-418"),
    pytest.param(UnexpectedResponseError("not JSON", **WHERE), False, id="UnexpectedResponse"),
    pytest.param(ResponseTooLargeError(1024, **WHERE), False, id="ResponseTooLarge"),
    pytest.param(ValidationError("voice_name", "too long"), False, id="ValidationError"),
    pytest.param(InvalidSampleError("a.mp3", "too short"), False, id="InvalidSampleError"),
    pytest.param(
        DuplicateVoiceNameError("voice_name", "taken"), False, id="DuplicateVoiceNameError"
    ),
    pytest.param(ConfigurationError("no token"), False, id="ConfigurationError"),
    pytest.param(ClientClosedError("closed"), False, id="ClientClosedError"),
    pytest.param(CoordinatorUnavailableError("down"), False, id="CoordinatorUnavailableError"),
    pytest.param(SchedulingError("no"), False, id="SchedulingError"),
    pytest.param(VoiceSlotsExhaustedError({"100001": 4}, 4), False, id="VoiceSlotsExhaustedError"),
    pytest.param(
        AccountUnavailableError("100001", 0.0, 596, "on hold"), False, id="AccountUnavailable"
    ),
    pytest.param(MiniMaxError("base"), False, id="MiniMaxError"),
    pytest.param(ValueError("not ours"), False, id="ValueError"),
    pytest.param(asyncio.CancelledError(), False, id="CancelledError"),
]


@pytest.mark.parametrize(("error", "retryable"), RETRYABLE)
def test_is_retryable(error: BaseException, retryable: bool) -> None:
    """429, 5xx other than 596 and transport failures are retried; nothing else is."""
    assert is_retryable(error) is retryable


def test_retry_table_covers_every_error_class() -> None:
    """The is_retryable table holds an instance of every exported error class."""
    classes = {
        getattr(_exceptions, name)
        for name in _exceptions.__all__
        if isinstance(getattr(_exceptions, name), type)
    }
    covered = {type(param.values[0]) for param in RETRYABLE}
    assert classes <= covered


@pytest.mark.parametrize(
    ("error", "not_processed"),
    [
        pytest.param(RateLimitError(429, "busy", **WHERE), True, id="429"),
        pytest.param(ConnectError("refused", **WHERE), True, id="ConnectError"),
        pytest.param(RequestTimeoutError("slow", **WHERE), False, id="timeout"),
        pytest.param(ConnectionLostError("reset", **WHERE), False, id="ConnectionLost"),
        pytest.param(TransportError("failed", **WHERE), False, id="TransportError"),
        pytest.param(ServerError(500, "oops", **WHERE), False, id="500"),
        pytest.param(ServerError(502, "Bad Gateway", **WHERE), False, id="502"),
        pytest.param(ServerError(504, "Gateway Timeout", **WHERE), False, id="504"),
        pytest.param(AccountOnHoldError(596, "on hold", **WHERE), False, id="596"),
        pytest.param(UnexpectedResponseError("odd", **WHERE), False, id="unexpected-2xx"),
    ],
)
def test_known_not_processed(error: BaseException, not_processed: bool) -> None:
    """Only a 429 and a connection never opened surely left the request undone."""
    assert known_not_processed(error) is not_processed
