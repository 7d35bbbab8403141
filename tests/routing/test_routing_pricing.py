"""Exact cost arithmetic."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.routing.catalog import Model, Pricing, load_catalog
from gateway.routing.pricing import cost_usd, expected_cost


def _model(input_: str, cached: str, write: str | None, output: str) -> Model:
    return Model(
        id="test-model", provider="anthropic", upstream_id="test-model", display_name="Test",
        pricing=Pricing(Decimal(input_), Decimal(cached), Decimal(write) if write else None, Decimal(output)),
        context_window=200_000, max_output=64_000, default_max_tokens=4096, supports_vision=True,
        supports_tools=True, supports_json_mode=True, supports_streaming=True, reasoning=False, speed_tier=2,
        quality_tier=3, release_date=None, recommended_for=(),
    )


def test_anthropic_cache_write_case_is_exact():
    # Anthropic usage {input 3, cache_creation 12304, cache_read 0, output 550}: total prompt = 12307.
    model = _model("3", "0.30", "3.75", "15")
    cost = cost_usd(model, input_tokens=3 + 12304 + 0, cached_input_tokens=0, cache_write_tokens=12304,
                    output_tokens=550)
    assert cost == Decimal("0.054399")
    assert isinstance(cost, Decimal)


def test_same_case_with_the_catalog_model_at_those_prices():
    sonnet = load_catalog().get("claude-sonnet-4-6")
    assert sonnet is not None
    p = sonnet.pricing
    assert (p.input, p.cache_write, p.cached_input, p.output) == (
        Decimal("3"), Decimal("3.75"), Decimal("0.3"), Decimal("15"))
    cost = cost_usd(sonnet, input_tokens=12307, cache_write_tokens=12304, output_tokens=550)
    assert cost == Decimal("0.054399")


def test_openai_cached_tokens_are_a_subset_of_prompt_tokens():
    gpt4o = load_catalog().get("gpt-4o")
    assert gpt4o is not None  # 2.50 input / 1.25 cached / 10.00 output
    # prompt_tokens 2006 of which cached_tokens 1920, completion_tokens 300:
    # 86 * 2.50 + 1920 * 1.25 + 300 * 10 = 215 + 2400 + 3000 = 5615 micro-dollars.
    cost = cost_usd(gpt4o, input_tokens=2006, cached_input_tokens=1920, output_tokens=300)
    assert cost == Decimal("0.005615")


def test_cache_write_falls_back_to_input_price_without_a_write_price():
    model = _model("2", "0.5", None, "8")
    assert cost_usd(model, input_tokens=1000, cache_write_tokens=1000, output_tokens=0) == Decimal("0.002")


def test_reasoning_output_and_tiny_amounts_stay_exact():
    nano = load_catalog().get("gpt-5-nano")  # 0.05 / 0.005 / 0.40
    assert nano is not None
    assert cost_usd(nano, input_tokens=7, cached_input_tokens=3, output_tokens=1) == Decimal("0.000000615")


def test_expected_cost_is_uncached_input_plus_output():
    model = _model("1", "0.1", "1.25", "5")
    assert expected_cost(model, 1000, 500) == Decimal("0.0035")


@pytest.mark.parametrize(
    ("inp", "cached", "write"),
    [(10, 11, 0), (10, 5, 6), (-1, 0, 0)],
)
def test_inconsistent_counts_are_rejected(inp: int, cached: int, write: int):
    with pytest.raises(ValueError):
        cost_usd(_model("1", "0.1", "1.25", "5"), input_tokens=inp, cached_input_tokens=cached,
                 cache_write_tokens=write, output_tokens=0)
