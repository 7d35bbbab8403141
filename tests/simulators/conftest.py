"""One simulator server per provider for the whole module; stats and faults reset per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.simulators import SimulatorConfig, anthropic_sim, gemini_sim, openai_sim
from tests.simulators.sim_harness import HTTP, RunningSimulator, serve


def _running(factory) -> Iterator[RunningSimulator]:
    with serve(factory(SimulatorConfig())) as running:
        yield running


def _reset(running: RunningSimulator) -> RunningSimulator:
    HTTP.delete(f"{running.base_url}/_sim/stats")
    HTTP.delete(f"{running.base_url}/_sim/faults")
    return running


@pytest.fixture(scope="session")
def openai_server() -> Iterator[RunningSimulator]:
    yield from _running(openai_sim.create_app)


@pytest.fixture(scope="session")
def anthropic_server() -> Iterator[RunningSimulator]:
    yield from _running(anthropic_sim.create_app)


@pytest.fixture(scope="session")
def gemini_server() -> Iterator[RunningSimulator]:
    yield from _running(gemini_sim.create_app)


@pytest.fixture
def openai_sim_server(openai_server: RunningSimulator) -> RunningSimulator:
    return _reset(openai_server)


@pytest.fixture
def anthropic_sim_server(anthropic_server: RunningSimulator) -> RunningSimulator:
    return _reset(anthropic_server)


@pytest.fixture
def gemini_sim_server(gemini_server: RunningSimulator) -> RunningSimulator:
    return _reset(gemini_server)
