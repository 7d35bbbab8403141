"""Reading a chat request's body over a raw socket: too large, too slow, cut off, not UTF-8 — never a 500."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlparse

import pytest

from gateway import http as gateway_http
from gateway import metrics
from tests.conftest import RunningGateway, new_account


def _connect(gateway: RunningGateway) -> socket.socket:
    url = urlparse(gateway.base_url)
    sock = socket.create_connection((url.hostname, url.port), timeout=15)
    return sock


def _head(key: str, length: int) -> bytes:
    return (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {key}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _status_and_body(raw: bytes) -> tuple[int, dict[str, str], dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, json.loads(body)


def _count(status: str) -> float:
    child = metrics.HTTP_REQUESTS.labels("/v1/chat/completions", "POST", status)
    return child._value.get()


@pytest.fixture()
def key(gateway: RunningGateway, api) -> str:
    return new_account(api).gateway_key


def test_declared_oversized_body_is_413_and_the_connection_closes(gateway: RunningGateway, key: str) -> None:
    with _connect(gateway) as sock:
        sock.sendall(_head(key, 20_000_000) + b'{"model": "auto"')
        # The server must close after its answer: the unread body is never parsed as a next request.
        status, headers, body = _status_and_body(_read_until_closed(sock))
    assert status == 413
    assert headers["connection"] == "close"
    assert body["error"]["code"] == "payload_too_large"


def test_a_body_that_never_arrives_is_408_and_the_connection_closes(
    gateway: RunningGateway, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gateway_http, "BODY_READ_TIMEOUT_S", 0.5)
    with _connect(gateway) as sock:
        sock.sendall(_head(key, 100) + b'{"model": ')
        status, headers, body = _status_and_body(_read_until_closed(sock))
    assert status == 408
    assert headers["connection"] == "close"
    assert body["error"]["code"] == "request_timeout"


def test_a_client_leaving_mid_body_is_recorded_as_499_not_500(gateway: RunningGateway, key: str) -> None:
    errors_before, left_before = _count("500"), _count("499")
    with _connect(gateway) as sock:
        sock.sendall(_head(key, 100) + b'{"model": ')
    deadline = time.monotonic() + 10
    while _count("499") == left_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _count("499") == left_before + 1
    assert _count("500") == errors_before


def test_a_body_that_is_not_utf8_says_so(gateway: RunningGateway, key: str) -> None:
    payload = b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}]}\xff'
    with _connect(gateway) as sock:
        head = _head(key, len(payload)).replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
        sock.sendall(head + payload)
        status, _, body = _status_and_body(_read_until_closed(sock))
    assert status == 400
    error = body["error"]
    assert (error["code"], error["message"]) == ("invalid_json", "Request body is not valid UTF-8")
