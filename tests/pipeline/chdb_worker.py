"""Run ClickHouse work on a chdb path in a separate process and print the results as JSON.

chdb allows one engine (one path) per process, and the test process already holds the gateway's, so
tests reach their own chdb paths through this script: ``python chdb_worker.py`` with a JSON request
on stdin: ``{"url": "chdb:///path", "database": "db", "actions": [...]}``; each action is one of
``{"apply_schema": true}``, ``{"query": sql, "params": {...}}``, ``{"command": sql}`` or
``{"insert": [base64 JSONEachRow, settings]}`` or ``{"isolate": [base64 rows, token, settings]}``
(``consumers.split_insert.insert_or_isolate``: gives ``{"refused": [[offset, reason], ...],
"inserts": n}``). Prints ``[result, ...]`` (query rows or null).
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from typing import Any

from consumers.refusals import is_data_error
from consumers.rows import row_offset
from consumers.split_insert import insert_or_isolate
from gateway.clickhouse import ClickHouse


def run(request: dict[str, Any]) -> list[Any]:
    clickhouse = ClickHouse(request["url"], request["database"])
    results: list[Any] = []
    for action in request["actions"]:
        if action.get("apply_schema"):
            clickhouse.apply_schema_sync()
            results.append(None)
        elif "query" in action:
            results.append(clickhouse.query_sync(action["query"], action.get("params")))
        elif "command" in action:
            clickhouse.command_sync(action["command"])
            results.append(None)
        elif "insert" in action:
            data, settings = action["insert"]
            clickhouse.insert_raw_sync("usage_events", base64.b64decode(data), "JSONEachRow", settings)
            results.append(None)
        elif "isolate" in action:
            data, token, settings = action["isolate"]
            results.append(_isolate(clickhouse, base64.b64decode(data), token, settings))
        else:
            raise ValueError(f"unknown action {action!r}")
    return results


def _isolate(clickhouse: ClickHouse, data: bytes, token: str, settings: dict[str, Any]) -> dict[str, Any]:
    inserts = 0

    async def insert(rows: list[bytes], piece_token: str) -> BaseException | None:
        nonlocal inserts
        inserts += 1
        try:
            clickhouse.insert_raw_sync("usage_events", b"".join(rows), "JSONEachRow",
                                       {**settings, "insert_deduplication_token": piece_token})
        except Exception as exc:
            if is_data_error(exc):
                return exc
            raise
        return None

    rows = data.splitlines(keepends=True)
    refused = asyncio.run(insert_or_isolate(rows, token, insert))
    return {"refused": [[row_offset(row), reason] for row, reason in refused], "inserts": inserts}


if __name__ == "__main__":
    output = run(json.load(sys.stdin))
    json.dump(output, sys.stdout, default=str)
