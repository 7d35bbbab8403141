"""Usage events leave the gateway here: a bounded buffer, a Kafka producer and a disk spool."""
