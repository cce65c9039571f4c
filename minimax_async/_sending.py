"""The send pipeline: one request, its answer parsed, the account reactions, and the
idempotency-aware retry loop.

``send`` is one exchange: the transport sends, the wire layer parses, and two answers
change more than this request: a 401 "unauthorized" (the token itself is refused) fails
every queued clone at once, and a 596 (on hold) or 412 (cannot pay) takes the account out
of rotation for ``account_cooldown`` seconds. ``send_retrying`` adds the retry rules of
:mod:`._retry` (one loop, :class:`._retry.Retrying`): an idempotent request is retried after
any transient failure, any other only when it is known not to have been processed.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final, TypeVar

import attrs
from cattrs.preconf.json import JsonConverter

from ._coordinator import Coordinator
from ._exceptions import (
    AccountError,
    AccountPreconditionError,
    AuthenticationError,
    MiniMaxError,
)
from ._retry import Retrying, RetryPolicy, may_resend
from ._scheduler import out_of_rotation_error
from ._transport import Transport
from ._wire import WireRequest, parse_response

__all__ = ["Options", "Sender"]

T = TypeVar("T")
logger = logging.getLogger("minimax_async")

#: The 401 message that means the token itself was refused (not one account's session).
_TOKEN_UNAUTHORIZED: Final = "unauthorized"


@attrs.frozen
class Options:
    """What :meth:`Client.with_options` may change per call."""

    timeout: float
    clone_timeout: float
    retry: RetryPolicy


class Sender:
    """One HTTP exchange, with its parsing, its account reactions and its retries.

    Args:
        transport: Sends the bytes.
        converter: Parses the answers.
        scheduler: Told about a refused token (``fail_all``) and about accounts that go
            out of rotation.
        account_cooldown: Seconds an account stays out of rotation after a 596 or 412.
    """

    __slots__ = ("_converter", "_cooldown", "_scheduler", "_transport")

    def __init__(
        self,
        transport: Transport,
        converter: JsonConverter,
        scheduler: Coordinator[Any],
        account_cooldown: float,
    ) -> None:
        self._transport = transport
        self._converter = converter
        self._scheduler = scheduler
        self._cooldown = account_cooldown

    async def send(self, wire: WireRequest, model: type[T], seconds: float) -> T:
        """One request, one answer (within ``seconds``): parse it or raise its typed error."""
        raw = await self._transport.send(wire, timeout=seconds)
        try:
            return parse_response(self._converter, wire, raw.status, raw.headers, raw.body, model)
        except AuthenticationError as exc:
            if exc.message.strip().lower() == _TOKEN_UNAUTHORIZED:
                # The token itself was refused: every job would fail the same way.
                message, endpoint, account = exc.message, exc.endpoint, exc.account
                self._scheduler.fail_all(
                    lambda: AuthenticationError(401, message, endpoint=endpoint, account=account)
                )
            raise
        except AccountError as exc:
            self._take_out(exc)
            raise

    def _take_out(self, exc: AccountError) -> None:
        cooldown = self._cooldown
        until = time.monotonic() + cooldown
        label = "cannot pay" if isinstance(exc, AccountPreconditionError) else "on hold"
        logger.warning(
            "account %s %s (HTTP %d: %s); out of rotation for %.0f s",
            exc.account,
            label,
            exc.status,
            exc.message,
            cooldown,
        )
        self._scheduler.take_out_of_rotation(
            exc.account,
            cooldown,
            out_of_rotation_error(exc.account, until, exc.status, exc.message),
        )

    async def send_retrying(self, wire: WireRequest, model: type[T], options: Options) -> T:
        """:meth:`send` with the retry rules: a transient failure is retried when the
        request is idempotent or surely was not processed (:func:`._retry.may_resend`)."""
        async for attempt in Retrying(options.retry, "%s %s", wire.method, wire.endpoint):
            try:
                return await self.send(wire, model, options.timeout)
            except MiniMaxError as exc:
                if not may_resend(exc, idempotent=wire.idempotent) or not attempt.retry(exc):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
