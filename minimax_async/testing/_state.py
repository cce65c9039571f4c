"""The fake server's mutable world: accounts, voices, uploaded files, clips and counters."""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import time
from collections.abc import Iterable

import attrs

from minimax_async.testing._catalogue import CDN, SystemCatalogue
from minimax_async.testing._gate import CloneGate
from minimax_async.testing._http import ApiError
from minimax_async.testing._record import CreatedVoice, ServerRecord

__all__ = ["AccountState", "ServerState", "now_ms", "parse_audio_id"]

_TOKEN_PATTERN = re.compile(r"^user:(\d+)-[A-Za-z0-9]+$")
_AUDIO_ID_PATTERN = re.compile(r"^user:(?P<user>\d+)-minimax:(?P<account>.+)-audio:(?P<n>\d+)$")
_FIRST_CREATED_ACCOUNT = 200_001
_JWT_TOKEN = "abc…secured…xyz"
_JWT_LIFETIME_S = 30 * 24 * 3600
_MIN_MAX_JOBS = 1
_MAX_MAX_JOBS = 10


def now_ms() -> int:
    """Return the current time in epoch milliseconds."""
    return int(time.time() * 1000)


def parse_audio_id(audio_id: str) -> tuple[str, str] | None:
    """Split a composite ``user:<uid>-minimax:<account>-audio:<n>`` id.

    Args:
        audio_id: The id.

    Returns:
        ``(user_id, account)``, or ``None`` when the id is not of that form.
    """
    match = _AUDIO_ID_PATTERN.match(audio_id)
    if match is None:
        return None
    return match["user"], match["account"]


def user_id_of(token: str) -> str:
    """Return the user number of a ``user:<number>-<alnum>`` token.

    Args:
        token: The API token.

    Returns:
        The number, as a string.

    Raises:
        ValueError: The token does not have that form.
    """
    match = _TOKEN_PATTERN.match(token)
    if match is None:
        raise ValueError("token must look like 'user:<number>-<alphanumeric>'")
    return match[1]


@attrs.define
class AccountState:
    """One configured MiniMax account.

    Attributes:
        account: The account id.
        max_jobs: The ``maxJobs`` setting.
        status: An ``(HTTP status, message)`` every request for the account answers, if set.
        clone_limit: Clones processed at once on this account before 429, when it differs
            from the server's ``max_parallel_clones`` (an account whose upstream runs fewer).
        voices: Cloned voices by voice id, in creation order.
        clip_ids: Ids of generated clips, oldest first.
        created: Epoch seconds of the account's configuration.
    """

    account: str
    max_jobs: int
    status: tuple[int, str] | None = None
    clone_limit: int | None = None
    voices: dict[str, dict[str, object]] = attrs.Factory(dict)
    clip_ids: list[str] = attrs.Factory(list)
    created: float = attrs.Factory(time.time)


class ServerState:
    """Everything the fake server knows, shared by its handlers.

    Args:
        token: The API token requests must carry.
        accounts: The initially configured accounts.
        max_voices_per_account: Cloned-voice slots per account.
        max_parallel_clones: Clones processed at once per account before 429.
        clone_latency: Seconds a clone takes, or a ``(low, high)`` uniform range.
        request_latency: Extra seconds for every other endpoint.
        seed: Seed of all generated data and random draws.
        retry_after: Seconds in the ``Retry-After`` header of the over-capacity 429.
        system_voice_count: Size of the system-voice catalogue.
    """

    def __init__(
        self,
        *,
        token: str,
        accounts: Iterable[str],
        max_voices_per_account: int,
        max_parallel_clones: int,
        clone_latency: float | tuple[float, float],
        request_latency: float,
        seed: int,
        retry_after: float,
        system_voice_count: int,
    ) -> None:
        self.token = token
        self.user_id = user_id_of(token)
        self.auth_header = f"Bearer {token}"
        self.max_voices_per_account = max_voices_per_account
        self.max_parallel_clones = max_parallel_clones
        self.clone_latency = clone_latency
        self.request_latency = request_latency
        self.retry_after = retry_after
        self.record = ServerRecord()
        self.gate = CloneGate()
        self.catalogue = SystemCatalogue(system_voice_count, seed)
        self.accounts: dict[str, AccountState] = {}
        self.files: dict[str, str] = {}  # fileID -> account
        self.clips: dict[str, dict[str, object]] = {}
        self._ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._latency_rng = random.Random(seed)
        self._token_rng = random.Random(f"{seed}-stream")
        self._slow: set[asyncio.Task[object]] = set()
        default_jobs = min(max(max_parallel_clones, _MIN_MAX_JOBS), _MAX_MAX_JOBS)
        for account in accounts:
            self.accounts[account] = AccountState(account, default_jobs)

    # -- accounts --------------------------------------------------------------------

    def resolve(self, requested: str | None) -> str:
        """Resolve the ``account`` parameter of a request (contract §2).

        Args:
            requested: The parameter, or ``None`` when absent.

        Returns:
            The account.

        Raises:
            ApiError: Absent with several (or no) accounts configured, or unknown.
        """
        if requested is None:
            if len(self.accounts) == 1:
                return next(iter(self.accounts))
            if not self.accounts:
                raise ApiError(400, "No MiniMax account configured, use POST /accounts")
            raise ApiError(
                400, "Parameter account is required when several accounts are configured"
            )
        if requested not in self.accounts:
            raise ApiError(400, f"Account {requested} is not configured, use POST /accounts")
        return requested

    def new_account(self, max_jobs: int) -> AccountState:
        """Configure a new account with a server-chosen id.

        Args:
            max_jobs: Its ``maxJobs`` setting.

        Returns:
            The account.
        """
        numeric = [int(a) for a in self.accounts if a.isdigit()]
        account = str(max([_FIRST_CREATED_ACCOUNT - 1, *numeric]) + 1)
        state = AccountState(account, max_jobs)
        self.accounts[account] = state
        return state

    def delete_account(self, account: str) -> None:
        """Forget an account, its voices and its clips.

        Args:
            account: The account.
        """
        state = self.accounts.pop(account)
        for clip_id in state.clip_ids:
            self.clips.pop(clip_id, None)

    def account_object(self, state: AccountState) -> dict[str, object]:
        """Return the wire account object of contract §3.1.

        Args:
            state: The account.

        Returns:
            The account object (with ``error`` when the account has a status set).
        """
        issued = state.created
        expires = issued + _JWT_LIFETIME_S
        body: dict[str, object] = {
            "account": state.account,
            "jwt": {
                "token": _JWT_TOKEN,
                "user": {
                    "deviceID": f"9{state.account}",
                    "id": state.account,
                    "isAnonymous": False,
                    "name": f"Fake MiniMax user {state.account}",
                    "avatar": f"{CDN}/avatar/{state.account}.png",
                },
                "exp": expires,
                "iat": issued,
                "host": "www.minimax.io",
                "searchParams": f"device_platform=web&app_id=3001&unix={int(issued * 1000)}",
                "iat_Issued": _iso(issued),
                "exp_Expire": _iso(expires),
            },
            "maxJobs": state.max_jobs,
            "supportAudio": True,
            "supportVideo": False,
            "supportChat": False,
        }
        if state.status is not None:
            body["error"] = state.status[1]
        return body

    # -- ids -------------------------------------------------------------------------

    def new_audio_id(self, account: str) -> str:
        """Return a fresh clip or cloned-voice id of ``account``."""
        return f"user:{self.user_id}-minimax:{account}-audio:{next(self._ids)}"

    def new_file_id(self, account: str) -> str:
        """Return a fresh uploaded-sample id of ``account`` and remember its owner."""
        file_id = f"user:{self.user_id}-minimax:{account}-file:{next(self._file_ids)}"
        self.files[file_id] = account
        return file_id

    def new_stream_token(self) -> str:
        """Return an opaque create-stream token."""
        return f"fakestream-{self._token_rng.getrandbits(96):024x}"

    # -- voices ----------------------------------------------------------------------

    def make_voice(
        self,
        account: str,
        voice_name: str,
        language_tag: str,
        file_id: str,
        *,
        cloned: bool = True,
    ) -> dict[str, object]:
        """Store a new cloned voice on ``account`` and return its wire object.

        Args:
            account: The account.
            voice_name: The voice's name.
            language_tag: Its language, the only entry of its ``tag_list``.
            file_id: The upstream id of the sample it was cloned from.
            cloned: Whether clone-voice created it (recorded in ``record.voices_created``)
                rather than a test pre-populating the account.

        Returns:
            The voice object (contract §4.4).
        """
        voice_id = self.new_audio_id(account)
        serial = voice_id.rsplit(":", 1)[1]
        created = now_ms()
        voice: dict[str, object] = {
            "voice_id": voice_id,
            "parent_voice_id": "0",
            "voice_name": voice_name,
            "tag_list": [language_tag],
            "file_id": file_id,
            "cover_url": f"{CDN}/voice_cover/{account}/{serial}.png",
            "create_time": created,
            "update_time": created,
            "collected": False,
            "voice_status": 2,
            "sample_audio": f"{CDN}/voice_sample_audio/{account}/{serial}.mp3",
            "uniq_id": f"moss_audio_{account}_{serial}",
            "group_id": account,
        }
        self.accounts[account].voices[voice_id] = voice
        if cloned:
            self.record.voices_created.append(
                CreatedVoice(
                    account=account, voice_id=voice_id, voice_name=voice_name, create_time=created
                )
            )
        return voice

    def clone_delay(self) -> float:
        """Draw the duration of one clone."""
        if isinstance(self.clone_latency, tuple):
            low, high = self.clone_latency
            return self._latency_rng.uniform(low, high)
        return self.clone_latency

    # -- slow waits ------------------------------------------------------------------

    async def sleep(self, seconds: float) -> None:
        """Sleep in a handler; ``cancel_slow`` cuts the sleep short at shutdown."""
        if seconds <= 0:
            return
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - handlers always run in a task
            await asyncio.sleep(seconds)
            return
        self._slow.add(task)
        try:
            await asyncio.sleep(seconds)
        finally:
            self._slow.discard(task)

    async def pass_gate(self, account: str, voice_name: str) -> None:
        """Wait at the clone gate; ``cancel_slow`` cuts the wait short at shutdown."""
        task = asyncio.current_task()
        if task is not None:
            self._slow.add(task)
        try:
            await self.gate._pass(account, voice_name)
        finally:
            if task is not None:
                self._slow.discard(task)

    def cancel_slow(self) -> None:
        """Cancel every handler that is sleeping or held at the gate (server shutdown)."""
        for task in list(self._slow):
            task.cancel()
        self._slow.clear()


def _iso(epoch_seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch_seconds))
