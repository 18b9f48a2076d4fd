"""The same call made on the official SDK and on ours, and what each put on the wire.

For parity tests of every REST namespace (``users``, ``tenants``, ``brands``...):
the official SDK with ``requests.request`` replaced by a recorder, ours on an
``httpx.MockTransport``. A parity test compares method, path, query (as a
multiset) and JSON body, ignoring only what is random per send or names the
SDK (``$insert_id``, ``$time``, ``properties.$ss_sdk_version``); our requests
are also checked to be signed as the hub verifies them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import json
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import httpx
import pytest
import requests
import suprsend

from suprsend_async import AsyncSuprsend

KEY, SECRET = "WS_TEST_KEY_000000000001", "test-secret"
UID, API_KEY = "ws-uid-0001", "api-key-0001"
ANSWER = {"meta": {"has_next": False, "after": None}, "results": []}
AUTHS = ["workspace", "api key"]


class Wire(NamedTuple):
    """One request as the hub receives it."""

    method: str
    path: str
    query: list[tuple[str, str]]
    body: Any
    headers: dict[str, str]
    raw: bytes


def _wire(method: str, url: str, headers: dict[str, str], data: bytes) -> Wire:
    parts = urllib.parse.urlsplit(url)
    return Wire(
        method,
        parts.path,
        sorted(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)),
        _normalised(json.loads(data)) if data else None,
        {k.lower(): v for k, v in headers.items()},
        data,
    )


def _normalised(body: Any) -> Any:
    """The body without the values that are random per send or name the SDK."""
    if isinstance(body, list):
        return [_normalised(item) for item in body]
    if isinstance(body, dict) and "$insert_id" in body:  # identity events, list broadcasts
        assert isinstance(body.pop("$insert_id"), str)
        assert isinstance(body.pop("$time"), int)
        if "$user_operations" in body:
            assert isinstance(body["properties"].pop("$ss_sdk_version"), str)
    return body


def _at(client: Any, namespace: str | None) -> Any:
    """The namespace a call starts from: ``client.<namespace>``, or the client itself."""
    return client if namespace is None else getattr(client, namespace)


def official_requests(
    monkeypatch: pytest.MonkeyPatch, namespace: str | None, call: Callable[[Any], Any], auth: str
) -> list[Wire]:
    """What the official SDK sends for ``call(sdk.<namespace>)`` (``call(sdk)`` for None)."""
    sent: list[Wire] = []

    def record(method: str, url: str, **kwargs: Any) -> requests.Response:
        sent.append(_wire(method, url, kwargs["headers"], kwargs.get("data", b"")))
        response = requests.Response()
        response.status_code, response._content = 200, json.dumps(ANSWER).encode()
        return response

    monkeypatch.setattr(requests, "request", record)
    if auth == "workspace":
        sdk = suprsend.Suprsend(KEY, SECRET)
    else:
        sdk = suprsend.Suprsend.with_workspace_api_key(UID, API_KEY)
    call(_at(sdk, namespace))
    return sent


async def our_requests(namespace: str | None, call: Callable[[Any], Any], auth: str) -> list[Wire]:
    """What we send for ``call(client.<namespace>)`` (awaited if it is awaitable)."""
    sent: list[Wire] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(_wire(request.method, str(request.url), dict(request.headers), request.content))
        if auth == "workspace":
            assert_signed(request)
        return httpx.Response(200, json=ANSWER)

    transport = httpx.MockTransport(record)
    # The official SDK sends a record without a key as it is: so do we, with
    # generated keys off (a default client is held to it given a key, elsewhere).
    if auth == "workspace":
        client = AsyncSuprsend(KEY, SECRET, transport=transport, auto_idempotency_keys=False)
    else:
        client = AsyncSuprsend.from_api_key(
            API_KEY, workspace_uid=UID, transport=transport, auto_idempotency_keys=False
        )
    async with client:
        result = call(_at(client, namespace))
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


async def assert_same_requests(
    monkeypatch: pytest.MonkeyPatch, namespace: str | None, call: Callable[[Any], Any], auth: str
) -> None:
    """Ours sends what the official SDK sends: method, path, query, body, content type,
    and with an API key the same Authorization."""
    theirs = official_requests(monkeypatch, namespace, call, auth)
    ours = await our_requests(namespace, call, auth)
    assert len(ours) == len(theirs) >= 1
    for mine, their in zip(ours, theirs, strict=True):
        assert (mine.method, mine.path, mine.query) == (their.method, their.path, their.query)
        assert mine.body == their.body
        assert mine.headers["content-type"] == their.headers["content-type"]
        if auth == "api key":
            assert mine.headers["authorization"] == their.headers["authorization"]


def official_methods(api: type, *, besides: tuple[str, ...] = ()) -> set[str]:
    """The public methods of one of the official SDK's namespaces."""
    return {
        name
        for name, _ in inspect.getmembers(api, inspect.isfunction)
        if not name.startswith("_") and name not in besides
    }


def assert_every_official_method_is_here(
    api: type,
    namespace: str,
    cases: Iterable[str],
    *,
    besides: tuple[str, ...] = (),
    builders: tuple[str, ...] = (),
) -> None:
    """Every public method of the official SDK's ``api`` exists on our ``namespace``, and
    each but the ``builders`` (used by other cases) has a parity case: a case is named after
    the method it calls ("edit with a UserEdit" calls ``edit``)."""
    official = official_methods(api, besides=besides)
    ours = getattr(AsyncSuprsend(KEY, SECRET), namespace)
    assert official <= {name for name in dir(ours) if not name.startswith("_")}
    assert official - set(builders) <= {case.split()[0] for case in cases}


async def assert_sent_as_documented(
    namespace: str | None, call: Callable[[Any], Any], method: str, target: str, body: Any
) -> None:
    """For a call no SDK has: one signed request, method, path and query as the OpenAPI
    document's operation gives them, and the body."""
    [sent] = await our_requests(namespace, call, "workspace")
    path, _, query = target.partition("?")
    assert (sent.method, sent.path) == (method, path)
    assert sent.query == sorted(urllib.parse.parse_qsl(query))
    assert sent.body == body


def every_operation(edit: Any) -> Any:
    """``edit`` (a UserEdit or ObjectEdit, ours or the official SDK's) with every
    operation of the builders recorded, in both of their argument forms."""
    edit.set("name", "Ann")
    edit.set({"plan": "pro", "seats": 3})
    edit.set_once("first_seen", "2026-01-01")
    edit.increment("logins", 1)
    edit.append("tags", "vip")
    edit.append({"$email": "a@example.com", "hobbies": "chess"})
    edit.remove("tags", "trial")
    edit.unset(["old", "older"])
    edit.unset("oldest")
    edit.set_preferred_language("fr")
    edit.set_locale("fr_FR")
    edit.set_timezone("Europe/Paris")
    edit.add_email("b@example.com")
    edit.remove_email("c@example.com")
    edit.add_sms("+15550100")
    edit.remove_sms("+15550101")
    edit.add_whatsapp("+15550102")
    edit.remove_whatsapp("+15550103")
    edit.add_androidpush("fcm-token", "fcm", "com.example.app")
    edit.remove_androidpush("fcm-old")
    edit.add_iospush("apns-token", "apns")
    edit.remove_iospush("apns-old", "apns", "com.example.ios")
    edit.add_webpush({"endpoint": "https://push.example/1", "keys": {"p256dh": "k"}}, "vapid")
    edit.remove_webpush({"endpoint": "https://push.example/0"})
    edit.add_slack({"email": "a@example.com", "access_token": "xoxb-1"})
    edit.remove_slack({"user_id": "U1", "access_token": "xoxb-1"})
    edit.add_ms_teams({"tenant_id": "t", "service_url": "https://s", "user_id": "x"})
    edit.remove_ms_teams({"incoming_webhook": {"url": "https://hook"}})
    return edit
