"""The aiohttp connection pool (the ``aiohttp`` extra): chosen on asyncio, never on trio.

Over a real loopback socket; each connection is told apart by its client port.
"""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp
import anyio
import httpx
import pytest

from suprsend_async import AsyncSuprsend, Event, RetryPolicy
from suprsend_async._core.aiohttp_pool import aiohttp_pool_class
from suprsend_async.testing import Fault, Faults, HubEmulator, serve
from tests._doubles import LIBRARY, PortCounter, ShardedPool, raw_http_server

# The pool a client on the stack under test builds on asyncio.
AiohttpPool: Any = aiohttp_pool_class(LIBRARY)

pytestmark = pytest.mark.anyio


@pytest.fixture
def no_proxy_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
@pytest.mark.usefixtures("no_proxy_in_environment")
async def test_the_pool_is_aiohttps_on_asyncio_and_httpcores_on_trio(anyio_backend: str) -> None:
    async with AsyncSuprsend("key", "secret", base_url="http://127.0.0.1:9/") as client:
        pool = client._transport.client()._transport
    expected = AiohttpPool if anyio_backend == "asyncio" else ShardedPool
    assert type(pool) is expected


@pytest.mark.usefixtures("no_proxy_in_environment")
async def test_a_given_transport_or_http_client_is_used_as_it_is() -> None:
    transport = httpx.AsyncHTTPTransport()
    async with AsyncSuprsend("key", "secret", transport=transport) as client:
        assert client._transport.client()._transport is transport
    async with (
        httpx.AsyncClient() as http,
        AsyncSuprsend("key", "secret", http_client=http) as client,
    ):
        assert client._transport.client() is http


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # below: the aiohttp pool itself, which is asyncio-only


async def test_concurrent_requests_never_open_more_connections_than_the_pool_has() -> None:
    hub = HubEmulator(faults=Faults(latency=0.02))
    counter = PortCounter(hub)
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
        assert isinstance(client._transport.client()._transport, AiohttpPool)
        async with anyio.create_task_group() as tg:
            for i in range(60):
                tg.start_soon(client.track_event, Event(f"u{i}", "order_paid"))
        response = await client.bulk_events.send(Event(f"b{i}", "order_paid") for i in range(500))
    assert response.success == 500
    assert hub.stats.processed_events == 560
    assert hub.stats.max_in_flight <= 6
    assert len(counter.ports) <= 6  # connections are reused, never more than the pool has


async def test_a_dropped_connection_is_a_transport_error_not_a_timeout() -> None:
    # httpx-aiohttp alone reports any connection error as ConnectTimeout.
    hub = HubEmulator()
    hub.script(Fault.drop_before())
    async with (
        serve(hub) as base_url,
        AsyncSuprsend(
            hub.workspace_key,
            hub.workspace_secret,
            base_url=base_url,
            retry=RetryPolicy.instant(),
            auto_idempotency_keys=False,  # keyless: the lost answer is the outcome
        ) as client,
    ):
        response = await client.track_event(Event("u1", "paid"))
        again = await client.track_event(Event("u1", "paid"))
    assert (response.success, response.status_code) == (False, None)
    assert "RemoteProtocolError" in (response.message or "")
    assert "timed out" not in (response.message or "")
    assert again.success  # the pool recovers with a new connection


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with serve(HubEmulator()) as base_url:
        pass  # the port is closed now
    async with AsyncSuprsend("key", "secret", base_url=base_url) as client:
        response = await client.track_event(Event("u1", "paid"))
    assert (response.success, response.status_code) == (False, None)
    assert "ConnectError" in (response.message or "")


async def test_cancelled_requests_give_their_slots_back() -> None:
    hub = HubEmulator(faults=Faults(latency=30.0))
    async with (
        serve(hub) as base_url,
        AsyncSuprsend(
            hub.workspace_key, hub.workspace_secret, base_url=base_url, max_connections=4
        ) as client,
    ):
        with anyio.move_on_after(0.5):
            async with anyio.create_task_group() as tg:
                for i in range(10):
                    tg.start_soon(client.track_event, Event(f"u{i}", "order_paid"))
        slots = client._transport._slots
        assert slots is not None
        assert slots.value == client.max_connections
        hub.faults = Faults()
        for i in range(8):  # more calls than connections: none was leaked
            assert (await client.track_event(Event(f"v{i}", "order_paid"))).success


async def test_closing_the_client_closes_the_session() -> None:
    hub = HubEmulator()
    async with serve(hub) as base_url:
        client = AsyncSuprsend(hub.workspace_key, hub.workspace_secret, base_url=base_url)
        assert (await client.track_event(Event("u1", "order_paid"))).success
        pool = client._transport.client()._transport
        assert isinstance(pool, AiohttpPool)
        session = pool.client
        await client.aclose()
    assert isinstance(session, aiohttp.ClientSession)
    assert session.closed


async def test_a_plain_http_base_url_skips_the_ca_bundle_but_never_trusts_an_unverified_peer() -> (
    None
):
    plain = AiohttpPool(4, tls=False)
    assert plain.ssl_context.get_ca_certs() == []
    assert plain.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert plain.ssl_context.check_hostname
    hub = AiohttpPool(4, tls=True)
    assert hub.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert hub.ssl_context.cert_store_stats()["x509_ca"] > 0


class RawPaths:
    """An ASGI wrapper keeping each request's path exactly as it arrived on the wire."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.paths: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["raw_path"])
        await self.app(scope, receive, send)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.usefixtures("no_proxy_in_environment")
@pytest.mark.parametrize(
    ("distinct_id", "on_the_wire"),
    [
        ("ann@example.com", b"/v1/user/ann%40example.com/"),
        ("a:b;c=d", b"/v1/user/a%3Ab%3Bc%3Dd/"),
        ("x/y z", b"/v1/user/x%2Fy%20z/"),
    ],
)
async def test_a_path_goes_out_byte_for_byte_as_signed(
    anyio_backend: str, distinct_id: str, on_the_wire: bytes
) -> None:
    # yarl, under aiohttp, re-quotes a URL given as text (%40 back to @): the
    # hub would check the signature over another path than the one signed.
    hub = HubEmulator()
    recorder = RawPaths(hub)
    async with (
        serve(recorder) as base_url,
        AsyncSuprsend(hub.workspace_key, hub.workspace_secret, base_url=base_url) as client,
    ):
        assert type(client._transport.client()._transport) is AiohttpPool
        await client.users.upsert(distinct_id, {"name": "Ann"})
        assert (await client.users.get(distinct_id))["distinct_id"] == distinct_id
    assert recorder.paths == [on_the_wire, on_the_wire]
    assert hub.stats.auth_failures == 0


_BODY = b'{"status": "success"}'
_WHOLE = f"HTTP/1.1 202 Accepted\r\nContent-Length: {len(_BODY)}\r\n\r\n".encode() + _BODY
# Promises 1,000 bytes and sends 21.
_CUT = b"HTTP/1.1 202 Accepted\r\nContent-Length: 1000\r\n\r\n" + _BODY


async def test_a_small_answer_is_read_inside_the_pool_and_its_connection_reused() -> None:
    # httpx gets the body already read (no stream layers), and the connection
    # goes back to the pool for the next request; past the limit it streams.
    async with raw_http_server(lambda _, __: (_WHOLE, False)) as (base_url, connections):
        for limit, read_inside in ((1000, True), (10, False)):
            pool = AiohttpPool(1, tls=False, read_whole_below=limit)
            try:
                for _ in range(2):
                    request = LIBRARY.Request("POST", base_url)
                    response = await pool.handle_async_request(request)
                    assert isinstance(response.stream, LIBRARY.ByteStream) is read_inside
                    assert await response.aread() == _BODY
                    await response.aclose()
            finally:
                await pool.aclose()
    assert connections == [2]  # one per pool


async def test_an_answer_cut_short_fails_the_call_and_its_connection_is_not_reused() -> None:
    # Read inside the pool, an answer that ends early must fail the call, not
    # hand back a short body, and the connection must not carry the next request.
    def respond(n: int, _: bytes) -> tuple[bytes, bool]:
        return (_CUT, True) if n == 1 else (_WHOLE, False)

    with anyio.fail_after(30):  # a guard against a hang, nothing is timed
        async with (
            raw_http_server(respond) as (base_url, connections),
            AsyncSuprsend(
                "key", "secret", base_url=base_url, auto_idempotency_keys=False
            ) as client,
        ):
            assert type(client._transport.client()._transport) is AiohttpPool
            cut = await client.track_event(Event("u1", "paid"))
            whole = await client.track_event(Event("u2", "paid"))
    assert (cut.success, cut.status_code) == (False, None)
    assert "ReadError" in (cut.message or ""), cut.message
    assert (whole.success, whole.status_code) == (True, 202)
    assert connections == [2]


async def test_an_answer_stalled_mid_body_times_out_and_frees_its_connection() -> None:
    # The server keeps the connection open after part of the body: the read
    # times out, and with a pool of one connection the next call gets a new
    # one only if the stalled one was let go.
    def respond(n: int, _: bytes) -> tuple[bytes, bool]:
        return (_CUT, False) if n == 1 else (_WHOLE, False)

    with anyio.fail_after(60):  # a guard against a hang, nothing is timed
        async with (
            raw_http_server(respond) as (base_url, connections),
            AsyncSuprsend(
                "key",
                "secret",
                base_url=base_url,
                max_connections=1,
                timeout=2.0,
                auto_idempotency_keys=False,
            ) as client,
        ):
            stalled = await client.track_event(Event("u1", "paid"))
            after = await client.track_event(Event("u2", "paid"))
    assert (stalled.success, stalled.status_code) == (False, None)
    assert "timed out" in (stalled.message or ""), stalled.message
    assert (after.success, after.status_code) == (True, 202)
    assert connections == [2]


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_a_cookie_an_answer_sets_is_never_sent_back(anyio_backend: str) -> None:
    # A load balancer's or proxy's Set-Cookie would otherwise ride along on
    # every later hub request; no hub call needs one.
    heads: list[bytes] = []
    body = b'{"status": "success"}'

    def respond(n: int, head: bytes) -> tuple[bytes, bool]:
        heads.append(head)
        return (
            b"HTTP/1.1 202 Accepted\r\nSet-Cookie: lb=node-7; Path=/\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body,
            False,
        )

    with anyio.fail_after(30):  # a guard against a hang, nothing is timed
        async with (
            raw_http_server(respond) as (base_url, _),
            AsyncSuprsend("key", "secret", base_url=base_url) as client,
        ):
            for i in range(2):
                assert (await client.track_event(Event(f"u{i}", "paid"))).success
    assert len(heads) == 2
    assert b"cookie:" not in heads[1].lower()
