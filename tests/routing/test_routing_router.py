"""Routing decision table: the expected model per class and constraint."""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal

import pytest

from gateway.routing.catalog import Catalog, Model, load_catalog
from gateway.routing.classifier import Classification
from gateway.routing.pricing import expected_cost
from gateway.routing.router import DEFAULT_POLICY, RoutingError, RoutingPolicy, route

CATALOG = load_catalog()
ALL = frozenset({"openai", "anthropic", "google"})
HELLO = {"messages": [{"role": "user", "content": "hello"}]}


def cls(complexity: str = "simple", prompt_tokens: int = 100, *, vision: bool = False, tools: bool = False,
        json: bool = False) -> Classification:
    return Classification(complexity=complexity, score=0.0, prompt_tokens=prompt_tokens, features={},
                          needs_vision=vision, needs_tools=tools, needs_json=json)


def ids(models: list[Model]) -> list[str]:
    return [m.id for m in models]


def cheapest(complexity: str, prompt_tokens: int = 100, providers: frozenset[str] = ALL,
             output: int | None = None) -> Model:
    """The spec, computed from catalog facts: cheapest model meeting the tier that fits."""
    out = output or DEFAULT_POLICY.expected_output_tokens[complexity]
    pool = [m for m in CATALOG.all() if m.provider in providers
            and m.quality_tier >= DEFAULT_POLICY.min_quality[complexity]
            and prompt_tokens + out <= m.context_window]
    return min(pool, key=lambda m: (expected_cost(m, prompt_tokens, out), -m.quality_tier, -m.speed_tier,
                                    m.id))


# --- auto routing per class ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("complexity", "pinned"),
    [("simple", "gpt-5-nano"), ("moderate", "gpt-4.1-mini"), ("complex", "o3")],
)
def test_auto_routes_each_class_to_the_cheapest_good_enough_model(complexity: str, pinned: str):
    for model_field in ({}, {"model": "auto"}, {"model": ""}):
        chosen = route({**HELLO, **model_field}, cls(complexity), CATALOG, ALL)
        assert chosen[0].id == pinned == cheapest(complexity).id
        assert chosen[0].quality_tier >= DEFAULT_POLICY.min_quality[complexity]


def test_fallbacks_are_on_other_providers_and_meet_the_tier():
    chosen = route(HELLO, cls("complex"), CATALOG, ALL)
    assert ids(chosen) == ["o3", "gemini-3.5-flash", "claude-sonnet-5-5"]
    assert len({m.provider for m in chosen}) == 3
    assert all(m.quality_tier == 3 for m in chosen)
    assert len(chosen) == 1 + DEFAULT_POLICY.max_fallbacks


def test_fallbacks_fill_from_same_provider_when_only_one_provider_is_available():
    chosen = route(HELLO, cls("moderate"), CATALOG, frozenset({"openai"}))
    assert ids(chosen) == ["gpt-4.1-mini", "gpt-5-mini", "o4-mini"]
    assert route(HELLO, cls("moderate"), CATALOG, frozenset({"openai"}),
                 RoutingPolicy(max_fallbacks=0)) == [CATALOG.get("gpt-4.1-mini")]


@pytest.mark.parametrize(
    ("providers", "complexity", "pinned"),
    [
        (frozenset({"anthropic", "google"}), "simple", "gemini-2.5-flash-lite"),
        (frozenset({"anthropic", "google"}), "moderate", "claude-haiku-4-5"),
        (frozenset({"anthropic"}), "complex", "claude-sonnet-5-5"),
        (frozenset({"google"}), "complex", "gemini-3.5-flash"),
    ],
)
def test_provider_without_key_is_never_chosen(providers: frozenset[str], complexity: str, pinned: str):
    chosen = route(HELLO, cls(complexity), CATALOG, providers)
    assert chosen[0].id == pinned == cheapest(complexity, providers=providers).id
    assert all(m.provider in providers for m in chosen)


def test_below_tier_degrades_to_best_quality_that_fits():
    # A catalog without frontier models: complex requests get the best tier that exists, and so do fallbacks.
    small = Catalog([m for m in CATALOG.all() if m.quality_tier < 3])
    chosen = route(HELLO, cls("complex"), small, ALL)
    assert chosen[0].quality_tier == 2
    assert all(m.quality_tier == 2 for m in chosen)


def test_long_context_only_a_1m_model_fits():
    prompt = 500_000
    chosen = route(HELLO, cls("simple", prompt), CATALOG, ALL)
    assert all(m.context_window >= prompt + 150 for m in chosen)
    assert chosen[0].id == cheapest("simple", prompt).id == "gemini-2.5-flash-lite"
    complex_choice = route(HELLO, cls("complex", prompt), CATALOG, ALL)
    assert complex_choice[0].id == "gemini-3.5-flash" and complex_choice[0].context_window >= 1_000_000


def test_context_too_long_for_every_model_is_no_route():
    with pytest.raises(RoutingError) as err:
        route(HELLO, cls("simple", 2_000_000), CATALOG, ALL)
    assert err.value.status == 400 and err.value.code == "no_route"
    assert "context window" in err.value.message


def test_requested_max_output_counts_against_the_window_and_max_output():
    request = {**HELLO, "max_tokens": 100_000}
    chosen = route(request, cls("simple", 1_000), CATALOG, ALL)
    assert all(m.max_output >= 100_000 for m in chosen)
    assert chosen[0].id == "gpt-5-nano"
    request = {**HELLO, "max_completion_tokens": 120_000, "max_tokens": 10}
    assert all(m.max_output >= 120_000 for m in route(request, cls("simple"), CATALOG, ALL))


def _without(capability: str, providers: set[str]) -> Catalog:
    return Catalog([replace(m, **{capability: False}) if m.provider in providers else m
                    for m in CATALOG.all()])


@pytest.mark.parametrize(
    ("capability", "flag"),
    [("supports_vision", "vision"), ("supports_tools", "tools"), ("supports_json_mode", "json")],
)
def test_required_capabilities_filter_models(capability: str, flag: str):
    catalog = _without(capability, {"openai", "google"})
    chosen = route(HELLO, cls("moderate", **{flag: True}), catalog, ALL)
    assert ids(chosen)[0] == "claude-haiku-4-5"
    assert all(getattr(m, capability) for m in chosen)
    # Without the constraint the cheaper OpenAI model wins again.
    assert route(HELLO, cls("moderate"), catalog, ALL)[0].id == "gpt-4.1-mini"
    with pytest.raises(RoutingError) as err:
        route(HELLO, cls("moderate", **{flag: True}), catalog, frozenset({"openai"}))
    assert err.value.code == "no_route" and "not supported" in err.value.message


def test_streaming_requires_streaming_support():
    catalog = Catalog([replace(m, supports_streaming=m.provider == "google") for m in CATALOG.all()])
    chosen = route({**HELLO, "stream": True}, cls("simple"), catalog, ALL)
    assert {m.provider for m in chosen} == {"google"}


def test_real_catalog_capabilities_for_vision_tools_json_requests():
    chosen = route(HELLO, cls("moderate", vision=True, tools=True, json=True), CATALOG, ALL)
    assert chosen[0].id == "gpt-4.1-mini"
    assert all(m.supports_vision and m.supports_tools and m.supports_json_mode for m in chosen)


def test_preferred_providers_come_first():
    policy = RoutingPolicy(preferred_providers=("anthropic",))
    chosen = route(HELLO, cls("simple"), CATALOG, ALL, policy)
    assert chosen[0].id == "claude-haiku-4-5"
    assert chosen[1].provider != "anthropic"


def test_custom_tier_policy():
    policy = RoutingPolicy(min_quality={"simple": 3, "moderate": 3, "complex": 3})
    assert route(HELLO, cls("simple"), CATALOG, ALL, policy)[0].quality_tier == 3


# --- explicit models -------------------------------------------------------------------------------------

@pytest.mark.parametrize("model_id", ["claude-sonnet-5-5", "anthropic/claude-sonnet-5-5"])
def test_explicit_model_is_primary_with_equal_or_better_fallbacks(model_id: str):
    chosen = route({**HELLO, "model": model_id}, cls("simple"), CATALOG, ALL)
    assert chosen[0].id == "claude-sonnet-5-5"
    assert ids(chosen) == ["claude-sonnet-5-5", "o3", "gemini-3.5-flash"]
    assert all(m.quality_tier >= 3 for m in chosen)


def test_explicit_cheap_model_falls_back_to_other_providers():
    chosen = route({**HELLO, "model": "openai/gpt-4o-mini"}, cls("complex"), CATALOG, ALL)
    assert ids(chosen)[0] == "gpt-4o-mini"
    assert [m.provider for m in chosen[1:]] == ["google", "anthropic"]


def test_unknown_model_is_404_with_valid_ids():
    for model_id in ("gpt-99", "mistral/gpt-4o", "google/gpt-4o"):
        with pytest.raises(RoutingError) as err:
            route({**HELLO, "model": model_id}, cls(), CATALOG, ALL)
        assert err.value.status == 404 and err.value.code == "model_not_found"
        assert "gpt-4o" in err.value.details["valid_models"] and "auto" in err.value.details["valid_models"]


def test_known_model_without_provider_key_is_400_naming_the_key():
    with pytest.raises(RoutingError) as err:
        route({**HELLO, "model": "claude-haiku-4-5"}, cls(), CATALOG, frozenset({"openai", "google"}))
    assert err.value.status == 400 and err.value.code == "model_unavailable"
    assert "ANTHROPIC_API_KEY" in err.value.message and err.value.details["provider"] == "anthropic"


def test_explicit_model_whose_window_is_too_small_is_no_route():
    with pytest.raises(RoutingError) as err:
        route({**HELLO, "model": "gpt-4o"}, cls("simple", 200_000), CATALOG, ALL)
    assert err.value.code == "no_route" and "context window of 128000" in err.value.message


def test_upstream_id_is_accepted():
    dated = "claude-haiku-4-5-20251001"
    catalog = Catalog([replace(m, upstream_id=dated) if m.id == "claude-haiku-4-5" else m
                       for m in CATALOG.all()])
    assert route({**HELLO, "model": dated}, cls(), catalog, ALL)[0].id == "claude-haiku-4-5"


def test_no_provider_keys_at_all():
    with pytest.raises(RoutingError) as err:
        route(HELLO, cls(), CATALOG, frozenset())
    assert err.value.code == "no_route" and err.value.status == 400


def test_expected_cost_drives_the_choice():
    # gpt-5-nano: 100 * 0.05 + 150 * 0.40 = 65 micro-dollars, the cheapest tier-1 model for this request.
    assert expected_cost(CATALOG.get("gpt-5-nano"), 100, 150) == Decimal("0.000065")


# --- estimated prompt sizes near a context window ----------------------------------------------------------

def test_an_estimated_prompt_near_a_window_limit_gets_a_margin():
    from gateway.routing.router import ESTIMATED_PROMPT_MARGIN

    prompt = 390_000  # + 150 expected output fits gpt-5-nano's 400k window when the count is exact
    exact = route(HELLO, cls("simple", prompt), CATALOG, ALL)
    assert exact[0].id == cheapest("simple", prompt).id == "gpt-5-nano"
    estimated = route(HELLO, replace(cls("simple", prompt), prompt_tokens_estimated=True), CATALOG, ALL)
    needed = math.ceil(prompt * (1 + ESTIMATED_PROMPT_MARGIN)) + 150
    assert all(m.context_window >= needed for m in estimated)
    assert estimated[0].id == cheapest("simple", needed - 150).id != "gpt-5-nano"
    with pytest.raises(RoutingError) as err:  # an explicit model is refused up front, not by the upstream
        route({**HELLO, "model": "gpt-5-nano"}, replace(cls("simple", prompt), prompt_tokens_estimated=True),
              CATALOG, ALL)
    assert err.value.code == "no_route" and "20% estimate margin" in err.value.message


def test_a_real_long_prompt_is_fitted_with_the_margin():
    from gateway.routing.classifier import EXACT_TOKENIZE_CHARS, classify
    from gateway.routing.tokens import get_encoder

    paragraph = ("Quarterly report, region Nord-Ost: Umsatz 12.450 EUR (+3,2 %), returns 1,024 units; "
                 'see {"id": 77, "tags": ["late", "damaged"]}.\n'
                 "    def total(rows): return sum(r.x for r in rows)\n")
    text = paragraph * 6_000
    request = {"messages": [{"role": "user", "content": "Summarize:\n" + text}]}
    classification = replace(classify(request), complexity="simple")
    assert classification.prompt_tokens_estimated
    # Without the margin the estimate would fit gpt-5-nano's 400k-token window; with it, it does not.
    assert classification.prompt_tokens + 150 <= 400_000 < classification.prompt_tokens * 1.2 + 150
    exact = len(get_encoder().encode_ordinary(text))
    assert exact <= classification.prompt_tokens * 1.2  # the margin covers this text's real count
    chosen = route(request, classification, CATALOG, ALL)
    assert chosen[0].context_window >= 1_000_000
    assert all(m.context_window >= math.ceil(classification.prompt_tokens * 1.2) + 150 for m in chosen)

    short = classify({"messages": [{"role": "user", "content": paragraph * 10}]})
    assert len(paragraph * 10) <= EXACT_TOKENIZE_CHARS and not short.prompt_tokens_estimated
