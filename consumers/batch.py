"""Turn one partition's records into one insert: validate, drop duplicates, build the JSONEachRow rows.

A record in the gateway's own wire shape (``schemas.fast_check``, ~3 us) is passed to ClickHouse as
its own bytes plus the Kafka coordinates. Any other record is validated by the ``UsageEvent`` model:
a valid one is re-serialised through it, an invalid one is set aside for the dead-letter topic with
the reason. This runs on the event loop as records are fetched, while the previous batch is being
inserted in ClickHouse's worker thread.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import orjson
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError

from consumers.recent_ids import RecentIds
from consumers.rows import fast_row, normalised_row
from schemas import SCHEMA_VERSION, UsageEvent
from schemas.fast_check import fast_event_id


@dataclass
class PartitionBatch:
    """One partition's share of a flush: at most one insert, then one commit of ``next_offset``.

    Records are added as they are fetched (``add``), so a batch is ready the moment it is due.
    """

    tp: TopicPartition
    first_offset: int
    last_offset: int = -1
    records: int = 0  # records added, whatever became of them
    rows: list[bytes] = field(default_factory=list)  # one JSONEachRow line per fresh event
    fresh_ids: list[uuid.UUID] = field(default_factory=list)
    dead: list[tuple[ConsumerRecord, str]] = field(default_factory=list)
    duplicates: int = 0
    normalised: int = 0  # rows re-serialised through the model (not in the gateway's wire shape)
    refused: int = 0  # rows ClickHouse refused at the insert (dead-lettered then)

    @property
    def token(self) -> str:
        """The insert deduplication token: the same offsets re-read give the same token."""
        return f"{self.tp.topic}:{self.tp.partition}:{self.first_offset}-{self.last_offset}"

    @property
    def next_offset(self) -> int:
        return self.last_offset + 1

    def body(self) -> bytes:
        return b"".join(self.rows)

    def add(self, records: list[ConsumerRecord], recent: RecentIds) -> list[uuid.UUID]:
        """Validate and de-duplicate ``records`` (next in offset order) against ``recent`` and this
        batch; returns the ids of the fresh ones. ``recent`` is not changed: the caller adds them."""
        rows, fresh_ids = self.rows, self.fresh_ids
        added = len(fresh_ids)
        seen: set[uuid.UUID] = set()
        partition = self.tp.partition
        for record in records:
            value = record.value
            event_id = fast_event_id(value) if value else None
            if event_id is not None:
                row = fast_row(value, partition, record.offset)
            else:
                event = _validate(record, self)
                if event is None:
                    continue
                event_id = event.event_id
                row = normalised_row(event, partition, record.offset)
                self.normalised += 1
            if event_id in recent or event_id in seen:
                self.duplicates += 1
                continue
            seen.add(event_id)
            fresh_ids.append(event_id)
            rows.append(row)
        self.records += len(records)
        self.last_offset = records[-1].offset
        return fresh_ids[added:]


def prepare_batch(tp: TopicPartition, records: list[ConsumerRecord], recent: RecentIds) -> PartitionBatch:
    """A batch of ``records`` (one partition, in offset order), checked against ``recent``."""
    batch = PartitionBatch(tp, records[0].offset)
    batch.add(records, recent)
    return batch


def _validate(record: ConsumerRecord, batch: PartitionBatch) -> UsageEvent | None:
    value = record.value
    if not value:
        batch.dead.append((record, "empty message"))
        return None
    try:
        return UsageEvent.model_validate_json(value)
    except ValidationError as exc:
        batch.dead.append((record, rejection_reason(value, exc)))
        return None


def rejection_reason(value: bytes, exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    if first["type"] == "json_invalid":  # not JSON (or not UTF-8, or a lone surrogate escape)
        return f"invalid JSON: {first['msg'].removeprefix('Invalid JSON: ')}"
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:  # JSON to the model (NaN, a huge integer), not to orjson
        data = {"schema_version": SCHEMA_VERSION}
    if not isinstance(data, dict):
        return f"not a JSON object: {type(data).__name__}"
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        return f"unsupported schema_version {version!r}"
    where = ".".join(str(part) for part in first["loc"])
    return f"invalid event: {where}: {first['msg']}"
