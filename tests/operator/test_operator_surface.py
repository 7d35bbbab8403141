"""/health?deep=1, /metrics, request ids, the OpenAPI document and the /docs page in a real browser."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import httpx

from gateway.openapi import mounted_operations, undocumented_routes
from tests.conftest import RunningGateway, new_account


def test_deep_health_checks_every_dependency(api: httpx.Client) -> None:
    assert api.get("/health").json() == {"status": "ok"}
    reply = api.get("/health", params={"deep": "1"})
    assert reply.status_code == 200
    checks = reply.json()["checks"]
    assert set(checks) >= {"postgres", "kafka", "clickhouse", "redis"}
    for name, check in checks.items():
        assert check["status"] == "ok", name
        assert check["latency_ms"] >= 0
    assert checks["redis"]["required"] is False and checks["redis"]["rate_limits"] == "shared"


def test_every_response_has_a_request_id(api: httpx.Client) -> None:
    ids = [api.get(path).headers.get("x-request-id") for path in ("/health", "/api/auth/me", "/nowhere")]
    ids.append(api.post("/api/auth/login", content=b"{").headers.get("x-request-id"))
    assert all(ids) and len(set(ids)) == len(ids)


def test_metrics_expose_requests_latency_cache_limits_and_pipeline(api: httpx.Client) -> None:
    account = new_account(api)
    headers = {"Authorization": f"Bearer {account.gateway_key}"}
    body = {"messages": [{"role": "user", "content": "Ping?"}], "temperature": 0}
    for _ in range(2):
        assert api.post("/v1/chat/completions", json=body, headers=headers).status_code == 200

    reply = api.get("/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    text = reply.text
    for family in (
        "switchyard_requests_total", "switchyard_request_seconds_bucket", "switchyard_http_requests_total",
        "switchyard_http_request_seconds_bucket", "switchyard_upstream_seconds_bucket",
        "switchyard_fallbacks_total", "switchyard_cache_lookups_total", "switchyard_ratelimit_rejected_total",
        "switchyard_ratelimit_redis_up", "switchyard_usage_spool_bytes", "switchyard_consumer_lag",
    ):  # fmt: skip
        assert f"# TYPE {family.removesuffix('_bucket')}" in text or family in text, family
    assert re.search(r'switchyard_http_requests_total\{method="POST",route="/v1/chat/completions",'
                     r'status="200"\} [1-9]', text)
    assert re.search(r'switchyard_cache_lookups_total\{result="hit"\} [1-9]', text)
    assert "Ping?" not in text


def test_the_openapi_document_covers_every_route(gateway: RunningGateway, api: httpx.Client) -> None:
    document = api.get("/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    routes = gateway.app.routes
    assert undocumented_routes(routes) == set()
    for method, path in mounted_operations(routes):
        operation = document["paths"][path][method.lower()]
        assert operation["responses"], (method, path)
    chat = document["paths"]["/v1/chat/completions"]["post"]
    assert {"400", "401", "413", "415", "429"} <= set(chat["responses"])
    assert "Retry-After" in chat["responses"]["429"]["headers"]
    assert document["components"]["schemas"]["SignupBody"]["properties"]["password"]["minLength"] >= 8


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_docs_page_renders_every_route_offline(gateway: RunningGateway, tmp_path: Path) -> None:
    assert _chromium(), "chromium is not installed (`make setup` installs it with infra/system-deps.sh)"
    argv = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
        f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=8000", "--dump-dom",
        f"{gateway.base_url}/docs",
    ]  # fmt: skip
    dom = subprocess.run(argv, capture_output=True, text=True, timeout=90, check=True).stdout
    dom = html.unescape(dom)
    assert "Switchyard" in dom
    routes = gateway.app.routes
    rendered = set(re.findall(r'data-path="([^"]+)"', dom))
    expected = {path for _, path in mounted_operations(routes)}
    assert len(expected) >= 20 and expected <= rendered, expected - rendered
