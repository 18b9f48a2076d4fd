"""The same call made on the official SDK 0.20.0 and on this client, and what each sent.

The official one runs with ``requests.request`` replaced by a recorder, ours
on an ``httpx.MockTransport``; both answer ``ANSWER``. A call is a function of
``(client, module)``: the module is ``suprsend`` or ``suprsend_async``, for the
values the call builds (``m.Workflow(...)``). Bodies are compared without what
is random per send or names the SDK (``$insert_id``, ``$time``,
``properties.$ss_sdk_version``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import json
import urllib.parse
from collections.abc import Callable
from typing import Any, NamedTuple

import httpx
import pytest
import requests
import suprsend

import suprsend_async
from suprsend_async import AsyncSuprsend

KEY, SECRET = "WS_TEST_KEY_000000000001", "test-secret"
UID, API_KEY = "ws-uid-0001", "api-key-0001"
ANSWER = {"meta": {"has_next": False, "after": None}, "results": []}

Case = Callable[[Any, Any], Any]


class Wire(NamedTuple):
    """One request as the hub receives it."""

    method: str
    path: str
    query: list[tuple[str, str]]
    body: Any
    headers: dict[str, str]
    raw: bytes


def wire(method: str, url: str, headers: dict[str, str], data: bytes) -> Wire:
    parts = urllib.parse.urlsplit(url)
    return Wire(
        method,
        parts.path,
        sorted(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)),
        normalised(json.loads(data)) if data else None,
        {k.lower(): v for k, v in headers.items()},
        data,
    )


def normalised(body: Any) -> Any:
    """The body without the values that are random per send or name the SDK."""
    if isinstance(body, list):
        return [normalised(item) for item in body]
    if isinstance(body, dict) and "$insert_id" in body:
        assert isinstance(body.pop("$insert_id"), str)
        assert isinstance(body.pop("$time"), int)
        if "$user_operations" in body:
            assert isinstance(body["properties"].pop("$ss_sdk_version"), str)
    return body


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


def assert_signed(request: httpx.Request) -> None:
    """The signature verifies as the hub checks it (from the wire reference, not our code)."""
    body_md5 = hashlib.md5(request.content).hexdigest() if request.content else ""
    message = "\n".join(
        (
            request.method,
            body_md5,
            request.headers["Content-Type"],
            request.headers["Date"],
            request.url.raw_path.decode("ascii"),
        )
    ).encode()
    digest = hmac.new(SECRET.encode(), message, hashlib.sha256).digest()
    assert request.headers["Authorization"] == f"{KEY}:{base64.b64encode(digest).decode()}"


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
