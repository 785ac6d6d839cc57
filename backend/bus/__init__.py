"""Message bus between sources and processing: in-process queues (embedded) or Kafka (stack)."""
