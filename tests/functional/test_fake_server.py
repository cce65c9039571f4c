"""The fake useapi.net MiniMax server, exercised over real sockets with a plain aiohttp client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from minimax_async.testing import FakeMiniMax, Fault, make_mp3, make_wav

ACCOUNT = "100001"
OTHER = "100002"
FAST = 0.001  # clone latency in tests: fast, but still a real await


@pytest.fixture
def anyio_backend() -> str:
    """Run the tests on asyncio (aiohttp is asyncio-only)."""
    return "asyncio"


class Reply:
    """One answer: status, headers and the body as JSON (or text when not JSON)."""

    def __init__(self, status: int, headers: CIMultiDictProxy[str], text: str) -> None:
        self.status = status
        self.headers = headers
        self.text = text
        try:
            self.body: Any = json.loads(text)
        except ValueError:
            self.body = None


class Api:
    """A thin raw-HTTP helper bound to one fake server."""

    def __init__(self, session: aiohttp.ClientSession, fake: FakeMiniMax) -> None:
        self.session = session
        self.fake = fake
        self.auth = {"Authorization": f"Bearer {fake.token}"}

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Reply:
        """Send a request to ``base_url + path`` with the token unless headers are given."""
        sent = dict(self.auth if headers is None else headers)
        async with self.session.request(
            method, self.fake.base_url + path, headers=sent, **kwargs
        ) as response:
            return Reply(response.status, response.headers, await response.text())

    async def upload(self, account: str = ACCOUNT, seconds: float = 12.0) -> str:
        """Upload a WAV sample and return its fileID."""
        reply = await self.request(
            "POST",
            "/audio/upload-sample",
            params={"account": account},
            data=make_wav(seconds),
            headers={**self.auth, "Content-Type": "audio/wav"},
        )
        assert reply.status == 200, reply.text
        return str(reply.body["fileID"])

    async def clone(self, account: str = ACCOUNT, name: str = "Doctor Who", **extra: Any) -> Reply:
        """Upload one sample and clone a voice from it."""
        files = await self.upload(account)
        body = {"account": account, "voice_name": name, "language_tag": "English", "files": files}
        body.update(extra)
        return await self.request("POST", "/audio/clone-voice", json=body)


@pytest.fixture
async def fake() -> AsyncIterator[FakeMiniMax]:
    """A running fake server with two accounts and fast clones."""
    async with FakeMiniMax(accounts=(ACCOUNT, OTHER), clone_latency=FAST, retry_after=0.5) as s:
        yield s


@pytest.fixture
async def api(fake: FakeMiniMax) -> AsyncIterator[Api]:
    """A raw-HTTP helper for ``fake``."""
    async with aiohttp.ClientSession() as session:
        yield Api(session, fake)


# -- auth and accounts ----------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"Authorization": "Bearer user:1234-Wrong"}, id="wrong-token"),
        pytest.param({"Authorization": "user:1234-FakeToken0123456789"}, id="no-bearer"),
    ],
)
async def test_bad_token_is_401(api: Api, headers: dict[str, str]) -> None:
    """Any request without the exact bearer token answers the documented 401."""
    reply = await api.request("GET", "/audio/config", params={"account": ACCOUNT}, headers=headers)
    assert reply.status == 401
    assert reply.body == {"error": "Unauthorized", "code": 401}
    assert api.fake.record.requests["config"] == 1
    assert api.fake.record.requests_by_account[("config", None)] == 1


@pytest.mark.anyio
async def test_account_required_with_several_accounts(api: Api) -> None:
    """Without ``account``, several configured accounts answer 400; unknown ones too."""
    missing = await api.request("GET", "/audio/config")
    assert missing.status == 400
    assert missing.body == {
        "error": "Parameter account is required when several accounts are configured",
        "code": 400,
    }
    unknown = await api.request("GET", "/audio/config", params={"account": "999"})
    assert unknown.status == 400
    assert unknown.body["code"] == 400
    ok = await api.request("GET", "/audio/config/", params={"account": OTHER})
    assert ok.status == 200
    assert api.fake.record.requests_by_account[("config", OTHER)] == 1


@pytest.mark.anyio
async def test_single_account_is_the_default() -> None:
    """With exactly one account configured, ``account`` may be omitted."""
    async with FakeMiniMax(clone_latency=FAST) as fake, aiohttp.ClientSession() as session:
        api = Api(session, fake)
        reply = await api.request("GET", "/audio/config")
        assert reply.status == 200
        languages = [tag["tag_name"] for tag in reply.body["voice_tag_language"]]
        assert "English" in languages
        assert len(languages) == 16
        assert fake.record.requests_by_account[("config", "100001")] == 1


@pytest.mark.anyio
async def test_account_endpoints(api: Api) -> None:
    """Accounts are listed, fetched, created (201), refused (400) and deleted; 404 is text."""
    listed = await api.request("GET", "/accounts")
    assert set(listed.body) == {ACCOUNT, OTHER}
    assert listed.body[ACCOUNT]["jwt"]["user"]["id"] == ACCOUNT
    assert listed.body[ACCOUNT]["supportAudio"] is True
    missing = await api.request("GET", "/accounts/424242")
    assert missing.status == 404
    assert missing.body is None
    assert missing.text.startswith("Configuration not found.")
    bad = await api.request("POST", "/accounts", json={"url": "https://x", "token": "t"})
    assert bad.status == 400
    too_many = await api.request(
        "POST", "/accounts", json={"url": "https://x", "token": "t", "maxJobs": 11}
    )
    assert too_many.status == 400
    created = await api.request(
        "POST", "/accounts", json={"url": "https://x", "token": "t", "maxJobs": 3}
    )
    assert created.status == 201
    new_account = created.body["account"]
    assert created.body["maxJobs"] == 3
    assert new_account in api.fake.accounts
    deleted = await api.request("DELETE", f"/accounts/{new_account}")
    assert deleted.status == 200
    assert api.fake.accounts == (ACCOUNT, OTHER)
    assert (await api.request("DELETE", f"/accounts/{new_account}")).status == 404


@pytest.mark.anyio
async def test_account_status_596(api: Api) -> None:
    """An account set on hold answers 596 everywhere until the status is cleared."""
    api.fake.set_account_status(ACCOUNT, 596)
    reply = await api.request("GET", "/audio/voices", params={"account": ACCOUNT})
    assert reply.status == 596
    assert reply.body["code"] == 596
    clone = await api.request(
        "POST", "/audio/clone-voice", json={"account": ACCOUNT, "voice_name": "x"}
    )
    assert clone.status == 596
    other = await api.request("GET", "/audio/voices", params={"account": OTHER})
    assert other.status == 200
    listed = await api.request("GET", "/accounts")
    assert "error" in listed.body[ACCOUNT]
    api.fake.set_account_status(ACCOUNT, None)
    reply = await api.request("GET", "/audio/voices", params={"account": ACCOUNT})
    assert reply.status == 200


# -- upload-sample --------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        pytest.param("audio/wav", make_wav(12), 200, id="wav-ok"),
        pytest.param("audio/wave", make_wav(60), 200, id="wav-60s-ok"),
        pytest.param("audio/mpeg", make_mp3(10), 200, id="mp3-ok"),
        pytest.param("audio/mpeg", make_mp3(59), 200, id="mp3-59s-ok"),
        pytest.param("audio/ogg", make_wav(12), 400, id="bad-content-type"),
        pytest.param("application/octet-stream", make_wav(12), 400, id="octet-stream"),
        pytest.param("audio/wav", make_wav(5), 400, id="wav-too-short"),
        pytest.param("audio/wav", make_wav(61), 400, id="wav-too-long"),
        pytest.param("audio/mpeg", make_mp3(5), 400, id="mp3-too-short"),
        pytest.param("audio/mpeg", make_mp3(62), 400, id="mp3-too-long"),
        pytest.param("audio/wav", b"", 400, id="empty"),
        pytest.param("audio/mpeg", make_wav(12), 400, id="wav-sent-as-mp3"),
        pytest.param("audio/wav", make_mp3(12), 400, id="mp3-sent-as-wav"),
    ],
)
async def test_upload_sample(api: Api, content_type: str, body: bytes, status: int) -> None:
    """Uploads take raw mp3/wav bodies of 10-60 s with an audio content type."""
    reply = await api.request(
        "POST",
        "/audio/upload-sample/",
        params={"account": ACCOUNT},
        data=body,
        headers={**api.auth, "Content-Type": content_type},
    )
    assert reply.status == status, reply.text
    if status == 200:
        assert reply.body["fileID"].startswith(f"user:1234-minimax:{ACCOUNT}-file:")
        assert reply.body["ossPath"].startswith("https://cdn.fake.minimax/")
        assert api.fake.record.uploads == 1
    else:
        assert reply.body["code"] == 400
        assert api.fake.record.uploads == 0


@pytest.mark.anyio
async def test_upload_too_short_names_the_duration(api: Api) -> None:
    """The refusal of a short sample says how long it was."""
    reply = await api.request(
        "POST",
        "/audio/upload-sample",
        params={"account": ACCOUNT},
        data=make_wav(4),
        headers={**api.auth, "Content-Type": "audio/wav"},
    )
    assert "4.00 seconds" in reply.body["error"]


# -- clone-voice ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_clone_ok_files_arrive_as_string(api: Api) -> None:
    """A clone from two samples answers a voice object; ``files`` arrives as one string."""
    first, second = await api.upload(), await api.upload()
    reply = await api.request(
        "POST",
        "/audio/clone-voice",
        json={
            "account": ACCOUNT,
            "voice_name": "Doctor Who",
            "language_tag": "English",
            "files": f"{first},{second}",
            "need_noise_reduction": False,
        },
    )
    assert reply.status == 200, reply.text
    voice = reply.body
    assert voice["voice_id"].startswith(f"user:1234-minimax:{ACCOUNT}-audio:")
    assert voice["voice_name"] == "Doctor Who"
    assert voice["tag_list"] == ["English"]
    assert voice["parent_voice_id"] == "0"
    assert voice["voice_status"] == 2
    assert set(voice) >= {"cover_url", "create_time", "update_time", "sample_audio", "uniq_id"}
    assert api.fake.record.clone_bodies[0]["files"] == f"{first},{second}"
    assert api.fake.voices(ACCOUNT) == [voice]
    created = api.fake.record.voices_created
    assert [(v.account, v.voice_id) for v in created] == [(ACCOUNT, voice["voice_id"])]
    listed = await api.request(
        "GET", "/audio/voices/", params={"account": ACCOUNT, "is_system": "false"}
    )
    assert listed.body == {"voice_list": [voice]}


@pytest.mark.anyio
async def test_clone_accepts_multipart_form(api: Api) -> None:
    """clone-voice takes multipart/form-data with the same field names."""
    files = await api.upload()
    form = aiohttp.FormData()
    for key, value in {
        "account": ACCOUNT,
        "voice_name": "Form Voice",
        "language_tag": "French",
        "files": files,
        "need_noise_reduction": "false",
    }.items():
        form.add_field(key, value)
    reply = await api.request("POST", "/audio/clone-voice", data=form)
    assert reply.status == 200, reply.text
    assert reply.body["tag_list"] == ["French"]
    assert api.fake.record.clone_bodies[0]["files"] == files


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        pytest.param({"files": "ARRAY"}, "files", id="files-as-array"),
        pytest.param({"files": "OTHER-ACCOUNT"}, "account", id="file-of-other-account"),
        pytest.param({"files": "user:1234-minimax:100001-file:999"}, "not found", id="unknown"),
        pytest.param({"files": "ELEVEN"}, "maximum is 10", id="eleven-files"),
        pytest.param({"voice_name": "x" * 31}, "voice_name", id="name-31-chars"),
        pytest.param({"voice_name": ""}, "voice_name", id="name-empty"),
        pytest.param({"language_tag": "Klingon"}, "language_tag", id="unknown-language"),
        pytest.param({"language_tag": None}, "language_tag", id="no-language"),
        pytest.param({"need_noise_reduction": "yes"}, "need_noise_reduction", id="bad-bool"),
    ],
)
async def test_clone_refusals(api: Api, change: dict[str, Any], fragment: str) -> None:
    """Invalid clone requests answer 400 and create nothing."""
    files = await api.upload()
    body: dict[str, Any] = {
        "account": ACCOUNT,
        "voice_name": "Valid",
        "language_tag": "English",
        "files": files,
    }
    body.update(change)
    if body["files"] == "ARRAY":
        body["files"] = [files]
    elif body["files"] == "OTHER-ACCOUNT":
        body["files"] = await api.upload(OTHER)
    elif body["files"] == "ELEVEN":
        body["files"] = ",".join([await api.upload() for _ in range(11)])
    body = {key: value for key, value in body.items() if value is not None}
    reply = await api.request("POST", "/audio/clone-voice", json=body)
    assert reply.status == 400, reply.text
    assert reply.body["code"] == 400
    assert fragment in reply.body["error"]
    assert api.fake.voices(ACCOUNT) == []
    assert api.fake.record.voices_created == []


@pytest.mark.anyio
async def test_clone_name_of_30_chars_and_10_files_accepted(api: Api) -> None:
    """The documented maxima themselves (30 characters, 10 files) are accepted."""
    files = ",".join([await api.upload() for _ in range(10)])
    reply = await api.request(
        "POST",
        "/audio/clone-voice",
        json={"account": ACCOUNT, "voice_name": "x" * 30, "language_tag": "German", "files": files},
    )
    assert reply.status == 200, reply.text


@pytest.mark.anyio
async def test_voice_limit(api: Api) -> None:
    """The fifth voice on an account is refused with 400 until a slot is freed."""
    api.fake.add_voice(ACCOUNT, "Manual one")
    for index in range(3):
        assert (await api.clone(name=f"Voice {index}")).status == 200
    refused = await api.clone(name="Too many")
    assert refused.status == 400
    assert "limit" in refused.body["error"]
    assert len(api.fake.voices(ACCOUNT)) == 4
    assert len(api.fake.record.voices_created) == 3
    victim = api.fake.voices(ACCOUNT)[0]["voice_id"]
    deleted = await api.request(
        "POST", "/audio/delete-voice", json={"account": ACCOUNT, "voice_id": victim}
    )
    assert deleted.status == 200
    assert (await api.clone(name="Fits again")).status == 200
    assert (await api.clone(account=OTHER)).status == 200


@pytest.mark.anyio
async def test_over_capacity_429_with_gate(api: Api) -> None:
    """A third parallel clone on one account answers 429 with Retry-After while two are held."""
    fake = api.fake
    fake.gate.close()
    first = asyncio.create_task(api.clone(name="First"))
    second = asyncio.create_task(api.clone(name="Second"))
    await fake.gate.wait_held(2, account=ACCOUNT)
    assert fake.record.clones_in_flight[ACCOUNT] == 2
    third = await api.clone(name="Third")
    assert third.status == 429
    assert third.headers["Retry-After"] == "0.5"
    assert third.body == {"error": "Too many parallel clone tasks, at most 2", "code": 429}
    assert fake.record.rejected_over_capacity == 1
    assert fake.gate.held(ACCOUNT) == 2
    fake.gate.open()
    replies = [await first, await second]
    assert [reply.status for reply in replies] == [200, 200]
    assert fake.record.clones_in_flight[ACCOUNT] == 0
    assert fake.record.max_clones_in_flight == {ACCOUNT: 2}
    assert len(fake.voices(ACCOUNT)) == 2


@pytest.mark.anyio
async def test_per_account_clone_limit(api: Api) -> None:
    """An account given a clone limit of 1 answers 429 to its second parallel clone, while
    the others keep the server-wide limit; None restores it."""
    fake = api.fake
    fake.set_clone_limit(ACCOUNT, 1)
    fake.gate.close()
    first = asyncio.create_task(api.clone(name="First"))
    await fake.gate.wait_held(1, account=ACCOUNT)
    second = await api.clone(name="Second")
    assert second.status == 429
    assert second.body == {"error": "Too many parallel clone tasks, at most 1", "code": 429}
    others = [asyncio.create_task(api.clone(OTHER, name=f"B{i}")) for i in range(2)]
    await fake.gate.wait_held(2, account=OTHER)
    fake.set_clone_limit(ACCOUNT, None)
    third = asyncio.create_task(api.clone(name="Third"))
    await fake.gate.wait_held(2, account=ACCOUNT)
    fake.gate.open()
    assert [(await t).status for t in (first, third, *others)] == [200] * 4
    assert fake.record.max_clones_in_flight == {ACCOUNT: 2, OTHER: 2}
    assert fake.record.rejected_over_capacity == 1
    with pytest.raises(ValueError, match="at least 1"):
        fake.set_clone_limit(ACCOUNT, 0)
    with pytest.raises(KeyError):
        fake.set_clone_limit("999999", 1)


@pytest.mark.anyio
async def test_max_in_flight_record_per_account_and_total(api: Api) -> None:
    """A busy account does not block another; maxima are recorded per account and in total."""
    fake = api.fake
    fake.gate.close()
    tasks = [
        asyncio.create_task(api.clone(ACCOUNT, name="A1")),
        asyncio.create_task(api.clone(ACCOUNT, name="A2")),
        asyncio.create_task(api.clone(OTHER, name="B1")),
    ]
    await fake.gate.wait_held(3)
    assert fake.gate.held(OTHER) == 1
    assert sorted(fake.gate.held_voice_names()) == ["A1", "A2", "B1"]
    assert fake.gate.held_voice_names(OTHER) == ["B1"]
    assert fake.gate.release(1, account=OTHER) == 1
    assert (await tasks[2]).body["voice_name"] == "B1"
    assert fake.gate.release(1) == 1
    assert (await tasks[0]).body["voice_name"] == "A1"
    fake.gate.open()
    assert (await tasks[1]).status == 200
    assert fake.record.max_clones_in_flight == {ACCOUNT: 2, OTHER: 1}
    assert fake.record.max_clones_in_flight_total == 3
    assert fake.record.clones_in_flight == {ACCOUNT: 0, OTHER: 0}


@pytest.mark.anyio
async def test_clone_completes_after_client_gives_up(api: Api) -> None:
    """A clone whose client timed out still completes (like the real service) and frees its slot."""
    fake = api.fake
    fake.gate.close()
    files = await api.upload()
    with pytest.raises(asyncio.TimeoutError):
        await api.request(
            "POST",
            "/audio/clone-voice",
            json={
                "account": ACCOUNT,
                "voice_name": "Gone",
                "language_tag": "English",
                "files": files,
            },
            timeout=aiohttp.ClientTimeout(total=0.2),
        )
    assert fake.gate.held(ACCOUNT) == 1
    fake.gate.open()
    for _ in range(100):
        if fake.record.clones_in_flight[ACCOUNT] == 0:
            break
        await asyncio.sleep(0)
    assert fake.record.clones_in_flight[ACCOUNT] == 0
    assert [voice["voice_name"] for voice in fake.voices(ACCOUNT)] == ["Gone"]


@pytest.mark.anyio
async def test_close_while_held_creates_nothing() -> None:
    """Closing the server cancels held clones: no voice, nothing left in flight."""
    async with aiohttp.ClientSession() as session:
        async with FakeMiniMax(clone_latency=FAST) as fake:
            api = Api(session, fake)
            fake.gate.close()
            task = asyncio.create_task(api.clone())
            await fake.gate.wait_held(1)
        with pytest.raises(aiohttp.ClientConnectionError):
            await task
    assert fake.record.clones_in_flight == {"100001": 0}
    assert fake.voices("100001") == []
    assert fake.record.voices_created == []


@pytest.mark.anyio
async def test_cancel_on_disconnect_frees_slot_without_voice() -> None:
    """With cancel_on_disconnect, a clone whose client left is cancelled and creates nothing."""
    async with (
        FakeMiniMax(clone_latency=FAST, cancel_on_disconnect=True) as fake,
        aiohttp.ClientSession() as session,
    ):
        api = Api(session, fake)
        fake.gate.close()
        task = asyncio.create_task(api.clone())
        await fake.gate.wait_held(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(100):
            if fake.record.clones_in_flight["100001"] == 0:
                break
            await asyncio.sleep(0.01)
        assert fake.record.clones_in_flight["100001"] == 0
        assert fake.gate.held() == 0
        fake.gate.open()
        assert fake.voices("100001") == []


# -- delete-voice and voices ----------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param(
            {"account": ACCOUNT, "voice_id": "user:1234-minimax:1-audio:9"}, 200, id="unknown"
        ),
        pytest.param({"account": ACCOUNT, "voice_id": "1234567890"}, 200, id="bare-id"),
        pytest.param({"account": ACCOUNT}, 400, id="missing-voice-id"),
    ],
)
async def test_delete_voice_is_idempotent(api: Api, body: dict[str, str], status: int) -> None:
    """delete-voice answers 200 for unknown voices and 400 without a voice_id."""
    reply = await api.request("POST", "/audio/delete-voice", json=body)
    assert reply.status == status
    if status == 200:
        assert reply.body == {"voice_id": body["voice_id"]}


@pytest.mark.anyio
async def test_delete_voice_twice(api: Api) -> None:
    """Deleting a voice frees it; deleting it again still answers 200."""
    voice_id = (await api.clone()).body["voice_id"]
    for _ in range(2):
        reply = await api.request(
            "POST", "/audio/delete-voice", json={"account": ACCOUNT, "voice_id": voice_id}
        )
        assert reply.status == 200
    assert api.fake.voices(ACCOUNT) == []


@pytest.mark.anyio
async def test_system_voices_paging(api: Api) -> None:
    """System voices page at 500 by default with total and has_more, pages starting at 1."""
    seen: list[str] = []
    page = 1
    while True:
        reply = await api.request(
            "GET", "/audio/voices/", params={"account": ACCOUNT, "page": str(page)}
        )
        assert reply.status == 200
        assert reply.body["total"] == 1200
        seen.extend(voice["voice_id"] for voice in reply.body["voice_list"])
        if not reply.body["has_more"]:
            break
        page += 1
    assert page == 3
    assert len(seen) == len(set(seen)) == 1200
    assert all(voice_id.isdigit() for voice_id in seen)
    small = await api.request(
        "GET", "/audio/voices", params={"account": ACCOUNT, "page": "2", "page_size": "7"}
    )
    assert [v["voice_id"] for v in small.body["voice_list"]] == seen[7:14]
    bad = await api.request("GET", "/audio/voices", params={"account": ACCOUNT, "page": "0"})
    assert bad.status == 400


@pytest.mark.anyio
@pytest.mark.parametrize(
    "tags",
    [
        pytest.param("Italian", id="language"),
        pytest.param("English,Female,Adult", id="three-tags"),
        pytest.param("English,US (General)", id="accent"),
    ],
)
async def test_system_voices_tag_filter(api: Api, tags: str) -> None:
    """``tag_list`` keeps only voices carrying every listed tag."""
    reply = await api.request(
        "GET", "/audio/voices", params={"account": ACCOUNT, "tag_list": tags, "page_size": "2000"}
    )
    voices = reply.body["voice_list"]
    assert 0 < len(voices) == reply.body["total"] < 1200
    assert all(set(tags.split(",")) <= set(voice["tag_list"]) for voice in voices)
    none = await api.request(
        "GET", "/audio/voices", params={"account": ACCOUNT, "tag_list": f"{tags},Klingon"}
    )
    assert none.body == {"voice_list": [], "total": 0, "has_more": False}


@pytest.mark.anyio
async def test_catalogue_is_seeded() -> None:
    """Two servers with one seed serve the same catalogue; another seed differs."""
    bodies = []
    for seed in (7, 7, 8):
        async with FakeMiniMax(seed=seed) as fake, aiohttp.ClientSession() as session:
            reply = await Api(session, fake).request(
                "GET", "/audio/voices", params={"page_size": "5"}
            )
            bodies.append(reply.body)
    assert bodies[0] == bodies[1] != bodies[2]


# -- text to speech -------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("change", "status"),
    [
        pytest.param({}, 200, id="defaults"),
        pytest.param({"text": "x" * 500}, 200, id="text-500"),
        pytest.param({"text": "x" * 501}, 400, id="text-501"),
        pytest.param({"text": ""}, 400, id="text-empty"),
        pytest.param({"voice_id": "123"}, 400, id="unknown-voice"),
        pytest.param({"speed": 0.5, "pitch": -12, "vol": 3, "emotion": "happy"}, 200, id="bounds"),
        pytest.param({"speed": 2.1}, 400, id="speed-too-fast"),
        pytest.param({"pitch": 13}, 400, id="pitch-too-high"),
        pytest.param({"pitch": 1.5}, 400, id="pitch-not-int"),
        pytest.param({"vol": 0}, 400, id="vol-zero"),
        pytest.param({"deepen_lighten": 101}, 400, id="effect-out-of-range"),
        pytest.param({"robotic": "yes"}, 400, id="switch-not-bool"),
        pytest.param({"emotion": "bored"}, 400, id="unknown-emotion"),
        pytest.param({"language_boost": "Italian", "model": "anything"}, 200, id="boost-model"),
    ],
)
async def test_create_mp3_limits(api: Api, change: dict[str, Any], status: int) -> None:
    """create-mp3 enforces the documented text, voice and parameter limits."""
    system = await api.request(
        "GET", "/audio/voices", params={"account": ACCOUNT, "page_size": "1"}
    )
    body = {
        "account": ACCOUNT,
        "text": "Hello there",
        "voice_id": system.body["voice_list"][0]["voice_id"],
    }
    body.update(change)
    reply = await api.request("POST", "/audio/create-mp3", json=body)
    assert reply.status == status, reply.text
    if status == 200:
        clip = reply.body
        assert clip["audio_id"].startswith(f"user:1234-minimax:{ACCOUNT}-audio:")
        assert clip["voice_info"]["voice_id"] == body["voice_id"]
        assert set(clip["effects"]) == {
            "deepen_lighten",
            "stronger_softer",
            "nasal_crisp",
            "spacious_echo",
            "lofi_telephone",
            "robotic",
            "auditorium_echo",
        }


@pytest.mark.anyio
async def test_clips_listed_fetched_deleted(api: Api) -> None:
    """Clips made with a cloned voice are listed newest first, fetched, and deleted idempotently."""
    voice_id = (await api.clone()).body["voice_id"]
    ids = []
    for index in range(3):
        reply = await api.request(
            "POST",
            "/audio/create-mp3",
            json={"account": ACCOUNT, "text": f"Clip {index}", "voice_id": voice_id},
        )
        ids.append(reply.body["audio_id"])
    other = await api.request(
        "POST", "/audio/create-mp3", json={"account": OTHER, "text": "x", "voice_id": voice_id}
    )
    assert other.status == 400  # a cloned voice belongs to its account
    listed = await api.request("GET", "/audio/", params={"account": ACCOUNT, "page_size": "2"})
    assert [item["audio_id"] for item in listed.body["audio_list"]] == [ids[2], ids[1]]
    assert listed.body["total"] == 3
    assert listed.body["has_more"] is True
    rest = await api.request(
        "GET", "/audio", params={"account": ACCOUNT, "page": "2", "page_size": "2"}
    )
    assert [item["audio_id"] for item in rest.body["audio_list"]] == [ids[0]]
    assert rest.body["has_more"] is False
    fetched = await api.request("GET", f"/audio/{ids[0]}")
    assert fetched.body["text"] == "Clip 0"
    for _ in range(2):
        assert (await api.request("DELETE", f"/audio/{ids[0]}")).status == 200
    gone = await api.request("GET", f"/audio/{ids[0]}")
    assert gone.status == 404
    assert gone.body["code"] == 404


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("length", "status"),
    [pytest.param(5000, 200, id="5000"), pytest.param(5001, 400, id="5001")],
)
async def test_create_stream(api: Api, length: int, status: int) -> None:
    """create-stream takes up to 5000 characters and answers a token and a payload."""
    system = await api.request(
        "GET", "/audio/voices", params={"account": ACCOUNT, "page_size": "1"}
    )
    voice_id = system.body["voice_list"][0]["voice_id"]
    reply = await api.request(
        "POST",
        "/audio/create-stream",
        json={"account": ACCOUNT, "text": "x" * length, "voice_id": voice_id},
    )
    assert reply.status == status
    if status == 200:
        assert isinstance(reply.body["token"], str)
        assert reply.body["payload"]["voice_id"] == voice_id


# -- fault injection ------------------------------------------------------------------


@pytest.mark.anyio
async def test_fault_status_once(api: Api) -> None:
    """A scripted status fault answers the next matching request only, with Retry-After."""
    api.fake.faults.add("config", Fault(status=503, message="busy", retry_after="2"), account=OTHER)
    params = {"account": ACCOUNT}
    assert (await api.request("GET", "/audio/config", params=params)).status == 200
    before = time.monotonic()
    faulted = await api.request("GET", "/audio/config", params={"account": OTHER})
    assert faulted.status == 503
    [applied_at] = api.fake.record.faults_applied_at
    assert before <= applied_at <= time.monotonic()
    assert faulted.body == {"error": "busy", "code": 503}
    assert faulted.headers["Retry-After"] == "2"
    assert (await api.request("GET", "/audio/config", params={"account": OTHER})).status == 200
    assert api.fake.faults.pending() == 0


@pytest.mark.anyio
async def test_fault_waits_for_auth(api: Api) -> None:
    """A request with a bad token answers 401 and does not consume a fault."""
    api.fake.faults.add("config", Fault(status=500))
    reply = await api.request("GET", "/audio/config", headers={"Authorization": "Bearer nope"})
    assert reply.status == 401
    assert api.fake.faults.pending("config") == 1


@pytest.mark.anyio
async def test_fault_plain_text_body(api: Api) -> None:
    """A raw-body fault answers a gateway page that is not JSON."""
    page = "<html><body>502 Bad Gateway</body></html>"
    api.fake.faults.add("create-mp3", Fault(status=502, body=page, content_type="text/html"))
    reply = await api.request("POST", "/audio/create-mp3", json={"account": ACCOUNT})
    assert reply.status == 502
    assert reply.headers["Content-Type"].startswith("text/html")
    assert reply.text == page
    assert reply.body is None


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", [pytest.param("clone-voice"), pytest.param("config")])
async def test_fault_drop_breaks_connection(api: Api, endpoint: str) -> None:
    """A drop fault closes the connection: the client sees a disconnection, then recovers."""
    # times=2: aiohttp retries an idempotent GET once when a reused connection breaks.
    api.fake.faults.add(endpoint, Fault(drop=True), times=2)
    path = "/audio/clone-voice" if endpoint == "clone-voice" else "/audio/config"
    method = "POST" if endpoint == "clone-voice" else "GET"
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await api.request(method, path, json={"account": ACCOUNT}, params={"account": ACCOUNT})
    api.fake.faults.clear()
    assert (await api.request("GET", "/audio/config", params={"account": ACCOUNT})).status == 200
    assert api.fake.voices(ACCOUNT) == []


@pytest.mark.anyio
async def test_fault_after_effect_creates_voice(api: Api) -> None:
    """An after-effect fault lets the clone happen, then answers 500."""
    api.fake.faults.add("clone-voice", Fault(status=500, after_effect=True))
    reply = await api.clone()
    assert reply.status == 500
    assert reply.body == {"error": "Injected fault", "code": 500}
    assert len(api.fake.voices(ACCOUNT)) == 1
    assert len(api.fake.record.voices_created) == 1
    assert api.fake.record.clones_in_flight[ACCOUNT] == 0


@pytest.mark.anyio
async def test_fault_after_effect_drop_after_clone(api: Api) -> None:
    """An after-effect drop creates the voice, then breaks the connection."""
    api.fake.faults.add("clone-voice", Fault(drop=True, after_effect=True))
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await api.clone()
    assert len(api.fake.voices(ACCOUNT)) == 1


@pytest.mark.anyio
async def test_fault_delay_is_a_slow_answer(api: Api) -> None:
    """A delay-only fault holds the answer; the server still closes promptly afterwards."""
    api.fake.faults.add("config", Fault(delay=30.0))
    with pytest.raises(asyncio.TimeoutError):
        await api.request(
            "GET",
            "/audio/config",
            params={"account": ACCOUNT},
            timeout=aiohttp.ClientTimeout(total=0.1),
        )


@pytest.mark.anyio
async def test_chaos_is_deterministic() -> None:
    """Chaos with one seed gives the same sequence of faults on every run."""
    runs: list[list[int]] = []
    for _ in range(2):
        async with FakeMiniMax(clone_latency=FAST) as fake, aiohttp.ClientSession() as session:
            fake.faults.chaos("config", 0.5, [Fault(status=502), Fault(status=504)], seed=42)
            api = Api(session, fake)
            runs.append([(await api.request("GET", "/audio/config")).status for _ in range(30)])
    assert runs[0] == runs[1]
    assert {200, 502, 504} == set(runs[0])


def test_fault_plan_rejects_unknown_endpoint() -> None:
    """Fault rules name real endpoints (or '*'), so typos fail loudly."""
    fake = FakeMiniMax()
    with pytest.raises(ValueError, match="unknown endpoint"):
        fake.faults.add("clone", Fault(status=500))
    fake.faults.add("*", Fault(status=500), times=2)
    assert fake.faults.pending() == 2
    fake.faults.clear()
    assert fake.faults.pending() == 0


# -- records and public helpers -------------------------------------------------------


@pytest.mark.anyio
async def test_record_counts_and_reset(api: Api) -> None:
    """Requests are counted per endpoint and account, refused ones included; reset clears."""
    await api.request("GET", "/audio/config", params={"account": ACCOUNT})
    await api.request("GET", "/audio/config")
    await api.upload()
    record = api.fake.record
    assert record.requests == {"config": 2, "upload-sample": 1}
    assert record.requests_by_account[("config", ACCOUNT)] == 1
    assert record.requests_by_account[("config", None)] == 1
    assert record.total_requests == 3
    assert record.uploads == 1
    record.reset()
    assert record.total_requests == 0
    assert record.uploads == 0


def test_base_url_needs_running_server() -> None:
    """base_url is only available while the server runs; the token gives user_id."""
    fake = FakeMiniMax(token="user:987-abcDEF123")
    assert fake.user_id == "987"
    with pytest.raises(RuntimeError):
        _ = fake.base_url
    with pytest.raises(ValueError, match="token"):
        FakeMiniMax(token="not-a-token")


@pytest.mark.anyio
async def test_base_url_shape(fake: FakeMiniMax) -> None:
    """base_url points at 127.0.0.1 with the /v1/minimax prefix and no trailing slash."""
    assert fake.base_url.startswith("http://127.0.0.1:")
    assert fake.base_url.endswith("/v1/minimax")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/audio/config", id="config"),
        pytest.param("/audio/config/", id="config-slash"),
        pytest.param("/audio/voices", id="voices"),
        pytest.param("/audio/voices/", id="voices-slash"),
        pytest.param("/audio", id="audio-list"),
        pytest.param("/audio/", id="audio-list-slash"),
        pytest.param("/accounts", id="accounts"),
        pytest.param("/accounts/", id="accounts-slash"),
        pytest.param(f"/accounts/{ACCOUNT}/", id="account-slash"),
    ],
)
async def test_routes_with_and_without_trailing_slash(api: Api, path: str) -> None:
    """Every route answers with and without a trailing slash."""
    reply = await api.request("GET", path, params={"account": ACCOUNT})
    assert reply.status == 200, reply.text


@pytest.mark.anyio
async def test_unknown_route_is_json_404(api: Api) -> None:
    """An unknown route answers the JSON error envelope, not aiohttp's text page."""
    reply = await api.request("GET", "/video/create")
    assert reply.status == 404
    assert reply.body["code"] == 404


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fields", "status"),
    [
        pytest.param({"speed": "1.5", "pitch": "3", "robotic": "true"}, 200, id="ok"),
        pytest.param({"pitch": "3.5"}, 400, id="pitch-not-int"),
        pytest.param({"robotic": "maybe"}, 400, id="switch-not-bool"),
    ],
)
async def test_create_mp3_form_fields(api: Api, fields: dict[str, str], status: int) -> None:
    """Form bodies carry numbers and booleans as strings, parsed like their JSON forms."""
    system = await api.request(
        "GET", "/audio/voices", params={"account": ACCOUNT, "page_size": "1"}
    )
    form = aiohttp.FormData()
    form.add_field("account", ACCOUNT)
    form.add_field("text", "Hello")
    form.add_field("voice_id", system.body["voice_list"][0]["voice_id"])
    for key, value in fields.items():
        form.add_field(key, value)
    reply = await api.request("POST", "/audio/create-mp3", data=form)
    assert reply.status == status, reply.text
    if status == 200:
        assert reply.body["speed"] == 1.5
        assert reply.body["effects"]["robotic"] is True
