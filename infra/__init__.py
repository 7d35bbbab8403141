"""Local infrastructure: the stack runner, provider simulators, ClickHouse DDL and the Kafka broker build."""
