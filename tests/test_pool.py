"""The sharded connection pool, over a real loopback socket.

Each connection is told apart by its client port, as the server sees it. On
asyncio the pool is what a client uses when the ``aiohttp`` extra is not
installed, so these tests run as if it were not (see test_aiohttp_pool.py
for that path).
"""

from __future__ import annotations

import ssl
import sys

import anyio
import pytest

from suprsend_async import AsyncSuprsend, Event
from suprsend_async.testing import Faults, HubEmulator, serve
from tests._doubles import LIBRARY, HoldUntil, PortCounter, ShardedPool, wait_for

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def without_the_aiohttp_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if httpx-aiohttp were not installed: its import fails."""
    monkeypatch.setitem(sys.modules, "httpx_aiohttp", None)
    monkeypatch.delitem(sys.modules, "suprsend_async._core.aiohttp_pool", raising=False)


async def test_a_shard_packs_requests_into_its_shard_and_reuses_connections() -> None:
    counter = PortCounter(HubEmulator())
    async with serve(counter) as base_url, LIBRARY.AsyncClient(transport=ShardedPool(8)) as http:
        for _ in range(20):
            assert (await http.get(base_url + "_emulator/stats")).status_code == 200
    assert list(counter.ports.values()) == [20]  # one connection, kept alive


async def test_concurrent_requests_never_open_more_connections_than_the_pool_has() -> None:
    hub = HubEmulator()
    # Held until six are in flight: the pool is filled whatever the machine's speed.
    gate = HoldUntil(hub, 6)
    counter = PortCounter(gate)
    async with (
        serve(counter) as base_url,
        AsyncSuprsend(
            hub.workspace_key,
            hub.workspace_secret,
            base_url=base_url,
            max_concurrency=6,
            max_connections=6,
        ) as client,
    ):
        async with anyio.create_task_group() as tg:
            for i in range(60):
                tg.start_soon(client.track_event, Event(f"u{i}", "order_paid"))
        pool = client._transport.client()._transport
        assert isinstance(pool, ShardedPool)
        assert pool._busy == [0, 0]  # every slot given back once its answer was read
    assert hub.stats.processed_events == 60
    assert gate.reached.is_set()
    assert gate.max_in_flight == 6
    assert len(counter.ports) == 6  # two shards (4 + 2), every connection reused


async def test_slots_come_back_when_requests_fail() -> None:
    async with serve(HubEmulator()) as base_url:
        pass  # the port is closed now: every connection attempt is refused
    async with AsyncSuprsend("key", "secret", base_url=base_url, max_connections=2) as client:
        assert client.max_concurrency == 2  # the default 8 would not fit the pool
        pool = client._transport.client()._transport
        assert isinstance(pool, ShardedPool)
        for _ in range(5):  # more failures than slots: none may leak
            resp = await client.track_event(Event("u1", "order_paid"))
            assert resp.success is False
            assert pool._busy == [0]


async def test_cancelled_requests_give_their_slots_back() -> None:
    hub = HubEmulator(faults=Faults(latency=30.0))
    async with (
        serve(hub) as base_url,
        AsyncSuprsend(hub.workspace_key, hub.workspace_secret, base_url=base_url) as client,
    ):
        pool = client._transport.client()._transport
        assert isinstance(pool, ShardedPool)
        async with anyio.create_task_group() as tg:
            for i in range(10):
                tg.start_soon(client.track_event, Event(f"u{i}", "order_paid"))
            await wait_for(lambda: hub.stats.in_flight == 10)
            assert sum(pool._busy) == 10
            tg.cancel_scope.cancel()
        assert sum(pool._busy) == 0
        slots = client._transport._slots
        assert slots is not None
        assert slots.value == client.max_connections  # every queue slot back too
        hub.faults = Faults()
        assert (await client.track_event(Event("u1", "order_paid"))).success


async def test_closing_the_client_closes_every_shard() -> None:
    hub = HubEmulator()
    async with serve(hub) as base_url:
        client = AsyncSuprsend(hub.workspace_key, hub.workspace_secret, base_url=base_url)
        async with anyio.create_task_group() as tg:
            for i in range(12):
                tg.start_soon(client.track_event, Event(f"u{i}", "order_paid"))
        pool = client._transport.client()._transport
        assert isinstance(pool, ShardedPool)
        shards = [s for s in pool._shards if s is not None]
        await client.aclose()
    assert len(shards) == 3  # 12 calls at once fill three shards of four
    assert all(shard._pool.connections == [] for shard in shards)
    with pytest.raises(Exception, match="closed"):
        await client.track_event(Event("u1", "order_paid"))


@pytest.fixture
def no_proxy_in_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def test_with_a_proxy_in_the_environment_httpx_keeps_its_own_pool(
    no_proxy_in_environment: pytest.MonkeyPatch,
) -> None:
    # httpx honours HTTPS_PROXY only through its own transport.
    monkeypatch = no_proxy_in_environment
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    client = AsyncSuprsend("key", "secret")
    assert not isinstance(client._transport.client()._transport, ShardedPool)
    monkeypatch.delenv("HTTPS_PROXY")
    client = AsyncSuprsend("key", "secret")
    assert isinstance(client._transport.client()._transport, ShardedPool)


def test_shards_cover_the_pool_exactly() -> None:
    assert ShardedPool(1)._sizes == [1]
    assert ShardedPool(8)._sizes == [4, 4]
    assert ShardedPool(10)._sizes == [4, 4, 2]
    assert sum(ShardedPool(100)._sizes) == 100


@pytest.mark.usefixtures("no_proxy_in_environment")
def test_a_plain_http_base_url_skips_the_ca_bundle_but_never_trusts_an_unverified_peer() -> None:
    plain = AsyncSuprsend("key", "secret", base_url="http://127.0.0.1:9/")._transport.client()
    assert isinstance(plain._transport, ShardedPool)
    context = plain._transport._ssl
    # No CA loaded (the 25 ms a client for the emulator need not pay), yet
    # verification still required: an https connection fails, it is never
    # made unverified.
    assert context.get_ca_certs() == []
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname

    hub = AsyncSuprsend("key", "secret")._transport.client()
    assert isinstance(hub._transport, ShardedPool)
    assert hub._transport._ssl.verify_mode == ssl.CERT_REQUIRED
    assert hub._transport._ssl.cert_store_stats()["x509_ca"] > 0
