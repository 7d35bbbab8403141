"""Per-IP limits on ``/api/*``, as a pure ASGI middleware (no response buffering, streaming intact)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import error_response
from gateway.ratelimit.enforce import rate_limited_error, rate_limiter
from gateway.ratelimit.policy import api_limits


class ApiRateLimitMiddleware:
    def __init__(self, app: ASGIApp, prefix: str = "/api/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = getattr(scope.get("app"), "state", None) if scope["type"] == "http" else None
        gateway_state = getattr(state, "gw", None)
        if gateway_state is None or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        client_ip = client[0] if client else ""
        limits = api_limits(gateway_state.settings, scope["path"], client_ip)
        decision = await rate_limiter(gateway_state).check(limits, scope="api")
        if not decision.allowed:
            error = rate_limited_error(decision)
            response = error_response(error.status, error.code, error.message, error.details, error.headers)
            await response(scope, receive, send)
            return
        extra = [(name.encode(), value.encode()) for name, value in decision.headers().items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
