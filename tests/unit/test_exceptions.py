"""The error tree (minimax_async._exceptions): classes, status table and messages."""

from __future__ import annotations

import pytest

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
    SchedulingError,
    ServerError,
    TransportError,
    UnexpectedResponseError,
    ValidationError,
    VoiceSlotsExhaustedError,
    _exceptions,
)
from minimax_async._exceptions import error_class_for_status

#: (class, its direct parents) as drawn in the module docstring.
TREE = [
    pytest.param(ValidationError, (MiniMaxError, ValueError), id="ValidationError"),
    pytest.param(InvalidSampleError, (ValidationError,), id="InvalidSampleError"),
    pytest.param(DuplicateVoiceNameError, (ValidationError,), id="DuplicateVoiceNameError"),
    pytest.param(ConfigurationError, (MiniMaxError, ValueError), id="ConfigurationError"),
    pytest.param(ClientClosedError, (MiniMaxError, RuntimeError), id="ClientClosedError"),
    pytest.param(CoordinatorUnavailableError, (MiniMaxError,), id="CoordinatorUnavailableError"),
    pytest.param(SchedulingError, (MiniMaxError,), id="SchedulingError"),
    pytest.param(VoiceSlotsExhaustedError, (SchedulingError,), id="VoiceSlotsExhaustedError"),
    pytest.param(AccountUnavailableError, (SchedulingError,), id="AccountUnavailableError"),
    pytest.param(TransportError, (MiniMaxError,), id="TransportError"),
    pytest.param(ConnectError, (TransportError,), id="ConnectError"),
    pytest.param(ConnectionLostError, (TransportError,), id="ConnectionLostError"),
    pytest.param(RequestTimeoutError, (TransportError, TimeoutError), id="RequestTimeoutError"),
    pytest.param(UnexpectedResponseError, (MiniMaxError,), id="UnexpectedResponseError"),
    pytest.param(ResponseTooLargeError, (UnexpectedResponseError,), id="ResponseTooLargeError"),
    pytest.param(APIError, (MiniMaxError,), id="APIError"),
    pytest.param(BadRequestError, (APIError,), id="BadRequestError"),
    pytest.param(AuthenticationError, (APIError,), id="AuthenticationError"),
    pytest.param(PaymentRequiredError, (APIError,), id="PaymentRequiredError"),
    pytest.param(PermissionDeniedError, (APIError,), id="PermissionDeniedError"),
    pytest.param(NotFoundError, (APIError,), id="NotFoundError"),
    pytest.param(ContentModeratedError, (APIError,), id="ContentModeratedError"),
    pytest.param(RateLimitError, (APIError,), id="RateLimitError"),
    pytest.param(ServerError, (APIError,), id="ServerError"),
    pytest.param(AccountError, (APIError,), id="AccountError"),
    pytest.param(AccountPreconditionError, (AccountError,), id="AccountPreconditionError"),
    pytest.param(AccountOnHoldError, (AccountError,), id="AccountOnHoldError"),
]


@pytest.mark.parametrize(("cls", "parents"), TREE)
def test_tree(cls: type[BaseException], parents: tuple[type[BaseException], ...]) -> None:
    """Each class has exactly the parents the docstring draws, and MiniMaxError above all."""
    assert cls.__bases__ == parents
    assert issubclass(cls, MiniMaxError)


def test_tree_covers_every_class() -> None:
    """The tree table names every exception class the module exports."""
    exported = {
        getattr(_exceptions, name)
        for name in _exceptions.__all__
        if isinstance(getattr(_exceptions, name), type)
    }
    assert exported - {MiniMaxError} == {param.values[0] for param in TREE}


@pytest.mark.parametrize(
    ("child", "ancestor"),
    [
        pytest.param(AccountOnHoldError, AccountError, id="on-hold-is-account"),
        pytest.param(AccountOnHoldError, APIError, id="on-hold-is-api"),
        pytest.param(AccountOnHoldError, MiniMaxError, id="on-hold-is-minimax"),
        pytest.param(AccountPreconditionError, APIError, id="precondition-is-api"),
        pytest.param(ValidationError, ValueError, id="validation-is-value"),
        pytest.param(InvalidSampleError, ValueError, id="invalid-sample-is-value"),
        pytest.param(DuplicateVoiceNameError, ValueError, id="duplicate-name-is-value"),
        pytest.param(ConfigurationError, ValueError, id="configuration-is-value"),
        pytest.param(ClientClosedError, RuntimeError, id="closed-is-runtime"),
        pytest.param(RequestTimeoutError, TimeoutError, id="timeout-is-timeout"),
        pytest.param(RequestTimeoutError, OSError, id="timeout-is-oserror"),
    ],
)
def test_is_subclass(child: type[BaseException], ancestor: type[BaseException]) -> None:
    """Errors can be caught by their standard-library meaning too."""
    assert issubclass(child, ancestor)


@pytest.mark.parametrize(
    ("cls", "not_ancestor"),
    [
        pytest.param(ServerError, AccountError, id="server-not-account"),
        pytest.param(AccountOnHoldError, ServerError, id="596-not-server"),
        pytest.param(AccountUnavailableError, AccountError, id="unavailable-not-api"),
        pytest.param(RateLimitError, TransportError, id="429-not-transport"),
        pytest.param(RequestTimeoutError, ConnectError, id="timeout-not-connect"),
        pytest.param(UnexpectedResponseError, APIError, id="unexpected-not-api"),
        pytest.param(TransportError, TimeoutError, id="transport-not-timeout"),
        pytest.param(ValidationError, APIError, id="validation-not-api"),
        pytest.param(APIError, ValueError, id="api-not-value"),
    ],
)
def test_is_not_subclass(cls: type[BaseException], not_ancestor: type[BaseException]) -> None:
    """Unrelated branches stay apart: an except clause catches only its own branch."""
    assert not issubclass(cls, not_ancestor)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        pytest.param(400, BadRequestError, id="400"),
        pytest.param(401, AuthenticationError, id="401"),
        pytest.param(402, PaymentRequiredError, id="402"),
        pytest.param(403, PermissionDeniedError, id="403"),
        pytest.param(404, NotFoundError, id="404"),
        pytest.param(412, AccountPreconditionError, id="412"),
        pytest.param(422, ContentModeratedError, id="422"),
        pytest.param(429, RateLimitError, id="429"),
        pytest.param(500, ServerError, id="500"),
        pytest.param(501, ServerError, id="501"),
        pytest.param(502, ServerError, id="502"),
        pytest.param(503, ServerError, id="503"),
        pytest.param(504, ServerError, id="504"),
        pytest.param(595, ServerError, id="595"),
        pytest.param(596, AccountOnHoldError, id="596"),
        pytest.param(597, ServerError, id="597"),
        pytest.param(599, ServerError, id="599"),
        pytest.param(405, APIError, id="405"),
        pytest.param(418, APIError, id="418"),
        pytest.param(499, APIError, id="499"),
        pytest.param(304, APIError, id="304"),
        pytest.param(600, APIError, id="600"),
    ],
)
def test_error_class_for_status(status: int, cls: type[APIError]) -> None:
    """The status table; unknown 5xx are ServerError and any other unknown code APIError."""
    assert error_class_for_status(status) is cls


def test_api_error_message_and_attributes() -> None:
    """An API error's message names status, endpoint, account and the server's words."""
    error = NotFoundError(
        404, "Configuration not found", endpoint="accounts/{account}", account="7"
    )
    assert str(error) == "HTTP 404 from accounts/{account} (account 7): Configuration not found"
    assert (error.status, error.message, error.endpoint, error.account) == (
        404,
        "Configuration not found",
        "accounts/{account}",
        "7",
    )


def test_api_error_without_account() -> None:
    """Without an account the message says only the endpoint."""
    error = APIError(418, "teapot", endpoint="audio/config")
    assert str(error) == "HTTP 418 from audio/config: teapot"
    assert error.account is None


def test_rate_limit_error_retry_after() -> None:
    """A RateLimitError carries retry_after (None unless the server said)."""
    assert RateLimitError(429, "busy", endpoint="audio/create-mp3").retry_after is None
    error = RateLimitError(429, "busy", endpoint="audio/create-mp3", account="1", retry_after=7)
    assert error.retry_after == 7
    assert "audio/create-mp3 (account 1)" in str(error)


@pytest.mark.parametrize(
    ("cls", "maybe_processed"),
    [
        pytest.param(TransportError, True, id="TransportError"),
        pytest.param(ConnectError, False, id="ConnectError"),
        pytest.param(ConnectionLostError, True, id="ConnectionLostError"),
        pytest.param(RequestTimeoutError, True, id="RequestTimeoutError"),
    ],
)
def test_transport_error_message(cls: type[TransportError], maybe_processed: bool) -> None:
    """A transport error names endpoint and account, and whether the server may have acted."""
    error = cls("no answer within 30 s", endpoint="audio/clone-voice", account="100001")
    assert str(error) == "audio/clone-voice (account 100001): no answer within 30 s"
    assert error.endpoint == "audio/clone-voice"
    assert error.account == "100001"
    assert error.maybe_processed is maybe_processed
    assert str(cls("x", endpoint="audio/")) == "audio/: x"


def test_unexpected_response_message_names_endpoint() -> None:
    """An unexpected 2xx names its endpoint and keeps the account as an attribute."""
    error = UnexpectedResponseError("not JSON", endpoint="audio/clone-voice", account="100001")
    assert str(error).startswith("audio/clone-voice")
    assert "not JSON" in str(error)
    assert error.account == "100001"


def test_unexpected_response_message_names_account() -> None:
    """An unexpected 2xx's message names the account, as the other errors' messages do."""
    error = UnexpectedResponseError("not JSON", endpoint="audio/clone-voice", account="100001")
    assert "100001" in str(error)


def test_validation_error() -> None:
    """A ValidationError's message starts with its field; field and message are attributes."""
    error = ValidationError("voice_name", "is 31 characters long; the limit is 30")
    assert str(error) == "voice_name: is 31 characters long; the limit is 30"
    assert error.field == "voice_name"
    assert error.message == "is 31 characters long; the limit is 30"


def test_invalid_sample_error() -> None:
    """An InvalidSampleError is about field 'samples' and names the sample and the reason."""
    error = InvalidSampleError("voice/a.mp3", "is 4.0 s long; give 10 to 60 s")
    assert error.field == "samples"
    assert (error.sample, error.reason) == ("voice/a.mp3", "is 4.0 s long; give 10 to 60 s")
    assert str(error) == "samples: voice/a.mp3: is 4.0 s long; give 10 to 60 s"


def test_voice_slots_exhausted_error() -> None:
    """VoiceSlotsExhaustedError shows each account's count against the limit."""
    error = VoiceSlotsExhaustedError({"100001": 4, None: 4}, 4)
    assert "100001: 4/4" in str(error)
    assert "<default>: 4/4" in str(error)
    assert error.counts == {"100001": 4, None: 4}
    assert error.limit == 4


def test_account_unavailable_error() -> None:
    """AccountUnavailableError names the account, the status that took it out and why."""
    error = AccountUnavailableError("100001", 123.0, 596, "account on hold")
    assert "100001" in str(error)
    assert "HTTP 596" in str(error)
    assert "account on hold" in str(error)
    assert (error.account, error.until, error.cause_status) == ("100001", 123.0, 596)
    assert "<default>" in str(AccountUnavailableError(None, 0.0, 412, "no credit"))


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(
            RateLimitError(429, "busy", endpoint="e", account="a", retry_after=1.0), id="api"
        ),
        pytest.param(RequestTimeoutError("slow", endpoint="e", account="a"), id="transport"),
        pytest.param(UnexpectedResponseError("odd", endpoint="e", account="a"), id="unexpected"),
    ],
)
def test_errors_hold_no_token(error: MiniMaxError) -> None:
    """Errors keep only status, message, endpoint, account (and retry_after): never a token."""
    assert set(vars(error)) <= {"status", "message", "endpoint", "account", "retry_after"}
