"""Rows ClickHouse refuses although they passed validation (here: a CHECK constraint on the table, a
real refusal by the real engine) are found, dead-lettered with ClickHouse's message, and everything
else is inserted exactly once, also when the same batch is written again after a crash."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson

from consumers.refusals import error_code, is_data_error, refused_row
from consumers.rows import INSERT_SETTINGS, fast_row
from consumers.split_insert import split_points
from tests.pipeline.conftest import chdb, insert_action, make_event

# Valid for the model (UInt32), refused by the table once the test adds this constraint.
CONSTRAINT = "ALTER TABLE usage_events ADD CONSTRAINT sane_prompt CHECK input_tokens < 1000000"
TOO_MANY = 5_000_000
TOTALS = (
    "SELECT (SELECT count() FROM usage_events) AS rows,"
    " (SELECT uniqExact(event_id) FROM usage_events) AS ids,"
    " (SELECT sum(requests) FROM usage_hourly) AS rollup,"
    " (SELECT groupArray(input_tokens) FROM (SELECT input_tokens FROM usage_events"
    "  WHERE kafka_offset IN (1020, 1021) ORDER BY kafka_offset)) AS repaired"
)


def _rows(bad: set[int], count: int) -> bytes:
    user = uuid.uuid4()
    lines = []
    for i in range(count):
        wire = make_event(user, i, input_tokens=TOO_MANY if i in bad else 100).to_bytes()
        if i == 20:  # "-0" for an unsigned column: the fast check passes it, ClickHouse's reader does not
            wire = wire.replace(b'"input_tokens":100', b'"input_tokens":-0')
        if i == 21:  # a duplicated key: the model keeps the last value, ClickHouse refuses the row
            wire = wire[:-1] + b',"input_tokens":7}'
        lines.append(fast_row(wire, 2, 1000 + i))
    return b"".join(lines)


def test_refused_rows_are_isolated_and_writing_the_batch_again_stores_nothing_twice(tmp_path: Path) -> None:
    bad = {3, 77, 78, 150}
    data = insert_action(_rows(bad, 200), {})["insert"][0]
    isolate: dict[str, Any] = {"isolate": [data, "usage:2:1000-1199", INSERT_SETTINGS]}
    first, totals_first, again, totals_again = chdb(f"chdb://{tmp_path / 'ch'}", "refused", [
        {"apply_schema": True}, {"command": CONSTRAINT},
        isolate, {"query": TOTALS},
        isolate, {"query": TOTALS},
    ])[2:]
    refused = {offset: reason for offset, reason in first["refused"]}
    assert set(refused) == {1000 + i for i in bad}
    assert all(r.startswith("refused by ClickHouse: Code: 469") and "sane_prompt" in r
               for r in refused.values()), refused
    # ClickHouse names the row it refused: about four inserts per refused row (6 here), not 2 * log2(200).
    assert first["inserts"] <= 4 * 6, (first["inserts"], refused)
    assert totals_first[0] == {"rows": 196, "ids": 196, "rollup": 196, "repaired": [0, 7]}
    # The same batch again (a re-read after a crash): same pieces, same tokens, nothing stored twice.
    assert {offset for offset, _ in again["refused"]} == set(refused)
    assert totals_again == totals_first


def test_a_batch_refused_as_a_whole_by_a_data_error_is_not_retried_as_it_is(tmp_path: Path) -> None:
    """The real messages of the real engine classify as data errors and name the row."""
    rows = _rows({5}, 10)
    results = chdb(f"chdb://{tmp_path / 'ch'}", "whole", [
        {"apply_schema": True}, {"command": CONSTRAINT},
        {"isolate": [insert_action(rows, {})["insert"][0], "usage:2:1000-1009", INSERT_SETTINGS]},
        {"query": "SELECT count() AS n FROM usage_events"},
    ])
    assert [offset for offset, _ in results[2]["refused"]] == [1005]
    assert results[3] == [{"n": 9}]


class _Refusal(Exception):
    pass


def test_refusals_are_told_apart_from_outages() -> None:
    # Messages as chdb and the HTTP client word them (taken from real failures).
    parse = _Refusal("Code: 72. DB::Exception: Code: 72. DB::Exception: Unsigned type must not contain '-'"
                     " symbol: (while reading the value of key input_tokens): (at row 21)\n: (in file/uri"
                     " /tmp/x.raw): While executing ParallelParsingBlockInputFormat. (CANNOT_PARSE_NUMBER)")
    duplicate = _Refusal("Code: 117. DB::Exception: Duplicate field found while parsing JSONEachRow format:"
                         " input_tokens: (at row 1)")
    parts = _Refusal("Code: 252. DB::Exception: Too many parts (1). Merges are processing significantly"
                     " slower than inserts. (TOO_MANY_PARTS)")
    lost = ConnectionError("HTTPConnectionPool(host='ch', port=8123): Read timed out.")
    assert (error_code(parse), is_data_error(parse), refused_row(parse)) == (72, True, 21)
    assert (is_data_error(duplicate), refused_row(duplicate)) == (True, 1)
    assert (error_code(parts), is_data_error(parts)) == (252, False)
    assert (error_code(lost), is_data_error(lost), refused_row(lost)) == (None, False, None)


def test_split_points_always_shrink_and_cover_the_run() -> None:
    for rows in range(2, 40):
        for hint in [None, 0, 1, rows // 2, rows, rows + 1]:
            pieces = split_points(rows, hint)
            covered = [i for start, end in pieces for i in range(start, end)]
            assert covered == list(range(rows)), (rows, hint)
            assert all(0 < end - start < rows for start, end in pieces), (rows, hint, pieces)
    assert split_points(10, 4) == [(0, 3), (3, 4), (4, 10)]
    assert split_points(10, None) == [(0, 5), (5, 10)]


def test_the_loader_settings_make_clickhouse_refuse_unknown_fields(tmp_path: Path) -> None:
    """A message field the table lacks must be refused, never dropped (input_format_skip_unknown_fields)."""
    row = fast_row(orjson.dumps(orjson.loads(make_event(uuid.uuid4(), 1).to_bytes()) | {"prompt": "x"}), 0, 1)
    isolate = {"isolate": [insert_action(row, {})["insert"][0], "t", INSERT_SETTINGS]}
    (result,) = chdb(f"chdb://{tmp_path / 'ch'}", "unknown", [{"apply_schema": True}, isolate])[1:]
    assert result["refused"][0][0] == 1 and "Code: 117" in result["refused"][0][1]
