"""OpenAI Chat Completions simulator: `POST /v1/chat/completions`, `GET /v1/models`."""

from __future__ import annotations

import re
import time
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

MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-5", "gpt-5-mini", "o3", "o4-mini")
REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
REASONING_EFFORT = {"none": 0, "minimal": 8, "low": 16, "medium": 48, "high": 128}
KNOWN_PARAMS = frozenset(
    {
        "model",
        "messages",
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)
ROLES = ("system", "assistant", "user", "function", "tool", "developer")
TOOL_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
FINGERPRINT = "fp_sim0000001"
FINISH = {"stop": "stop", "stop_sequence": "stop", "length": "length", "tool_calls": "tool_calls"}
CHUNK_TOKENS = 2


class OpenAIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code
        self.headers = headers or {}

    def response(self) -> Response:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return json_response(body, self.status, {"x-request-id": _request_id(), **self.headers})


def _request_id() -> str:
    return "req_" + uuid.uuid4().hex


def is_reasoning_model(model: str) -> bool:
    return model.startswith(REASONING_PREFIXES)


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                parts.append(part.get("text") or part.get("refusal") or f"[{part.get('type', 'part')}]")
        return "\n".join(parts)
    return str(content)


def _auth(request: Request, state: SimState) -> None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer ") or not header[7:].strip():
        raise OpenAIError(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization header "
            "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank "
            "username) if you're accessing the API from your browser and are prompted for a username and "
            "password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
        )
    key = header[7:].strip()
    if not state.config.key_is_valid(key):
        raise _invalid_key(key)


def _invalid_key(key: str) -> OpenAIError:
    masked = key[:3] + "*" * 4 + key[-4:] if len(key) > 8 else key[:1] + "***"
    return OpenAIError(
        401,
        f"Incorrect API key provided: {masked}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        code="invalid_api_key",
    )


def _unanswered_tool_calls(pending: list[str], index: int) -> OpenAIError:
    return OpenAIError(
        400,
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        "'tool_call_id'. The following tool_call_ids did not have response messages: " + ", ".join(pending),
        param=f"messages.[{index}].role",
    )


def _validate_messages(messages: Any) -> None:
    if messages is None:
        raise OpenAIError(
            400,
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )
    if not isinstance(messages, list):
        raise OpenAIError(
            400,
            f"Invalid type for 'messages': expected an array, but got {type(messages).__name__} instead.",
            param="messages",
            code="invalid_type",
        )
    if not messages:
        raise OpenAIError(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    pending: list[str] = []
    pending_index = 0
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ROLES:
            supported = ", ".join(f"'{r}'" for r in ROLES[:-1]) + f", and '{ROLES[-1]}'"
            raise OpenAIError(
                400,
                f"Invalid value: '{role}'. Supported values are: {supported}.",
                param=f"messages[{index}].role",
                code="invalid_value",
            )
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                raise OpenAIError(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    param=f"messages.[{index}].role",
                )
            pending.remove(call_id)
            continue
        if pending:
            raise _unanswered_tool_calls(pending, pending_index)
        if role == "assistant" and message.get("tool_calls"):
            pending = [call.get("id") for call in message["tool_calls"]]
            pending_index = index
        elif message.get("content") is None:
            raise OpenAIError(
                400,
                f"Missing required parameter: 'messages[{index}].content'.",
                param=f"messages[{index}].content",
                code="missing_required_parameter",
            )
    if pending:
        raise _unanswered_tool_calls(pending, pending_index)


def _validate(body: dict[str, Any]) -> None:
    for key in body:
        if key not in KNOWN_PARAMS:
            raise OpenAIError(400, f"Unrecognized request argument supplied: {key}")
    model = body.get("model")
    if not model:
        raise OpenAIError(400, "you must provide a model parameter")
    _validate_messages(body.get("messages"))
    if body.get("stream_options") is not None and not body.get("stream"):
        raise OpenAIError(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    if is_reasoning_model(model):
        if body.get("max_tokens") is not None:
            raise OpenAIError(
                400,
                "Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead.",
                param="max_tokens",
                code="unsupported_parameter",
            )
        temperature = body.get("temperature")
        if temperature is not None and temperature != 1:
            raise OpenAIError(
                400,
                f"Unsupported value: 'temperature' does not support {temperature} with this "
                "model. Only the default (1) value is supported.",
                param="temperature",
                code="unsupported_value",
            )
    for index, tool in enumerate(body.get("tools") or []):
        name = (tool.get("function") or {}).get("name", "") if isinstance(tool, dict) else ""
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise OpenAIError(
                400,
                f"Invalid value for 'tools[{index}].type'. Expected 'function'.",
                param=f"tools[{index}].type",
                code="invalid_value",
            )
        if not TOOL_NAME_RE.match(name):
            raise OpenAIError(
                400,
                f"Invalid 'tools[{index}].function.name': string does not match pattern. "
                "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                param=f"tools[{index}].function.name",
                code="invalid_value",
            )
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_object":
        text = " ".join(_text_of(m.get("content")) for m in body["messages"]).lower()
        if "json" not in text:
            raise OpenAIError(
                400,
                "'messages' must contain the word 'json' in some form, to use "
                "'response_format' of type 'json_object'.",
                param="messages",
            )


def _conversation(body: dict[str, Any]) -> Conversation:
    messages = body["messages"]
    transcript: list[Any] = []
    for message in messages:
        text = _text_of(message.get("content"))
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            text += f" {function.get('name', '')} {function.get('arguments', '')}"
        transcript.append(f"{message['role']}: {text}")
    tools = [
        ToolSpec(t["function"]["name"], t["function"].get("parameters")) for t in body.get("tools") or []
    ]
    transcript += [orjson.dumps(t).decode() for t in body.get("tools") or []]
    user_texts = [_text_of(m.get("content")) for m in messages if m["role"] == "user"]
    choice = body.get("tool_choice", "auto")
    mode, forced = "auto", None
    if choice in ("none", "required"):
        mode = choice
    elif isinstance(choice, dict):
        mode, forced = "named", (choice.get("function") or {}).get("name")
    stop = body.get("stop") or []
    response_format = body.get("response_format") or {}
    model = body["model"]
    reasoning = 0
    if is_reasoning_model(model):
        reasoning = REASONING_EFFORT.get(body.get("reasoning_effort") or "medium", 48)
        reasoning += seed_of(transcript) % 16 if reasoning else 0
    return Conversation(
        transcript=transcript,
        last_user_text=user_texts[-1] if user_texts else "",
        last_is_tool_result=messages[-1]["role"] == "tool",
        tools=tools,
        tool_mode=mode,  # type: ignore[arg-type]
        forced_tool=forced,
        stop=[stop] if isinstance(stop, str) else list(stop),
        max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        json_mode=response_format.get("type") in ("json_object", "json_schema"),
        json_schema=(response_format.get("json_schema") or {}).get("schema"),
        default_reasoning=reasoning,
        parallel_allowed=body.get("parallel_tool_calls", True) is not False,
    )


def usage_of(completion: Completion) -> dict[str, Any]:
    return {
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.output_tokens,
        "total_tokens": completion.prompt_tokens + completion.output_tokens,
        "prompt_tokens_details": {"cached_tokens": completion.cache_read, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": completion.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _tool_call_id(completion: Completion, index: int) -> str:
    return f"call_{(completion.seed + index):016x}"[:29]


def _message(completion: Completion, content_filtered: bool) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if completion.tool_calls or content_filtered else completion.text,
        "refusal": None,
        "annotations": [],
    }
    if completion.tool_calls:
        message["tool_calls"] = [
            {
                "id": _tool_call_id(completion, call.index),
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json},
            }
            for call in completion.tool_calls
        ]
    return message


def _envelope(kind: str, model: str, completion_id: str, created: int) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": kind,
        "created": created,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }


def _stream_frames(
    completion: Completion,
    base: dict[str, Any],
    include_usage: bool,
    fault: str | None,
    content_filtered: bool,
) -> list[Frame]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        body = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            body["usage"] = None
        return body

    frames: list[Frame] = []
    if completion.tool_calls:
        for call in completion.tool_calls:
            head = {
                "index": call.index,
                "id": _tool_call_id(completion, call.index),
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            delta: dict[str, Any] = {"tool_calls": [head]}
            if call.index == 0:
                delta = {"role": "assistant", "content": None, **delta, "refusal": None}
            frames.append((sse_frame(chunk(delta)), 1))
            for piece in _fragments(call.arguments_json):
                frames.append(
                    (
                        sse_frame(
                            chunk({"tool_calls": [{"index": call.index, "function": {"arguments": piece}}]})
                        ),
                        1,
                    )
                )
    else:
        frames.append((sse_frame(chunk({"role": "assistant", "content": "", "refusal": None})), 0))
        pieces = [] if content_filtered else split_pieces(completion.text)
        for start in range(0, len(pieces), CHUNK_TOKENS):
            group = pieces[start : start + CHUNK_TOKENS]
            frames.append((sse_frame(chunk({"content": "".join(group)})), len(group)))
    if fault == "stall":
        return [*frames[:2], (STALL, 0)]
    if fault == "disconnect":
        return [*frames[: max(2, len(frames) // 2)], (DROP, 0)]
    if fault == "error_event":
        error = {
            "error": {
                "message": "The server had an error while processing your request. Sorry about that!",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        }
        return [*frames[:3], (sse_frame(error), 0)]
    finish = "content_filter" if content_filtered else FINISH[completion.finish]
    frames.append((sse_frame(chunk({}, finish)), 0))
    if include_usage:
        frames.append((sse_frame({**base, "choices": [], "usage": usage_of(completion)}), 0))
    frames.append((sse_frame("[DONE]"), 0))
    return frames


def _fragments(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _fault_error(fault: str, directives: Directives) -> OpenAIError | None:
    if fault == "429":
        return OpenAIError(
            429,
            "Rate limit reached for requests per min (RPM): Limit 500, Used 500, "
            "Requested 1. Please try again in 7s.",
            "requests",
            code="rate_limit_exceeded",
            headers={"retry-after": str(directives.retry_after), "x-ratelimit-remaining-requests": "0"},
        )
    if fault == "500":
        return OpenAIError(
            500, "The server had an error while processing your request. Sorry about that!", "server_error"
        )
    if fault in ("503", "529"):
        return OpenAIError(503, "The engine is currently overloaded, please try again later.", "server_error")
    if fault == "401":
        return _invalid_key("sim-fault-key")
    if fault == "400":
        return OpenAIError(400, "Invalid request (simulated fault).")
    if fault == "blocked":
        return OpenAIError(
            400,
            "Invalid prompt: your prompt was flagged as potentially violating our usage "
            "policy. Please try again with a different prompt.",
            code="invalid_prompt",
        )
    return None


def create_app(config: SimulatorConfig | None = None) -> Starlette:
    """The OpenAI simulator app; `app.state.sim` is its `SimState`."""
    state = SimState(config or SimulatorConfig.from_env(), "openai")

    async def chat_completions(request: Request) -> Any:
        raw = await request.body()
        try:
            body = parse_json_body(raw)
        except ValueError:
            state.record(request, raw.decode(errors="replace"), "chat.completions", None)
            return OpenAIError(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely "
                "means you aren't using your HTTP library correctly. The OpenAI API expects "
                "a JSON payload, but what was sent was not valid JSON.",
            ).response()
        state.record(request, body, "chat.completions", body.get("model") if isinstance(body, dict) else None)
        try:
            _auth(request, state)
            if not isinstance(body, dict):
                raise OpenAIError(400, "Invalid request body: expected a JSON object.")
            _validate(body)
        except OpenAIError as error:
            return error.response()
        conversation = _conversation(body)
        directives = state.directives(conversation.last_user_text, request.headers)
        fault = directives.fault
        error = _fault_error(fault, directives) if fault else None
        if error is not None:
            return error.response()
        stream = bool(body.get("stream"))
        hung = hung_response(state, fault, stream)
        if hung is not None:
            return hung
        completion = complete(conversation, directives)
        content_filtered = fault == "safety"
        completion_id = "chatcmpl-" + uuid.uuid4().hex[:29]
        base = _envelope(
            "chat.completion.chunk" if stream else "chat.completion",
            body["model"],
            completion_id,
            int(time.time()),
        )
        headers = {
            "x-request-id": _request_id(),
            "openai-version": "2020-10-01",
            "openai-processing-ms": str(directives.ttft_ms),
        }
        if stream:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            frames = _stream_frames(completion, base, include_usage, fault, content_filtered)
            return SimulatedResponse(
                paced(frames, directives.first_token_delay, directives.token_delay),
                state,
                media_type="text/event-stream; charset=utf-8",
                headers={**headers, "cache-control": "no-cache"},
                eager_headers=True,
                streamed=True,
            )
        if fault in ("disconnect", "error_event"):
            if fault == "error_event":
                return _fault_error("500", directives).response()  # type: ignore[union-attr]
            return SimulatedResponse(
                only(DROP), state, media_type="application/json", eager_headers=False, streamed=False
            )
        finish = "content_filter" if content_filtered else FINISH[completion.finish]
        payload = {
            **base,
            "choices": [
                {
                    "index": 0,
                    "message": _message(completion, content_filtered),
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "usage": usage_of(completion),
        }
        delay = directives.first_token_delay + directives.token_delay(max(completion.output_tokens - 1, 0))
        return SimulatedResponse(
            single(orjson.dumps(payload), delay),
            state,
            media_type="application/json",
            headers=headers,
            eager_headers=False,
            streamed=False,
        )

    async def list_models(request: Request) -> Response:
        state.record(request, None, "models", None)
        try:
            _auth(request, state)
        except OpenAIError as error:
            return error.response()
        data = [{"id": m, "object": "model", "created": 1715367049, "owned_by": "system"} for m in MODELS]
        return json_response({"object": "list", "data": data})

    async def retrieve_model(request: Request) -> Response:
        state.record(request, None, "models.retrieve", None)
        try:
            _auth(request, state)
        except OpenAIError as error:
            return error.response()
        model_id = request.path_params["model_id"]
        return json_response({"id": model_id, "object": "model", "created": 1715367049, "owned_by": "system"})

    routes = [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model_id:path}", retrieve_model, methods=["GET"]),
        *control_routes(state),
    ]
    app = Starlette(routes=routes)
    app.state.sim = state
    return app
