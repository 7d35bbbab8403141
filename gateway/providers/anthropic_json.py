"""JSON mode for Anthropic models: the answer is the input of a forced tool call.

The Messages API has no JSON mode, and a system instruction alone is a request the model may ignore (prose,
code fences). A tool's ``input`` is always a JSON object, and it follows the tool's ``input_schema``, so
``response_format`` becomes one extra tool that the model is made to call (``tool_choice: {"type":
"tool"}``, or ``{"type": "any"}`` when the client's own tools are offered too). The adapter turns that
call back into the message ``content`` (a JSON string) with ``finish_reason: "stop"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_TOOL_NAME = "json_response"
ANY_OBJECT_SCHEMA: dict[str, Any] = {"type": "object", "additionalProperties": True}
TOOL_DESCRIPTION = (
    "Give your complete answer to the user by calling this tool; its input is the answer, as JSON."
)


@dataclass(frozen=True)
class ResponseTool:
    name: str
    input_schema: dict[str, Any]
    description: str = TOOL_DESCRIPTION

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema}


def response_tool(response_format: Any) -> ResponseTool | None:
    """The tool standing in for ``response_format``; None when there is none or the schema's root is not
    an object (a tool input must be one: such schemas keep the system instruction)."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return ResponseTool(DEFAULT_TOOL_NAME, ANY_OBJECT_SCHEMA)
    if kind != "json_schema":
        return None
    spec = response_format.get("json_schema") or {}
    schema = spec.get("schema")
    if schema is None:
        schema = ANY_OBJECT_SCHEMA
    if not isinstance(schema, dict) or schema.get("type", "object" if "properties" in schema else None) != (
        "object"
    ):
        return None
    description = TOOL_DESCRIPTION
    if spec.get("description"):
        description = f"{TOOL_DESCRIPTION} {spec['description']}"
    return ResponseTool(str(spec.get("name") or DEFAULT_TOOL_NAME), schema, description)


def response_tool_choice(tool: ResponseTool, client_tools_sent: bool, client_choice: Any) -> dict[str, Any]:
    """Force the response tool; with the client's tools also offered, any tool (unless one is named)."""
    if client_tools_sent and client_choice != "none":
        if isinstance(client_choice, dict):
            return {"type": "tool", "name": (client_choice.get("function") or {}).get("name", "")}
        return {"type": "any", "disable_parallel_tool_use": True}
    return {"type": "tool", "name": tool.name, "disable_parallel_tool_use": True}
