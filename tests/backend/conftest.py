"""Fixtures for the backend tests that need the providers: the fake market and its websocket and HTTP servers."""

from __future__ import annotations

import pytest

from fakes.http_api import FakeApis
from fakes.loop_thread import LoopThread
from fakes.market import FakeMarket
from fakes.polygon_ws import FakePolygonWs


@pytest.fixture
def market():
    return FakeMarket()


@pytest.fixture
def server_loop():
    thread = LoopThread().start()
    yield thread
    thread.stop()


@pytest.fixture
def ws(server_loop, market):
    server = server_loop.call(FakePolygonWs(market).start())
    yield server
    server_loop.call(server.close())


@pytest.fixture
def apis(market):
    server = FakeApis(market, page_size=25).start()
    yield server
    server.close()


