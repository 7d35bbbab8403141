"""Fast JSON in and out (orjson), and request-body parsing that never ends in a 500."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

M = TypeVar("M", bound=BaseModel)

MAX_JSON_BODY_BYTES = 10 * 1024 * 1024


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


async def read_json(request: Request, max_bytes: int = MAX_JSON_BODY_BYTES) -> Any:
    """The request body as JSON, or an ApiError (413 too large, 415 wrong type, 400 invalid JSON)."""
    from gateway.errors import ApiError

    content_type = request.headers.get("content-type", "")
    if content_type and "json" not in content_type.split(";")[0]:
        raise ApiError(415, "unsupported_media_type", "Content-Type must be application/json")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, "payload_too_large", f"Request body exceeds {max_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise ApiError(413, "payload_too_large", f"Request body exceeds {max_bytes} bytes")
    if not body:
        raise ApiError(400, "invalid_json", "Request body is empty; expected a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"Request body is not valid JSON: {exc}") from None


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "body", "message": err["msg"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


async def parse_body(request: Request, model: type[M]) -> M:
    """Read and validate a JSON body against a pydantic model; 400 with per-field details otherwise."""
    from gateway.errors import ApiError

    data = await read_json(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = validation_details(exc)
        first = details[0]
        raise ApiError(400, "invalid_request", f"{first['field']}: {first['message']}", details) from None
