"""Every error minimax_async raises on purpose.

One base, :class:`MiniMaxError`, so ``except MiniMaxError`` catches them all::

    MiniMaxError
    ├── ValidationError (also ValueError)      bad input, caught before anything is sent
    │   ├── InvalidSampleError                 a local audio sample is unusable
    │   └── DuplicateVoiceNameError            two live jobs would clone one name on one account
    ├── ConfigurationError (also ValueError)   the client itself is set up wrongly (no token, ...)
    ├── ClientClosedError (also RuntimeError)  the client is closed or closing
    ├── CoordinatorUnavailableError            the fleet coordinator (Redis) cannot be reached
    ├── SchedulingError                        the client refuses to send: it would surely fail
    │   ├── VoiceSlotsExhaustedError           no account has (or will get) a free voice slot
    │   └── AccountUnavailableError            the account is out of rotation (on hold, no credit)
    ├── TransportError                         no usable reply from the server
    │   ├── ConnectError                       the request was never sent
    │   ├── ConnectionLostError                the connection broke; it may have been processed
    │   └── RequestTimeoutError (also TimeoutError)
    ├── UnexpectedResponseError                a 2xx answer that is not what the contract says
    │   └── ResponseTooLargeError              an answer longer than the client reads
    └── APIError                               the server answered and said no
        ├── BadRequestError                    400
        ├── AuthenticationError                401
        ├── PaymentRequiredError               402
        ├── PermissionDeniedError              403
        ├── NotFoundError                      404
        ├── ContentModeratedError              422
        ├── RateLimitError                     429 (``retry_after`` in seconds, if sent)
        ├── ServerError                        5xx other than 596
        └── AccountError                       the account, not the request, is unusable
            ├── AccountPreconditionError       412: no credit or no audio subscription
            └── AccountOnHoldError             596: the account is on hold or in error state

An answer whose status is not in that table raises a plain :class:`APIError`, so new
codes degrade gracefully. No error ever carries the API token.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "APIError",
    "AccountError",
    "AccountOnHoldError",
    "AccountPreconditionError",
    "AccountUnavailableError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConfigurationError",
    "ConnectError",
    "ConnectionLostError",
    "ContentModeratedError",
    "CoordinatorUnavailableError",
    "DuplicateVoiceNameError",
    "InvalidSampleError",
    "MiniMaxError",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTimeoutError",
    "ResponseTooLargeError",
    "SchedulingError",
    "ServerError",
    "TransportError",
    "UnexpectedResponseError",
    "ValidationError",
    "VoiceSlotsExhaustedError",
    "error_class_for_status",
]


class MiniMaxError(Exception):
    """Base of every error minimax_async raises on purpose."""


class ValidationError(MiniMaxError, ValueError):
    """An argument breaks a documented limit; nothing was sent.

    Attributes:
        field: The offending field or argument (``"voice_name"``, ``"files"``, ...).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidSampleError(ValidationError):
    """A local voice sample cannot be used (missing, unreadable, wrong format or length).

    Attributes:
        sample: How the sample was given: its path, or ``"<bytes #N>"``.
        reason: Why it was refused.
    """

    def __init__(self, sample: str, reason: str) -> None:
        super().__init__("samples", f"{sample}: {reason}")
        self.sample = sample
        self.reason = reason


class DuplicateVoiceNameError(ValidationError):
    """A job would clone a name that another live job clones on the same account.

    Refused because duplicate-free recovery after an ambiguous failure tells voices apart
    by name (see the README, "Recovery without duplicates").
    """


class ConfigurationError(MiniMaxError, ValueError):
    """The client is configured wrongly (no token, an insecure base URL, a bad limit)."""


class ClientClosedError(MiniMaxError, RuntimeError):
    """The client was closed, or is closing, so the operation cannot run."""


class CoordinatorUnavailableError(MiniMaxError):
    """The fleet coordinator (``Client(coordinator=...)``, e.g. Redis) could not be reached.

    The client fails closed: it never falls back to admitting clones on its own knowledge,
    which could overshoot the accounts' limits shared with other processes. Clones already
    on the wire finish normally; what waited fails with this error.
    """


class SchedulingError(MiniMaxError):
    """The client refused to send a request because the API would surely refuse it."""


class VoiceSlotsExhaustedError(SchedulingError):
    """No eligible account has, or can get, a free cloned-voice slot.

    Attributes:
        counts: Cloned voices (including clones in flight) per account considered.
        limit: The per-account voice limit the client enforces.
    """

    def __init__(self, counts: Mapping[str | None, int], limit: int) -> None:
        shown = ", ".join(f"{_account_label(a)}: {n}/{limit}" for a, n in counts.items())
        super().__init__(
            f"no voice slot free and none will free up: {shown}; "
            "delete voices (Client.delete_voice) or add an account"
        )
        self.counts = dict(counts)
        self.limit = limit


class AccountUnavailableError(SchedulingError):
    """The account was taken out of rotation after a 596 or 412 answer.

    Attributes:
        account: The account.
        until: ``time.monotonic()`` value after which the client tries it again.
        cause_status: The status that took it out (596 or 412).
    """

    def __init__(self, account: str | None, until: float, cause_status: int, detail: str) -> None:
        super().__init__(
            f"account {_account_label(account)} is out of rotation after HTTP {cause_status}: "
            f"{detail}"
        )
        self.account = account
        self.until = until
        self.cause_status = cause_status


class TransportError(MiniMaxError):
    """No usable reply: the connection failed, broke or timed out.

    Attributes:
        endpoint: The API path, e.g. ``"audio/clone-voice"``.
        account: The account the request was for, if known.
    """

    #: Whether the server may have acted on the request (matters for non-idempotent calls).
    maybe_processed: bool = True

    def __init__(self, message: str, *, endpoint: str, account: str | None = None) -> None:
        super().__init__(f"{_where(endpoint, account)}: {message}")
        self.endpoint = endpoint
        self.account = account


class ConnectError(TransportError):
    """The connection could not be opened, so the request was never sent."""

    maybe_processed = False


class ConnectionLostError(TransportError):
    """The connection broke after the request was sent; the server may have acted on it."""


class RequestTimeoutError(TransportError, TimeoutError):
    """The request took longer than its timeout; the server may have acted on it."""


class UnexpectedResponseError(MiniMaxError):
    """A successful answer whose body is not the JSON the contract describes.

    Not retried: for a clone, the server may have acted on it.

    Attributes:
        endpoint: The API path, e.g. ``"audio/clone-voice"``.
        account: The account the request was for, if known.
        status: The HTTP status of the answer, if known.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        account: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(f"{_where(endpoint, account)}: {message}")
        self.endpoint = endpoint
        self.account = account
        self.status = status


class ResponseTooLargeError(UnexpectedResponseError):
    """A successful answer longer than ``Client(max_response_bytes=...)``; not read further.

    Attributes:
        limit: The limit in bytes.
    """

    def __init__(
        self,
        limit: int,
        *,
        endpoint: str,
        account: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(
            f"HTTP {status} answer is longer than the limit of {limit} bytes "
            "(Client(max_response_bytes=...)); not read further",
            endpoint=endpoint,
            account=account,
            status=status,
        )
        self.limit = limit


class APIError(MiniMaxError):
    """The server answered with an error status.

    Attributes:
        status: The HTTP status.
        message: The server's message (the ``error`` field, or the text of the body).
        endpoint: The API path, e.g. ``"audio/clone-voice"``.
        account: The account the request was for, if known.
    """

    def __init__(
        self, status: int, message: str, *, endpoint: str, account: str | None = None
    ) -> None:
        super().__init__(f"HTTP {status} from {_where(endpoint, account)}: {message}")
        self.status = status
        self.message = message
        self.endpoint = endpoint
        self.account = account


class BadRequestError(APIError):
    """400: a parameter was missing or refused (also rejections passed on from MiniMax)."""


class AuthenticationError(APIError):
    """401: the API token was refused, or the MiniMax account's login failed."""


class PaymentRequiredError(APIError):
    """402: the useapi.net subscription has expired."""


class PermissionDeniedError(APIError):
    """403: the resource belongs to someone else."""


class NotFoundError(APIError):
    """404: no such resource (for accounts: not configured)."""


class ContentModeratedError(APIError):
    """422: the content was moderated; sending it again will not help."""


class RateLimitError(APIError):
    """429: the account's capacity is full or the service throttles.

    Attributes:
        retry_after: Seconds the server asked to wait, if it said.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        endpoint: str,
        account: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, message, endpoint=endpoint, account=account)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx (but not 596): the service or the MiniMax site failed."""


class AccountError(APIError):
    """The account is unusable for a while; another account may still work."""


class AccountPreconditionError(AccountError):
    """412: the account cannot pay (no credit, or no audio subscription)."""


class AccountOnHoldError(AccountError):
    """596: the account is on hold or in error state (may last hours)."""


_STATUS_CLASSES: Mapping[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    412: AccountPreconditionError,
    422: ContentModeratedError,
    429: RateLimitError,
    596: AccountOnHoldError,
}


def error_class_for_status(status: int) -> type[APIError]:
    """Return the :class:`APIError` subclass for an HTTP status (``APIError`` if unknown)."""
    cls = _STATUS_CLASSES.get(status)
    if cls is not None:
        return cls
    if 500 <= status <= 599:
        return ServerError
    return APIError


def _where(endpoint: str, account: str | None) -> str:
    return endpoint + (f" (account {account})" if account else "")


def _account_label(account: str | None) -> str:
    return account if account is not None else "<default>"
