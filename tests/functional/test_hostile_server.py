"""A hostile server at the byte level: every case ends in a typed error or a correct
recovery, within a bound, and the fake server behind the proxy never holds a duplicate voice.

The proxy (``hostile_server.HostileProxy``) forwards each request to ``FakeMiniMax`` (so
a clone really creates its voice) and then mangles the answer: invalid JSON, HTML, a JSON
list, an error envelope under 200, missing decisive fields, huge bodies, drips past the
timeout, a connection closed after the headers, lying Content-Lengths, gzip and chunked
bodies good and broken, redirects, a malformed status line, garbage.
"""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import anyio
import pytest

from minimax_async import (
    APIError,
    Client,
    CloneVoiceRequest,
    ConnectionLostError,
    MiniMaxError,
    RequestTimeoutError,
    ResponseTooLargeError,
    RetryPolicy,
    ServerError,
    UnexpectedResponseError,
)
from minimax_async._wire import MAX_MESSAGE_CHARS
from minimax_async.testing import FakeMiniMax, make_wav

from . import hostile_server as h

pytestmark = pytest.mark.anyio

ACCOUNT: Final = "100001"
TOKEN: Final = "user:4242-HostileCanary0123456789abcdef"
#: Every case must end within this many seconds.
BOUND: Final = 10.0
LIMIT: Final = 1024 * 1024
HUGE: Final = 20 * 1024 * 1024
FAST: Final = RetryPolicy(attempts=3, initial_delay=0.001, max_delay=0.01, max_retry_after=0.05)
OK: Final = "ok"
#: A success that need not equal the real answer (the mangled one was itself valid).
PARSED: Final = "parsed"


@contextlib.asynccontextmanager
async def hostile(**options: Any) -> AsyncIterator[tuple[FakeMiniMax, h.HostileProxy, Client]]:
    """The fake server, the proxy in front of it, and a client with short timeouts."""
    settings: dict[str, Any] = {
        "timeout": 0.5,
        "connect_timeout": 0.5,
        "clone_timeout": 0.5,
        "retry": FAST,
        "recheck_delay": 0.01,
        "max_response_bytes": LIMIT,
        "max_voices_per_account": None,
    }
    settings.update(options)
    async with (
        FakeMiniMax(token=TOKEN, accounts=[ACCOUNT], clone_latency=0.002) as fake,
        h.HostileProxy(fake.base_url) as proxy,
        Client(token=TOKEN, base_url=proxy.base_url, accounts=[ACCOUNT], **settings) as client,
    ):
        yield fake, proxy, client


# ------------------------------------------------------------------------- operations

Operation = Callable[[Client, str], Awaitable[Any]]
Check = Callable[[Any, FakeMiniMax], None]


async def clone(client: Client, file_id: str) -> Any:
    """Clone one voice."""
    return await client.clone_voice(CloneVoiceRequest("Hostile", "English", [file_id]))


def cloned_right(voice: Any, fake: FakeMiniMax) -> None:
    """The voice is the one the server created."""
    assert voice.voice_id in {v.voice_id for v in fake.record.voices_created}


async def listing(client: Client, _: str) -> Any:
    """List the account's cloned voices."""
    return await client.list_cloned_voices()


def listed_right(voices: Any, fake: FakeMiniMax) -> None:
    """The listing is the server's."""
    assert [v.voice_id for v in voices] == [v["voice_id"] for v in fake.voices(ACCOUNT)]


async def upload(client: Client, _: str) -> Any:
    """Upload one sample."""
    return await client.upload_sample(make_wav(11))


def uploaded_right(sample: Any, fake: FakeMiniMax) -> None:
    """The file id is an upload's."""
    assert sample.file_id.startswith("user:")
    assert fake.record.uploads >= 1


async def accounts(client: Client, _: str) -> Any:
    """List the configured accounts."""
    return await client.list_accounts()


def accounts_right(found: Any, _: FakeMiniMax) -> None:
    """The account list is the server's."""
    assert [a.account for a in found] == [ACCOUNT]


async def config(client: Client, _: str) -> Any:
    """Read the vocabularies."""
    return await client.get_config()


def config_right(found: Any, _: FakeMiniMax) -> None:
    """The config is the server's."""
    assert "English" in found.languages


#: name -> (path the proxy matches, the call, how to check a success, idempotent)
OPERATIONS: Final[dict[str, tuple[str, Operation, Check, bool]]] = {
    "clone": ("audio/clone-voice", clone, cloned_right, False),
    "list": ("audio/voices", listing, listed_right, True),
    "upload": ("audio/upload-sample", upload, uploaded_right, False),
    "accounts": ("/accounts", accounts, accounts_right, True),
    "config": ("audio/config", config, config_right, True),
}

# ------------------------------------------------------------------------- manglings

ENVELOPE: Final = b'{"error": "Service Unavailable", "code": 503}'
NGINX: Final = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
BOMB: Final = h.gzip_bomb(64 * 1024 * 1024)


def lying_long(upstream: h.Upstream) -> bytes:
    """A Content-Length 100 bytes longer than the body, then the connection closes."""
    return h.http_answer(upstream.status, upstream.body, content_length=len(upstream.body) + 100)


def lying_short(upstream: h.Upstream) -> bytes:
    """A Content-Length that cuts the JSON in the middle."""
    return h.http_answer(upstream.status, upstream.body, content_length=len(upstream.body) // 2)


def broken_gzip(_: h.Upstream) -> bytes:
    """Content-Encoding: gzip over bytes that are not gzip."""
    return h.http_answer(200, b"\x1f\x8b\x08\x00garbage" * 10, headers={"Content-Encoding": "gzip"})


def broken_chunks(_: h.Upstream) -> bytes:
    """A chunked body whose chunk size is not hex."""
    return h.http_answer(200, b"zz\r\n{}\r\n0\r\n\r\n", headers={"Transfer-Encoding": "chunked"})


def bomb(_: h.Upstream) -> bytes:
    """A gzip body that inflates to 64 MiB."""
    return h.http_answer(200, BOMB, headers={"Content-Encoding": "gzip"})


def redirect_to_self(_: h.Upstream) -> bytes:
    """A 302 to the same place (a loop if followed)."""
    return h.http_answer(302, b"", headers={"Location": "/v1/minimax/accounts"})


def echoed_headers(upstream: h.Upstream) -> bytes:
    """The real answer, with odd and repeated headers a gateway might echo back."""
    headers = {
        "Content-Type": "application/json",
        "X-Echo-Authorization": f"Bearer {TOKEN}",
        "Retry-After": "soon",
        "X-Long": "x" * 4000,
    }
    return h.http_answer(upstream.status, upstream.body, headers=headers)


#: A clone answered 2xx but unreadably: the voice exists, so the client finds and adopts it
#: (a correct recovery), and never sends the clone again.
ADOPTED: Final = OK

#: name -> (the answer, whether the request reaches the fake first, outcome per operation)
#: An outcome is "ok" (a correct answer), an error class, or a tuple of those allowed.
SHAPE = UnexpectedResponseError
TRANSIENT_OK: Final = {"clone": OK, "list": OK, "accounts": OK, "config": OK}
TRANSIENT_UPLOAD: Final = (OK, ConnectionLostError, RequestTimeoutError, ServerError)


def everywhere(outcome: Any, **special: Any) -> dict[str, Any]:
    """The same outcome for every operation, but ``special`` ones."""
    return {name: special.get(name, outcome) for name in OPERATIONS}


MANGLINGS: Final[dict[str, tuple[h.Answer, bool, dict[str, Any]]]] = {
    "invalid-json": (
        h.status_body(200, b'{"voice_id": "v'),
        True,
        everywhere(SHAPE, clone=ADOPTED),
    ),
    "html-200": (h.status_body(200, NGINX, "text/html"), True, everywhere(SHAPE, clone=ADOPTED)),
    "json-list": (
        h.status_body(200, b'[{"voice_id": "v"}]'),
        True,
        everywhere(SHAPE, clone=ADOPTED),
    ),
    "envelope-200": (h.status_body(200, ENVELOPE), True, everywhere(SHAPE, clone=ADOPTED)),
    "empty-object": (
        h.status_body(200, b"{}"),
        True,
        everywhere(SHAPE, clone=ADOPTED, accounts=PARSED, config=PARSED),
    ),
    "empty-body": (h.status_body(200, b""), True, everywhere(SHAPE, clone=ADOPTED)),
    "huge-200": (
        h.huge(200, HUGE, b'{"a":'),
        True,
        everywhere(ResponseTooLargeError, clone=ADOPTED),
    ),
    "huge-chunked-200": (
        h.huge(200, HUGE, b"<", chunked=True),
        True,
        everywhere(ResponseTooLargeError, clone=ADOPTED),
    ),
    "gzip-bomb": (h.transformed(bomb), True, everywhere(ResponseTooLargeError, clone=ADOPTED)),
    "huge-502-lt": (
        h.huge(502, HUGE, b"<"),
        True,
        everywhere(OK, upload=TRANSIENT_UPLOAD),
    ),
    "drip-past-timeout": (
        h.drip(200, b'{"voice_list": []}' + b" " * 200, 0.05),
        True,
        everywhere(OK, upload=TRANSIENT_UPLOAD),
    ),
    "closed-after-headers": (
        h.raw(h.http_answer(200, b"", content_length=500)),
        True,
        everywhere(OK, upload=TRANSIENT_UPLOAD),
    ),
    "lying-length-long": (h.transformed(lying_long), True, everywhere(OK, upload=TRANSIENT_UPLOAD)),
    # aiohttp reads the bytes past the short length as a broken next answer: the
    # connection counts as lost (retried, or recovered for a clone), or the cut JSON is seen.
    "lying-length-short": (
        h.transformed(lying_short),
        True,
        everywhere((OK, SHAPE), clone=ADOPTED, upload=(*TRANSIENT_UPLOAD, SHAPE)),
    ),
    "gzip-good": (h.transformed(h.gzipped), True, everywhere(OK)),
    "gzip-broken": (h.transformed(broken_gzip), True, everywhere(OK, upload=TRANSIENT_UPLOAD)),
    "chunked-good": (h.transformed(h.chunked), True, everywhere(OK)),
    "chunked-broken": (
        h.transformed(broken_chunks),
        True,
        everywhere(OK, upload=TRANSIENT_UPLOAD),
    ),
    "redirect": (h.transformed(redirect_to_self), True, everywhere(APIError)),
    "bad-status-line": (
        h.raw(b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\n{}"),
        True,
        everywhere(OK, upload=TRANSIENT_UPLOAD),
    ),
    "garbage": (
        h.raw(b"\x00\xff\xfeNOT HTTP AT ALL\r\n\r\n"),
        True,
        everywhere(OK, upload=TRANSIENT_UPLOAD),
    ),
    "headers-echoed-back": (h.transformed(echoed_headers), True, everywhere(OK)),
    "not-forwarded-reset": (h.raw(b""), False, everywhere(OK, upload=TRANSIENT_UPLOAD)),
}

CASES = [
    pytest.param(operation, mangling, id=f"{operation}-{mangling}")
    for mangling in MANGLINGS
    for operation in OPERATIONS
]


def assert_no_aiohttp_in_chain(error: BaseException) -> None:
    """No aiohttp exception (they carry the request headers) in the cause/context chain."""
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        assert not type(current).__module__.startswith("aiohttp"), repr(current)
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]


def allowed(outcome: Any) -> tuple[Any, ...]:
    """The outcomes a case accepts."""
    return outcome if isinstance(outcome, tuple) else (outcome,)


@pytest.mark.parametrize(("operation", "mangling"), CASES)
async def test_hostile_answer(operation: str, mangling: str) -> None:
    """A mangled answer ends in a typed error or a correct result, soon, without duplicates."""
    path, call, check, _ = OPERATIONS[operation]
    answer, forward, outcomes = MANGLINGS[mangling]
    accepted = allowed(outcomes[operation])
    async with hostile() as (fake, proxy, client):
        file_id = (await client.upload_sample(make_wav(11))).file_id
        uploads_before = fake.record.uploads
        proxy.add(h.Rule(path, answer, forward=forward))
        result: Any = None
        error: BaseException | None = None
        with anyio.fail_after(BOUND):
            try:
                result = await call(client, file_id)
            except MiniMaxError as exc:
                error = exc
        assert proxy.mangled == 1, proxy.seen
        if error is None:
            assert OK in accepted or PARSED in accepted, f"expected {accepted}, got {result!r}"
            if OK in accepted:
                check(result, fake)
        else:
            assert isinstance(error, tuple(c for c in accepted if isinstance(c, type))), repr(error)
            assert_no_aiohttp_in_chain(error)
            assert len(str(error)) < 3 * MAX_MESSAGE_CHARS
            if isinstance(error, APIError) and mangling == "redirect":
                assert 300 <= error.status < 400
        # The server's own count: never a second voice, never a second clone sent after
        # the first one reached it.
        assert len(fake.record.voices_created) <= 1
        if operation == "clone" and forward:
            assert fake.record.requests["clone-voice"] == 1
            assert len(fake.record.voices_created) == 1
        if operation == "upload" and error is None:
            assert fake.record.uploads >= uploads_before + 1


async def test_recovery_fails_the_job_when_the_listing_cannot_be_read() -> None:
    """An ambiguous clone whose recovery listing answers a 200 envelope fails: no 2nd clone."""
    async with hostile() as (fake, proxy, client):
        file_id = (await client.upload_sample(make_wav(11))).file_id
        proxy.add(h.Rule("audio/clone-voice", h.raw(h.http_answer(200, b"", content_length=99))))
        proxy.add(h.Rule("audio/voices", h.status_body(200, ENVELOPE), times=20))
        with anyio.fail_after(BOUND), pytest.raises(ConnectionLostError) as info:
            await clone(client, file_id)
    assert isinstance(info.value.__cause__, UnexpectedResponseError)
    assert "error envelope" in str(info.value.__cause__)
    assert fake.record.requests["clone-voice"] == 1
    assert len(fake.record.voices_created) == 1


@pytest.mark.parametrize(
    "listing_answer",
    [
        pytest.param(b'{"voice_list": {"v": 1}}', id="object-not-list"),
        pytest.param(b"[]", id="json-list"),
        pytest.param(b"<html>busy</html>", id="html"),
        pytest.param(b'{"voice_list": ["v"]}', id="string-entries"),
    ],
)
async def test_recovery_never_reads_a_broken_listing_as_empty(listing_answer: bytes) -> None:
    """Whatever the unreadable listing, the ambiguous clone fails rather than clones again."""
    async with hostile() as (fake, proxy, client):
        file_id = (await client.upload_sample(make_wav(11))).file_id
        proxy.add(h.Rule("audio/clone-voice", h.drip(200, b"{}" * 50, 0.05)))
        proxy.add(h.Rule("audio/voices", h.status_body(200, listing_answer), times=20))
        with anyio.fail_after(BOUND), pytest.raises(RequestTimeoutError):
            await clone(client, file_id)
    assert fake.record.requests["clone-voice"] == 1
    assert len(fake.record.voices_created) == 1


async def test_a_200_clone_without_voice_id_is_not_a_voice() -> None:
    """A 200 clone answer without ``voice_id`` is not ``Voice(voice_id=None)``: the client
    looks for the voice the server made and adopts it, without cloning again."""
    async with hostile() as (fake, proxy, client):
        file_id = (await client.upload_sample(make_wav(11))).file_id
        proxy.add(h.Rule("audio/clone-voice", h.status_body(200, b'{"voice_name": "Hostile"}')))
        voice = await clone(client, file_id)
    assert voice.voice_id == fake.record.voices_created[0].voice_id
    assert fake.record.requests["clone-voice"] == 1


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(ENVELOPE, id="envelope"),
        pytest.param(b"{}", id="no-voice-id"),
        pytest.param(b"[]", id="json-list"),
    ],
)
async def test_an_unreadable_200_clone_with_no_voice_listed_fails(body: bytes) -> None:
    """If no voice shows up after an unreadable 200, the job fails: it is never resent."""
    async with hostile() as (fake, proxy, client):
        file_id = (await client.upload_sample(make_wav(11))).file_id
        proxy.add(h.Rule("audio/clone-voice", h.status_body(200, body), forward=False))
        with anyio.fail_after(BOUND), pytest.raises(UnexpectedResponseError):
            await clone(client, file_id)
    assert fake.record.requests["clone-voice"] == 0
    assert fake.record.requests["voices"] == 2  # looked twice, recheck_delay apart
    assert fake.record.voices_created == []


async def test_accounts_entry_that_is_not_an_object() -> None:
    """An accounts map whose entry is a string is refused, not read as a usable account."""
    async with hostile() as (_, proxy, client):
        body = json.dumps({ACCOUNT: {"account": ACCOUNT}, "2": "broken"}).encode()
        proxy.add(h.Rule("/accounts", h.status_body(200, body), forward=False))
        with pytest.raises(UnexpectedResponseError, match="not an object"):
            await client.list_accounts()


async def test_redirect_loop_is_not_followed() -> None:
    """A redirect loop is one 3xx error: the client follows nothing."""
    async with hostile() as (_, proxy, client):
        proxy.add(h.Rule("audio/config", h.transformed(redirect_to_self), times=50))
        with pytest.raises(APIError) as info:
            await client.get_config()
    assert info.value.status == 302
    assert len(proxy.seen) == 1


async def test_a_gzip_answer_within_the_limit_is_read() -> None:
    """A gzip answer that inflates within the limit is read whole (control for the bomb)."""
    async with hostile() as (fake, proxy, client):
        await client.upload_sample(make_wav(11))
        padded = b'{"voice_list": [], "padding": "' + b" " * (LIMIT // 2) + b'"}'
        body = gzip.compress(padded)
        answer = h.raw(h.http_answer(200, body, headers={"Content-Encoding": "gzip"}))
        proxy.add(h.Rule("audio/voices", answer, forward=False))
        assert await client.list_cloned_voices() == []
    assert fake.record.requests["voices"] == 0


def test_enough_cases() -> None:
    """At least 40 byte-level cases across clone, list, upload, accounts and config."""
    assert len(CASES) >= 40
    assert {c.values[0] for c in CASES} == set(OPERATIONS)
