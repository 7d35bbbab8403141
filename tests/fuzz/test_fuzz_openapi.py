"""Every route, fuzzed from the OpenAPI document with valid and invalid data, authenticated:
no 5xx, and every response matches the document. Bounded here; ``make fuzz`` runs it longer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from gateway.openapi import build_openapi
from infra.stack.processes import pick_free_ports
from tests.conftest import RunningGateway, start_gateway
from tests.fuzz.fuzzing import CHECKS, Credentials, examples_per_operation

EXAMPLES = examples_per_operation(8)
SCHEMA = schemathesis.openapi.from_dict(build_openapi([]))
OPERATIONS = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}


def _can_be_invalid(label: str) -> bool:
    """A body, or a parameter whose schema rules something out (any string is a valid model id)."""
    raw = OPERATIONS[label].definition.raw
    constrained = [p for p in raw.get("parameters", []) if p.get("schema", {}) != {"type": "string"}]
    return bool(raw.get("requestBody") or constrained)


# Invalid data can only be made for operations whose input rules something out.
CASES = [
    (label, mode)
    for label in sorted(OPERATIONS)
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or _can_be_invalid(label)
]


@pytest.fixture(scope="module")
def target(gateway: RunningGateway, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """A gateway of its own (own Redis database), so the fuzzer's failed logins and refused requests
    never throttle the rest of the test session."""
    settings = gateway.state.settings
    redis_url = settings.redis_url.rsplit("/", 1)[0] + "/9"
    isolated = start_gateway(replace(
        settings, port=pick_free_ports(1)[0], run_consumer_in_process=False,
        spool_dir=tmp_path_factory.mktemp("fuzz-spool"), redis_url=redis_url,
    ))  # fmt: skip
    try:
        yield isolated
    finally:
        isolated.call(isolated.state.extras["redis"].flushdb())
        isolated.stop()


@pytest.fixture(scope="module")
def credentials(target: RunningGateway) -> Credentials:
    return Credentials.sign_up(target.base_url, f"fuzz-{time.time_ns()}@example.com")


@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{label}-{mode.value}" for label, mode in CASES])
def test_api_conforms_to_its_document(
    label: str, mode: GenerationMode, target: RunningGateway, credentials: Credentials
) -> None:
    operation = OPERATIONS[label]
    headers = credentials.headers_for(operation.method, operation.path)

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None,
        phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=target.base_url, headers=dict(headers), checks=CHECKS, timeout=60)

    run()
