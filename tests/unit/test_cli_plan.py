"""The capacity count of ``plan``/``clone`` and the CLI wording of library errors, as pure
functions."""

from __future__ import annotations

import pytest

from minimax_async import (
    ResponseTooLargeError,
    ValidationError,
    Voice,
    VoiceJob,
    VoiceSlots,
    VoiceSlotsExhaustedError,
)
from minimax_async.cli._manifest import ManifestRow
from minimax_async.cli._messages import cli_message
from minimax_async.cli._plan import plan_capacity

ACCOUNTS = ("100001", "100002", "100003")


def rows(*pins: str | None) -> list[ManifestRow]:
    """One manifest row per pin (``None``: unpinned); the sample is never read here."""
    return [
        ManifestRow(i + 2, VoiceJob(f"Voice {i}", "English", "sample.wav", account=pin), pin)
        for i, pin in enumerate(pins)
    ]


def listings(*used: int, limit: int = 4) -> list[VoiceSlots]:
    """The listings of the first accounts of ``ACCOUNTS``, with ``used`` voices each."""
    return [
        VoiceSlots(account, limit, tuple(Voice(voice_id=f"{account}-{n}") for n in range(count)))
        for account, count in zip(ACCOUNTS, used, strict=False)
    ]


@pytest.mark.parametrize(
    ("pins", "used", "would_fail", "summary"),
    [
        pytest.param(
            [None] * 30, (0, 0, 0), 18,
            "30 jobs need 30 voice slots; 12 are free on 3 accounts: 18 would fail",
            id="the-issue's-example",
        ),
        pytest.param(
            [None], (3,), 0, "1 job needs 1 voice slot; 1 is free on 1 account", id="singular"
        ),
        pytest.param(
            ["100001", "100001", None], (3, 0), 1,
            "3 jobs need 3 voice slots; 5 are free on 2 accounts: 1 would fail",
            id="pinned-short-though-others-have-room",
        ),
        pytest.param(
            ["100001", None, None, None], (2, 2), 0,
            "4 jobs need 4 voice slots; 4 are free on 2 accounts",
            id="unpinned-take-the-leftover",
        ),
        pytest.param(
            ["100002", None, None, None, None], (2, 2), 1,
            "5 jobs need 5 voice slots; 4 are free on 2 accounts: 1 would fail",
            id="pinned-counted-first",
        ),
        pytest.param(
            [None], (6, 0), 0, "1 job needs 1 voice slot; 4 are free on 2 accounts",
            id="an-account-over-its-limit-has-none-free",
        ),
        pytest.param(
            ["100003"], (0,), 1, "1 job needs 1 voice slot; 4 are free on 1 account: 1 would fail",
            id="pinned-to-an-account-not-listed",
        ),
        pytest.param(
            [], (4, 4), 0, "0 jobs need 0 voice slots; 0 are free on 2 accounts", id="none"
        ),
    ],
)  # fmt: skip
def test_plan_capacity(
    pins: list[str | None], used: tuple[int, ...], would_fail: int, summary: str
) -> None:
    """Pinned jobs count against their accounts first; unpinned ones against what is left."""
    plan = plan_capacity(rows(*pins), listings(*used))
    assert plan.would_fail == would_fail
    assert plan.summary() == summary


def test_plan_details_name_the_short_accounts() -> None:
    """One detail line per account whose pinned jobs do not fit, one for unpinned jobs."""
    plan = plan_capacity(rows("100001", "100001", None, None), listings(3, 3))
    assert plan.details() == [
        "account 100001: 2 pinned jobs, 1 free slot (3/4 used): 1 would fail",
        "2 unpinned jobs, 1 slot left on any account: 1 would fail",
    ]


@pytest.mark.parametrize(
    ("error", "expected", "absent"),
    [
        pytest.param(
            VoiceSlotsExhaustedError({"100001": 4}, 4),
            "'minimax-async delete-voices'",
            "Client.",
            id="slot-error",
        ),
        pytest.param(
            ValidationError(
                "account",
                "delete_voice needs an account when several are configured (1, 2); "
                "pass account=...",
            ),
            "account: 'minimax-async delete' needs an account when several are configured "
            "(1, 2); give --account ACCOUNT",
            "account=",
            id="account-error",
        ),
        pytest.param(
            ResponseTooLargeError(10, endpoint="voices"),
            "longer than the limit of 10 bytes; not read further",
            "Client(",
            id="python-setting-dropped",
        ),
    ],
)
def test_cli_message_speaks_of_commands(error: Exception, expected: str, absent: str) -> None:
    """Python advice in library messages becomes CLI commands and options."""
    message = cli_message(error)
    assert expected in message
    assert absent not in message
