"""The same call made on the official SDK 0.20.0 and on this client, and what each sent.

As ``tests/_parity`` does for one namespace (and with its pieces),
for calls that start at the client itself (``trigger_workflow``) or build the
SDK's values: a call is a function of ``(client, module)``, the module being
``suprsend`` or ``suprsend_async`` (``m.Workflow(...)``).
"""

from __future__ import annotations

import inspect
import json
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import requests
import suprsend

import suprsend_async
from suprsend_async import AsyncSuprsend

# The namespaces' parity harness: one request as the hub sees it, and the signature
# as the hub checks it.
from ._parity import ANSWER, API_KEY, KEY, SECRET, UID, Wire, assert_signed
from ._parity import _wire as _users_wire

__all__ = ["KEY", "SECRET", "Case", "Wire", "assert_same_requests", "official_requests"]

Case = Callable[[Any, Any], Any]


def wire(method: str, url: str, headers: dict[str, str], data: bytes) -> Wire:
    """As the namespaces' harness reads a request, and without the stamps a broadcast gets
    per send (``$insert_id``, ``$time``)."""
    sent = _users_wire(method, url, headers, data)
    body = sent.body
    if isinstance(body, dict) and "$insert_id" in body:
        assert isinstance(body.pop("$insert_id"), str)
        assert isinstance(body.pop("$time"), int)
    return sent


def official_requests(monkeypatch: pytest.MonkeyPatch, call: Case, auth: str) -> list[Wire]:
    sent: list[Wire] = []

    def record(method: str, url: str, **kwargs: Any) -> requests.Response:
        sent.append(wire(method, url, kwargs["headers"], kwargs.get("data", b"")))
        response = requests.Response()
        response.status_code, response._content = 200, json.dumps(ANSWER).encode()
        return response

    monkeypatch.setattr(requests, "request", record)
    if auth == "workspace":
        sdk = suprsend.Suprsend(KEY, SECRET)
    else:
        sdk = suprsend.Suprsend.with_workspace_api_key(UID, API_KEY)
    call(sdk, suprsend)
    return sent


async def our_requests(call: Case, auth: str) -> list[Wire]:
    sent: list[Wire] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(wire(request.method, str(request.url), dict(request.headers), request.content))
        if auth == "workspace":
            assert_signed(request)
        return httpx.Response(200, json=ANSWER)

    transport = httpx.MockTransport(record)
    if auth == "workspace":
        client = AsyncSuprsend(KEY, SECRET, transport=transport)
    else:
        client = AsyncSuprsend.from_api_key(API_KEY, workspace_uid=UID, transport=transport)
    async with client:
        result = call(client, suprsend_async)
        if inspect.isawaitable(result):
            await result
    return sent


def assert_same_requests(ours: list[Wire], theirs: list[Wire], auth: str) -> None:
    assert len(ours) == len(theirs)
    for mine, their in zip(ours, theirs, strict=True):
        assert (mine.method, mine.path, mine.query) == (their.method, their.path, their.query)
        assert mine.body == their.body
        assert mine.headers["content-type"] == their.headers["content-type"]
        if auth == "api key":
            assert mine.headers["authorization"] == their.headers["authorization"]


def public_methods(cls: type, *, without: tuple[str, ...] = ()) -> set[str]:
    return {
        name
        for name, _ in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") and name not in without
    }


async def documented_request(call: Case) -> Wire:
    """The one request ``call`` sends (workspace auth), for the calls no SDK has."""
    [sent] = await our_requests(call, "workspace")
    return sent


def target(sent: Wire) -> tuple[str, str, list[tuple[str, str]]]:
    return sent.method, sent.path, sent.query


def expected(method: str, url: str) -> tuple[str, str, list[tuple[str, str]]]:
    path, _, query = url.partition("?")
    return method, path, sorted(urllib.parse.parse_qsl(query, keep_blank_values=True))
