"""Kafka -> ClickHouse loader for usage events: batch, insert, then commit."""
