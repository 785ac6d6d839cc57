"""Fixtures that run a real ``influxd`` (built by ``python -m stack.local prepare influxdb``) for the store tests.

The session starts one server; each test gets its own bucket (a fresh database), so
tests never see each other's points. A missing binary FAILS the tests with the
command that builds it — it is never skipped.
"""

from __future__ import annotations

import uuid
from typing import Callable, Iterator

import pytest

from stack.local import PrepareMissing
from stack.local.influxdb import InfluxServer, require_binary


@pytest.fixture(scope="session")
def influxd_binary():
    """Path of the built influxd; fails (not skips) with the build command when it is missing."""
    try:
        return require_binary()
    except PrepareMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def influx_server(influxd_binary) -> Iterator[InfluxServer]:
    """One real influxd on 127.0.0.1 for the whole session."""
    server = InfluxServer(influxd_binary).start()
    yield server
    server.stop()


@pytest.fixture
def influx_store_factory(influx_server) -> Iterator[Callable[..., "InfluxStore"]]:  # noqa: F821
    """Build :class:`InfluxStore` objects on a fresh bucket; keyword arguments override settings.

    Every store made is closed at teardown (errors from stores whose server was
    stopped by the test are ignored there).
    """
    from backend.stores.base import StoreError
    from backend.stores.influx import InfluxSettings, InfluxStore

    made: list[InfluxStore] = []

    def make(**overrides) -> InfluxStore:
        bucket = overrides.pop("bucket", f"t_{uuid.uuid4().hex[:12]}/hot")
        on_health = overrides.pop("on_health", None)
        clock_ms = overrides.pop("clock_ms", None)
        defaults = dict(url=influx_server.url, token="tickerwire:unused", bucket=bucket, retention_days=None,
                        check_interval_s=0, retry_base_s=0.01)
        store = InfluxStore(InfluxSettings(**{**defaults, **overrides}), on_health=on_health, clock_ms=clock_ms)
        made.append(store)
        return store

    yield make
    for store in made:
        try:
            store.close()
        except StoreError:
            pass


@pytest.fixture
def influx_store(influx_store_factory):
    """A store on a fresh bucket, keeping data forever."""
    return influx_store_factory()
