"""How a Kafka client proves who it is and whom it talks to: TLS and SASL settings, in each client's dialect.

A managed Kafka service (Confluent Cloud, Amazon MSK, Aiven, Redpanda Cloud…) or a team's own
cluster on a server takes ``SASL_SSL``: TLS to the brokers (their certificate checked against the
system's CAs or a given CA file) and a SASL login, ``PLAIN`` or ``SCRAM-SHA-256``/``SCRAM-SHA-512``.
The desktop stack, on the host's loopback, takes ``PLAINTEXT``.

:class:`KafkaSecurity` holds those settings once and renders them for each client the app makes:

* :meth:`KafkaSecurity.client_config` — librdkafka properties (``confluent-kafka``: the app's
  producer, consumers and admin client);
* :meth:`KafkaSecurity.java_properties` — Java client properties (the Flink jobs' Kafka connector,
  whose Kafka classes are shaded; the broker's own tools), with the CA inlined as PEM so that the
  TaskManagers need no file of it.

The password never appears in ``repr``; a caller that logs a configuration uses :func:`redacted`.
Standard library only: the Stack tab, the stack's plan and the command line import it without
``confluent-kafka``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
#: Where the Flink Kafka connector (flink-sql-connector-kafka) relocates Kafka's classes.
FLINK_SHADED_PREFIX = "org.apache.flink.kafka.shaded."
_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}
#: Property names whose values are secrets (in any client's dialect).
SECRET_KEYS = ("sasl.password", "sasl.jaas.config", "ssl.key.password", "ssl.keystore.password",
               "ssl.truststore.password", "ssl.keystore.key")


@dataclass(frozen=True)
class KafkaSecurity:
    """TLS and SASL settings of a Kafka connection (the default is plaintext, as on the host's loopback).

    Attributes:
        protocol: ``PLAINTEXT``, ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``.
        ca_file: A PEM file of the CA(s) that signed the brokers' certificates ('' = the system's CAs).
        mechanism: ``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512`` (the SASL protocols only).
        username: The SASL user.
        password: The SASL password; never shown by ``repr``.
    """

    protocol: str = "PLAINTEXT"
    ca_file: str = ""
    mechanism: str = ""
    username: str = ""
    password: str = field(default="", repr=False)

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    def problems(self) -> list[str]:
        """What is wrong with these settings, in words a user can act on (empty when they are usable)."""
        out = []
        if self.protocol not in PROTOCOLS:
            return [f"security protocol {self.protocol!r} is not one of {', '.join(PROTOCOLS)}"]
        if self.sasl:
            if self.mechanism not in MECHANISMS:
                out.append(f"SASL mechanism {self.mechanism or '(none)'!r} is not one of {', '.join(MECHANISMS)}")
            if not self.username:
                out.append("the SASL user name is empty")
            if not self.password:
                out.append("the SASL password is empty (save it in the profile)")
            if self.protocol == "SASL_PLAINTEXT" and self.mechanism == "PLAIN":
                out.append("SASL PLAIN without TLS sends the password in clear text: use SASL_SSL")
        elif self.mechanism or self.username:
            out.append(f"a SASL user or mechanism is set, but the protocol {self.protocol} has no SASL login")
        if self.ca_file:
            if not self.tls:
                out.append(f"a CA file is set, but the protocol {self.protocol} does not use TLS")
            elif not Path(self.ca_file).is_file():
                out.append(f"the CA file {self.ca_file} does not exist")
        return out

    def client_config(self) -> dict[str, str]:
        """librdkafka (confluent-kafka) properties; empty for plaintext. Holds the password: never log it."""
        if self.protocol == "PLAINTEXT":
            return {}
        config = {"security.protocol": self.protocol}
        if self.tls and self.ca_file:
            config["ssl.ca.location"] = self.ca_file
        if self.sasl:
            config.update({"sasl.mechanism": self.mechanism, "sasl.username": self.username,
                           "sasl.password": self.password})
        return config

    def java_properties(self, class_prefix: str = FLINK_SHADED_PREFIX) -> dict[str, str]:
        """Java Kafka client properties (the CA inlined as PEM). Holds the password: never log it.

        Args:
            class_prefix: Where the client's Kafka classes live: the Flink connector's shaded package by
                default, '' for Kafka's own jars.
        """
        if self.protocol == "PLAINTEXT":
            return {}
        props = {"security.protocol": self.protocol}
        if self.tls:
            props["ssl.endpoint.identification.algorithm"] = "https"
            if self.ca_file:
                props.update({"ssl.truststore.type": "PEM",
                              "ssl.truststore.certificates": Path(self.ca_file).read_text().strip()})
        if self.sasl:
            module = class_prefix + _LOGIN_MODULES[self.mechanism]
            props.update({"sasl.mechanism": self.mechanism,
                          "sasl.jaas.config": f'{module} required username="{_jaas_quote(self.username)}" '
                                              f'password="{_jaas_quote(self.password)}";'})
        return props

    def describe(self) -> str:
        """A line for the status bar and logs (no secret)."""
        if self.protocol == "PLAINTEXT":
            return "plaintext"
        parts = [self.protocol]
        if self.sasl:
            parts.append(f"{self.mechanism} as {self.username}")
        if self.tls:
            parts.append(f"CA {self.ca_file}" if self.ca_file else "system CAs")
        return ", ".join(parts)


PLAINTEXT = KafkaSecurity()


def _jaas_quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def redacted(config: dict[str, object]) -> dict[str, object]:
    """A copy of a client configuration with every secret value replaced by ``[hidden]`` (for logs)."""
    return {key: "[hidden]" if key in SECRET_KEYS else value for key, value in config.items()}
