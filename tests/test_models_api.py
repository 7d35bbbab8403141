"""The model catalog over HTTP: /api/models, /api/models/{id}, /api/models/compare and /v1/models."""

from __future__ import annotations

from decimal import Decimal

import httpx
import openai
import pytest

from gateway.routing.catalog import load_catalog
from tests.conftest import Account, RunningGateway

CATALOG = load_catalog()


def test_list_returns_the_whole_catalog_with_prices_and_limits(api: httpx.Client) -> None:
    body = api.get("/api/models").json()
    assert body["count"] == len(CATALOG.all()) == len(body["models"])
    by_id = {m["id"]: m for m in body["models"]}
    for model in CATALOG.all():
        listed = by_id[model.id]
        assert listed["provider"] == model.provider
        assert listed["context_window"] == model.context_window
        assert Decimal(str(listed["pricing"]["input"])) == model.pricing.input
        assert Decimal(str(listed["pricing"]["output"])) == model.pricing.output
        assert listed["quality_tier"] == model.quality_tier


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ({"provider": "anthropic"}, lambda m: m.provider == "anthropic"),
        ({"supports_vision": "true"}, lambda m: m.supports_vision),
        ({"supports_vision": "false"}, lambda m: not m.supports_vision),
        ({"min_context": "500000"}, lambda m: m.context_window >= 500_000),
        ({"provider": "openai", "min_context": "300000"},
         lambda m: m.provider == "openai" and m.context_window >= 300_000),
    ],
)
def test_filters_select_exactly_the_matching_models(api: httpx.Client, query: dict, keep) -> None:
    ids = {m["id"] for m in api.get("/api/models", params=query).json()["models"]}
    expected = {m.id for m in CATALOG.all() if keep(m)}
    assert ids == expected


@pytest.mark.parametrize(
    ("query", "parameter"),
    [({"provider": "mistral"}, "provider"), ({"supports_vision": "maybe"}, "supports_vision"),
     ({"min_context": "-1"}, "min_context"), ({"min_context": "lots"}, "min_context")],
)
def test_bad_filter_values_are_400_naming_the_parameter(
    api: httpx.Client, query: dict, parameter: str
) -> None:
    response = api.get("/api/models", params=query)
    assert response.status_code == 400
    assert response.json()["error"]["details"]["parameter"] == parameter


def test_one_model_by_id_or_provider_prefixed_id(api: httpx.Client) -> None:
    model = CATALOG.all()[0]
    assert api.get(f"/api/models/{model.id}").json()["id"] == model.id
    assert api.get(f"/api/models/{model.provider}/{model.id}").json()["id"] == model.id
    missing = api.get("/api/models/no-such-model")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


def test_compare_takes_one_to_four_known_ids(api: httpx.Client) -> None:
    ids = [m.id for m in CATALOG.all()[:3]]
    body = api.post("/api/models/compare", json={"models": ids}).json()
    assert [m["id"] for m in body["models"]] == ids
    compared = [CATALOG.get(i) for i in ids]
    assert body["largest_context"] == max(compared, key=lambda m: m.context_window).id
    for bad in ([], [m.id for m in CATALOG.all()[:5]], "gpt-4o", [1]):
        response = api.post("/api/models/compare", json={"models": bad})
        assert response.status_code == 400, bad
    unknown = api.post("/api/models/compare", json={"models": [ids[0], "nope-1", "nope-2"]})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["details"]["unknown"] == ["nope-1", "nope-2"]


def test_v1_models_lists_reachable_models_and_auto(gateway: RunningGateway, account: Account) -> None:
    client = openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=account.gateway_key, max_retries=0)
    ids = [m.id for m in client.models.list()]
    assert ids[0] == "auto"
    assert set(ids[1:]) == {m.id for m in CATALOG.all()}  # the operator configured all three providers
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="gw_wrong", max_retries=0).models.list()
