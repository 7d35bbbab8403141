"""Fast JSON in and out (orjson), and request-body parsing that never ends in a 500."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

M = TypeVar("M", bound=BaseModel)

MAX_JSON_BODY_BYTES = 10 * 1024 * 1024
# orjson itself parses up to 1024 levels but serialises only up to 255, so a deeper body could be read
# and then fail when forwarded; no real request needs more than a few dozen levels.
MAX_JSON_DEPTH = 64
# A client that sends its headers and then trickles (or withholds) the body holds a connection and a
# request slot; past this it gets a 408 and the connection is closed.
BODY_READ_TIMEOUT_S = 30.0
# Sent with answers given before the whole body was read: the unread rest must not be parsed as the
# next request on a kept-alive connection.
_CLOSE = {"connection": "close"}


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """True if containers nest deeper than ``limit`` (iterative: no recursion on hostile input)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _json_default(value: Any) -> Any:
    """Types orjson does not know: Decimal (prices, costs) becomes a JSON number."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(content, default=_json_default, option=orjson.OPT_NON_STR_KEYS),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def _too_large(max_bytes: int) -> Exception:
    from gateway.errors import ApiError

    return ApiError(413, "payload_too_large", f"Request body exceeds {max_bytes} bytes", headers=_CLOSE)


async def read_json(
    request: Request, max_bytes: int = MAX_JSON_BODY_BYTES, max_depth: int = MAX_JSON_DEPTH
) -> Any:
    """The request body as JSON, or an ApiError (413 too large, 415 wrong type, 400 invalid JSON)."""
    from gateway.errors import ApiError

    content_type = request.headers.get("content-type", "")
    if content_type and "json" not in content_type.split(";")[0]:
        raise ApiError(415, "unsupported_media_type", "Content-Type must be application/json")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    body = bytearray()
    try:
        async with asyncio.timeout(BODY_READ_TIMEOUT_S):
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_bytes:
                    raise _too_large(max_bytes)
    except TimeoutError:
        message = f"Request body not received within {BODY_READ_TIMEOUT_S:.0f} s"
        raise ApiError(408, "request_timeout", message, headers=_CLOSE) from None
    except ClientDisconnect:
        message = "Client closed the connection before sending the body"
        raise ApiError(499, "client_disconnected", message) from None
    if not body:
        raise ApiError(400, "invalid_json", "Request body is empty; expected a JSON object")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc) or "recursion" in str(exc).lower():
            raise ApiError(400, "json_too_deep", f"JSON nesting exceeds {max_depth} levels") from None
        if "UTF-8" in str(exc):
            raise ApiError(400, "invalid_json", "Request body is not valid UTF-8") from None
        raise ApiError(400, "invalid_json", f"Request body is not valid JSON: {exc}") from None
    # Counting brackets first keeps the walk off ordinary bodies entirely.
    if body.count(b"[") + body.count(b"{") > max_depth and json_depth_exceeds(data, max_depth):
        raise ApiError(400, "json_too_deep", f"JSON nesting exceeds {max_depth} levels")
    return data


def _has_nul(value: Any) -> bool:
    """True if any string (key or value) holds U+0000, which PostgreSQL text cannot store."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "body", "message": err["msg"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


async def parse_body(request: Request, model: type[M]) -> M:
    """Read and validate a JSON body against a pydantic model; 400 with per-field details otherwise."""
    from gateway.errors import ApiError

    data = await read_json(request)
    if _has_nul(data):
        raise ApiError(400, "invalid_request", "Strings must not contain NUL (\\u0000) characters")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = validation_details(exc)
        first = details[0]
        raise ApiError(400, "invalid_request", f"{first['field']}: {first['message']}", details) from None
