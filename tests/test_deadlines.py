"""A hung provider cannot hold a caller: per-attempt timeouts and one deadline for all fallbacks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from infra.stack.processes import pick_free_ports
from tests.conftest import RunningGateway, new_account, start_gateway


@pytest.fixture(scope="module")
def impatient(gateway: RunningGateway, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    settings = replace(
        gateway.state.settings, port=pick_free_ports(1)[0], run_consumer_in_process=False,
        spool_dir=tmp_path_factory.mktemp("deadline-spool"),
        upstream_attempt_timeout_s=1.0, request_deadline_s=2.5,
    )  # fmt: skip
    running = start_gateway(settings)
    try:
        yield running
    finally:
        running.stop()


def test_every_provider_hanging_ends_in_a_504_at_the_deadline(impatient: RunningGateway) -> None:
    with httpx.Client(base_url=impatient.base_url, timeout=60) as api:
        account = new_account(api)
        started = time.monotonic()
        response = api.post(
            "/v1/chat/completions",
            headers={"Authorization": f"Bearer {account.gateway_key}"},
            json={"model": "auto", "messages": [{"role": "user", "content": "hi [[sim:fault=timeout]]"}]},
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "timeout"
    # Two fallbacks get 1 s each; the last one gets what is left of the 2.5 s deadline.
    assert 2.4 <= elapsed < 20


def test_a_streaming_request_to_a_hung_provider_is_bounded_too(impatient: RunningGateway) -> None:
    with httpx.Client(base_url=impatient.base_url, timeout=60) as api:
        account = new_account(api)
        started = time.monotonic()
        response = api.post(
            "/v1/chat/completions",
            headers={"Authorization": f"Bearer {account.gateway_key}"},
            json={"model": "gpt-4o-mini", "stream": True,
                  "messages": [{"role": "user", "content": "hi [[sim:fault=timeout]]"}]},
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert elapsed < 20
