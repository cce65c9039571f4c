"""The network a user sits behind: TLS with a custom CA, a real HTTP proxy (tinyproxy),
environment proxies, one's own aiohttp session, the User-Agent, connect vs read timeouts."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from importlib.metadata import version
from pathlib import Path

import aiohttp
import pytest
import trustme
from aiohttp import web

from minimax_async import (
    Client,
    ConfigurationError,
    ConnectError,
    RequestTimeoutError,
    RetryPolicy,
    TransportError,
)
from minimax_async._transport import SEND_RATE_FLOOR, Transport, make_transport
from minimax_async._wire import WireRequest
from minimax_async.testing import FakeMiniMax, Fault
from tests.functional.cli_support import cli_env, run_cli
from tests.functional.network_support import (
    TinyProxy,
    server_context,
    start_tinyproxy,
    trusting_context,
)

pytestmark = pytest.mark.anyio

ACCOUNTS = ("100001",)
NO_RETRY = RetryPolicy(attempts=1)
_PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY")


@pytest.fixture(autouse=True)
def _no_environment_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without proxy variables (a developer's own would change them)."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A throwaway certificate authority, trusted by nothing on this machine."""
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    """The throwaway CA's certificate as a PEM file."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
async def tls_fake(ca: trustme.CA) -> AsyncIterator[FakeMiniMax]:
    """The fake server over HTTPS, with a certificate for 127.0.0.1 from ``ca``."""
    async with FakeMiniMax(accounts=ACCOUNTS, ssl_context=server_context(ca)) as fake:
        yield fake


@pytest.fixture
async def proxy(tmp_path: Path) -> AsyncIterator[TinyProxy]:
    """A real tinyproxy on 127.0.0.1 (skipped with an install hint when absent)."""
    async with start_tinyproxy(tmp_path / "proxy") as running:
        yield running


def client_for(fake: FakeMiniMax, **options: object) -> Client:
    return Client(token=fake.token, base_url=fake.base_url, accounts=fake.accounts, **options)  # type: ignore[arg-type]


def fake_hostport(fake: FakeMiniMax) -> str:
    return fake.base_url.split("://", 1)[1].split("/", 1)[0]


# ---------------------------------------------------------------------------- TLS


async def test_tls_fake_is_trusted_through_an_ssl_context(
    tls_fake: FakeMiniMax, ca: trustme.CA
) -> None:
    """``ssl=`` an SSLContext that trusts the throwaway CA: the https requests work."""
    assert tls_fake.base_url.startswith("https://127.0.0.1:")
    async with client_for(tls_fake, ssl=trusting_context(ca)) as client:
        accounts = await client.list_accounts()
    assert [a.account for a in accounts] == list(ACCOUNTS)
    assert tls_fake.record.requests["accounts"] == 1


@pytest.mark.parametrize("as_str", [True, False], ids=["str-path", "pathlike"])
async def test_tls_fake_is_trusted_through_a_ca_file(
    tls_fake: FakeMiniMax, ca_file: Path, as_str: bool
) -> None:
    """``ssl=`` a CA file path, as a string or a Path."""
    async with client_for(tls_fake, ssl=str(ca_file) if as_str else ca_file) as client:
        await client.get_config()
    assert tls_fake.record.requests["config"] == 1


async def test_tls_fake_is_refused_without_its_ca(tls_fake: FakeMiniMax) -> None:
    """Without the CA, the certificate is not trusted: a ConnectError that says so and
    says what to do; the server saw no request."""
    async with client_for(tls_fake) as client:
        with pytest.raises(ConnectError, match="certificate was not trusted") as caught:
            await client.with_options(retry=NO_RETRY).get_config()
    assert "ssl=" in str(caught.value)
    assert not caught.value.maybe_processed
    assert tls_fake.record.total_requests == 0


async def test_ssl_false_skips_verification_and_warns(
    tls_fake: FakeMiniMax, caplog: pytest.LogCaptureFixture
) -> None:
    """``ssl=False`` talks to the untrusted server, and says loudly (once) what it costs."""
    with caplog.at_level(logging.WARNING, logger="minimax_async"):
        async with client_for(tls_fake, ssl=False) as client:
            await client.get_config()
            await client.get_config()
    warnings = [r for r in caplog.records if "NOT verified" in r.getMessage()]
    assert len(warnings) == 1
    assert tls_fake.record.requests["config"] == 2


async def test_a_client_certificate_goes_in_the_ssl_context(ca: trustme.CA) -> None:
    """Mutual TLS: a server that requires a client certificate accepts the client whose
    ``ssl=`` context carries one, and refuses it without (no request is served)."""
    server = server_context(ca)
    server.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(server)
    async with FakeMiniMax(accounts=ACCOUNTS, ssl_context=server) as fake:
        with_certificate = trusting_context(ca)
        ca.issue_cert("client.example").configure_cert(with_certificate)
        async with client_for(fake, ssl=with_certificate) as client:
            await client.get_config()
        assert fake.record.requests["config"] == 1
        async with client_for(fake, ssl=trusting_context(ca), retry=NO_RETRY) as client:
            with pytest.raises(TransportError):
                await client.get_config()
        assert fake.record.total_requests == 1


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda p: p / "missing.pem", "does not exist", id="missing"),
        pytest.param(lambda p: p, "cannot read", id="a-folder"),
        pytest.param(
            lambda p: (p / "junk.pem", (p / "junk.pem").write_text("not a certificate"))[0],
            "no usable PEM",
            id="not-pem",
        ),
    ],
)
def test_an_unusable_ca_file_is_a_configuration_error(
    tmp_path: Path, make: object, message: str
) -> None:
    """A CA file that cannot be used fails at construction, naming ``ssl`` and the path."""
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(ConfigurationError, match=message) as caught:
        Client(token="user:1-abc", ssl=path)
    assert str(caught.value).startswith("ssl:")


@pytest.mark.parametrize("value", [True, 3, b"/etc/ssl/ca.pem"], ids=["true", "int", "bytes"])
def test_ssl_of_another_type_is_a_configuration_error(value: object) -> None:
    with pytest.raises(ConfigurationError, match="ssl must be"):
        Client(token="user:1-abc", ssl=value)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- proxy


@pytest.mark.parametrize(
    ("proxy", "message"),
    [
        pytest.param("socks5://user:hunter2@proxy:1080", "'socks5'", id="socks"),
        pytest.param("proxy.example:3128", "only http", id="no-scheme"),
        pytest.param("http://", "no host", id="no-host"),
        pytest.param(3128, "URL string", id="not-a-string"),
    ],
)
def test_a_bad_proxy_is_a_configuration_error(proxy: object, message: str) -> None:
    """The proxy is checked at construction; the message never repeats a password."""
    with pytest.raises(ConfigurationError, match=message) as caught:
        Client(token="user:1-abc", proxy=proxy)  # type: ignore[arg-type]
    assert "proxy" in str(caught.value)
    assert "hunter2" not in str(caught.value)


async def test_http_requests_go_through_the_proxy(fake: FakeMiniMax, proxy: TinyProxy) -> None:
    """``proxy=``: plain-http requests are sent to the proxy (absolute-form request lines)."""
    async with client_for(fake, proxy=proxy.url) as client:
        await client.list_accounts()
        await client.get_config()
    seen = proxy.requests()
    assert f"GET {fake.base_url}/accounts" in seen
    assert any(line.startswith(f"GET {fake.base_url}/audio/config") for line in seen)
    assert fake.record.total_requests == 2


async def test_https_requests_tunnel_through_the_proxy_with_connect(
    tls_fake: FakeMiniMax, proxy: TinyProxy, ca: trustme.CA
) -> None:
    """https through the proxy: a CONNECT tunnel, TLS to the fake server inside it (the
    proxy sees only the CONNECT, the server's certificate is checked end to end)."""
    async with client_for(tls_fake, proxy=proxy.url, ssl=trusting_context(ca)) as client:
        await client.list_accounts()
        await client.get_config()
    seen = proxy.requests()
    assert f"CONNECT {fake_hostport(tls_fake)}" in seen
    assert all(line.startswith("CONNECT ") for line in seen)
    assert tls_fake.record.total_requests == 2


async def test_the_environment_proxy_is_honoured(
    tls_fake: FakeMiniMax, proxy: TinyProxy, ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``HTTPS_PROXY`` is used by default (trust_env) and ignored with ``trust_env=False``."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    async with client_for(tls_fake, ssl=trusting_context(ca)) as client:
        await client.get_config()
    assert proxy.requests() == [f"CONNECT {fake_hostport(tls_fake)}"]
    async with client_for(tls_fake, ssl=trusting_context(ca), trust_env=False) as client:
        await client.get_config()
    assert len(proxy.requests()) == 1  # no second CONNECT
    assert tls_fake.record.requests["config"] == 2


async def test_no_proxy_bypasses_the_environment_proxy(
    fake: FakeMiniMax, proxy: TinyProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host listed in ``NO_PROXY`` is reached directly; the others go through."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "example.invalid,127.0.0.1")
    async with client_for(fake) as client:
        await client.get_config()
    assert proxy.requests() == []
    monkeypatch.setenv("NO_PROXY", "example.invalid")
    async with client_for(fake) as client:
        await client.get_config()
    assert len(proxy.requests()) == 1
    assert fake.record.requests["config"] == 2


@pytest.fixture
async def auth_proxy(tmp_path: Path) -> AsyncIterator[TinyProxy]:
    """A real tinyproxy that requires basic auth (alice / s3cret)."""
    async with start_tinyproxy(tmp_path / "auth-proxy", basic_auth=("alice", "s3cret")) as p:
        yield p


async def test_proxy_credentials_in_the_url(
    tls_fake: FakeMiniMax, auth_proxy: TinyProxy, ca: trustme.CA
) -> None:
    """``user:password@`` in the proxy URL authenticates the CONNECT; without them the
    proxy's refusal (401/407) is a ConnectError (nothing reached the server) that shows no
    password."""
    with_credentials = auth_proxy.url.replace("http://", "http://alice:s3cret@")
    async with client_for(tls_fake, proxy=with_credentials, ssl=trusting_context(ca)) as client:
        await client.get_config()
        assert "s3cret" not in repr(client)
        assert "s3cret" not in repr(client._transport)
    assert tls_fake.record.requests["config"] == 1
    wrong = auth_proxy.url.replace("http://", "http://alice:wrong-one@")
    for url in (auth_proxy.url, wrong):
        async with client_for(
            tls_fake, proxy=url, ssl=trusting_context(ca), retry=NO_RETRY
        ) as client:
            with pytest.raises(
                ConnectError, match=r"the proxy refused the tunnel: 40[17]"
            ) as caught:
                await client.get_config()
        assert "wrong-one" not in str(caught.value)
        assert "wrong-one" not in repr(caught.value.__cause__)
    assert tls_fake.record.requests["config"] == 1
    assert auth_proxy.requests().count(f"CONNECT {fake_hostport(tls_fake)}") == 3


async def test_proxy_credentials_for_plain_http(fake: FakeMiniMax, auth_proxy: TinyProxy) -> None:
    """For plain http the credentials go as Proxy-Authorization with each request."""
    with_credentials = auth_proxy.url.replace("http://", "http://alice:s3cret@")
    async with client_for(fake, proxy=with_credentials) as client:
        await client.get_config()
    assert fake.record.requests["config"] == 1
    assert len(auth_proxy.requests()) == 1


def test_a_bad_environment_proxy_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks5://proxy:1080")
    with pytest.raises(ConfigurationError, match="HTTPS_PROXY"):
        Client(token="user:1-abc")
    Client(token="user:1-abc", trust_env=False)  # ignored without trust_env


async def test_an_unreachable_proxy_is_a_connect_error(fake: FakeMiniMax) -> None:
    """Nothing listens at the proxy's address: ConnectError naming the proxy, nothing sent."""
    with socket.socket() as probe:  # a port that was free a moment ago; nothing listens
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    async with client_for(fake, proxy=f"http://127.0.0.1:{port}") as client:
        with pytest.raises(ConnectError, match="cannot connect to the proxy"):
            await client.with_options(retry=NO_RETRY).get_config()
    assert fake.record.total_requests == 0


# ---------------------------------------------------------------------------- own session


def _counting_trace() -> tuple[aiohttp.TraceConfig, list[str]]:
    seen: list[str] = []
    trace = aiohttp.TraceConfig()

    async def on_request_start(
        session: aiohttp.ClientSession,
        context: object,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        seen.append(params.url.path)

    trace.on_request_start.append(on_request_start)
    return trace, seen


async def test_ones_own_session_is_used_and_left_open(fake: FakeMiniMax) -> None:
    """``session=``: requests go through it (its trace sees them), the token is sent per
    request but never stored on the session, and closing the client leaves it open."""
    trace, seen = _counting_trace()
    async with aiohttp.ClientSession(trace_configs=[trace]) as own:
        client = client_for(fake, session=own)
        async with client:
            await client.list_accounts()
            await client.get_config()
        assert client.closed
        assert not own.closed
        assert seen == ["/v1/minimax/accounts", "/v1/minimax/audio/config"]
        assert "Authorization" not in own.headers
        assert all("Bearer" not in str(v) for v in own.headers.values())
        # Still usable by its owner after the client is gone.
        async with own.get(f"{fake.base_url}/accounts") as response:
            assert response.status == 401  # no token: the client did not leave one behind
    assert fake.record.requests["accounts"] == 2


async def test_ones_own_session_with_proxy_and_ssl(
    tls_fake: FakeMiniMax, proxy: TinyProxy, ca: trustme.CA
) -> None:
    """With a session of one's own, ``proxy`` and ``ssl`` still apply, per request."""
    async with aiohttp.ClientSession() as own:
        async with client_for(
            tls_fake, session=own, proxy=proxy.url, ssl=trusting_context(ca)
        ) as client:
            await client.get_config()
        assert not own.closed
    assert proxy.requests() == [f"CONNECT {fake_hostport(tls_fake)}"]


async def test_ones_own_session_with_the_environment_proxy(
    tls_fake: FakeMiniMax, proxy: TinyProxy, ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a session of one's own (aiohttp's default trust_env=False), the client's
    ``trust_env`` still sends through ``HTTPS_PROXY``."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    async with (
        aiohttp.ClientSession() as own,
        client_for(tls_fake, session=own, ssl=trusting_context(ca)) as client,
    ):
        await client.get_config()
    assert proxy.requests() == [f"CONNECT {fake_hostport(tls_fake)}"]


async def test_a_session_that_reads_the_environment_refuses_trust_env_false() -> None:
    async with aiohttp.ClientSession(trust_env=True) as own:
        with pytest.raises(ConfigurationError, match="trust_env"):
            Client(token="user:1-abc", session=own, trust_env=False)
    async with aiohttp.ClientSession() as own:
        Client(token="user:1-abc", session=own, trust_env=False)


async def test_a_bad_session_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"aiohttp\.ClientSession"):
        Client(token="user:1-abc", session=object())  # type: ignore[arg-type]
    own = aiohttp.ClientSession()
    await own.close()
    with pytest.raises(ConfigurationError, match="closed"):
        Client(token="user:1-abc", session=own)


# ---------------------------------------------------------------------------- User-Agent


async def test_user_agent_names_the_library_and_its_version(
    fake: FakeMiniMax, client: Client
) -> None:
    """Every request carries ``User-Agent: minimax-async/<version> ...``."""
    await client.list_accounts()
    await client.get_config()
    agents = fake.record.user_agents
    assert sum(agents.values()) == 2
    (agent,) = agents
    assert agent.startswith(f"minimax-async/{version('minimax_async')} ")
    assert f"aiohttp/{aiohttp.__version__}" in agent


async def test_user_agent_also_through_ones_own_session(fake: FakeMiniMax) -> None:
    async with (
        aiohttp.ClientSession(headers={"User-Agent": "their-app/1.0"}) as own,
        client_for(fake, session=own) as client,
    ):
        await client.get_config()
    (agent,) = fake.record.user_agents
    assert agent.startswith("minimax-async/")


# ---------------------------------------------------------------------------- timeouts


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port that accepts TCP connections and then never says a word (a TLS handshake
    to it never completes)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    try:
        yield int(server.getsockname()[1])
    finally:
        server.close()


@pytest.mark.parametrize("connect_timeout", [0.2, 0.4])
async def test_connect_timeout_bounds_the_tls_handshake(
    silent_listener: int, connect_timeout: float
) -> None:
    """A TLS handshake that never completes is a ConnectError after ``connect_timeout``
    (not after the 30 s ``timeout``): nothing was sent."""
    async with Client(
        token="user:1-abc",
        base_url=f"https://127.0.0.1:{silent_listener}/v1/minimax",
        connect_timeout=connect_timeout,
        timeout=30,
        retry=NO_RETRY,
    ) as client:
        with pytest.raises(ConnectError, match=f"after {connect_timeout:g} s") as caught:
            await client.get_config()
    assert not caught.value.maybe_processed


@pytest.mark.parametrize("value", [0, -1.0, True, "10"])
def test_connect_timeout_must_be_positive(value: object) -> None:
    with pytest.raises(ConfigurationError, match="connect_timeout"):
        Client(token="user:1-abc", connect_timeout=value)  # type: ignore[arg-type]


_BODY_BYTES = 20 * 1024 * 1024  # the API's upload limit


@pytest.fixture
async def slow_reader() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A server that reads a request's body only once the test lets it (``event``), then
    answers at once."""
    release = asyncio.Event()

    async def upload(request: web.Request) -> web.Response:
        await release.wait()
        body = await request.read()
        return web.json_response({"received": len(body)})

    app = web.Application(client_max_size=_BODY_BYTES + 1)
    app.router.add_post("/v1/minimax/upload", upload)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/v1/minimax", release
    finally:
        release.set()  # a failed test must not leave the handler waiting
        await runner.cleanup()


def direct_transport(base_url: str, *, connect_timeout: float) -> Transport:
    """The client's transport alone, without proxy or environment."""
    return make_transport(
        base_url,
        "user:1-abc",
        connection_limit=10,
        connect_timeout=connect_timeout,
        proxy=None,
        ssl=None,
        trust_env=False,
        session=None,
    )


async def test_timeout_does_not_bound_sending_a_big_body(
    slow_reader: tuple[str, asyncio.Event],
) -> None:
    """A 20 MB body that takes longer to send than ``timeout`` (the server does not read
    it yet, so the client's writes wait) is still sent and answered: ``timeout`` bounds the
    server's silence after the request is sent, not the sending."""
    base_url, release = slow_reader
    transport = direct_transport(base_url, connect_timeout=5)
    request = WireRequest("POST", "upload", "upload", body=b"\0" * _BODY_BYTES)
    try:
        sending = asyncio.ensure_future(transport.send(request, timeout=0.2))
        # Three timeouts' worth of stalled sending (the writes wait on the unread socket).
        done, _ = await asyncio.wait([sending], timeout=0.6)
        assert not done, "the request ended while its body could not be sent"
        release.set()
        answer = await sending
    finally:
        await transport.aclose()
    assert answer.status == 200
    assert answer.body == b'{"received": %d}' % _BODY_BYTES


def test_the_overall_bound_grows_with_the_body() -> None:
    """Each exchange has an overall bound (nothing waits forever): connect + read timeout,
    plus one second per SEND_RATE_FLOOR bytes of body; the read timeout is sock_read."""
    transport = direct_transport("https://api.example", connect_timeout=10)
    bodiless = transport._timeout(30, None)
    upload = transport._timeout(30, b"\0" * (_BODY_BYTES))
    assert (bodiless.sock_connect, bodiless.sock_read, bodiless.total) == (10, 30, 40)
    assert upload.sock_read == 30
    assert upload.total == pytest.approx(40 + _BODY_BYTES / SEND_RATE_FLOOR)


async def test_a_silent_server_still_times_out(fake: FakeMiniMax) -> None:
    """The other half: once the request is sent, a server silent longer than ``timeout``
    is a RequestTimeoutError, though the overall bound (connect_timeout + timeout) is far."""
    fake.faults.add("config", Fault(delay=0.5))
    async with client_for(fake, timeout=0.1, connect_timeout=30, retry=NO_RETRY) as client:
        with pytest.raises(RequestTimeoutError, match=r"no answer within 0\.1 s"):
            await client.get_config()


# ---------------------------------------------------------------------------- the CLI


async def test_cli_proxy_flag_sends_through_the_proxy(fake: FakeMiniMax, proxy: TinyProxy) -> None:
    """``--proxy URL``: the CLI's requests go through the proxy."""
    run = await run_cli(
        "--base-url", fake.base_url, "--proxy", proxy.url, "accounts", "--json", token=fake.token
    )
    assert run.status == 0, run.output
    assert json.loads(run.stdout)[0]["account"] == ACCOUNTS[0]
    assert f"GET {fake.base_url}/accounts" in proxy.requests()


async def test_cli_ca_file_trusts_the_tls_fake(tls_fake: FakeMiniMax, ca_file: Path) -> None:
    """``--ca-file PATH`` trusts a custom CA; without it the certificate is refused with a
    hint naming the flag, exit status 1, and nothing reached the server."""
    base = ("--base-url", tls_fake.base_url)
    run = await run_cli(*base, "--ca-file", str(ca_file), "accounts", token=tls_fake.token)
    assert run.status == 0, run.output
    assert tls_fake.record.requests["accounts"] == 1
    run = await run_cli(*base, "accounts", token=tls_fake.token)
    assert run.status == 1
    assert "certificate was not trusted" in run.stderr
    assert "--ca-file PATH" in run.stderr
    assert "Client(" not in run.stderr
    assert tls_fake.record.requests["accounts"] == 1


async def test_cli_reads_the_base_url_from_the_environment(fake: FakeMiniMax) -> None:
    """``USEAPI_BASE_URL`` stands for ``--base-url``."""
    run = await run_cli(
        "accounts", "--json", token=None, env=cli_env(fake.token, USEAPI_BASE_URL=fake.base_url)
    )
    assert run.status == 0, run.output
    assert fake.record.requests["accounts"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("--proxy", "socks5://u:hunter2@proxy:1080"), "--proxy has", id="proxy"),
        pytest.param(("--ca-file", "/nonexistent/ca.pem"), "--ca-file:", id="ca-file"),
    ],
)
async def test_cli_bad_network_flags_exit_2_before_anything_is_sent(
    fake: FakeMiniMax, args: tuple[str, ...], message: str
) -> None:
    run = await run_cli(
        "--base-url", fake.base_url, *args, "--accounts", "100001", "voices", token=fake.token
    )
    assert run.status == 2, run.output
    assert message in run.stderr
    assert "hunter2" not in run.output
    assert fake.record.total_requests == 0


async def test_cli_sandbox_ignores_the_environment_proxy(proxy: TinyProxy, tmp_path: Path) -> None:
    """The sandbox runs on this machine: an ``HTTP_PROXY`` of the environment is not used
    for it (a corporate proxy could not reach 127.0.0.1 of this machine)."""
    run = await run_cli(
        "--sandbox", "accounts", token=None, env=cli_env(None, HTTP_PROXY=proxy.url)
    )
    assert run.status == 0, run.output
    assert proxy.requests() == []
