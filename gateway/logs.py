"""Structured JSON logs on stderr. Never log secrets or prompt text.

One access line is written per request, so a line must be cheap: the timestamp's date-and-second part
is formatted once per second, and lines logged on the event loop are collected and written together
once per loop turn (one ``write`` for all the lines of that turn) instead of one write and flush each.
Lines from other threads, or with no loop running, are written at once. Nothing is lost at exit:
``logging.shutdown`` (run at interpreter exit) flushes the handler, as does closing it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sys
import time
from typing import TextIO

import orjson

MAX_PENDING_LINES = 512  # written at once beyond this, whatever the loop does


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._second = -1.0
        self._second_text = ""

    def timestamp(self, created: float) -> str:
        """``datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")``, cached per second."""
        fraction, whole = math.modf(created)
        micros = round(fraction * 1e6)  # as datetime.fromtimestamp rounds
        if micros >= 1_000_000:
            whole += 1
            micros -= 1_000_000
        if whole != self._second:
            self._second = whole
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        return f"{self._second_text}.{micros // 1000:03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


class LoopBatchingHandler(logging.StreamHandler):
    """A stream handler that writes the lines of one event-loop turn in one go (see the module doc)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        # The loop a flush is queued on; a flush queued on a loop that closed before running it is
        # replaced by one on the next loop, never waited for.
        self._flush_loop: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:  # called with the handler's lock held
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.add_line(line)  # the lock is re-entrant

    def add_line(self, line: str) -> None:
        """Queue one formatted line as ``emit`` would (for callers that format their own)."""
        with self.lock:
            self._pending.append(line)
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is None or len(self._pending) >= MAX_PENDING_LINES:
                self._write_pending()
            elif self._flush_loop is not loop:
                self._flush_loop = loop
                loop.call_soon(self.flush)

    def flush(self) -> None:
        with self.lock:
            self._flush_loop = None
            self._write_pending()

    def _write_pending(self) -> None:
        if not self._pending:
            return
        text = "\n".join(self._pending) + "\n"
        self._pending.clear()
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception:  # a closed or broken stderr: as StreamHandler, never raise into the caller
            pass

    def close(self) -> None:
        self.flush()
        super().close()


def sole_batching_handler(logger: logging.Logger, level: int) -> LoopBatchingHandler | None:
    """The one handler a record of ``level`` on ``logger`` would reach, when it is a
    ``LoopBatchingHandler`` with a ``JsonFormatter`` and no logger or handler on the way filters:
    then a line may be handed to it directly (``JsonLineWriter``). None in any other set-up."""
    found: LoopBatchingHandler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if (found is not None or type(handler) is not LoopBatchingHandler or handler.filters
                    or type(handler.formatter) is not JsonFormatter or level < handler.level):
                return None
            found = handler
        current = current.parent if current.propagate else None
    return found


class JsonLineWriter:
    """The line ``logger.info(message, extra={"request_id": ...})`` would give, without building a
    ``LogRecord`` (about half the cost of a line). Used for the access log; falls back to the logging
    call whenever the set-up is anything but the standard one (``sole_batching_handler``)."""

    def __init__(self, logger: logging.Logger, level: int = logging.INFO) -> None:
        self.logger = logger
        self.level = level
        self._level_name = logging.getLevelName(level).lower()

    def write(self, message: str, request_id: str) -> None:
        logger = self.logger
        if not logger.isEnabledFor(self.level):
            return
        handler = sole_batching_handler(logger, self.level)
        if handler is None:
            logger.log(self.level, "%s", message, extra={"request_id": request_id})
            return
        entry = {"ts": handler.formatter.timestamp(time.time()), "level": self._level_name,
                 "logger": logger.name, "msg": message}
        if request_id:
            entry["request_id"] = request_id
        handler.add_line(orjson.dumps(entry).decode())


def configure_logging(level: str | None = None) -> None:
    handler = LoopBatchingHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or os.environ.get("LOG_LEVEL", "INFO"))
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
