"""minimax_async: an asyncio client for useapi.net's MiniMax audio API (v1).

Upload voice samples, clone voices from them in bulk (at most two clones at once and four
voices per account, however many calls you gather), list and delete cloned voices, and
synthesise speech with them. ``minimax_async.testing`` holds a contract-faithful fake server.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ._bulk import CloneProgress, CloneResult, JobState, VoiceJob, is_file_id
from ._capacity import VoiceSlots
from ._client import (
    ADOPTION_CLOCK_SKEW,
    BASE_URL_ENV_VAR,
    DEFAULT_BASE_URL,
    TOKEN_ENV_VAR,
    Client,
    CloneRun,
)
from ._exceptions import (
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
)
from ._models import (
    MAX_FILES_PER_CLONE,
    MAX_MP3_TEXT_LENGTH,
    MAX_STREAM_TEXT_LENGTH,
    MAX_VOICE_NAME_LENGTH,
    Account,
    AccountSession,
    AccountUser,
    AudioConfig,
    AudioStream,
    Clip,
    ClipEffects,
    CloneVoiceRequest,
    CreateMp3Request,
    CreateStreamRequest,
    Emotion,
    LanguageAccent,
    Tag,
    UploadedSample,
    Voice,
    account_from_id,
)
from ._retry import RetryPolicy
from ._samples import (
    MAX_SAMPLE_BYTES,
    MAX_SAMPLE_SECONDS,
    MAX_SAMPLES_PER_VOICE,
    MIN_SAMPLE_SECONDS,
)
from ._scheduler import (
    MAX_PARALLEL_CLONES_PER_ACCOUNT,
    MAX_VOICES_PER_ACCOUNT,
    AccountStatistics,
    CloneStatistics,
)

try:
    __version__ = version("minimax_async")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "ADOPTION_CLOCK_SKEW",
    "BASE_URL_ENV_VAR",
    "DEFAULT_BASE_URL",
    "MAX_FILES_PER_CLONE",
    "MAX_MP3_TEXT_LENGTH",
    "MAX_PARALLEL_CLONES_PER_ACCOUNT",
    "MAX_SAMPLES_PER_VOICE",
    "MAX_SAMPLE_BYTES",
    "MAX_SAMPLE_SECONDS",
    "MAX_STREAM_TEXT_LENGTH",
    "MAX_VOICES_PER_ACCOUNT",
    "MAX_VOICE_NAME_LENGTH",
    "MIN_SAMPLE_SECONDS",
    "TOKEN_ENV_VAR",
    "APIError",
    "Account",
    "AccountError",
    "AccountOnHoldError",
    "AccountPreconditionError",
    "AccountSession",
    "AccountStatistics",
    "AccountUnavailableError",
    "AccountUser",
    "AudioConfig",
    "AudioStream",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ClientClosedError",
    "Clip",
    "ClipEffects",
    "CloneProgress",
    "CloneResult",
    "CloneRun",
    "CloneStatistics",
    "CloneVoiceRequest",
    "ConfigurationError",
    "ConnectError",
    "ConnectionLostError",
    "ContentModeratedError",
    "CreateMp3Request",
    "CreateStreamRequest",
    "DuplicateVoiceNameError",
    "Emotion",
    "InvalidSampleError",
    "JobState",
    "LanguageAccent",
    "MiniMaxError",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTimeoutError",
    "ResponseTooLargeError",
    "RetryPolicy",
    "SchedulingError",
    "ServerError",
    "Tag",
    "TransportError",
    "UnexpectedResponseError",
    "UploadedSample",
    "ValidationError",
    "Voice",
    "VoiceJob",
    "VoiceSlots",
    "VoiceSlotsExhaustedError",
    "__version__",
    "account_from_id",
    "is_file_id",
]
