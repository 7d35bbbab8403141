"""The export bodies ClickHouse renders, checked byte for byte against the csv module and orjson writing
the same values, and the keyset chunks checked for gaps and repeats at every chunk boundary."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest

from gateway.analytics.export import ENCODERS
from gateway.analytics.export_format import EXPORT_COLUMNS
from gateway.analytics.export_query import export_chunks
from schemas import UsageEvent
from tests.analytics.conftest import event as make_event
from tests.analytics.conftest import insert
from tests.conftest import Account, RunningGateway, new_account

# Every character class the encoders treat specially, plus text that needs none of it.
USER_AGENTS = [
    'Mozilla/5.0 (X11; "quoted", comma)\nsecond line',
    "carriage\rreturn and CRLF\r\nend",
    'only "quotes"',
    "tab\there, back\\slash, bell\x07, DEL\x7f",
    "unicode: café ñ 日本語 🚀",
    "",
    "OpenAI/Python 1.99.0",
]
LATENCIES = [412.5, 200.0, 0.25, 1234.75, 3.0, 99.5, 10.0]


def table_order(e: UsageEvent) -> tuple[datetime, int, int]:
    """The export's order: time, then event id as ClickHouse compares UUIDs (low 64 bits first)."""
    return e.received_at, e.event_id.int & (2**64 - 1), e.event_id.int >> 64


def tricky_events(user_id: str, now: datetime) -> list[UsageEvent]:
    events = []
    for i, agent in enumerate(USER_AGENTS):
        ttft = None if i % 2 else LATENCIES[i] / 2
        events.append(make_event(
            user_id, now - timedelta(hours=i + 1), i, user_agent=agent, latency_ms=LATENCIES[i],
            ttft_ms=ttft, request_id=f"req,{i}" if i == 2 else f'req-"{i}"' if i == 3 else f"req-{i}",
            cached_input_tokens=i * 3, reasoning_tokens=i * 5,
        ))
    return sorted(events, key=table_order)


def _float(value: float) -> float:
    """What the table gives back for a latency: a Float32, rounded to 2 decimals."""
    return round(float(value), 2)


def reference_values(e: UsageEvent) -> list[Any]:
    """One export row as the csv module and orjson receive it (the previous Python encoders)."""
    return [
        e.request_id, str(e.event_id), e.received_at.strftime("%Y-%m-%dT%H:%M:%S.") +
        f"{e.received_at.microsecond // 1000:03d}Z", e.routed_model, e.requested_model, e.provider,
        e.complexity, e.status, e.error_code, e.http_status, e.input_tokens, e.cached_input_tokens,
        e.output_tokens, e.reasoning_tokens, e.cost_usd, _float(e.latency_ms),
        None if e.ttft_ms is None else _float(e.ttft_ms), e.cache_hit, e.stream, e.user_agent,
    ]


def money_text(amount: Decimal) -> str:
    return format(amount.normalize(), "f") if amount else "0"


def reference_csv(events: list[UsageEvent]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for e in events:
        row = reference_values(e)
        row[14] = money_text(row[14])
        row[16] = "" if row[16] is None else repr(row[16]).removesuffix(".0")  # ClickHouse's text
        row[17:19] = ["true" if row[17] else "false", "true" if row[18] else "false"]
        writer.writerow(row)
    return buffer.getvalue().encode()


def reference_json(events: list[UsageEvent]) -> bytes:
    objects = []
    for e in events:
        row = reference_values(e)
        row[14] = orjson.Fragment(money_text(row[14]))
        objects.append(dict(zip(EXPORT_COLUMNS, row, strict=True)))
    return orjson.dumps(objects)


@pytest.fixture(scope="module")
def tricky(gateway: RunningGateway) -> tuple[Account, list[UsageEvent]]:
    with httpx.Client(base_url=gateway.base_url, timeout=30) as client:
        account = new_account(client)
    events = tricky_events(account.user_id, datetime.now(UTC))
    insert(gateway, events)
    return account, events


def test_csv_export_is_byte_identical_to_the_csv_module(
    api: httpx.Client, tricky: tuple[Account, list[UsageEvent]]
) -> None:
    account, events = tricky
    response = api.get("/api/analytics/export", headers=account.auth)
    assert response.status_code == 200, response.text
    assert response.content == reference_csv(events)
    records = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert [r["user_agent"] for r in records] == [e.user_agent for e in events]
    assert [r["id"] for r in records] == [e.request_id for e in events]


def test_json_export_is_byte_identical_to_orjson(
    api: httpx.Client, tricky: tuple[Account, list[UsageEvent]]
) -> None:
    account, events = tricky
    response = api.get("/api/analytics/export", params={"format": "json"}, headers=account.auth)
    assert response.status_code == 200, response.text
    assert response.content == reference_json(events)
    rows = json.loads(response.text, parse_float=Decimal)
    assert [r["user_agent"] for r in rows] == [e.user_agent for e in events]
    assert [r["ttft_ms"] is None for r in rows] == [e.ttft_ms is None for e in events]


def test_json_export_keeps_line_separators_as_valid_json(gateway: RunningGateway, api: httpx.Client) -> None:
    """U+2028/U+2029 are written escaped (unlike orjson): still the same string once parsed."""
    account = new_account(api)
    agent = "line\u2028paragraph\u2029 and a literal \\u2028"
    at = datetime.now(UTC) - timedelta(hours=1)
    insert(gateway, [make_event(account.user_id, at, 1, user_agent=agent)])
    response = api.get("/api/analytics/export", params={"format": "json"}, headers=account.auth)
    assert [r["user_agent"] for r in response.json()] == [agent]


async def _body(chunks: Any, fmt: str) -> tuple[bytes, int]:
    pieces = [piece async for piece in ENCODERS[fmt](chunks)]
    return b"".join(pieces), len(pieces)


async def _chunk_ids(chunks: Any, fmt: str) -> list[list[str]]:
    """The request ids in each chunk, parsed on their own."""
    ids = []
    async for data in chunks:
        if fmt == "csv":
            ids.append([row[0] for row in csv.reader(io.StringIO(data.decode(), newline=""))])
        else:
            ids.append([row["id"] for row in json.loads(b"[" + data[1:] + b"]")])
    return ids


def expected_chunks(rows: list[UsageEvent], chunk: int) -> list[list[str]]:
    """`chunk` rows each, plus the rows sharing the last one's millisecond."""
    chunks, i = [], 0
    while i < len(rows):
        j = min(i + chunk, len(rows))
        while j < len(rows) and rows[j].received_at == rows[j - 1].received_at:
            j += 1
        chunks.append([e.request_id for e in rows[i:j]])
        i = j
    return chunks


@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize("chunk", [1, 3, 4, 5, 12, 50])
def test_chunks_cover_every_row_once_across_boundaries_and_ties(
    gateway: RunningGateway, api: httpx.Client, fmt: str, chunk: int
) -> None:
    """12 rows, 5 of them sharing one timestamp (ordered by event id), read `chunk` at a time."""
    account = new_account(api)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    moments = [base + timedelta(minutes=i) for i in range(8)] + [base + timedelta(minutes=4)] * 4
    events = [make_event(account.user_id, at, i) for i, at in enumerate(moments)]
    events.append(make_event(account.user_id, base - timedelta(days=2), 99))  # before the range
    insert(gateway, events)
    inside = sorted(events[:12], key=table_order)
    user, ch = uuid.UUID(account.user_id), gateway.state.clickhouse
    start, end = base - timedelta(hours=1), base + timedelta(hours=1)

    body, _ = gateway.call(_body(export_chunks(ch, user, start, end, None, fmt, chunk), fmt))
    assert body == (reference_csv(inside) if fmt == "csv" else reference_json(inside))
    ids = gateway.call(_chunk_ids(export_chunks(ch, user, start, end, None, fmt, chunk), fmt))
    assert ids == expected_chunks(inside, chunk)


def test_a_chunk_ends_exactly_at_the_range_end(gateway: RunningGateway, api: httpx.Client) -> None:
    """Rows one millisecond before `end` are in; rows at `end` are not, whatever the chunking."""
    account = new_account(api)
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    moments = [end - timedelta(milliseconds=1)] * 3 + [end] * 2 + [end - timedelta(minutes=1)]
    events = [make_event(account.user_id, at, i) for i, at in enumerate(moments)]
    insert(gateway, events)
    user, ch = uuid.UUID(account.user_id), gateway.state.clickhouse
    inside = sorted(events[:3] + events[5:], key=table_order)
    for chunk in (1, 2, 3, 4):
        chunks = export_chunks(ch, user, end - timedelta(hours=1), end, None, "csv", chunk)
        body, _ = gateway.call(_body(chunks, "csv"))
        assert body == reference_csv(inside), chunk


def test_empty_and_model_filtered_chunks(gateway: RunningGateway, api: httpx.Client) -> None:
    account = new_account(api)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    events = [make_event(account.user_id, base + timedelta(minutes=7 * i), i) for i in range(16)]
    insert(gateway, events)
    user, ch = uuid.UUID(account.user_id), gateway.state.clickhouse
    start, end = base, base + timedelta(hours=3)

    body, _ = gateway.call(_body(export_chunks(ch, user, start, end, "gpt-4o", "csv", 2), "csv"))
    assert body == reference_csv([e for e in events if e.routed_model == "gpt-4o"])
    later = end + timedelta(hours=1)
    empty_csv, _ = gateway.call(_body(export_chunks(ch, user, end, later, None, "csv"), "csv"))
    assert empty_csv == b",".join(c.encode() for c in EXPORT_COLUMNS) + b"\r\n"
    empty_json, _ = gateway.call(_body(export_chunks(ch, user, end, later, None, "json"), "json"))
    assert empty_json == b"[]"
