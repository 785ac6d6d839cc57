"""Integration fixtures: real services started by the test session."""

from influx_fixtures import *  # noqa: F401,F403  (real influxd; see influx_fixtures.py)
from kafka_fixtures import *  # noqa: F401,F403  (real Kafka broker and Flink job; see kafka_fixtures.py)
