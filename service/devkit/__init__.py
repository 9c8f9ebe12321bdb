"""Developer tooling: the local Kafka broker launcher, sample ERP data, the demo."""
