"""httpx2 as the HTTP library: chosen explicitly, by what the user hands in, or by the environment.

The behaviour on httpx2 (signing, caps, redirects, retries, errors) is the rest of the
suite's: `nox -s httpx2` runs the integration slice with SUPRSEND_HTTP_STACK=httpx2.
These tests are about choosing the library, and about what only httpx2 can raise.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

import httpx
import pytest

from suprsend_async import (
    AsyncSuprsend,
    Event,
    RetryPolicy,
    SuprsendConfigError,
    SuprsendTimeoutError,
    SuprsendTransportError,
)
from suprsend_async._core.aiohttp_pool import aiohttp_pool_class
from suprsend_async._core.pool import sharded_pool_class
from suprsend_async._core.stack import HTTP_STACK_VAR
from suprsend_async.testing import HubEmulator, serve

httpx2: Any = pytest.importorskip("httpx2")

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def no_stack_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HTTP_STACK_VAR, raising=False)
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def _keyed(i: int) -> Event:
    return Event(f"u{i}", "order_paid", idempotency_key=f"k-{i}")


async def test_http_stack_httpx2_builds_the_clients_own_pool_on_httpx2(anyio_backend: str) -> None:
    hub = HubEmulator()
    async with (
        serve(hub) as base_url,
        AsyncSuprsend(
            hub.workspace_key, hub.workspace_secret, base_url=base_url, http_stack="httpx2"
        ) as client,
    ):
        http = client._transport.client()
        single = await client.track_event(Event("u1", "order_paid"))
        bulk = await client.bulk_events.send(Event(f"u{i}", "order_paid") for i in range(40))
    assert type(http) is httpx2.AsyncClient
    # aiohttp's pool on asyncio if httpx-aiohttp has its httpx2 variant (0.2 on), else httpcore's.
    aiohttp_variant = importlib.util.find_spec("httpx_aiohttp.httpx2") is not None
    expected = (
        aiohttp_pool_class if anyio_backend == "asyncio" and aiohttp_variant else sharded_pool_class
    )
    assert type(http._transport) is expected(httpx2)
    # The emulator checks every signature: all of it arrived signed.
    assert (single.success, bulk.success) == (True, 40)
    assert hub.stats.processed_events == 41


async def test_an_httpx2_client_of_the_users_is_used_and_left_open() -> None:
    hub = HubEmulator()
    async with serve(hub) as base_url, httpx2.AsyncClient() as http:
        async with AsyncSuprsend(
            hub.workspace_key, hub.workspace_secret, base_url=base_url, http_client=http
        ) as client:
            assert client._transport.client() is http
            assert (await client.track_event(Event("u1", "order_paid"))).success
        assert not http.is_closed


async def test_an_httpx2_transport_is_used_for_the_clients_own_httpx2_pool() -> None:
    seen: list[Any] = []

    def handler(request: Any) -> Any:
        seen.append(request)
        return httpx2.Response(202, json={"status": "success", "message_id": "m"})

    async with AsyncSuprsend("key", "secret", transport=httpx2.MockTransport(handler)) as client:
        assert type(client._transport.client()) is httpx2.AsyncClient
        assert (await client.track_event(Event("u1", "order_paid"))).success
    [request] = seen
    assert request.headers["Authorization"].startswith("key:")
    assert request.headers["Date"]


async def test_an_httpx2_timeout_is_honoured_and_reported_as_ours() -> None:
    timeouts: list[dict[str, float]] = []

    def handler(request: Any) -> Any:
        timeouts.append(request.extensions["timeout"])
        raise httpx2.ReadTimeout("the hub said nothing", request=request)

    client = AsyncSuprsend(
        "key",
        "secret",
        transport=httpx2.MockTransport(handler),
        timeout=httpx2.Timeout(7.0, connect=2.0),
        retry=RetryPolicy.instant(2),
    )
    async with client:
        resp = await client.track_event(_keyed(1))
    assert client.timeout == httpx.Timeout(7.0, connect=2.0)
    assert timeouts == [{"connect": 2.0, "read": 7.0, "write": 7.0, "pool": 7.0}] * 2
    assert isinstance(resp.error, SuprsendTimeoutError)
    assert resp.attempts == 2  # keyed: retried
    assert "timed out (ReadTimeout)" in (resp.message or "")


@pytest.mark.parametrize(
    ("raised", "name"),
    [
        ("ConnectError", "ConnectError"),
        ("RemoteProtocolError", "RemoteProtocolError"),
        ("ReadError", "ReadError"),
    ],
)
async def test_httpx2s_transport_errors_are_our_transport_errors(raised: str, name: str) -> None:
    def handler(request: Any) -> Any:
        raise getattr(httpx2, raised)("it broke", request=request)

    async with AsyncSuprsend(
        "key",
        "secret",
        transport=httpx2.MockTransport(handler),
        retry=RetryPolicy.instant(2),
        auto_idempotency_keys=False,
    ) as client:
        resp = await client.track_event(Event("u1", "order_paid"))
    assert isinstance(resp.error, SuprsendTransportError)
    assert f"{name}: it broke" in (resp.message or "")
    # One decision for both libraries: a connection never made is retried (nothing was
    # sent), a lost answer is not for an unkeyed event (it may have been delivered).
    never_sent = name == "ConnectError"
    assert resp.error.sent is not never_sent
    assert resp.attempts == (2 if never_sent else 1)


async def test_a_header_httpx2_refuses_is_never_quoted() -> None:
    secret = "tok\nSECRET-VALUE-42"
    async with (
        httpx2.AsyncClient(
            headers={"X-Trace": secret},
            transport=httpx2.AsyncHTTPTransport(),
        ) as http,
        AsyncSuprsend("key", "secret", base_url="http://127.0.0.1:9/", http_client=http) as client,
    ):
        resp = await client.track_event(Event("u1", "order_paid"))
    assert isinstance(resp.error, SuprsendTransportError)
    assert "SECRET-VALUE-42" not in (resp.message or "")


# -- choosing --------------------------------------------------------------------------------


def test_httpx_stays_the_default() -> None:
    client = AsyncSuprsend("key", "secret", base_url="http://127.0.0.1:9/")
    assert type(client._transport.client()) is httpx.AsyncClient


def test_the_environment_chooses_when_nothing_else_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HTTP_STACK_VAR, "httpx2")
    chosen = AsyncSuprsend("key", "secret", base_url="http://127.0.0.1:9/")
    assert type(chosen._transport.client()) is httpx2.AsyncClient
    # What the user hands in wins over the environment, and so does an explicit choice.
    given = AsyncSuprsend(
        "key", "secret", transport=httpx.MockTransport(lambda r: httpx.Response(202))
    )
    assert type(given._transport.client()) is httpx.AsyncClient
    explicit = AsyncSuprsend("key", "secret", base_url="http://127.0.0.1:9/", http_stack="httpx")
    assert type(explicit._transport.client()) is httpx.AsyncClient


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"http_stack": "requests"}, "http_stack must be 'httpx' or 'httpx2'"),
        ({"http_stack": 2}, "http_stack must be 'httpx' or 'httpx2'"),
        (
            {"http_stack": "httpx", "transport": "httpx2"},
            "http_stack='httpx', but the http_client or transport given is httpx2's",
        ),
        (
            {"http_stack": "httpx2", "http_client": "httpx"},
            "http_stack='httpx2', but the http_client or transport given is httpx's",
        ),
    ],
)
def test_a_stack_that_cannot_be_is_a_config_error(options: dict[str, Any], message: str) -> None:
    if options.get("transport") == "httpx2":
        options["transport"] = httpx2.MockTransport(lambda r: None)
    if options.get("http_client") == "httpx":
        options["http_client"] = httpx.AsyncClient()
    with pytest.raises(SuprsendConfigError, match=message):
        AsyncSuprsend("key", "secret", **options)


def test_a_bad_stack_in_the_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(HTTP_STACK_VAR, "urllib3")
    with pytest.raises(SuprsendConfigError, match=f"{HTTP_STACK_VAR} must be"):
        AsyncSuprsend("key", "secret")


def test_without_httpx2_installed_asking_for_it_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "httpx2", None)  # as if not installed: its import fails
    with pytest.raises(SuprsendConfigError, match=r"pip install 'suprsend-async\[httpx2\]'"):
        AsyncSuprsend("key", "secret", http_stack="httpx2")
    monkeypatch.setenv(HTTP_STACK_VAR, "httpx2")
    with pytest.raises(SuprsendConfigError, match=r"suprsend-async\[httpx2\]"):
        AsyncSuprsend("key", "secret")
