"""A token canary against a server that echoes the Authorization header back.

Everything a user can see is searched for the token (whole, and its secret part): repr, str
and args of every raised error and of each error in its ``__cause__``/``__context__`` chain
(and their attributes), every log record of every logger at DEBUG, ``CloneResult`` and
``CloneProgress`` reprs, and the CLI's stdout, stderr and results file with ``--debug``.
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import anyio
import pytest

from minimax_async import (
    Client,
    CloneVoiceRequest,
    MiniMaxError,
    RetryPolicy,
    VoiceJob,
)
from minimax_async.testing import FakeMiniMax, make_wav

from . import hostile_server as h
from .cli_support import run_cli, write_csv, write_samples

pytestmark = pytest.mark.anyio

ACCOUNT: Final = "100001"
TOKEN: Final = "user:4242-CanaryTokenSecret0123456789abcdef"
SECRET: Final = TOKEN.partition("-")[2]
FAST: Final = RetryPolicy(attempts=2, initial_delay=0.001, max_delay=0.01, max_retry_after=0.02)
ESCAPED: Final = "".join(f"\\u{ord(c):04x}" for c in TOKEN)


def assert_clean(text: str, where: str) -> None:
    """Neither the token nor its secret part is in ``text``."""
    assert SECRET not in text, f"token leaked in {where}: {text[:400]}"


def walk_errors(error: BaseException) -> list[BaseException]:
    """The error and every error in its cause/context chain (and exception groups)."""
    seen: dict[int, BaseException] = {}
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen[id(current)] = current
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        pending += list(getattr(current, "exceptions", ()))
    return list(seen.values())


def assert_error_clean(error: BaseException) -> None:
    """The whole chain, every way it can be shown, holds no token."""
    for current in walk_errors(error):
        name = type(current).__name__
        assert_clean(repr(current), f"repr({name})")
        assert_clean(str(current), f"str({name})")
        assert_clean(repr(current.args), f"{name}.args")
        assert_clean(repr(vars(current)), f"vars({name})")
    formatted = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    assert_clean(formatted, "the formatted traceback")


def assert_logs_clean(records: list[logging.LogRecord]) -> None:
    """Every log record, formatted as a handler would, holds no token."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in records:
        assert_clean(formatter.format(record), f"log record of {record.name}")
        assert_clean(repr(record.args), f"log args of {record.name}")


@contextlib.asynccontextmanager
async def echoing() -> AsyncIterator[tuple[FakeMiniMax, h.HostileProxy, Client]]:
    """The fake server behind the proxy, and a client that knows the canary token."""
    async with (
        FakeMiniMax(token=TOKEN, accounts=[ACCOUNT], clone_latency=0.002) as fake,
        h.HostileProxy(fake.base_url) as proxy,
        Client(
            token=TOKEN,
            base_url=proxy.base_url,
            accounts=[ACCOUNT],
            timeout=0.5,
            connect_timeout=0.5,
            clone_timeout=0.5,
            retry=FAST,
            recheck_delay=0.01,
            max_voices_per_account=None,
            account_cooldown=0.01,
        ) as client,
    ):
        yield fake, proxy, client


BODY_ECHOES: Final = {
    "401-envelope": (401, '{"error": "Unauthorized: {auth}", "code": 401}'),
    "400-bare-token": (400, '{"error": "bad token {token}", "code": 400}'),
    "400-escaped": (400, '{"error": "bad token ' + ESCAPED + '", "code": 400}'),
    "200-envelope": (200, '{"error": "upstream said {auth}", "code": 503}'),
    "200-voice-named-token": (200, '{"voice_id": "v-{token}", "voice_name": "{token}"}'),
    "429-echo": (429, '{"error": "busy for {auth}", "code": 429}'),
    "502-html": (502, "<html><title>502 for {auth}</title></html>"),
    "596-echo": (596, '{"error": "on hold: {auth}", "code": 596}'),
    "412-echo": (412, '{"error": "no credit for {token}", "code": 412}'),
    "huge-echo": (500, "{auth} " * 50_000),
}
STATUS_LINES: Final = {
    "status-line": "HTTP/1.1 2OO {token}",
    "reason-phrase": "HTTP/1.1 500 {token}",
}
ENDPOINTS: Final = {
    "clone": "audio/clone-voice",
    "upload": "audio/upload-sample",
    "list": "audio/voices",
    "config": "audio/config",
    "accounts": "/accounts",
}


async def call(client: Client, endpoint: str, file_id: str) -> Any:
    """The operation that meets the echo."""
    if endpoint == "clone":
        return await client.clone_voice(CloneVoiceRequest("Canary", "English", [file_id]))
    if endpoint == "upload":
        return await client.upload_sample(make_wav(11))
    if endpoint == "list":
        return await client.list_cloned_voices()
    if endpoint == "config":
        return await client.get_config()
    return await client.list_accounts()


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("echo", [*BODY_ECHOES, *STATUS_LINES])
async def test_echoed_token_never_shows(
    endpoint: str, echo: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Errors (with their chains), results and every DEBUG log record hold no token."""
    caplog.set_level(logging.DEBUG)
    async with echoing() as (_, proxy, client):
        file_id = (await client.upload_sample(make_wav(11))).file_id
        if echo in BODY_ECHOES:
            status, template = BODY_ECHOES[echo]
            answer = h.echo(status, template)
        else:
            answer = h.echo(200, "{}", status_line=STATUS_LINES[echo])
        proxy.add(h.Rule(ENDPOINTS[endpoint], answer, forward=False, times=10))
        with anyio.fail_after(10):
            try:
                result = await call(client, endpoint, file_id)
            except MiniMaxError as exc:
                assert_error_clean(exc)
            else:
                assert_clean(repr(result), "the result")
    assert proxy.mangled >= 1
    assert_logs_clean(caplog.records)


async def test_bulk_results_and_progress_hold_no_token(caplog: pytest.LogCaptureFixture) -> None:
    """clone_many: each CloneResult and the CloneProgress repr hold no token."""
    caplog.set_level(logging.DEBUG)
    audio = make_wav(11)
    jobs = [VoiceJob(f"Canary {i}", "English", [audio]) for i in range(4)]
    async with echoing() as (_, proxy, client):
        proxy.add(h.Rule("audio/clone-voice", h.echo(200, '{"voice_id": "{token}"}')))
        proxy.add(h.Rule("audio/clone-voice", h.echo(401, '{"error": "{auth}"}'), forward=False))
        proxy.add(h.Rule("audio/upload-sample", h.echo(502, "{auth}"), forward=False, times=2))
        proxy.add(h.Rule("audio/clone-voice", h.echo(596, '{"error": "{token}"}'), forward=False))
        results = []
        with anyio.fail_after(20):
            async with client.clone_many(jobs) as run:
                async for result in run:
                    results.append(result)
                    assert_clean(repr(result), "a CloneResult")
                    assert_clean(repr(run.progress), "the CloneProgress")
                    if result.error is not None:
                        assert_error_clean(result.error)
        assert_clean(repr(run.progress), "the final CloneProgress")
    assert len(results) == len(jobs)
    assert any(r.error is not None for r in results)
    assert_logs_clean(caplog.records)


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param(
            ("audio/clone-voice", 200, '{"error": "{auth}", "code": 500}'), id="clone-200"
        ),
        pytest.param(("audio/clone-voice", 596, '{"error": "{token}"}'), id="clone-596"),
        pytest.param(("audio/upload-sample", 400, '{"error": "{token}"}'), id="upload-400"),
        pytest.param(("audio/voices", 502, "<title>{auth}</title>"), id="voices-502"),
    ],
)
async def test_cli_with_debug_shows_no_token(tmp_path: Path, rule: tuple[str, int, str]) -> None:
    """The CLI with --debug: stdout, stderr and every file it writes hold no token."""
    path, status, template = rule
    async with (
        FakeMiniMax(token=TOKEN, accounts=[ACCOUNT], clone_latency=0.002) as fake,
        h.HostileProxy(fake.base_url) as proxy,
    ):
        proxy.add(h.Rule(path, h.echo(status, template), forward=False, times=50))
        samples = write_samples(tmp_path / "s", 1)
        manifest = write_csv(tmp_path / "m.csv", [("A", "English", f"s/{samples[0].name}", "", "")])
        results = tmp_path / "results.jsonl"
        token_file = tmp_path / "token.txt"
        token_file.write_text(TOKEN + "\n")
        run = await run_cli(
            "--debug", "--base-url", proxy.base_url, "--token-file", str(token_file),
            "clone", str(manifest), "--results", str(results), "--voice-slots", "4",
            token=None,
        )  # fmt: skip
    assert proxy.mangled >= 1, run.output
    assert_clean(run.stdout, "the CLI's stdout")
    assert_clean(run.stderr, "the CLI's stderr")
    assert run.status != 0, run.output  # every rule fails the job (or the run)
    assert files_holding_the_secret(tmp_path, but=token_file) == []


def files_holding_the_secret(folder: Path, *, but: Path) -> list[Path]:
    """Files under ``folder`` (results, locks, logs; not ``but``) that hold the secret."""
    return [
        path
        for path in folder.rglob("*")
        if path.is_file() and path != but and SECRET.encode() in path.read_bytes()
    ]
