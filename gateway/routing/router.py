"""Choose the ordered list of models (primary first, then fallbacks) that should serve a chat request.

Rules (see docs/routing.md for the full decision table):

* ``model`` absent, empty or ``"auto"``: among the models that can serve the request (provider available,
  required capabilities, prompt + output fits the context window, output fits ``max_output``), take those
  whose ``quality_tier`` meets the class minimum and rank them by preferred provider, then expected cost
  (``pricing.expected_cost`` for the prompt tokens and the output budget). If no model meets the tier, the
  minimum drops to the best tier any fitting model reaches, so a request is degraded rather than refused.
* ``model`` given (optionally prefixed ``provider/``): that model, provided it exists, its provider has a key
  and it can serve the request; fallbacks only to models of an equal or higher quality tier.
* Fallbacks prefer providers different from the ones already chosen, so one provider's outage is
  survivable; the list is then filled up in rank order, up to ``policy.max_fallbacks``.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gateway.routing.catalog import PROVIDERS, Catalog, Model
from gateway.routing.classifier import Classification, requested_max_output
from gateway.routing.pricing import expected_cost

AUTO_MODEL = "auto"
# A prompt longer than EXACT_TOKENIZE_CHARS is counted from samples, which can be 10-17% low on mixed text
# (docs/routing.md). Such a count is raised by this share before checking it against a context window, so an
# underestimate does not pick a model the upstream then refuses; exact counts are checked as they are.
ESTIMATED_PROMPT_MARGIN = 0.20
PROVIDER_KEY_VARS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "google": "GOOGLE_API_KEY"}


@dataclass(frozen=True)
class RoutingPolicy:
    """Per-class minimum quality tier, preferred providers and the fallback budget."""

    min_quality: dict[str, int] = field(default_factory=lambda: {"simple": 1, "moderate": 2, "complex": 3})
    preferred_providers: tuple[str, ...] = ()
    max_fallbacks: int = 2
    expected_output_tokens: dict[str, int] = field(
        default_factory=lambda: {"simple": 150, "moderate": 500, "complex": 1200}
    )


DEFAULT_POLICY = RoutingPolicy()


class RoutingError(Exception):
    """A request that cannot be routed; ``status`` is the HTTP status the API should answer with."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


@dataclass(frozen=True)
class _Needs:
    prompt_tokens: int
    fit_prompt_tokens: int  # prompt_tokens, plus ESTIMATED_PROMPT_MARGIN when they are an estimate
    output_tokens: int
    explicit_output: bool
    vision: bool
    tools: bool
    json: bool
    streaming: bool


def _needs(request: dict[str, Any], classification: Classification, policy: RoutingPolicy) -> _Needs:
    explicit = requested_max_output(request)
    expected = policy.expected_output_tokens.get(classification.complexity, 500)
    prompt_tokens = classification.prompt_tokens
    if classification.prompt_tokens_estimated:
        fit_prompt_tokens = math.ceil(prompt_tokens * (1 + ESTIMATED_PROMPT_MARGIN))
    else:
        fit_prompt_tokens = prompt_tokens
    return _Needs(
        prompt_tokens=prompt_tokens,
        fit_prompt_tokens=fit_prompt_tokens,
        output_tokens=explicit if explicit is not None else expected,
        explicit_output=explicit is not None,
        vision=classification.needs_vision,
        tools=classification.needs_tools,
        json=classification.needs_json,
        streaming=request.get("stream") is True,
    )


def _unfit_reason(model: Model, needs: _Needs) -> str | None:
    """Why ``model`` cannot serve the request, or None when it can."""
    if needs.vision and not model.supports_vision:
        return "image input is not supported"
    if needs.tools and not model.supports_tools:
        return "tools are not supported"
    if needs.json and not model.supports_json_mode:
        return "JSON response format is not supported"
    if needs.streaming and not model.supports_streaming:
        return "streaming is not supported"
    if needs.explicit_output and needs.output_tokens > model.max_output:
        return f"requested {needs.output_tokens} output tokens, the model's maximum is {model.max_output}"
    if needs.fit_prompt_tokens + needs.output_tokens > model.context_window:
        return (f"{_prompt_size(needs)} plus {needs.output_tokens} output tokens exceeds "
                f"the context window of {model.context_window} tokens")
    return None


def _prompt_size(needs: _Needs) -> str:
    if needs.fit_prompt_tokens == needs.prompt_tokens:
        return f"prompt of {needs.prompt_tokens} tokens"
    margin = round(ESTIMATED_PROMPT_MARGIN * 100)
    return (f"prompt of about {needs.prompt_tokens} tokens "
            f"({needs.fit_prompt_tokens} with a {margin}% estimate margin)")


# Per-token prices in nano-USD (price per 1M tokens * 1000), per catalog. With prices of at most three
# decimals these are integers and ``tokens * price`` is exactly ``expected_cost`` (quantized to 1e-9 USD)
# in nano-USD, so ranking needs no Decimal arithmetic; other prices fall back to ``expected_cost``.
_NANO_PRICES: weakref.WeakKeyDictionary[Catalog, dict[str, tuple[int, int] | None]] = (
    weakref.WeakKeyDictionary()
)
_NANO = Decimal(1000)
_NANO_USD = Decimal(1_000_000_000)


def _nano_price_pair(model: Model) -> tuple[int, int] | None:
    scaled = (model.pricing.input * _NANO, model.pricing.output * _NANO)
    if any(price != price.to_integral_value() for price in scaled):
        return None
    return int(scaled[0]), int(scaled[1])


def _nano_prices(catalog: Catalog) -> dict[str, tuple[int, int] | None]:
    prices = _NANO_PRICES.get(catalog)
    if prices is None:
        prices = {m.id: _nano_price_pair(m) for m in catalog.all()}
        _NANO_PRICES[catalog] = prices
    return prices


def _rank_key(policy: RoutingPolicy, needs: _Needs, catalog: Catalog) -> Any:
    preferred = {p: i for i, p in enumerate(policy.preferred_providers)}
    prices = _nano_prices(catalog)
    prompt_tokens, output_tokens = needs.prompt_tokens, needs.output_tokens

    def key(model: Model) -> tuple[int, int | Decimal, int, int, str]:
        pair = prices.get(model.id)
        if pair is not None:
            cost: int | Decimal = prompt_tokens * pair[0] + output_tokens * pair[1]
        else:
            cost = expected_cost(model, prompt_tokens, output_tokens) * _NANO_USD
        return (preferred.get(model.provider, len(preferred)), cost, -model.quality_tier, -model.speed_tier,
                model.id)

    return key


def _with_fallbacks(primary: Model, ranked_rest: Iterable[Model], max_fallbacks: int) -> list[Model]:
    """Primary, then fallbacks: first one per provider not yet used (in rank order), then the rest."""
    rest = [m for m in ranked_rest if m.id != primary.id]
    chosen: list[Model] = []
    used = {primary.provider}
    for model in rest:
        if len(chosen) >= max_fallbacks:
            break
        if model.provider not in used:
            chosen.append(model)
            used.add(model.provider)
    for model in rest:
        if len(chosen) >= max_fallbacks:
            break
        if model not in chosen:
            chosen.append(model)
    return [primary, *chosen]


def resolve_model_id(model_id: str, catalog: Catalog) -> Model | None:
    """Catalog lookup accepting ``provider/model`` and upstream ids; None when unknown."""
    provider = None
    name = model_id
    if "/" in model_id:
        provider, name = model_id.split("/", 1)
        if provider not in PROVIDERS:
            return None
    model = catalog.get(name) or next((m for m in catalog.all() if m.upstream_id == name), None)
    if model is None or (provider is not None and model.provider != provider):
        return None
    return model


def _no_route(needs: _Needs, candidates: list[Model], available: frozenset[str], what: str) -> RoutingError:
    if not candidates:
        return RoutingError(400, "no_route", f"no {what} has a configured provider key",
                            {"available_providers": sorted(available)})
    reasons = {m.id: reason for m in candidates if (reason := _unfit_reason(m, needs))}
    largest = max(candidates, key=lambda m: m.context_window)
    if needs.fit_prompt_tokens + needs.output_tokens > largest.context_window:
        message = (f"{_prompt_size(needs)} plus {needs.output_tokens} output tokens "
                   f"exceeds the largest available context window "
                   f"({largest.context_window} tokens, {largest.id})")
    else:
        message = f"no {what} can serve this request: " + "; ".join(sorted(set(reasons.values())))
    details = {"prompt_tokens": needs.prompt_tokens, "output_tokens": needs.output_tokens,
               "rejected": reasons}
    return RoutingError(400, "no_route", message, details)


def _route_auto(needs: _Needs, complexity: str, catalog: Catalog, available: frozenset[str],
                policy: RoutingPolicy) -> list[Model]:
    offered = [m for m in catalog.all() if m.provider in available]
    eligible = [m for m in offered if _unfit_reason(m, needs) is None]
    if not eligible:
        raise _no_route(needs, offered, available, "model")
    key = _rank_key(policy, needs, catalog)
    # When nothing meets the class minimum, it drops to the best tier that fits (degrade, not refuse).
    minimum = min(policy.min_quality.get(complexity, 1), max(m.quality_tier for m in eligible))
    good_enough = sorted((m for m in eligible if m.quality_tier >= minimum), key=key)
    return _with_fallbacks(good_enough[0], good_enough[1:], policy.max_fallbacks)


def _route_explicit(model_id: str, needs: _Needs, catalog: Catalog, available: frozenset[str],
                    policy: RoutingPolicy) -> list[Model]:
    model = resolve_model_id(model_id, catalog)
    if model is None:
        raise RoutingError(404, "model_not_found", f"model {model_id!r} does not exist",
                           {"valid_models": [AUTO_MODEL, *catalog.ids()]})
    if model.provider not in available:
        key_var = PROVIDER_KEY_VARS.get(model.provider, model.provider.upper() + "_API_KEY")
        raise RoutingError(400, "model_unavailable",
                           f"model {model.id!r} needs a {model.provider} key ({key_var}), "
                           "which is not configured",
                           {"model": model.id, "provider": model.provider, "missing_key": key_var})
    reason = _unfit_reason(model, needs)
    if reason is not None:
        raise RoutingError(400, "no_route", f"model {model.id!r} cannot serve this request: {reason}",
                           {"model": model.id, "prompt_tokens": needs.prompt_tokens,
                            "output_tokens": needs.output_tokens})
    alternatives = sorted(
        (m for m in catalog.all()
         if m.id != model.id and m.provider in available and m.quality_tier >= model.quality_tier
         and _unfit_reason(m, needs) is None),
        key=_rank_key(policy, needs, catalog),
    )
    return _with_fallbacks(model, alternatives, policy.max_fallbacks)


def route(
    request: dict[str, Any],
    classification: Classification,
    catalog: Catalog,
    available_providers: frozenset[str],
    policy: RoutingPolicy = DEFAULT_POLICY,
) -> list[Model]:
    """Ordered candidates for this request: primary first, then up to ``policy.max_fallbacks`` fallbacks."""
    needs = _needs(request, classification, policy)
    requested = request.get("model")
    if requested is None or (isinstance(requested, str) and requested.strip() in ("", AUTO_MODEL)):
        return _route_auto(needs, classification.complexity, catalog, available_providers, policy)
    if not isinstance(requested, str):
        raise RoutingError(400, "invalid_model", "model must be a string")
    return _route_explicit(requested.strip(), needs, catalog, available_providers, policy)
