"""The words a Kafka connection failure is told in, from librdkafka's codes and texts as they arrive."""

from __future__ import annotations

import pytest

from backend.bus.preflight import kafka_problem
from backend.bus.security import KafkaSecurity

SECURE = KafkaSecurity(protocol="SASL_SSL", ca_file="/etc/desk/ca.pem", mechanism="SCRAM-SHA-256",
                       username="desk", password="secret")
HOST = "localhost:47777"


@pytest.mark.parametrize("code, text", [
    (-181, "SSL handshake failed: error:0A000086:SSL routines::certificate verify failed"),
    # The same failure as a transport error, seen in a CI run: the test expected the TLS words and got the raw text.
    (-195, "sasl_ssl://localhost:47777/bootstrap: error:0A000086:SSL routines::certificate verify failed "
           "(after 32ms in state SSL_HANDSHAKE)"),
    (-187, "sasl_ssl://localhost:47777/bootstrap: SSL handshake failed: error:0A000086:SSL routines::"
           "certificate verify failed: broker certificate could not be verified"),
])
def test_an_untrusted_certificate_is_named_however_librdkafka_reports_it(code, text):
    problem, message = kafka_problem(code, text, HOST, SECURE)
    assert problem == "tls"
    assert "TLS certificate is not trusted by the CA file /etc/desk/ca.pem" in message
    assert "secret" not in message


def test_other_failures_keep_their_own_words():
    assert kafka_problem(-195, "Connect to ipv4#127.0.0.1:47777 failed: Connection refused", HOST, SECURE)[0] == \
        "refused"
    assert kafka_problem(-169, "SASL authentication error: Authentication failed", HOST, SECURE)[0] == \
        "authentication"
    assert kafka_problem(-193, "Failed to resolve 'nowhere:9092'", HOST, SECURE)[0] == "dns"
