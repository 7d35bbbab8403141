"""Export records rendered by ClickHouse: one SQL expression per format that yields a record's exact bytes.

ClickHouse writes each record as one string (``FORMAT RawBLOB`` concatenates them untouched), so the
gateway only forwards bytes. The text is the same as the csv module and orjson would write for the
same values:

- CSV: RFC 4180 with minimal quoting (only fields holding a comma, quote, CR or LF are quoted, quotes
  doubled), CRLF after every record, ``true``/``false``, an empty field for a missing ttft.
- JSON: one compact object per record, keys in column order, preceded by a comma (the stream encoder
  turns the first one into ``[``); strings escaped as JSON, ``null`` for a missing ttft.

Money is ClickHouse's exact decimal text in both (a JSON number, never a float).
"""

from __future__ import annotations

from enum import Enum

import orjson


class Kind(Enum):
    TEXT = "text"  # any string: quoted/escaped as needed
    TOKEN = "token"  # text that never needs quoting or escaping (UUIDs, ISO timestamps)
    NUMBER = "number"  # integers and exact decimals, written as ClickHouse prints them
    FLOAT = "float"  # Float64, written as Python's repr (a whole value keeps its ``.0``)
    OPTIONAL_FLOAT = "optional_float"  # Nullable(Float64)
    BOOL = "bool"


# (column, SQL value, kind), in file order. Table columns are always referenced as `e.<column>`.
COLUMNS: tuple[tuple[str, str, Kind], ...] = (
    ("id", "e.request_id", Kind.TEXT),
    ("event_id", "toString(e.event_id)", Kind.TOKEN),
    ("created_at", "concat(replaceOne(toString(e.created_at), ' ', 'T'), 'Z')", Kind.TOKEN),
    ("model", "toString(e.routed_model)", Kind.TEXT),
    ("requested_model", "toString(e.requested_model)", Kind.TEXT),
    ("provider", "toString(e.provider)", Kind.TEXT),
    ("complexity", "toString(e.complexity)", Kind.TEXT),
    ("status", "toString(e.status)", Kind.TEXT),
    ("error_code", "toString(e.error_code)", Kind.TEXT),
    ("http_status", "e.http_status", Kind.NUMBER),
    ("input_tokens", "e.input_tokens", Kind.NUMBER),
    ("cached_input_tokens", "e.cached_input_tokens", Kind.NUMBER),
    ("output_tokens", "e.output_tokens", Kind.NUMBER),
    ("reasoning_tokens", "e.reasoning_tokens", Kind.NUMBER),
    ("cost_usd", "e.cost_usd", Kind.NUMBER),
    ("latency_ms", "round(toFloat64(e.latency_ms), 2)", Kind.FLOAT),
    ("ttft_ms", "round(toFloat64(e.ttft_ms), 2)", Kind.OPTIONAL_FLOAT),
    ("cache_hit", "e.cache_hit", Kind.BOOL),
    ("stream", "e.stream", Kind.BOOL),
    ("user_agent", "toString(e.user_agent)", Kind.TEXT),
)

EXPORT_COLUMNS = tuple(name for name, _, _ in COLUMNS)

# Settings the rendering relies on, pinned in the statement so a server profile cannot change them.
FORMAT_SETTINGS = "output_format_json_escape_forward_slashes = 0, output_format_decimal_trailing_zeros = 0"


def _python_float(value: str) -> str:
    """Float64 text as Python's ``repr`` writes it for these magnitudes: ``412.5``, ``200.0``."""
    return f"if({value} = trunc({value}), concat(toString({value}), '.0'), toString({value}))"


def _csv_field(value: str, kind: Kind) -> str:
    if kind is Kind.TEXT:
        quoted = f"""concat('"', replaceAll({value}, '"', '""'), '"')"""
        return f"""if(multiSearchAny({value}, [',', '"', '\\r', '\\n']), {quoted}, {value})"""
    if kind is Kind.FLOAT:
        return _python_float(value)
    if kind is Kind.OPTIONAL_FLOAT:
        return f"ifNull(toString({value}), '')"
    if kind is Kind.BOOL:
        return f"if({value}, 'true', 'false')"
    return f"toString({value})"


def _json_value(value: str, kind: Kind) -> str:
    if kind is Kind.TEXT:
        return f"toJSONString({value})"
    if kind is Kind.TOKEN:
        return f"""concat('"', {value}, '"')"""
    if kind is Kind.FLOAT:
        return _python_float(value)
    if kind is Kind.OPTIONAL_FLOAT:
        return f"ifNull({_python_float(value)}, 'null')"
    if kind is Kind.BOOL:
        return f"if({value}, 'true', 'false')"
    return f"toString({value})"


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def csv_record_sql() -> str:
    """One CSV record with its CRLF."""
    fields = [_csv_field(value, kind) for _, value, kind in COLUMNS]
    return "concat(" + ", ',', ".join(fields) + ", '\\r\\n')"


def json_record_sql() -> str:
    """``,{"id":...}``: one JSON object, preceded by the comma that separates it from the previous one."""
    parts: list[str] = []
    for i, (name, value, kind) in enumerate(COLUMNS):
        key = orjson.dumps(name).decode() + ":"
        parts += [_sql_string(("," if i else ",{") + key), _json_value(value, kind)]
    return "concat(" + ", ".join(parts) + ", '}')"


CSV_HEADER = (",".join(EXPORT_COLUMNS) + "\r\n").encode()
RECORD_SQL = {"csv": csv_record_sql(), "json": json_record_sql()}
