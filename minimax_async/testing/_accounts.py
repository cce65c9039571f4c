"""Account endpoints of the fake server (contract §3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from minimax_async.testing._http import ApiError, json_response, optional_int, require_str

if TYPE_CHECKING:
    from minimax_async.testing._http import Call
    from minimax_async.testing._state import ServerState

__all__ = ["create_account", "delete_account", "get_account", "list_accounts"]

# Contract §3.2: this 404 is plain text, not the JSON envelope.
CONFIGURATION_NOT_FOUND = "Configuration not found. To create configuration use POST /accounts."
MIN_MAX_JOBS = 1
MAX_MAX_JOBS = 10


def _not_found() -> web.Response:
    return web.Response(status=404, text=CONFIGURATION_NOT_FOUND, content_type="text/plain")


async def list_accounts(state: ServerState, call: Call) -> web.StreamResponse:
    """GET /accounts: every configured account, keyed by id."""
    return json_response(
        {account: state.account_object(info) for account, info in state.accounts.items()}
    )


async def get_account(state: ServerState, call: Call) -> web.StreamResponse:
    """GET /accounts/{account}: one account, or the plain-text 404."""
    info = state.accounts.get(call.request.match_info["account"])
    if info is None:
        return _not_found()
    return json_response(state.account_object(info))


async def create_account(state: ServerState, call: Call) -> web.StreamResponse:
    """POST /accounts: configure a new account (``url``, ``token``, ``maxJobs`` 1-10)."""
    require_str(call.fields, "url")
    require_str(call.fields, "token")
    if call.fields.get("maxJobs") in (None, ""):
        raise ApiError(400, "Parameter maxJobs is required")
    max_jobs = optional_int(
        call.fields,
        "maxJobs",
        is_form=call.is_form,
        default=MIN_MAX_JOBS,
        minimum=MIN_MAX_JOBS,
        maximum=MAX_MAX_JOBS,
    )
    info = state.new_account(max_jobs)
    return json_response(state.account_object(info), status=201)


async def delete_account(state: ServerState, call: Call) -> web.StreamResponse:
    """DELETE /accounts/{account}: forget the account, or the plain-text 404."""
    account = call.request.match_info["account"]
    if account not in state.accounts:
        return _not_found()
    state.delete_account(account)
    return json_response({"account": account})
