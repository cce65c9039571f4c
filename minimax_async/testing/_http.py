"""Wire helpers of the fake server: error answers, body parsing and field checks."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import attrs
from aiohttp import web

__all__ = [
    "ApiError",
    "Call",
    "error_response",
    "json_response",
    "optional_bool",
    "optional_int",
    "optional_number",
    "optional_str",
    "query_int",
    "read_fields",
    "require_str",
]

_JSON = "application/json"
_FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})


class ApiError(Exception):
    """An error answer: HTTP ``status`` with the body ``{"error": message, "code": status}``.

    Args:
        status: HTTP status (also the ``code`` field).
        message: The ``error`` field.
        headers: Extra response headers (e.g. ``Retry-After``).
    """

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        """Return the error as an aiohttp response."""
        return error_response(self.status, self.message, headers=self.headers)


def json_response(data: object, *, status: int = 200) -> web.Response:
    """Return ``data`` encoded as a compact JSON response.

    Args:
        data: Any JSON-serialisable value.
        status: HTTP status.

    Returns:
        The response.
    """
    body = json.dumps(data, separators=(",", ":")).encode()
    return web.Response(status=status, body=body, content_type=_JSON)


def error_response(
    status: int, message: str, *, headers: Mapping[str, str] | None = None
) -> web.Response:
    """Return the documented error envelope ``{"error": message, "code": status}``.

    Args:
        status: HTTP status (also the ``code`` field).
        message: The ``error`` field.
        headers: Extra response headers.

    Returns:
        The response.
    """
    response = json_response({"error": message, "code": status}, status=status)
    if headers:
        response.headers.update(headers)
    return response


@attrs.define
class Call:
    """One authenticated request on its way to an endpoint handler.

    Attributes:
        request: The aiohttp request.
        endpoint: The endpoint name.
        account: The resolved account, or ``None`` for endpoints without one.
        fields: Body fields (JSON object or form fields); empty for other bodies.
        is_form: Whether ``fields`` came from a form (all values are then strings).
        raw: The raw body, for endpoints that take one.
    """

    request: web.Request
    endpoint: str
    account: str | None
    fields: dict[str, object]
    is_form: bool
    raw: bytes


async def read_fields(request: web.Request) -> tuple[dict[str, object], bool]:
    """Parse a JSON or form body into fields.

    Args:
        request: The request.

    Returns:
        The fields, and whether they came from a form.

    Raises:
        ApiError: Malformed, oversized or unsupported body.
    """
    content_type = request.content_type
    try:
        if content_type in _FORM_TYPES:
            form = await request.post()
            fields: dict[str, object] = {}
            for key in form:
                if key in fields:
                    continue
                value = form[key]
                if isinstance(value, web.FileField):
                    fields[key] = value.file.read().decode("utf-8", "replace")
                elif isinstance(value, (bytes, bytearray)):
                    fields[key] = bytes(value).decode("utf-8", "replace")
                else:
                    fields[key] = value
            return fields, True
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise ApiError(413, "Request body is too large") from exc
    except ValueError as exc:
        raise ApiError(400, f"Malformed request body: {exc}") from exc
    if not raw.strip():
        return {}, False
    if (
        content_type == _JSON
        or content_type.endswith("+json")
        or "Content-Type" not in request.headers
    ):
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ApiError(400, "Request body is not valid JSON") from exc
        if not isinstance(data, dict):
            raise ApiError(400, "Request body must be a JSON object")
        return data, False
    raise ApiError(
        400,
        f"Unsupported Content-Type {content_type}, use application/json or multipart/form-data",
    )


def optional_str(
    fields: Mapping[str, object], name: str, *, max_length: int | None = None
) -> str | None:
    """Return an optional string field.

    Args:
        fields: The body fields.
        name: The field name.
        max_length: Longest accepted value.

    Returns:
        The value, or ``None`` when absent or empty.

    Raises:
        ApiError: Not a string, or too long.
    """
    value = fields.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"Parameter {name} must be a string")
    if max_length is not None and len(value) > max_length:
        raise ApiError(
            400, f"Parameter {name} is {len(value)} characters long, maximum is {max_length}"
        )
    return value


def require_str(fields: Mapping[str, object], name: str, *, max_length: int | None = None) -> str:
    """Return a required, non-empty string field.

    Args:
        fields: The body fields.
        name: The field name.
        max_length: Longest accepted value.

    Returns:
        The value.

    Raises:
        ApiError: Missing, empty, not a string, or too long.
    """
    value = optional_str(fields, name, max_length=max_length)
    if value is None:
        raise ApiError(400, f"Parameter {name} is required")
    return value


def optional_bool(fields: Mapping[str, object], name: str, *, is_form: bool, default: bool) -> bool:
    """Return an optional boolean field: a JSON boolean, or ``true``/``false`` in a form.

    Args:
        fields: The body fields.
        name: The field name.
        is_form: Whether the fields came from a form.
        default: The value when absent.

    Returns:
        The value.

    Raises:
        ApiError: Not a boolean.
    """
    value = fields.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if is_form and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ApiError(400, f"Parameter {name} must be true or false")


def _number(
    fields: Mapping[str, object], name: str, *, is_form: bool, integer: bool
) -> float | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    kind = "an integer" if integer else "a number"
    if is_form and isinstance(value, str):
        try:
            value = int(value) if integer else float(value)
        except ValueError as exc:
            raise ApiError(400, f"Parameter {name} must be {kind}") from exc
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(400, f"Parameter {name} must be {kind}")
    if integer and not isinstance(value, int):
        raise ApiError(400, f"Parameter {name} must be {kind}")
    if not math.isfinite(value):
        raise ApiError(400, f"Parameter {name} must be {kind}")
    return value


def optional_number(
    fields: Mapping[str, object],
    name: str,
    *,
    is_form: bool,
    default: float,
    minimum: float,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
) -> float:
    """Return an optional number field within bounds.

    Args:
        fields: The body fields.
        name: The field name.
        is_form: Whether the fields came from a form (values are then strings).
        default: The value when absent.
        minimum: Lowest accepted value.
        maximum: Highest accepted value, if any.
        exclusive_minimum: Whether ``minimum`` itself is refused.

    Returns:
        The value.

    Raises:
        ApiError: Not a number, or out of bounds.
    """
    value = _number(fields, name, is_form=is_form, integer=False)
    if value is None:
        return default
    too_low = value <= minimum if exclusive_minimum else value < minimum
    if too_low or (maximum is not None and value > maximum):
        bound = f"greater than {minimum:g}" if exclusive_minimum else f"at least {minimum:g}"
        if maximum is not None:
            bound = f"between {minimum:g} and {maximum:g}"
        raise ApiError(400, f"Parameter {name} must be {bound}, got {value:g}")
    return value


def optional_int(
    fields: Mapping[str, object],
    name: str,
    *,
    is_form: bool,
    default: int,
    minimum: int,
    maximum: int,
) -> int:
    """Return an optional integer field within inclusive bounds.

    Args:
        fields: The body fields.
        name: The field name.
        is_form: Whether the fields came from a form (values are then strings).
        default: The value when absent.
        minimum: Lowest accepted value.
        maximum: Highest accepted value.

    Returns:
        The value.

    Raises:
        ApiError: Not an integer, or out of bounds.
    """
    value = _number(fields, name, is_form=is_form, integer=True)
    if value is None:
        return default
    number = int(value)
    if not minimum <= number <= maximum:
        raise ApiError(
            400, f"Parameter {name} must be between {minimum} and {maximum}, got {number}"
        )
    return number


def query_int(request: web.Request, name: str, *, default: int, minimum: int = 1) -> int:
    """Return an optional integer query parameter.

    Args:
        request: The request.
        name: The parameter name.
        default: The value when absent or empty.
        minimum: Lowest accepted value.

    Returns:
        The value.

    Raises:
        ApiError: Not an integer, or below ``minimum``.
    """
    text = request.query.get(name, "")
    if not text:
        return default
    try:
        value = int(text)
    except ValueError as exc:
        raise ApiError(400, f"Parameter {name} must be an integer") from exc
    if value < minimum:
        raise ApiError(400, f"Parameter {name} must be at least {minimum}")
    return value
