"""The local-process stack listens on loopback only: Kafka, influxd, both Flink jobs and every process they start."""

from __future__ import annotations

import os
import threading
import time

import pytest
from listeners import host_listeners, is_loopback, session_members

from stack.local.backend import LocalBackend

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def test_every_socket_the_local_stack_listens_on_is_on_loopback(tmp_path):
    backend = LocalBackend(tmp_path / "data")
    backend.start(lambda event: None, threading.Event())
    try:
        time.sleep(10)  # the jobs' tasks are deployed and open their servers after the submission
        pids = backend.pids()
        assert set(pids) == {"kafka", "influxdb", "flink-job", "flink-impacts"}
        members = session_members({os.getsid(pid) for pid in pids.values()})
        addresses = host_listeners(members)
        assert len(addresses) >= 6, addresses  # broker + controller, influxd HTTP + RPC, each job's gateway + REST
        assert not [a for a in addresses if not is_loopback(a[0])], addresses
    finally:
        backend.stop(delete_data=True)
