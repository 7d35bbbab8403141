"""Pydantic models shared by the gateway and the consumers."""

from schemas.usage_event import SCHEMA_VERSION, Attempt, UsageEvent

__all__ = ["SCHEMA_VERSION", "Attempt", "UsageEvent"]
