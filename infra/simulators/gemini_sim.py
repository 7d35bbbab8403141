"""Google Gemini API simulator: `POST /v1beta/models/{model}:generateContent`,
`:streamGenerateContent` (SSE with `?alt=sse`, else a streamed JSON array), `GET /v1beta/models`."""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .answers import seed_of, split_pieces
from .common import Directives, SimState, SimulatorConfig, control_routes, json_response, parse_json_body
from .engine import Completion, Conversation, ToolSpec, complete
from .streaming import DROP, STALL, Frame, SimulatedResponse, hung_response, only, paced, single, sse_frame

MODELS = ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash")
REQUEST_FIELDS = frozenset(
    {
        "contents",
        "tools",
        "toolConfig",
        "safetySettings",
        "systemInstruction",
        "generationConfig",
        "cachedContent",
        "model",
        "labels",
    }
)
GENERATION_FIELDS = frozenset(
    {
        "stopSequences",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "responseModalities",
        "candidateCount",
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "seed",
        "presencePenalty",
        "frequencyPenalty",
        "responseLogprobs",
        "logprobs",
        "enableEnhancedCivicAnswers",
        "speechConfig",
        "thinkingConfig",
        "mediaResolution",
        "imageConfig",
        "audioTimestamp",
    }
)
MIME_TYPES = ("text/plain", "application/json", "text/x.enum")
FINISH = {"stop": "STOP", "stop_sequence": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}
CHUNK_TOKENS = 12
SAFETY_RATINGS = [
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
]


class GeminiError(Exception):
    def __init__(
        self, code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.status, self.message, self.details = code, status, message, details

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def response(self) -> Response:
        return json_response(self.body(), self.code)


def _invalid(message: str) -> GeminiError:
    return GeminiError(400, "INVALID_ARGUMENT", message)


def _error_info(reason: str) -> list[dict[str, Any]]:
    return [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        }
    ]


def _bad_key() -> GeminiError:
    return GeminiError(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        _error_info("API_KEY_INVALID"),
    )


def _auth(request: Request, state: SimState) -> None:
    if "key" in request.query_params:
        raise GeminiError(
            400,
            "INVALID_ARGUMENT",
            "API keys in the URL query string are refused here; send the key in the x-goog-api-key header.",
            _error_info("API_KEY_IN_QUERY_STRING"),
        )
    key = request.headers.get("x-goog-api-key")
    if not key:
        raise GeminiError(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without "
            "established identity). Please use API Key or other form of API consumer identity "
            "to call this API.",
        )
    if not state.config.key_is_valid(key):
        raise _bad_key()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _normalise(value: dict[str, Any]) -> dict[str, Any]:
    """Proto JSON accepts lowerCamelCase and snake_case names; read both as camelCase."""
    return {_camel(k): v for k, v in value.items()}


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def _check_fields(value: dict[str, Any], known: frozenset[str], where: str | None) -> None:
    for key in value:
        if _camel(key) not in known:
            at = f" at '{where}'" if where else ""
            raise _invalid(f'Invalid JSON payload received. Unknown name "{key}"{at}: Cannot find field.')


def _parts_text(parts: list[dict[str, Any]]) -> str:
    texts = []
    for part in parts:
        part = _normalise(part)
        if "text" in part:
            texts.append(str(part["text"]))
        elif "functionCall" in part:
            call = part["functionCall"]
            texts.append(f"{call.get('name', '')} {orjson.dumps(call.get('args', {})).decode()}")
        elif "functionResponse" in part:
            texts.append(orjson.dumps(part["functionResponse"].get("response", {})).decode())
        else:
            texts.append("[" + ",".join(part) + "]")
    return "\n".join(texts)


def _kinds(content: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [_normalise(p)[kind] for p in content.get("parts", []) if kind in _normalise(p)]


def _validate_contents(contents: Any) -> None:
    if not contents:
        raise _invalid("* GenerateContentRequest.contents: contents is not specified\n")
    if not isinstance(contents, list):
        raise _invalid(
            'Invalid JSON payload received. Unknown name "contents": Proto field is not repeating.'
        )
    previous_calls: list[dict[str, Any]] = []
    for index, content in enumerate(contents):
        role = content.get("role", "user") if isinstance(content, dict) else None
        if role not in ("user", "model", "function"):
            raise _invalid("Please use a valid role: user, model.")
        parts = content.get("parts")
        if not parts:
            raise _invalid(
                f"* GenerateContentRequest.contents[{index}].parts: contents.parts must not be empty.\n"
            )
        for part in parts:
            part = _normalise(part)
            if "text" in part and part["text"] == "":
                raise _invalid(
                    "Unable to submit request because it has an empty text parameter. Add a value to "
                    "the parameter and try again."
                )
        responses = _kinds(content, "functionResponse")
        if responses:
            if not previous_calls:
                raise _invalid(
                    "Please ensure that function response turn comes immediately after a function call turn."
                )
            if len(responses) != len(previous_calls):
                raise _invalid(
                    "Please ensure that the number of function response parts is equal to the number "
                    "of function call parts of the function call turn."
                )
        previous_calls = _kinds(content, "functionCall")


def _validate(body: dict[str, Any]) -> dict[str, Any]:
    _check_fields(body, REQUEST_FIELDS, None)
    body = _normalise(body)
    _validate_contents(body.get("contents"))
    config = body.get("generationConfig") or {}
    _check_fields(config, GENERATION_FIELDS, "generation_config")
    config = _normalise(config)
    mime = config.get("responseMimeType")
    if mime is not None and mime not in MIME_TYPES:
        raise _invalid(
            f"* GenerateContentRequest.generation_config.response_mime_type: allowed mimetypes are "
            f"{', '.join(repr(m) for m in MIME_TYPES)}. Got: {mime}\n"
        )
    max_tokens = config.get("maxOutputTokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise _invalid(
            "* GenerateContentRequest.generation_config.max_output_tokens: max_output_tokens must be "
            "positive.\n"
        )
    for tool in body.get("tools") or []:
        for declaration in _normalise(tool).get("functionDeclarations") or []:
            name = declaration.get("name", "")
            if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}", name):
                raise _invalid(
                    f"* GenerateContentRequest.tools[0].function_declarations[0].name: Invalid function "
                    f"name. Must start with a letter or an underscore. Got: {name!r}\n"
                )
    return body


def _thinking_model(model: str) -> bool:
    return ("2.5" in model or model.startswith("gemini-3")) and "lite" not in model


def _conversation(body: dict[str, Any], model: str) -> Conversation:
    contents = body["contents"]
    transcript: list[Any] = []
    system = body.get("systemInstruction")
    if system:
        transcript.append("system: " + _parts_text(system.get("parts", [])))
    for content in contents:
        transcript.append(f"{content.get('role', 'user')}: {_parts_text(content['parts'])}")
    declarations = [
        _normalise(d)
        for tool in body.get("tools") or []
        for d in _normalise(tool).get("functionDeclarations") or []
    ]
    tools = [ToolSpec(d["name"], d.get("parameters") or d.get("parametersJsonSchema")) for d in declarations]
    transcript += [orjson.dumps(d).decode() for d in declarations]
    last_user = next((c for c in reversed(contents) if c.get("role", "user") in ("user", "function")), None)
    calling = _normalise(_normalise(body.get("toolConfig") or {}).get("functionCallingConfig") or {})
    mode = {"ANY": "required", "NONE": "none"}.get(str(calling.get("mode", "AUTO")).upper(), "auto")
    allowed = calling.get("allowedFunctionNames") or []
    forced = allowed[0] if mode == "required" and len(allowed) == 1 else None
    config = _normalise(body.get("generationConfig") or {})
    thinking = _normalise(config.get("thinkingConfig") or {})
    reasoning = 0
    if _thinking_model(model) and thinking.get("thinkingBudget") != 0:
        reasoning = 24 + seed_of(transcript) % 64
        if thinking.get("thinkingBudget", -1) > 0:
            reasoning = min(reasoning, thinking["thinkingBudget"])
    schema = config.get("responseJsonSchema") or config.get("responseSchema")
    return Conversation(
        transcript=transcript,
        last_user_text=_parts_text(last_user["parts"]) if last_user else "",
        last_is_tool_result=bool(_kinds(contents[-1], "functionResponse")),
        tools=tools,
        tool_mode="named" if forced else mode,  # type: ignore[arg-type]
        forced_tool=forced,
        stop=list(config.get("stopSequences") or []),
        max_tokens=config.get("maxOutputTokens"),
        json_mode=config.get("responseMimeType") == "application/json",
        json_schema=schema,
        default_reasoning=reasoning,
    )


def _usage(completion: Completion, candidates_tokens: int, with_thoughts: bool = True) -> dict[str, Any]:
    """Zero-valued counts are omitted, as proto3 JSON does."""
    usage: dict[str, Any] = {"promptTokenCount": completion.prompt_tokens}
    if candidates_tokens:
        usage["candidatesTokenCount"] = candidates_tokens
    thoughts = completion.reasoning_tokens if with_thoughts else 0
    usage["totalTokenCount"] = completion.prompt_tokens + candidates_tokens + thoughts
    if completion.cache_read:
        usage["cachedContentTokenCount"] = completion.cache_read
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": completion.prompt_tokens}]
    if completion.cache_read:
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": completion.cache_read}]
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _response_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes[:15]).decode()


def _envelope(
    model: str,
    response_id: str,
    usage: dict[str, Any],
    candidates: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if candidates is not None:
        body["candidates"] = candidates
    body.update({"usageMetadata": usage, "modelVersion": model, "responseId": response_id})
    return body


def _parts(completion: Completion, text: str) -> list[dict[str, Any]]:
    if completion.tool_calls:
        return [{"functionCall": {"name": c.name, "args": c.arguments}} for c in completion.tool_calls]
    return [{"text": text}]


def _candidate(parts: list[dict[str, Any]] | None, finish: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {}
    if parts is not None:
        candidate["content"] = {"parts": parts, "role": "model"}
    if finish:
        candidate["finishReason"] = finish
        if finish == "SAFETY":
            candidate["safetyRatings"] = SAFETY_RATINGS
    candidate["index"] = 0
    return candidate


def _answer_bodies(completion: Completion, model: str, fault: str | None, chunked: bool) -> list[Any]:
    """The response bodies in order (one for generateContent); sentinels steer faults."""
    response_id = _response_id()
    if fault == "blocked":
        usage = {
            "promptTokenCount": completion.prompt_tokens,
            "totalTokenCount": completion.prompt_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": completion.prompt_tokens}],
        }
        return [
            {
                "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": SAFETY_RATINGS},
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": response_id,
            }
        ]
    if fault == "safety":
        return [_envelope(model, response_id, _usage(completion, 0), [_candidate(None, "SAFETY")])]
    finish = FINISH[completion.finish]
    if not chunked or completion.tool_calls:
        total = completion.completion_tokens
        return [
            _envelope(
                model,
                response_id,
                _usage(completion, total),
                [_candidate(_parts(completion, completion.text), finish)],
            )
        ]
    pieces = split_pieces(completion.text) or [""]
    groups = [pieces[i : i + CHUNK_TOKENS] for i in range(0, len(pieces), CHUNK_TOKENS)]
    bodies: list[Any] = []
    emitted = 0
    for number, group in enumerate(groups):
        emitted += len(group)
        last = number == len(groups) - 1
        candidate = _candidate([{"text": "".join(group)}], finish if last else None)
        bodies.append(_envelope(model, response_id, _usage(completion, emitted), [candidate]))
    if fault == "stall":
        return [bodies[0], STALL]
    if fault == "disconnect":
        return [*bodies[: max(1, len(bodies) // 2)], DROP]
    if fault == "error_event":
        return [
            *bodies[:2],
            GeminiError(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
        ]
    return bodies


def _stream_frames(bodies: list[Any], sse: bool) -> list[Frame]:
    frames: list[Frame] = []
    for number, body in enumerate(bodies):
        if body is STALL or body is DROP:
            frames.append((body, 0))
            continue
        if isinstance(body, GeminiError):
            body = body.body()
        tokens = 1 if "candidates" in body else 0
        if sse:
            frames.append((sse_frame(body, crlf=True), tokens))
        else:
            prefix = b"[" if number == 0 else b",\r\n"
            frames.append((prefix + orjson.dumps(body, option=orjson.OPT_INDENT_2), tokens))
    if not sse and frames and frames[-1][0] not in (STALL, DROP):
        frames.append((b"]", 0))
    return frames


def _fault_error(fault: str, directives: Directives) -> GeminiError | None:
    if fault == "429":
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{directives.retry_after}s"},
        ]
        return GeminiError(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and "
            "billing details. For more information on this error, head to: "
            "https://ai.google.dev/gemini-api/docs/rate-limits.",
            details,
        )
    if fault == "500":
        return GeminiError(
            500,
            "INTERNAL",
            "An internal error has occurred. Please retry or report in "
            "https://developers.generativeai.google/guide/troubleshooting",
        )
    if fault in ("503", "529"):
        return GeminiError(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    if fault == "401":
        return _bad_key()
    if fault == "400":
        return _invalid("Request contains an invalid argument.")
    return None


def create_app(config: SimulatorConfig | None = None) -> Starlette:
    """The Gemini simulator app; `app.state.sim` is its `SimState`."""
    state = SimState(config or SimulatorConfig.from_env(), "google")

    async def model_action(request: Request) -> Any:
        target = request.path_params["target"]
        model, _, method = target.rpartition(":")
        raw = await request.body()
        if method not in ("generateContent", "streamGenerateContent") or not model:
            state.record(request, None, method or "unknown", model or None)
            return GeminiError(404, "NOT_FOUND", f"Method not found: {method}").response()
        try:
            body = parse_json_body(raw)
        except ValueError:
            state.record(request, raw.decode(errors="replace"), method, model)
            return _invalid("Invalid JSON payload received. Unexpected token.").response()
        state.record(request, body, method, model)
        try:
            _auth(request, state)
            if not isinstance(body, dict):
                raise _invalid("Invalid JSON payload received. Expected an object.")
            body = _validate(body)
        except GeminiError as error:
            return error.response()
        conversation = _conversation(body, model)
        directives = state.directives(conversation.last_user_text, request.headers)
        fault = directives.fault
        error = _fault_error(fault, directives) if fault else None
        if error is not None:
            return error.response()
        stream = method == "streamGenerateContent"
        hung = hung_response(state, fault, stream)
        if hung is not None:
            return hung
        completion = complete(conversation, directives)
        if stream:
            sse = request.query_params.get("alt") == "sse"
            frames = _stream_frames(_answer_bodies(completion, model, fault, chunked=True), sse)
            return SimulatedResponse(
                paced(frames, directives.first_token_delay, directives.token_delay),
                state,
                media_type="text/event-stream" if sse else "application/json; charset=UTF-8",
                eager_headers=True,
                streamed=True,
            )
        if fault == "error_event":
            return _fault_error("503", directives).response()  # type: ignore[union-attr]
        if fault == "disconnect":
            return SimulatedResponse(
                only(DROP), state, media_type="application/json", eager_headers=False, streamed=False
            )
        payload = _answer_bodies(completion, model, fault, chunked=False)[0]
        delay = directives.first_token_delay + directives.token_delay(max(completion.output_tokens - 1, 0))
        return SimulatedResponse(
            single(orjson.dumps(payload), delay),
            state,
            media_type="application/json; charset=UTF-8",
            eager_headers=False,
            streamed=False,
        )

    def _model_info(name: str) -> dict[str, Any]:
        return {
            "name": f"models/{name}",
            "version": "001",
            "displayName": name,
            "description": f"Simulated {name}",
            "inputTokenLimit": 1048576,
            "outputTokenLimit": 65536,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
            "temperature": 1,
            "topP": 0.95,
            "topK": 64,
            "maxTemperature": 2,
            "thinking": _thinking_model(name),
        }

    async def list_models(request: Request) -> Response:
        state.record(request, None, "models", None)
        try:
            _auth(request, state)
        except GeminiError as error:
            return error.response()
        return json_response({"models": [_model_info(m) for m in MODELS]})

    async def get_model(request: Request) -> Response:
        state.record(request, None, "models.get", None)
        try:
            _auth(request, state)
        except GeminiError as error:
            return error.response()
        return json_response(_model_info(request.path_params["target"]))

    routes = [*control_routes(state)]
    for version in ("v1beta", "v1"):
        routes += [
            Route(f"/{version}/models", list_models, methods=["GET"]),
            Route(f"/{version}/models/{{target:path}}", model_action, methods=["POST"]),
            Route(f"/{version}/models/{{target:path}}", get_model, methods=["GET"]),
        ]
    app = Starlette(routes=routes)
    app.state.sim = state
    return app
