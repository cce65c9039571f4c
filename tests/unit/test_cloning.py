"""The one adoption rule (minimax_async._cloning.adoptable) and the one retry loop
(minimax_async._retry.Retrying), without a server."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from minimax_async import RateLimitError, RetryPolicy, ServerError, Voice
from minimax_async._cloning import ADOPTION_CLOCK_SKEW, adoptable
from minimax_async._retry import Retrying, may_resend

STARTED = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
VOICE_ID = "user:1-minimax:100001-audio:42"


def voice(
    name: str | None = "mine", voice_id: str | None = VOICE_ID, created: datetime | None = STARTED
) -> Voice:
    return Voice(voice_id=voice_id, voice_name=name, create_time=created)


@pytest.mark.parametrize(
    ("listed", "owned", "expected"),
    [
        pytest.param(voice(), set(), True, id="same-name-created-since"),
        pytest.param(voice(created=STARTED - ADOPTION_CLOCK_SKEW), set(), True, id="at-skew"),
        pytest.param(
            voice(created=STARTED - ADOPTION_CLOCK_SKEW - timedelta(seconds=1)),
            set(),
            False,
            id="older-than-skew",
        ),
        pytest.param(voice(created=None), set(), False, id="unknown-age"),
        pytest.param(voice(name="other"), set(), False, id="other-name"),
        pytest.param(voice(voice_id=None), set(), False, id="no-id"),
        pytest.param(voice(voice_id=""), set(), False, id="empty-id"),
        pytest.param(voice(), {VOICE_ID}, False, id="already-owned"),
    ],
)
def test_adoptable(listed: Voice, owned: set[str], expected: bool) -> None:
    """A voice is adopted only with the job's name, an id, no owner yet, and a known
    creation time no earlier than the job's start less the clock skew."""
    assert adoptable(listed, name="mine", since=STARTED, owned=owned) is expected


def test_adoptable_skew_is_the_callers() -> None:
    """The CLI passes a threshold that already has the skew taken off (skew=0)."""
    early = voice(created=STARTED - timedelta(seconds=1))
    assert adoptable(early, name="mine", since=STARTED, owned=()) is True
    assert adoptable(early, name="mine", since=STARTED, owned=(), skew=timedelta(0)) is False


def rate_limited() -> RateLimitError:
    return RateLimitError(429, "busy", endpoint="audio/clone-voice", retry_after=0.0)


def server_error() -> ServerError:
    return ServerError(500, "boom", endpoint="audio/upload-sample")


@pytest.mark.parametrize(
    ("error", "idempotent", "expected"),
    [
        pytest.param(server_error(), True, True, id="5xx-idempotent"),
        pytest.param(server_error(), False, False, id="5xx-not-idempotent"),
        pytest.param(rate_limited(), False, True, id="429-not-idempotent"),
    ],
)
def test_may_resend(error: Exception, idempotent: bool, expected: bool) -> None:
    """A 5xx is resent only for an idempotent request; a 429 always (it was not processed)."""
    assert may_resend(error, idempotent=idempotent) is expected


@pytest.mark.anyio
async def test_retrying_runs_at_most_attempts() -> None:
    """The loop yields attempt 1..attempts while retries are asked for, then stops."""
    policy = RetryPolicy(attempts=3, initial_delay=0, max_delay=0, rng=random.Random(1))
    seen = []
    retrying = Retrying(policy, "test %s", "op")
    async for attempt in retrying:
        seen.append(attempt.number)
        if not attempt.retry(server_error()):
            break
    assert seen == [1, 2, 3]


@pytest.mark.anyio
async def test_retrying_stops_when_no_retry_is_asked() -> None:
    """An attempt that neither returns nor asks for a retry ends the loop."""
    seen = []
    async for attempt in Retrying(RetryPolicy(attempts=5), "test"):
        seen.append(attempt.number)
    assert seen == [1]


@pytest.mark.anyio
async def test_retrying_logs_the_wait_that_happens_elsewhere(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With ``waited_by`` the loop does not back off and logs that text instead."""
    caplog.set_level("INFO", logger="minimax_async")
    policy = RetryPolicy(attempts=2, initial_delay=100, max_delay=100)
    async for attempt in Retrying(policy, "clone %r", "x"):
        if attempt.number == 1:
            assert attempt.retry(rate_limited(), waited_by="when the scheduler says")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["clone 'x': retry 1/1 when the scheduler says after " + str(rate_limited())]


def test_cli_resume_uses_the_same_rule() -> None:
    """The CLI's resume (cli._clone._candidates) adopts exactly what adoptable() accepts,
    given its threshold (the first run's start less the skew): a voice of unknown age, an
    older one, a claimed one or another name is not adopted; the rest are, oldest first."""
    from minimax_async.cli._clone import _candidates

    threshold = (STARTED - ADOPTION_CLOCK_SKEW).timestamp()
    listed = [
        voice(voice_id="v-late", created=STARTED + timedelta(seconds=5)),
        voice(voice_id="v-ageless", created=None),
        voice(voice_id="v-old", created=STARTED - ADOPTION_CLOCK_SKEW - timedelta(seconds=1)),
        voice(voice_id="v-claimed"),
        voice(voice_id="v-other", name="other"),
        voice(voice_id="v-edge", created=STARTED - ADOPTION_CLOCK_SKEW),
    ]
    found = _candidates({"100001": listed}, ["100001"], "mine", threshold, {"v-claimed": 1})
    assert [v.voice_id for _, v in found] == ["v-edge", "v-late"]
    for candidate in listed:
        expected = candidate.voice_id in {"v-edge", "v-late"}
        owned = {"v-claimed"}
        assert adoptable(candidate, name="mine", since=STARTED, owned=owned) is expected
