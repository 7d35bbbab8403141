"""Provider-neutral completion: turns a normalised request into text or tool calls plus usage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from .answers import (
    compose_answer,
    count_tokens,
    cut_at_stop,
    default_answer_length,
    example_for_schema,
    json_answer,
    seed_of,
    truncate_tokens,
)
from .common import Directives

Finish = Literal["stop", "length", "stop_sequence", "tool_calls"]
ToolMode = Literal["auto", "none", "required", "named"]
_TOOL_WORDS = ("tool", "function", "look up", "lookup", "search")


@dataclass(frozen=True)
class ToolSpec:
    name: str
    parameters: dict[str, Any] | None = None


@dataclass
class Conversation:
    """What every provider request boils down to for answer generation."""

    transcript: list[Any]
    last_user_text: str
    last_is_tool_result: bool = False
    tools: list[ToolSpec] = field(default_factory=list)
    tool_mode: ToolMode = "auto"
    forced_tool: str | None = None
    stop: list[str] = field(default_factory=list)
    max_tokens: int | None = None
    json_mode: bool = False
    json_schema: dict[str, Any] | None = None
    default_reasoning: int = 0
    parallel_allowed: bool = True


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]
    index: int

    @property
    def arguments_json(self) -> str:
        return orjson.dumps(self.arguments).decode()


@dataclass(frozen=True)
class Completion:
    text: str
    tool_calls: list[ToolCall]
    finish: Finish
    stop_sequence: str | None
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    cache_read: int
    cache_write: int
    seed: int

    @property
    def output_tokens(self) -> int:
        """Visible plus reasoning tokens: what providers bill as output."""
        return self.completion_tokens + self.reasoning_tokens


def prompt_token_count(transcript: list[Any]) -> int:
    """Tokens of everything the request sent, plus a small per-message overhead."""
    total = 3
    for item in transcript:
        text = item if isinstance(item, str) else orjson.dumps(item).decode()
        total += 3 + count_tokens(text)
    return total


def _asks_for_tools(text: str, tools: list[ToolSpec]) -> bool:
    lowered = text.lower()
    if any(word in lowered for word in _TOOL_WORDS):
        return True
    return any(t.name.lower() in lowered or t.name.lower().replace("_", " ") in lowered for t in tools)


def _pick_tools(conv: Conversation, directives: Directives, seed: int) -> list[ToolCall]:
    if not conv.tools or conv.tool_mode == "none":
        return []
    wanted = conv.tool_mode in ("required", "named") or (
        not conv.last_is_tool_result
        and (directives.force_tools or _asks_for_tools(conv.last_user_text, conv.tools))
    )
    if not wanted:
        return []
    by_name = {tool.name: tool for tool in conv.tools}
    first = by_name.get(conv.forced_tool or "") or next(
        (t for t in conv.tools if t.name.lower() in conv.last_user_text.lower()), conv.tools[0]
    )
    chosen = [first]
    if directives.parallel_tools and conv.parallel_allowed and conv.tool_mode != "named":
        others = [tool for tool in conv.tools if tool.name != first.name]
        chosen.append(others[0] if others else first)
    return [
        ToolCall(tool.name, _arguments(tool, seed + index * 7919), index) for index, tool in enumerate(chosen)
    ]


def _arguments(tool: ToolSpec, seed: int) -> dict[str, Any]:
    schema = tool.parameters or {}
    if "properties" not in schema and schema.get("additionalProperties") is True:
        # an open object (e.g. a JSON-mode answer tool): the model fills it with an answer of its own
        return orjson.loads(json_answer(seed, None, tool.name))
    value = example_for_schema(tool.parameters or {"type": "object", "properties": {}}, tool.name, seed)
    return value if isinstance(value, dict) else {"value": value}


def _prompt_tokens(conv: Conversation, directives: Directives) -> int:
    counted = prompt_token_count(conv.transcript)
    cached = directives.cache_read + directives.cache_write
    return counted if counted > cached else cached + counted


def complete(conv: Conversation, directives: Directives) -> Completion:
    """Answers deterministically: same request, same completion."""
    seed = seed_of(conv.transcript)
    prompt_tokens = _prompt_tokens(conv, directives)
    reasoning = directives.reasoning if directives.reasoning is not None else conv.default_reasoning
    budget = None if conv.max_tokens is None else conv.max_tokens - reasoning
    if budget is not None and budget <= 0:
        return Completion(
            "",
            [],
            "length",
            None,
            prompt_tokens,
            0,
            conv.max_tokens or 0,
            directives.cache_read,
            directives.cache_write,
            seed,
        )
    calls = _pick_tools(conv, directives, seed)
    if calls:
        tokens = sum(count_tokens(c.name) + count_tokens(c.arguments_json) + 3 for c in calls)
        return Completion(
            "",
            calls,
            "tool_calls",
            None,
            prompt_tokens,
            tokens,
            reasoning,
            directives.cache_read,
            directives.cache_write,
            seed,
        )
    if directives.answer is not None:
        full = directives.answer
    elif conv.json_mode:
        full = json_answer(seed, conv.json_schema, conv.last_user_text)
    else:
        wanted = directives.tokens or default_answer_length(seed, prompt_tokens)
        full = compose_answer(seed, wanted, with_unicode=directives.unicode, exact=bool(directives.tokens))
    text, finish = full, "stop"
    if budget is not None and count_tokens(full) > budget:
        text, finish = truncate_tokens(full, budget), "length"
    cut, hit = cut_at_stop(text, conv.stop)
    if hit is not None:
        text, finish = cut, "stop_sequence"
    return Completion(
        text,
        [],
        finish,
        hit,
        prompt_tokens,
        count_tokens(text),
        reasoning,
        directives.cache_read,
        directives.cache_write,
        seed,
    )
