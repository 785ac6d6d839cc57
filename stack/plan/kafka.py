"""The Kafka containers: one KRaft node (broker + controller), or three for the multi-broker profile.

Every node is broker and controller of a static quorum (``controller.quorum.voters``). Listeners:
``INTERNAL`` on the container's network address, port 19092 (the Flink jobs and the other brokers),
``EXTERNAL`` on the same address, port 9092, published on the host's 127.0.0.1 (the app; each broker
on its own host port), and the controller on port 9093 of the stack's network. With three nodes every
topic (the internal ones too) has replication factor 3 and ``min.insync.replicas`` 2: with the
producers' ``acks=all`` a write is on two brokers before it is acknowledged, so one broker may fail
without a loss or a stop. The topics are created once the last node is healthy. No credentials:
nothing outside the host reaches it.
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


def broker_services(spec: StackSpec) -> tuple[str, ...]:
    """The brokers' service names: ``kafka``, then ``kafka-2`` and ``kafka-3`` in the multi-broker profile."""
    return tuple("kafka" if i == 1 else f"kafka-{i}" for i in range(1, spec.kafka_brokers + 1))


def internal_bootstrap(spec: StackSpec, n: Names) -> str:
    """``host:port,…`` of the brokers for the other containers."""
    return ",".join(f"{n.container(service)}:{INTERNAL_PORT}" for service in broker_services(spec))


def topic_arguments(spec: StackSpec) -> tuple[str, ...]:
    """``name:partitions:retention_ms:cleanup_policy`` per topic of :func:`backend.bus.topics.default_topics`
    (``stock-prices`` with ``spec.price_partitions``)."""
    return tuple(f"{t.name}:{t.partitions}:{t.retention_ms}:{t.cleanup_policy}"
                 for t in default_topics(spec.price_partitions))


def brokers(spec: StackSpec, n: Names, image: str) -> list[ContainerPlan]:
    """The brokers' containers, each depending on the one before; the last creates the topics."""
    services = broker_services(spec)
    voters = ",".join(f"{i}@{n.container(service)}:9093" for i, service in enumerate(services, 1))
    several = len(services) > 1
    plans = []
    for i, (service, port) in enumerate(zip(services, spec.ports.kafka_ports(len(services)), strict=True), 1):
        env = {
            "KAFKA_CLUSTER_ID": cluster_id(spec.name),
            "KAFKA_NODE_ID": str(i),
            "KAFKA_VOTERS": voters,
            "KAFKA_REPLICATION": "3" if several else "1",
            "KAFKA_MIN_ISR": "2" if several else "1",
            "KAFKA_INTERNAL_HOST": n.container(service),
            "KAFKA_EXTERNAL_PORT": str(port),
            "KAFKA_HEAP": "512m",
        }
        last = i == len(services)
        plans.append(ContainerPlan(
            service=service, name=n.container(service), image=image, build="kafka", env=tuple(env.items()),
            ports=(PortBinding(9092, port),),
            volumes=(VolumeMount(n.volume(f"{service}-data"), "/var/lib/kafka/data"),),
            healthcheck=HealthCheck(("/opt/kafka/healthcheck",), interval_s=3, timeout_s=5, retries=40,
                                    start_period_s=5),
            depends_on=services[i - 2:i - 1],
            post_start=(ExecStep("create the pipeline's topics", ("/opt/kafka/create-topics",
                                                                   *topic_arguments(spec))),) if last else (),
        ))
    return plans
