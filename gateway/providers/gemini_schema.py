"""JSON Schema → the OpenAPI subset Gemini accepts for function parameters and response schemas."""

from __future__ import annotations

from typing import Any

# Fields of Gemini's Schema object; anything else (additionalProperties, $schema, strict, …) is a 400 there.
SCHEMA_KEYS = frozenset(
    {
        "anyOf",
        "default",
        "description",
        "enum",
        "example",
        "format",
        "items",
        "maxItems",
        "maxLength",
        "maxProperties",
        "maximum",
        "minItems",
        "minLength",
        "minProperties",
        "minimum",
        "nullable",
        "pattern",
        "properties",
        "propertyOrdering",
        "required",
        "title",
        "type",
    }
)
_MAX_DEPTH = 32


class NotSimpleSchema(ValueError):
    """The schema uses constructs Gemini's schema subset cannot express (unresolvable $ref, type unions)."""


def to_gemini_schema(schema: Any) -> dict[str, Any]:
    """Keep the supported keywords, upper-case types, turn ``["x", "null"]`` into ``nullable``,
    and inline local ``#/$defs/…`` references (non-recursive ones)."""
    if not isinstance(schema, dict):
        raise NotSimpleSchema("schema must be an object")
    definitions: dict[str, Any] = {}
    for key in ("definitions", "$defs"):
        value = schema.get(key) or {}
        if not isinstance(value, dict):
            raise NotSimpleSchema(f"{key} must be an object")
        definitions.update(value)
    return _convert(schema, definitions, 0)


def _resolve(ref: str, definitions: dict[str, Any]) -> Any:
    for prefix in ("#/$defs/", "#/definitions/"):
        if ref.startswith(prefix) and ref[len(prefix) :] in definitions:
            return definitions[ref[len(prefix) :]]
    raise NotSimpleSchema(f"unresolvable $ref {ref!r}")


def _convert(schema: Any, definitions: dict[str, Any], depth: int) -> dict[str, Any]:
    if depth > _MAX_DEPTH:
        raise NotSimpleSchema("schema too deep or recursive")
    if not isinstance(schema, dict):
        raise NotSimpleSchema("schema must be an object")
    if "$ref" in schema:
        return _convert(_resolve(str(schema["$ref"]), definitions), definitions, depth + 1)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in SCHEMA_KEYS:
            continue
        if key == "type":
            types = value if isinstance(value, list) else [value]
            concrete = [t for t in types if t != "null"]
            if len(concrete) != 1 or not isinstance(concrete[0], str):
                raise NotSimpleSchema("type unions are not supported")
            out["type"] = concrete[0].upper()
            if len(concrete) < len(types):
                out["nullable"] = True
        elif key == "properties":
            if not isinstance(value or {}, dict):
                raise NotSimpleSchema("properties must be an object")
            out["properties"] = {
                name: _convert(sub, definitions, depth + 1) for name, sub in (value or {}).items()
            }
        elif key == "items":
            out["items"] = _convert(value, definitions, depth + 1)
        elif key == "anyOf":
            if not isinstance(value, list):
                raise NotSimpleSchema("anyOf must be a list")
            out["anyOf"] = [_convert(sub, definitions, depth + 1) for sub in value]
        else:
            out[key] = value
    return out
