"""``/openapi.json`` and ``/docs``: the document and Swagger UI, served from the installed
``swagger-ui-bundle-v2`` package under ``/docs/static`` (no CDN, works offline)."""

from __future__ import annotations

import orjson
import swagger_ui_bundle
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.openapi.spec import build_openapi

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Switchyard API</title>
  <link rel="stylesheet" href="/docs/static/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/static/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
      validatorUrl: null, tryItOutEnabled: false, defaultModelsExpandDepth: 0
    });
  </script>
</body>
</html>
"""


async def openapi_json(request: Request) -> Response:
    cached = getattr(request.app.state, "openapi_document", None)
    if cached is None:
        document = build_openapi(request.app.routes)
        cached = request.app.state.openapi_document = orjson.dumps(document)
    return Response(cached, media_type="application/json")


async def docs_page(request: Request) -> Response:
    return HTMLResponse(_PAGE)


routes: list[BaseRoute] = [
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/docs", docs_page, methods=["GET"]),
    Mount("/docs/static", app=StaticFiles(directory=str(swagger_ui_bundle.swagger_ui_path)), name="docs"),
]
