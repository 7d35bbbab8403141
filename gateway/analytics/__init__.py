"""``/api/analytics/*``: the dashboard's numbers, read from ClickHouse for the signed-in user only."""

from gateway.analytics.routes import routes

__all__ = ["routes"]
