"""The chat route is served ahead of the router and middleware: same shapes, ids, metrics and 500s."""

from __future__ import annotations

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from gateway import metrics
from gateway.app import GatewayApp
from gateway.chat import endpoint
from gateway.errors import EXCEPTION_HANDLERS, ApiError
from infra.stack.processes import pick_free_ports
from tests.serving import serve_in_thread

BEHAVIOUR: dict[str, str] = {}


async def fake_chat(request: Request) -> Response:
    """Stands in for the chat handler: its answer depends on the test's chosen behaviour."""
    body = await request.json()
    behaviour = BEHAVIOUR["next"]
    if behaviour == "bug":
        raise KeyError("a bug")
    if behaviour == "api_error":
        raise ApiError(403, "forbidden", "Not for you", headers={"x-extra": "1"})
    return JSONResponse({"echo": body}, headers={"x-request-id": "chatcmpl-test"})


async def health(request: Request) -> Response:
    return PlainTextResponse("ok")


@pytest.fixture(scope="module")
def client(request: pytest.FixtureRequest):
    patch = pytest.MonkeyPatch()
    patch.setattr(endpoint, "chat_completions", fake_chat)
    routes = [Route("/health", health), Route("/v1/chat/completions", fake_chat, methods=["POST"])]
    app = GatewayApp(routes=routes, exception_handlers=EXCEPTION_HANDLERS)
    port = pick_free_ports(1)[0]
    served = serve_in_thread(app, port, "chat-entry-app")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            yield http
    finally:
        served.stop(10)
        patch.undo()


def _count(status: str) -> float:
    return metrics.HTTP_REQUESTS.labels("/v1/chat/completions", "POST", status)._value.get()


def test_the_handlers_answer_and_request_id_pass_through(client: httpx.Client) -> None:
    BEHAVIOUR["next"] = "ok"
    before = _count("200")
    response = client.post("/v1/chat/completions", json={"model": "m"})
    assert response.status_code == 200
    assert response.json() == {"echo": {"model": "m"}}
    assert response.headers["x-request-id"] == "chatcmpl-test"
    assert _count("200") - before == 1


def test_an_unexpected_error_is_a_standard_500_and_the_connection_stays_usable(client: httpx.Client) -> None:
    before = _count("500")
    for _ in range(2):
        BEHAVIOUR["next"] = "bug"
        failed = client.post("/v1/chat/completions", json={})
        assert failed.status_code == 500
        error = failed.json()["error"]
        assert (error["code"], error["message"], error["type"]) == (
            "internal_error",
            "Internal server error",
            "api_error",
        )
        assert failed.headers["x-request-id"].startswith("req_")
        BEHAVIOUR["next"] = "ok"
        assert client.post("/v1/chat/completions", json={}).status_code == 200  # same connection
    assert _count("500") - before == 2


def test_an_api_error_escaping_the_handler_keeps_the_standard_shape(client: httpx.Client) -> None:
    BEHAVIOUR["next"] = "api_error"
    response = client.post("/v1/chat/completions", json={})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert response.headers["x-extra"] == "1"
    assert response.headers["x-request-id"].startswith("req_")


def test_other_methods_and_paths_still_go_through_the_router(client: httpx.Client) -> None:
    assert client.get("/health").text == "ok"
    wrong_method = client.get("/v1/chat/completions")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
