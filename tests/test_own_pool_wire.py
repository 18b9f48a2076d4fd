"""The client's own pool sends what httpx's client layer sends, byte for byte.

Requests on the pool a client makes for itself skip ``httpx.AsyncClient.send``
(see ``HubTransport.request_once``); those on an ``http_client`` of the user's go
through it, auth flow and all, and are what ``test_wire_conformance`` and the
parity tests hold to the official SDK (through ``httpx.MockTransport``). Here both,
on the same kind of pool, send the same calls over a real socket to a bare server
that records each request as it arrived: request line, headers in order and body.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from suprsend_async import AsyncSuprsend, Event, RetryPolicy, WorkflowTriggerRequest
from suprsend_async._core.pool import default_transport
from tests._doubles import raw_http_server

KEY, SECRET = "WS_TEST_KEY_000000000001", "test-secret"
ANSWER = b'{"success": true, "status": "success", "message": "OK"}'

Call = Callable[[AsyncSuprsend], Awaitable[Any]]

CALLS: dict[str, Call] = {
    "track_event": lambda c: c.track_event(
        Event("ann@example.com", "paid", {"n": 1}, idempotency_key="k1")
    ),
    "trigger": lambda c: c.workflows.trigger(
        WorkflowTriggerRequest(
            workflow="w", recipients=["u1"], data={"x": "é"}, idempotency_key="k2"
        )
    ),
    "users.get": lambda c: c.users.get("ann@example.com"),
    "objects.list, a query": lambda c: c.objects.list("dept", {"limit": 5, "after": "a b"}),
    "users.delete": lambda c: c.users.delete("u 1"),
    "tenants.upsert": lambda c: c.tenants.upsert("t1", {"tenant_name": "T"}),
    "extra headers": lambda c: c.with_options(headers={"X-Trace": "abc"}).users.get("u1"),
}


def _normalized(head: bytes, body: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
    """The request line, the headers (names lowercased: each library spells them its
    own way, and HTTP does not care) and the body; the Date's value and the
    signature it covers vary by the second."""
    line, *fields = head.decode("latin-1").split("\r\n")
    headers = []
    for field in fields:
        name, _, value = field.partition(":")
        name, value = name.strip().lower(), value.strip()
        if name in ("date", "authorization"):
            value = re.sub(r":.*", ":<signature>", value) if name == "authorization" else "<date>"
        if name == "x-suprsend-idempotency-key" or name == "idempotency-key":
            value = "<key>"
        headers.append((name, value))
    return line, headers, re.sub(rb'"\$(insert_id|time)": ?"?[^",}]*"?', b"", body)


async def _sent_both_ways(call: Call) -> tuple[list[Any], list[Any]]:
    """What ``call`` sent through the client's own pool, and through an httpx client."""
    seen: list[tuple[bytes, bytes]] = []

    def respond(n: int, head: bytes) -> tuple[bytes, bool]:
        answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        return answer + b"Content-Length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER), False

    async with raw_http_server(respond, seen) as (base_url, _):
        options: dict[str, Any] = {"base_url": base_url, "retry": RetryPolicy.disabled()}
        async with AsyncSuprsend(KEY, SECRET, **options) as client:
            await call(client)
        own = [_normalized(head, body) for head, body in seen]
        seen.clear()
        # The same kind of pool the client makes for itself (aiohttp's on asyncio
        # with the extra, httpcore's otherwise), under httpx's client layer.
        pool = default_transport(10, tls=False)
        async with (
            httpx.AsyncClient(transport=pool) as http,
            AsyncSuprsend(KEY, SECRET, http_client=http, **options) as client,
        ):
            await call(client)
    return own, [_normalized(head, body) for head, body in seen]


@pytest.mark.anyio
@pytest.mark.parametrize("name", CALLS)
async def test_the_own_pool_sends_what_an_httpx_client_sends(name: str) -> None:
    own, through_httpx = await _sent_both_ways(CALLS[name])
    assert own == through_httpx
    assert len(own) == 1
    assert ("authorization", f"{KEY}:<signature>") in own[0][1]
