"""CPU per request of the usage event and the access-log line, before and after their second pass.

End-to-end runs on this shared 2-core machine vary by ±20 % between runs, more than these two parts
weigh together, so they are measured here in-process, in CPU time (``time.process_time``), as medians
of repeated batches:

* usage event, before: ``Attempt`` + ``UsageEvent`` built and validated by pydantic, ``to_bytes()``,
  the Kafka key from ``str(user_id)`` (what ``_emit`` did);
  after: ``usage_event_fields`` + ``usage_event_bytes`` (a dict rendered by orjson, same bytes).
* access line, before: ``logger.info`` through a ``StreamHandler`` with a formatter that formats the
  timestamp with ``datetime`` and flushes per line;
  after: ``log_access`` as served (``JsonLineWriter`` into the loop-batching handler).

Both write to /dev/null. Usage: ``.venv/bin/python -m bench.bench_request_extras [--requests N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from gateway.chat.handler import RequestContext, usage_event_fields
from gateway.events.usage_record import attempt_record, usage_event_bytes
from gateway.keys.gateway_auth import GatewayPrincipal
from gateway.logs import JsonFormatter, LoopBatchingHandler
from gateway.providers.base import Usage
from gateway.request_id import log_access
from gateway.routing.catalog import load_catalog
from schemas import Attempt, UsageEvent


def _context() -> RequestContext:
    model = load_catalog().all()[0]
    ctx = RequestContext(
        request_id="chatcmpl-" + uuid.uuid4().hex[:24],
        received_at=datetime.now(UTC) - timedelta(milliseconds=3),
        started=time.monotonic() - 0.003,
        principal=GatewayPrincipal(user_id=uuid.uuid4(), key_id=uuid.uuid4(), plan="free"),
        requested_model="gpt-4.1-nano",
        model=model,
        client_ip="127.0.0.1",
        user_agent="switchyard-bench/1",
    )
    ctx.attempts.append(attempt_record(model.id, model.provider, "ok", 1.234, 200))
    return ctx


USAGE = Usage(prompt_tokens=25, completion_tokens=9)
COST = Decimal("0.000004350")


def usage_event_before(ctx: RequestContext) -> tuple[bytes, bytes]:
    fields = usage_event_fields(ctx, usage=USAGE, status="ok", http_status=200, cost=COST)
    fields["attempts"] = [Attempt(**attempt) for attempt in ctx.attempts]
    fields["event_id"] = uuid.UUID(fields["event_id"])
    event = UsageEvent(**fields)
    return str(event.user_id).encode(), event.to_bytes()


def usage_event_after(ctx: RequestContext) -> tuple[bytes, bytes]:
    fields = usage_event_fields(ctx, usage=USAGE, status="ok", http_status=200, cost=COST)
    return str(ctx.principal.user_id).encode(), usage_event_bytes(fields)


class FormatterBefore(logging.Formatter):
    """The JSON formatter as it was: a ``datetime`` per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        return orjson.dumps(entry).decode()


def _per_request_us(fn: Callable[[], Any], requests: int, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(requests):
            fn()
        samples.append((time.process_time() - started) / requests * 1e6)
    return statistics.median(samples)


async def _access_lines_us(handler: logging.Handler, requests: int, repeats: int, direct: bool) -> float:
    """Access lines on a running loop, 32 per loop turn (one per in-flight request)."""
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    log = logging.getLogger("switchyard.access")
    samples = []
    for _ in range(repeats):
        started = time.process_time()
        for i in range(requests):
            began = time.perf_counter()
            if direct:
                log_access("POST", "/v1/chat/completions", 200, began, "chatcmpl-abcdefghijklmnopqrstuvwx")
            else:
                log.info("%s %s %d %.1fms", "POST", "/v1/chat/completions", 200,
                         (time.perf_counter() - began) * 1000,
                         extra={"request_id": "chatcmpl-abcdefghijklmnopqrstuvwx"})
            if i % 32 == 31:
                await asyncio.sleep(0)
        await asyncio.sleep(0)
        samples.append((time.process_time() - started) / requests * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    logging._srcfile = None  # as `python -m gateway serve` sets them (gateway/__main__.py)
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    ctx = _context()
    assert usage_event_before(ctx)[1][:40] == usage_event_after(ctx)[1][:40]
    event_before = _per_request_us(lambda: usage_event_before(ctx), args.requests, args.repeats)
    event_after = _per_request_us(lambda: usage_event_after(ctx), args.requests, args.repeats)

    devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the run
    old_handler = logging.StreamHandler(devnull)
    old_handler.setFormatter(FormatterBefore())
    new_handler = LoopBatchingHandler(devnull)
    new_handler.setFormatter(JsonFormatter())
    log_before = asyncio.run(_access_lines_us(old_handler, args.requests, args.repeats, direct=False))
    log_after = asyncio.run(_access_lines_us(new_handler, args.requests, args.repeats, direct=True))

    load = os.getloadavg()[0]
    print(f"usage event  before {event_before:6.1f} us/request  after {event_after:6.1f} us/request")
    print(f"access line  before {log_before:6.1f} us/request  after {log_after:6.1f} us/request")
    print(f"load average {load:.2f}, medians of {args.repeats} x {args.requests} requests, CPU time")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
