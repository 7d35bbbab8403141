"""The HTTP plumbing every adapter shares: a pooled HTTP/2-capable client, timeouts, error mapping."""

from __future__ import annotations

import abc
import functools
import http.cookiejar
import logging
import re
import ssl
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from gateway.providers.base import Completion, UpstreamCall, UpstreamError
from gateway.providers.errors import error_from_body, error_from_exception
from gateway.providers.stream import StreamTranslator, UpstreamStream
from gateway.providers.transport import LeanTransport, Origin
from gateway.settings import ProviderConfig

log = logging.getLogger("switchyard.providers")

# A non-streaming answer arrives only once the whole completion is generated: allow it longer than the
# idle gap of a stream, but never less.
MIN_RESPONSE_TIMEOUT_S = 300.0
# Request targets and header values written to the wire as they are; anything else goes through httpx,
# which percent-encodes and validates.
_PLAIN_TARGET = re.compile(r"[A-Za-z0-9\-._~/:@!$&'()*+,;=%?]*")
_PLAIN_HEADER_VALUE = re.compile(r"[\x20-\x7e]*")


class _PlainHttpOrigin:
    """A plain-HTTP upstream's origin, Host header and path prefix: the request head rendered directly."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        port = parts.port or 80
        self.origin: Origin = ("http", parts.hostname or "", port)
        self.host = parts.netloc.rpartition("@")[2].encode()
        self.prefix = parts.path

    def head(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes | None:
        """The HTTP/1.1 request head, or None when the target or a header needs httpx's care."""
        target = self.prefix + path
        if not _PLAIN_TARGET.fullmatch(target):
            return None
        lines = [f"{method} {target} HTTP/1.1\r\nHost: ".encode() + self.host]
        if body:
            lines.append(b"Content-Length: %d" % len(body))
        for name, value in headers.items():
            if not _PLAIN_HEADER_VALUE.fullmatch(value):
                return None
            lines.append(f"{name}: {value}".encode())
        return b"\r\n".join(lines) + b"\r\n\r\n"


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verified TLS context for every provider client (building one loads the CA bundle: slow)."""
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi ships with httpx
        return ssl.create_default_context()


class HttpAdapter(abc.ABC):
    """Subclasses provide the translation; this class moves the bytes."""

    name = "base"
    models_path = "/models"

    def __init__(
        self,
        config: ProviderConfig,
        *,
        connect_timeout: float,
        idle_timeout: float,
        response_timeout: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = config.base_url.rstrip("/")
        self.default_api_key = config.api_key
        self._stream_timeout = httpx.Timeout(
            connect=connect_timeout, read=idle_timeout, write=idle_timeout, pool=connect_timeout
        )
        self._response_timeout = httpx.Timeout(
            connect=connect_timeout,
            read=response_timeout
            if response_timeout is not None
            else max(idle_timeout, MIN_RESPONSE_TIMEOUT_S),
            write=idle_timeout,
            pool=connect_timeout,
        )
        # Plain-HTTP upstreams (an egress proxy, a sidecar, the simulators) are sent straight to the
        # lean HTTP/1.1 transport: no redirects, auth flows or cookies to handle, so the client layer
        # (about 130 us a call) is skipped. TLS upstreams keep httpx's HTTP/2-capable client.
        self._lean = LeanTransport() if transport is None and self.base_url.startswith("http://") else None
        self._plain = _PlainHttpOrigin(self.base_url) if self._lean is not None else None
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def _httpx_client(self) -> httpx.AsyncClient:
        """httpx's pooled HTTP/2-capable client, made on the first call that needs it.

        Only TLS upstreams, a replacement transport and requests the lean path cannot render use it, so a
        worker whose upstreams are all plain HTTP never loads the CA bundle into a TLS context nor imports
        the HTTP/2 stack (≈ 1.8 MB for the three providers).
        """
        if self._client is None:
            self._client = httpx.AsyncClient(
                http2=True,
                timeout=self._stream_timeout,
                limits=httpx.Limits(max_connections=500, max_keepalive_connections=100, keepalive_expiry=60),
                transport=self._transport,
                verify=tls_context(),
                follow_redirects=False,
                # One client serves every user: never keep an upstream's cookies from one call to the next.
                cookies=http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[])),
            )
        return self._client

    # -- provider specifics -------------------------------------------------------------------------

    @abc.abstractmethod
    def auth_headers(self, api_key: str) -> dict[str, str]:
        """The provider's authentication headers for this key."""

    @abc.abstractmethod
    def build_request(self, call: UpstreamCall, *, stream: bool) -> tuple[str, dict[str, Any]]:
        """(path under base_url, JSON body); UpstreamError(400) for requests the provider cannot take."""

    @abc.abstractmethod
    def completion_from(self, call: UpstreamCall, data: dict[str, Any]) -> Completion:
        """The provider's JSON answer as an OpenAI ``chat.completion``."""

    @abc.abstractmethod
    def translator(self, call: UpstreamCall) -> StreamTranslator:
        """A fresh incremental translator of the provider's stream into OpenAI chunks."""

    def rejects_key(self, response: httpx.Response) -> bool:
        return response.status_code in (401, 403)

    # -- the calls ----------------------------------------------------------------------------------

    async def _send(
        self, method: str, url: str, *, headers: dict[str, str], timeout: httpx.Timeout,
        content: bytes | None = None, stream: bool = False,
    ) -> httpx.Response:
        """One HTTP exchange; the body is read unless ``stream``. Raises httpx errors."""
        if self._lean is None:
            client = self._httpx_client()
            request = client.build_request(method, url, content=content, headers=headers, timeout=timeout)
            return await client.send(request, stream=stream)
        request = httpx.Request(method, url, content=content, headers=headers,
                                extensions={"timeout": timeout.as_dict()})
        response = await self._lean.handle_async_request(request)
        response.request = request
        if not stream:
            try:
                await response.aread()
            finally:
                await response.aclose()
        return response

    def _headers(self, api_key: str, *, stream: bool) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
        }
        headers.update(self.auth_headers(api_key or self.default_api_key))
        return headers

    def _prepare(
        self, call: UpstreamCall, *, stream: bool
    ) -> tuple[str, bytes, dict[str, str], str, bytes | None]:
        """The translated request: (path, body, headers, the API key used, its pre-rendered HTTP/1.1 head
        when the lean transport can send it as is)."""
        path, body = self.build_request(call, stream=stream)
        api_key = call.api_key or self.default_api_key
        content = orjson.dumps(body)
        headers = self._headers(api_key, stream=stream)
        head = self._plain.head("POST", path, headers, content) if self._plain is not None else None
        return path, content, headers, api_key, head

    async def _post_whole(self, call: UpstreamCall) -> tuple[int, bytes, httpx.Headers | None, str]:
        """A non-streaming call: (status, body, headers if it failed, the API key used).

        Plain-HTTP upstreams are read with the lean transport's ``fetch`` (no httpx objects at all).
        Transport failures become ``UpstreamError``.
        """
        path, content, headers, api_key, head = self._prepare(call, stream=False)
        timeout = self._response_timeout
        try:
            if head is not None:
                status, raw_headers, answer = await self._lean.fetch(
                    self._plain.origin, head, content, timeout.connect, timeout.read
                )
                return status, answer, httpx.Headers(raw_headers) if status >= 400 else None, api_key
            response = await self._send(
                "POST", self.base_url + path, content=content, headers=headers, timeout=timeout
            )
        except httpx.HTTPError as exc:
            raise error_from_exception(self.name, exc) from None
        return response.status_code, response.content, response.headers, api_key

    async def _post_stream(self, call: UpstreamCall) -> tuple[httpx.Response, str]:
        """A streaming call: (the response with its body still to be read, the API key used)."""
        path, content, headers, api_key, head = self._prepare(call, stream=True)
        timeout = self._stream_timeout
        try:
            if head is not None:
                response = await self._lean.open(
                    self._plain.origin, head, content, timeout.connect, timeout.read
                )
            else:
                response = await self._send(
                    "POST", self.base_url + path, content=content, headers=headers, timeout=timeout,
                    stream=True,
                )
        except httpx.HTTPError as exc:
            raise error_from_exception(self.name, exc) from None
        return response, api_key

    async def complete(self, call: UpstreamCall) -> Completion:
        status, content, headers, api_key = await self._post_whole(call)
        if status >= 400:
            raise error_from_body(self.name, status, content, headers, api_key)
        try:
            data = orjson.loads(content)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            raise UpstreamError(
                502,
                "upstream_error",
                f"{self.name} returned a response that is not a JSON object",
                upstream_status=status,
                provider=self.name,
            )
        return self.completion_from(call, data)

    async def open_stream(self, call: UpstreamCall) -> UpstreamStream:
        response, api_key = await self._post_stream(call)
        if response.status_code >= 400:
            try:
                content = await response.aread()
            except httpx.HTTPError:
                content = b""
            finally:
                await response.aclose()
            raise error_from_body(self.name, response.status_code, content, response.headers, api_key)
        return UpstreamStream(self.name, response, self.translator(call))

    async def verify_key(self, api_key: str) -> bool:
        """True if the provider accepts the key (a cheap authenticated GET of the model list)."""
        try:
            response = await self._send(
                "GET",
                self.base_url + self.models_path,
                headers=self.auth_headers(api_key),
                timeout=self._response_timeout,
            )
        except httpx.HTTPError:
            raise UpstreamError(
                503,
                "upstream_unavailable",
                f"Could not reach {self.name} to verify the key",
                provider=self.name,
            ) from None
        if self.rejects_key(response):
            return False
        if response.status_code < 300 or response.status_code == 429:  # rate limits apply to accepted keys
            return True
        if response.status_code >= 500:
            raise UpstreamError(
                503,
                "upstream_unavailable",
                f"{self.name} could not verify the key right now",
                upstream_status=response.status_code,
                provider=self.name,
            )
        raise error_from_body(self.name, response.status_code, response.content, response.headers, api_key)

    async def aclose(self) -> None:
        if self._lean is not None:
            await self._lean.aclose()
        if self._client is not None:
            await self._client.aclose()
