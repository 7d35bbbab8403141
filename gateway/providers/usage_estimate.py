"""Usage for a stream that ended before the provider reported it (client gone, upstream error, timeout).

Providers bill the tokens they already generated, but OpenAI reports usage only in the last chunk and
Anthropic reports output tokens only in ``message_delta`` at the end. A stream cut short therefore fills in
what the provider did not report: prompt tokens from the request, completion tokens from the text and
tool-call arguments received so far, both counted with the routing classifier's tokenizer (cl100k). The
per-chunk path only appends strings; the counting happens once, when the stream ends.
"""

from __future__ import annotations

from typing import Any

from gateway.providers.base import Usage
from gateway.routing.classifier import classify, count_tokens


class StreamTally:
    """What one stream delivered so far and which usage figures the provider itself reported."""

    __slots__ = ("completion_reported", "pieces", "prompt_reported", "request")

    def __init__(self, request: dict[str, Any], pieces: list[str] | None = None) -> None:
        self.request = request
        self.pieces: list[str] = pieces if pieces is not None else []
        self.prompt_reported = False
        self.completion_reported = False

    def add(self, text: str | None) -> None:
        if text:
            self.pieces.append(text)

    def fill_unreported(self, usage: Usage) -> Usage:
        """Estimate the figures the provider did not report, in place; reported figures are kept."""
        if not self.prompt_reported:
            usage.prompt_tokens = classify(self.request).prompt_tokens
            usage.estimated = True
        if not self.completion_reported:
            received = count_tokens("".join(self.pieces))
            if received > usage.completion_tokens:
                # A partial count (Anthropic's message_start says 1) is raised, never lowered.
                usage.completion_tokens = received
                usage.estimated = True
        return usage
