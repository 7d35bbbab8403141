"""Exact cost arithmetic in Decimal USD.

Token semantics (the OpenAI convention, applied to every provider after translation):

* ``input_tokens`` is the TOTAL prompt size, cached and cache-write tokens included. OpenAI reports
  ``prompt_tokens`` with ``cached_tokens`` as a subset; for Anthropic pass
  ``input_tokens + cache_creation_input_tokens + cache_read_input_tokens``; for Gemini ``promptTokenCount``
  (which already includes ``cachedContentTokenCount``).
* uncached = input - cached - cache_write, billed at ``pricing.input``;
  cached tokens at ``pricing.cached_input``; cache writes at ``pricing.cache_write`` (or ``pricing.input``
  when the model has no separate cache-write price).
* ``output_tokens`` includes reasoning/thinking tokens and is billed at ``pricing.output``.

Results are quantized to 1e-9 USD; with prices of a few decimals per 1M tokens the arithmetic is exact.
"""

from __future__ import annotations

from decimal import Decimal

from gateway.routing.catalog import Model

PER_TOKENS = Decimal(1_000_000)
QUANTUM = Decimal("0.000000001")


def cost_usd(
    model: Model,
    *,
    input_tokens: int,
    cached_input_tokens: int = 0,
    cache_write_tokens: int = 0,
    output_tokens: int,
) -> Decimal:
    """The cost of one call, from its token usage (see the module docstring for what each count means)."""
    counts = (input_tokens, cached_input_tokens, cache_write_tokens, output_tokens)
    if min(counts) < 0:
        raise ValueError(f"token counts must be non-negative, got {counts}")
    uncached = input_tokens - cached_input_tokens - cache_write_tokens
    if uncached < 0:
        raise ValueError(
            f"input_tokens ({input_tokens}) must include cached ({cached_input_tokens}) "
            f"and cache-write ({cache_write_tokens}) tokens"
        )
    p = model.pricing
    write_price = p.cache_write if p.cache_write is not None else p.input
    micro = (
        uncached * p.input
        + cached_input_tokens * p.cached_input
        + cache_write_tokens * write_price
        + output_tokens * p.output
    )
    return (micro / PER_TOKENS).quantize(QUANTUM)


def expected_cost(model: Model, input_tokens: int, expected_output_tokens: int) -> Decimal:
    """The cost the router expects for a call, assuming no prompt-cache hits."""
    return cost_usd(model, input_tokens=input_tokens, output_tokens=expected_output_tokens)
