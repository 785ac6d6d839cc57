"""The Kafka container: one KRaft broker + controller, its topics created once it is healthy.

Listeners: ``INTERNAL`` on the container's network address, port 19092 (the Flink jobs),
``EXTERNAL`` on the same address, port 9092, published on the host's 127.0.0.1 (the app), and the
controller on the container's loopback. No credentials: nothing outside the host reaches it.
"""

from __future__ import annotations

import base64
import uuid

from backend.bus.topics import default_topics
from stack.plan.model import ContainerPlan, ExecStep, HealthCheck, Names, PortBinding, VolumeMount
from stack.plan.spec import StackSpec

#: The broker's port on the stack's network (other containers' bootstrap address).
INTERNAL_PORT = 19092


def cluster_id(stack: str) -> str:
    """A stable KRaft cluster id per stack name (22 characters of URL-safe base64 of a UUID, not starting
    with '-', which the storage tool would take for an option)."""
    raw = uuid.uuid5(uuid.NAMESPACE_URL, f"tickerwire:{stack}").bytes
    text = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return "A" + text[1:] if text.startswith("-") else text


def internal_bootstrap(n: Names) -> str:
    """``host:port`` of the broker for the other containers."""
    return f"{n.container('kafka')}:{INTERNAL_PORT}"


def topic_arguments() -> tuple[str, ...]:
    """``name:partitions:retention_ms:cleanup_policy`` per topic of :func:`backend.bus.topics.default_topics`."""
    return tuple(f"{t.name}:{t.partitions}:{t.retention_ms}:{t.cleanup_policy}" for t in default_topics())


def kafka(spec: StackSpec, n: Names, image: str) -> ContainerPlan:
    """The broker's container."""
    env = {
        "KAFKA_CLUSTER_ID": cluster_id(spec.name),
        "KAFKA_INTERNAL_HOST": n.container("kafka"),
        "KAFKA_EXTERNAL_PORT": str(spec.ports.kafka),
        "KAFKA_HEAP": "512m",
    }
    return ContainerPlan(
        service="kafka", name=n.container("kafka"), image=image, build="kafka", env=tuple(env.items()),
        ports=(PortBinding(9092, spec.ports.kafka),),
        volumes=(VolumeMount(n.volume("kafka-data"), "/var/lib/kafka/data"),),
        healthcheck=HealthCheck(("/opt/kafka/healthcheck",), interval_s=3, timeout_s=5, retries=40, start_period_s=5),
        post_start=(ExecStep("create the pipeline's topics", ("/opt/kafka/create-topics", *topic_arguments())),),
    )
