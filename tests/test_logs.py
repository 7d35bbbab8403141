"""JSON log lines: the cached timestamp, one write per event-loop turn, nothing lost at exit."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import random
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

from gateway.logs import (
    MAX_PENDING_LINES,
    JsonFormatter,
    JsonLineWriter,
    LoopBatchingHandler,
    sole_batching_handler,
)


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def _logger(stream: CountingStream) -> tuple[logging.Logger, LoopBatchingHandler]:
    handler = LoopBatchingHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"test.logs.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, handler


def test_timestamp_matches_datetime_isoformat() -> None:
    formatter = JsonFormatter()
    rng = random.Random(3)
    base = 1_796_000_000.0
    samples = [base + rng.uniform(0, 5) for _ in range(5000)]
    samples += [base + 0.9999995, base + 0.9999994, base + 0.0005, base + 0.9995, base + 59.99999999]
    for created in sorted(samples) + samples[:100]:  # out of order too: the cache must follow
        expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
        assert formatter.timestamp(created) == expected, created


def test_lines_of_one_loop_turn_are_written_together() -> None:
    stream = CountingStream()
    logger, _ = _logger(stream)

    async def main() -> int:
        for i in range(10):
            logger.info("line %d", i, extra={"request_id": f"req_{i}"})
        assert stream.writes == 0  # nothing written inside the turn
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return stream.writes

    assert asyncio.run(main()) == 1
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [entry["msg"] for entry in lines] == [f"line {i}" for i in range(10)]
    assert lines[3]["request_id"] == "req_3" and lines[0]["level"] == "info"


def test_without_a_loop_each_line_is_written_at_once() -> None:
    stream = CountingStream()
    logger, _ = _logger(stream)
    logger.warning("first")
    assert stream.writes == 1
    logger.warning("second")
    assert [json.loads(line)["msg"] for line in stream.getvalue().splitlines()] == ["first", "second"]


def test_a_long_turn_is_written_in_bounded_batches() -> None:
    stream = CountingStream()
    logger, _ = _logger(stream)

    async def main() -> None:
        for i in range(MAX_PENDING_LINES * 2 + 5):
            logger.info("n%d", i)
        assert stream.writes == 2

    asyncio.run(main())
    assert len(stream.getvalue().splitlines()) == MAX_PENDING_LINES * 2 + 5


def test_a_flush_queued_on_a_closed_loop_does_not_hold_later_lines() -> None:
    stream = CountingStream()
    logger, handler = _logger(stream)
    loop = asyncio.new_event_loop()
    logger.info("on the first loop")  # no loop running: written at once

    async def log_once() -> None:
        logger.info("on the first loop")

    loop.run_until_complete(log_once())
    loop.close()  # its queued flush may never run

    async def later() -> None:
        logger.info("on the second loop")
        await asyncio.sleep(0)

    asyncio.run(later())
    assert "on the second loop" in stream.getvalue()
    handler.flush()
    assert stream.getvalue().count("on the first loop") == 2


def test_no_line_lost_at_exit() -> None:
    """A process that logs on its loop and exits before the loop's next turn still writes every line."""
    code = textwrap.dedent(
        """
        import asyncio, logging
        from gateway.logs import configure_logging
        configure_logging()
        log = logging.getLogger("switchyard.access")

        async def main():
            for i in range(300):
                log.info("GET /health 200 %d", i)

        loop = asyncio.new_event_loop()
        loop.run_until_complete(main())
        loop.close()
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    messages = [json.loads(line)["msg"] for line in done.stderr.splitlines()]
    assert messages == [f"GET /health 200 {i}" for i in range(300)]


def test_line_writer_gives_the_logging_line() -> None:
    """``JsonLineWriter`` writes what ``logger.info(message, extra={"request_id": ...})`` writes."""
    stream = CountingStream()
    logger, handler = _logger(stream)
    writer = JsonLineWriter(logger)
    assert sole_batching_handler(logger, logging.INFO) is handler
    logger.info("%s", "POST /v1/chat/completions 200 1.5ms", extra={"request_id": "chatcmpl-1"})
    writer.write("POST /v1/chat/completions 200 1.5ms", "chatcmpl-1")
    writer.write("GET /health 200 0.1ms", "")
    by_logging, direct, no_id = (json.loads(line) for line in stream.getvalue().splitlines())
    assert by_logging.pop("ts")[:16] == direct.pop("ts")[:16]
    assert by_logging == direct == {"level": "info", "logger": logger.name,
                                    "msg": "POST /v1/chat/completions 200 1.5ms", "request_id": "chatcmpl-1"}
    assert "request_id" not in no_id
    logger.setLevel(logging.WARNING)
    writer.write("not written", "x")
    assert "not written" not in stream.getvalue()


def test_line_writer_goes_through_logging_when_anything_else_listens() -> None:
    stream = CountingStream()
    logger, _ = _logger(stream)
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger.addHandler(Keep())
    assert sole_batching_handler(logger, logging.INFO) is None
    JsonLineWriter(logger).write("GET /health 200 0.1ms", "req_1")
    assert [(r.getMessage(), r.request_id) for r in seen] == [("GET /health 200 0.1ms", "req_1")]
    assert json.loads(stream.getvalue())["request_id"] == "req_1"

    filtered_stream = CountingStream()
    filtered, _ = _logger(filtered_stream)
    filtered.addFilter(lambda record: "secret" not in record.getMessage())
    JsonLineWriter(filtered).write("a secret", "")
    JsonLineWriter(filtered).write("public", "")
    assert [json.loads(line)["msg"] for line in filtered_stream.getvalue().splitlines()] == ["public"]
