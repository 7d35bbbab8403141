"""The shipped catalog and catalog validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.routing.catalog import PROVIDERS, SHIPPED_CATALOG, CatalogError, load_catalog


def test_shipped_catalog_loads_with_every_provider_and_tier():
    catalog = load_catalog(None)
    assert load_catalog("").ids() == catalog.ids()
    assert {m.provider for m in catalog.all()} == set(PROVIDERS)
    assert {m.quality_tier for m in catalog.all()} == {1, 2, 3}
    for provider in PROVIDERS:
        assert catalog.by_provider(provider)
    assert catalog.as_of and all(catalog.sources[p] for p in PROVIDERS)


def test_catalog_facts_are_consistent():
    for model in load_catalog().all():
        p = model.pricing
        assert p.cached_input <= p.input, model.id
        assert (p.cache_write is not None) == (model.provider == "anthropic"), model.id
        assert model.default_max_tokens == min(4096, model.max_output), model.id
        assert model.max_output <= model.context_window, model.id
        assert model.reasoning == model.id.startswith(("o3", "o4", "gpt-5")), model.id


def test_known_prices_and_limits():
    catalog = load_catalog()
    mini = catalog.get("gpt-4o-mini")
    assert mini is not None and str(mini.pricing.input) == "0.15" and str(mini.pricing.output) == "0.60"
    haiku = catalog.get("claude-haiku-4-5")
    assert haiku is not None and haiku.context_window == 200_000 and str(haiku.pricing.cache_write) == "1.25"
    assert catalog.get("gpt-4.1") is not None and catalog.get("gpt-4.1").context_window == 1_047_576
    assert catalog.get("no-such-model") is None


def _write(tmp_path: Path, data: object) -> str:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def test_operator_catalog_file_is_used(tmp_path: Path):
    data = json.loads(SHIPPED_CATALOG.read_text())
    data["models"] = [m for m in data["models"] if m["provider"] == "google"]
    catalog = load_catalog(_write(tmp_path, data))
    assert {m.provider for m in catalog.all()} == {"google"}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: m.update(provider="mistral"), "provider"),
        (lambda m: m["pricing"].update(input=-1), "input"),
        (lambda m: m.update(quality_tier=4), "quality_tier"),
        (lambda m: m.update(max_output=10**9), "exceeds context_window"),
        (lambda m: m.pop("context_window"), "context_window"),
        (lambda m: m.update(surprise=True), "surprise"),
    ],
)
def test_bad_model_entries_fail_clearly(tmp_path: Path, mutate, message: str):
    data = json.loads(SHIPPED_CATALOG.read_text())
    mutate(data["models"][0])
    with pytest.raises(CatalogError, match=message):
        load_catalog(_write(tmp_path, data))


def test_duplicate_ids_missing_file_and_bad_json_fail_clearly(tmp_path: Path):
    data = json.loads(SHIPPED_CATALOG.read_text())
    data["models"].append(dict(data["models"][0]))
    with pytest.raises(CatalogError, match="duplicate model id"):
        load_catalog(_write(tmp_path, data))
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(str(tmp_path / "absent.json"))
    with pytest.raises(CatalogError, match="not valid JSON"):
        load_catalog(_write(tmp_path, "{not json"))
