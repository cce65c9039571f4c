"""The API token never shows: not in reprs, not in errors or their causes, not in logs."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from minimax_async import (
    AccountOnHoldError,
    AuthenticationError,
    BadRequestError,
    Client,
    CloneVoiceRequest,
    ConnectError,
    ConnectionLostError,
    MiniMaxError,
    NotFoundError,
    RateLimitError,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    ValidationError,
)
from minimax_async.testing import FakeMiniMax, Fault, make_wav

from .conftest import FAST_RETRY

pytestmark = pytest.mark.anyio

TOKEN = "user:777-SuperSecretToken0123456789"
WRONG_TOKEN = "user:777-WrongGuessedToken9876543210"
SECRETS = (TOKEN, WRONG_TOKEN, "SuperSecretToken", "WrongGuessedToken")
ACCOUNT = "100001"
NO_RETRY = RetryPolicy(attempts=1)


@pytest.fixture
async def fake() -> AsyncIterator[FakeMiniMax]:
    """A fake server expecting the distinctive token."""
    async with FakeMiniMax(
        token=TOKEN, accounts=[ACCOUNT], clone_latency=0.002, retry_after=0.01
    ) as server:
        yield server


@pytest.fixture
async def client(fake: FakeMiniMax) -> AsyncIterator[Client]:
    """A client holding the distinctive token."""
    async with Client(
        token=TOKEN, base_url=fake.base_url, accounts=fake.accounts, retry=FAST_RETRY
    ) as c:
        yield c


def closed_port_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/minimax"


def assert_no_secret(text: str, where: str) -> None:
    """Fail if any form of either token appears in ``text``."""
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked in {where}: {text[:500]}"


def assert_error_keeps_secret(error: BaseException) -> None:
    """Check an error, its attributes and its whole cause/context chain."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        name = type(current).__name__
        assert_no_secret(str(current), f"str({name})")
        assert_no_secret(repr(current), f"repr({name})")
        assert_no_secret(repr(current.args), f"{name}.args")
        assert_no_secret(repr(vars(current)), f"vars({name})")
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)


async def failing(call: Callable[[], Awaitable[object]]) -> MiniMaxError:
    """Await ``call``, which must fail with a MiniMaxError; return the error."""
    with pytest.raises(MiniMaxError) as caught:
        await call()
    return caught.value


def test_client_repr_hides_token() -> None:
    """repr(client) and repr of a with_options view never show the token."""
    client = Client(token=TOKEN, base_url="http://127.0.0.1:1/v1/minimax", accounts=[ACCOUNT])
    assert_no_secret(repr(client), "repr(client)")
    assert_no_secret(str(client), "str(client)")
    view = client.with_options(timeout=3, retry=NO_RETRY)
    assert_no_secret(repr(view), "repr(view)")
    assert "127.0.0.1" in repr(client)


async def test_errors_never_carry_the_token(fake: FakeMiniMax, client: Client) -> None:
    """Every error of a series of failing calls is free of both tokens, causes included."""
    once = client.with_options(retry=NO_RETRY)
    errors: list[MiniMaxError] = []

    async with Client(token=WRONG_TOKEN, base_url=fake.base_url, accounts=[ACCOUNT]) as wrong:
        errors.append(await failing(wrong.get_config))
    assert isinstance(errors[-1], AuthenticationError)

    fake.faults.add("config", Fault(status=400, message="bad request"))
    errors.append(await failing(once.get_config))
    assert isinstance(errors[-1], BadRequestError)

    errors.append(await failing(lambda: once.get_account("999999")))
    assert isinstance(errors[-1], NotFoundError)

    fake.faults.add("config", Fault(status=429, message="busy", retry_after="3"))
    errors.append(await failing(once.get_config))
    assert isinstance(errors[-1], RateLimitError)

    fake.faults.add("config", Fault(status=500, message="boom"))
    errors.append(await failing(once.get_config))
    assert isinstance(errors[-1], ServerError)

    fake.faults.add("config", Fault(drop=True), times=2)
    errors.append(await failing(once.get_config))
    assert isinstance(errors[-1], ConnectionLostError)

    fake.faults.add("config", Fault(delay=0.5))
    errors.append(await failing(client.with_options(timeout=0.1, retry=NO_RETRY).get_config))
    assert isinstance(errors[-1], RequestTimeoutError)

    async with Client(token=TOKEN, base_url=closed_port_url(), retry=NO_RETRY) as nowhere:
        errors.append(await failing(nowhere.get_config))
    assert isinstance(errors[-1], ConnectError)

    errors.append(
        await failing(
            lambda: client.clone_voice(
                CloneVoiceRequest("x" * 31, "English", [f"user:777-minimax:{ACCOUNT}-file:1"])
            )
        )
    )
    assert isinstance(errors[-1], ValidationError)

    file_id = (await client.upload_sample(make_wav(12))).file_id
    await client.clone_voice(CloneVoiceRequest("Known count", "English", [file_id]))
    fake.set_account_status(ACCOUNT, 596)
    errors.append(await failing(once.get_config))
    assert isinstance(errors[-1], AccountOnHoldError)
    errors.append(
        await failing(
            lambda: client.clone_voice(CloneVoiceRequest("On hold", "English", [file_id]))
        )
    )

    assert len(errors) == 11
    for error in errors:
        assert_error_keeps_secret(error)


async def test_debug_logs_never_show_the_token(
    fake: FakeMiniMax, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """DEBUG logging of every logger over good and failing calls never shows the token."""
    caplog.set_level(logging.DEBUG)
    await client.get_config()
    sample = await client.upload_sample(make_wav(12))
    voice = await client.clone_voice(CloneVoiceRequest("Logged", "English", [sample.file_id]))
    assert voice.voice_id is not None
    await client.list_cloned_voices()
    await client.create_mp3("Hello there.", voice.voice_id)
    fake.faults.add("config", Fault(status=503, message="retry me"), times=2)
    await client.get_config()
    fake.faults.add("config", Fault(status=400, message="no"))
    await failing(client.get_config)
    fake.faults.add("config", Fault(drop=True), times=2)
    await client.get_config()
    await client.delete_voice(voice.voice_id)
    async with Client(token=WRONG_TOKEN, base_url=fake.base_url, accounts=[ACCOUNT]) as wrong:
        await failing(wrong.get_config)
    fake.set_account_status(ACCOUNT, 596)
    await failing(client.get_config)
    async with Client(token=TOKEN, base_url=closed_port_url(), retry=FAST_RETRY) as nowhere:
        await failing(nowhere.get_config)

    assert any(r.name.startswith("minimax_async") for r in caplog.records)
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    assert_no_secret(caplog.text, "the log text")
    for record in caplog.records:
        assert_no_secret(record.getMessage(), f"a {record.name} record")
        assert_no_secret(repr(record.args), f"the args of a {record.name} record")
        if record.exc_info and record.exc_info[1] is not None:
            assert_error_keeps_secret(record.exc_info[1])
