"""Turn validated Kafka messages into ``usage_events`` rows (JSONEachRow, parsed by ClickHouse).

The fast path appends the Kafka coordinates to the message's own JSON (which already validated as a
``UsageEvent`` and whose keys are the table's column names), so the loader never re-serialises an
event. ``normalised_row`` re-serialises through the model instead; the loader falls back to it for a
row ClickHouse refuses in the fast form (e.g. JSON from a foreign producer with odd formatting).
"""

from __future__ import annotations

import re

from schemas import UsageEvent

INSERT_SETTINGS = {
    "date_time_input_format": "best_effort",
    "input_format_skip_unknown_fields": 0,  # a field the table lacks is an error, never silently dropped
    "insert_deduplicate": 1,
    "deduplicate_blocks_in_dependent_materialized_views": 1,  # rollups stay exact on a re-insert
    "async_insert": 0,
}
# Embedded chdb shares the loader's cores: parsing one insert on several threads costs ~20% more CPU
# and wall time there than parsing it on one (bench/bench_pipeline.py, 30k-row inserts).
EMBEDDED_INSERT_SETTINGS = {**INSERT_SETTINGS, "input_format_parallel_parsing": 0}


def fast_row(value: bytes, partition: int, offset: int) -> bytes:
    """``value`` must be a JSON object that validated as a UsageEvent."""
    body = value.rstrip()
    if not body.endswith(b"}"):
        raise ValueError("not a JSON object")
    return b"%s,\"kafka_partition\":%d,\"kafka_offset\":%d}\n" % (body[:-1], partition, offset)


_KAFKA_SUFFIX = re.compile(rb',"kafka_partition":(\d+),"kafka_offset":(\d+)\}\n\Z')


def split_row(row: bytes) -> tuple[bytes, int, int]:
    """The inverse of ``fast_row``: the message's JSON, its partition and its offset."""
    match = _KAFKA_SUFFIX.search(row)
    if match is None:
        raise ValueError("not a row made by fast_row")
    return row[: match.start()] + b"}", int(match[1]), int(match[2])


def row_offset(row: bytes) -> int:
    """The Kafka offset of a row made by ``fast_row``."""
    return split_row(row)[2]


def normalised_row(event: UsageEvent, partition: int, offset: int) -> bytes:
    return fast_row(event.to_bytes(), partition, offset)
