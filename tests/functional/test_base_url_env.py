"""``Client()`` reads its API root from ``USEAPI_BASE_URL`` when ``base_url`` is not given."""

from __future__ import annotations

import pytest

from minimax_async import (
    BASE_URL_ENV_VAR,
    DEFAULT_BASE_URL,
    Client,
    ConfigurationError,
)
from minimax_async.testing import FakeMiniMax

pytestmark = pytest.mark.anyio


async def test_the_environment_variable_points_the_client_at_a_server(
    fake: FakeMiniMax, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BASE_URL_ENV_VAR, fake.base_url)
    async with Client(token=fake.token) as client:
        assert client.base_url == fake.base_url
        await client.get_config()
    assert fake.record.requests["config"] == 1


async def test_an_explicit_base_url_wins_over_the_environment(
    fake: FakeMiniMax, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The variable holds a URL the client would refuse: it is not even looked at.
    monkeypatch.setenv(BASE_URL_ENV_VAR, "http://api.example.com/v1/minimax")
    async with Client(token=fake.token, base_url=fake.base_url) as client:
        await client.get_config()
    assert fake.record.requests["config"] == 1


@pytest.mark.parametrize("value", [None, ""])
async def test_unset_or_empty_means_the_production_api(
    value: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv(BASE_URL_ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(BASE_URL_ENV_VAR, value)
    async with Client(token="user:1-x") as client:
        assert client.base_url == DEFAULT_BASE_URL


def test_a_bad_url_in_the_environment_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(BASE_URL_ENV_VAR, "http://api.example.com/v1/minimax")
    with pytest.raises(ConfigurationError, match=f"^{BASE_URL_ENV_VAR} 'http://api.example"):
        Client(token="user:1-x")
