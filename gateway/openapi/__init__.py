"""The OpenAPI 3.1 document of every route, and the offline Swagger UI page that renders it."""

from gateway.openapi.docs import routes
from gateway.openapi.spec import build_openapi, mounted_operations, undocumented_routes

__all__ = ["build_openapi", "mounted_operations", "routes", "undocumented_routes"]
