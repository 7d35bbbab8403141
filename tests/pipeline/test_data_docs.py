"""Every example query in docs/data.md runs on chdb against loaded usage data and returns rows."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from consumers.rows import INSERT_SETTINGS, normalised_row
from schemas import Attempt, UsageEvent
from tests.pipeline.conftest import REPO, chdb, insert_action, make_event

DOC = REPO / "docs" / "data.md"


def doc_queries() -> list[str]:
    return [q.strip() for q in re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)]


def test_the_docs_explain_every_column_and_hold_at_least_ten_queries() -> None:
    text = DOC.read_text()
    for field in UsageEvent.model_fields:
        assert f"`{field}`" in text, f"docs/data.md does not explain {field}"
    assert len(doc_queries()) >= 10


def test_every_documented_query_runs_and_returns_rows(tmp_path: Path) -> None:
    users = [uuid.uuid4() for _ in range(5)]
    now = datetime.now(UTC)
    events = []
    for i in range(300):
        at = now - timedelta(seconds=i)
        fallback = i % 6 == 0
        attempts = [Attempt(model="gpt-4o", provider="openai", outcome="upstream_overloaded", latency_ms=40.0,
                            http_status=529)] if fallback else []
        events.append(make_event(
            users[i % 5], i, received_at=at, first_token_at=at + timedelta(milliseconds=90),
            finished_at=at + timedelta(milliseconds=700),
            status="error" if i % 11 == 0 else "ok", error_code="upstream_error" if i % 11 == 0 else "",
            http_status=502 if i % 11 == 0 else 200,
            attempts=[*attempts, Attempt(model="gpt-4o-mini", provider="openai", outcome="ok",
                                         latency_ms=600.0, http_status=200)],
        ))
    rows = b"".join(normalised_row(e, 0, i) for i, e in enumerate(events))
    queries = doc_queries()
    results = chdb(f"chdb://{tmp_path / 'ch'}", "docs", [
        {"apply_schema": True},
        insert_action(rows, {**INSERT_SETTINGS, "insert_deduplication_token": "docs"}),
        *({"query": q} for q in queries),
    ])
    for query, result in zip(queries, results[2:], strict=True):
        assert result, f"no rows from:\n{query}"
