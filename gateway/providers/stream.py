"""A ChatStream over one upstream SSE response and a provider-specific event translator."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Protocol

import httpx

from gateway.providers.base import UpstreamCall, UpstreamError, Usage
from gateway.providers.chunks import ChunkWriter, error_frame
from gateway.providers.errors import error_from_exception
from gateway.providers.sse import SSEEvent, SSEParser
from gateway.providers.usage_estimate import StreamTally

log = logging.getLogger("switchyard.providers")


class StreamTranslator(Protocol):
    """Turns upstream SSE events into OpenAI chunk frames, one event at a time (no buffering)."""

    usage: Usage
    done: bool  # the upstream signalled a complete end of stream
    tally: StreamTally  # what was received so far and which usage figures the provider reported

    @property
    def finish_reason(self) -> str | None: ...

    @property
    def first_token_at(self) -> float | None: ...

    def on_event(self, event: SSEEvent) -> list[bytes]:
        """Frames to send for this event; raises UpstreamError for an in-stream error."""
        ...

    def on_eof(self) -> list[bytes]:
        """Frames to send when the upstream closed; raises UpstreamError if the stream was cut short."""
        ...


class ChunkWritingTranslator:
    """The state shared by translators that build OpenAI chunks with a ``ChunkWriter``."""

    def __init__(self, call: UpstreamCall, api_key: str | None = None) -> None:
        self._out = ChunkWriter(call)
        self._api_key = api_key
        self.usage = Usage()
        self.tally = StreamTally(call.request, self._out.received)
        self.done = False

    @property
    def finish_reason(self) -> str | None:
        return self._out.finish_reasons.get(0)

    @property
    def first_token_at(self) -> float | None:
        return self._out.first_token_at


class UpstreamStream:
    """Iterate once. ``aclose()`` (client gone) closes the upstream response so the provider stops."""

    def __init__(self, provider: str, response: httpx.Response, translator: StreamTranslator) -> None:
        self.provider = provider
        self._response = response
        self._translator = translator
        self.error: UpstreamError | None = None
        self._closed = False
        self._usage_settled = False
        self._iterator: AsyncIterator[bytes] | None = None

    @property
    def usage(self) -> Usage:
        return self._translator.usage

    @property
    def finish_reason(self) -> str | None:
        return self._translator.finish_reason

    @property
    def first_token_at(self) -> float | None:
        return self._translator.first_token_at

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._iterator is None:
            self._iterator = self._frames()
        return self._iterator

    async def _frames(self) -> AsyncIterator[bytes]:
        parser = SSEParser()
        translator = self._translator
        if self._closed:
            await self._response.aclose()
            return
        try:
            async for chunk in self._response.aiter_bytes():
                for event in parser.feed(chunk):
                    for out in translator.on_event(event):
                        yield out
                    if translator.done:
                        return
            for event in parser.close():
                for out in translator.on_event(event):
                    yield out
                if translator.done:
                    return
            for out in translator.on_eof():
                yield out
        except UpstreamError as exc:
            self.error = exc
            yield error_frame(exc)
        except (httpx.HTTPError, httpx.StreamError) as exc:
            if self._closed:
                return
            self.error = error_from_exception(self.provider, exc)
            log.warning("%s stream failed: %s", self.provider, type(exc).__name__)
            yield error_frame(self.error)
        finally:
            self._settle_usage()
            await self._response.aclose()

    def _settle_usage(self) -> None:
        """Once the stream is over, estimate whatever usage the provider did not report (see Usage)."""
        if self._usage_settled:
            return
        self._usage_settled = True
        translator = self._translator
        translator.tally.fill_unreported(translator.usage)

    async def aclose(self) -> None:
        """Close the upstream response (idempotent); usage so far is kept, estimated where unreported."""
        self._closed = True
        iterator = self._iterator
        if iterator is not None and not getattr(iterator, "ag_running", False):
            await iterator.aclose()  # type: ignore[attr-defined]
        await self._response.aclose()
        self._settle_usage()
