"""Our bodies and signatures agree with the official SDK's, field for field and in order.

The official SDK is captured by replacing `requests.request` (its network),
never by touching our code; ours is captured by httpx.MockTransport.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import suprsend

from suprsend_async import (
    AsyncSuprsend,
    Attachment,
    Event,
    ObjectRecipient,
    Recipient,
    RetryPolicy,
    WorkflowTriggerRequest,
    WorkspaceSignatureAuth,
)

KEY, SECRET = "WS_TEST_KEY_000000000001", "test-secret"
pytestmark = pytest.mark.anyio


class _FakeResponse:
    status_code = 202
    text = '{"status": "success", "message_id": "m"}'
    headers: dict[str, str] = {}  # noqa: RUF012 - read-only stand-in

    def json(self) -> Any:
        return json.loads(self.text)


@pytest.fixture
def official(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[dict[str, Any]]]:
    """The official client, and what it would have sent."""
    sent: list[dict[str, Any]] = []

    def fake_request(method: str, url: str, **kwargs: Any) -> _FakeResponse:
        sent.append({"method": method, "url": url, **kwargs})
        return _FakeResponse()

    monkeypatch.setattr(requests, "request", fake_request)
    return suprsend.Suprsend(KEY, SECRET), sent


Handler = Callable[[httpx.Request], Coroutine[Any, Any, httpx.Response]]


def ours(seen: list[httpx.Request], **options: Any) -> AsyncSuprsend:
    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"status": "success", "message_id": "m"})

    return AsyncSuprsend(KEY, SECRET, transport=httpx.MockTransport(handler), **options)


def normalised(body: bytes) -> list[tuple[str, Any]]:
    """Ordered fields, minus what is random per send or names the SDK itself."""
    value = json.loads(body)
    assert isinstance(value["$insert_id"], str)
    assert len(value.pop("$insert_id")) == 36
    assert isinstance(value.pop("$time"), int)
    assert value["properties"].pop("$ss_sdk_version")
    return list(value.items())


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("u1", "order_paid"), {}),
        (("u1", "order_paid", {"amount": 10, "items": [1, 2]}), {}),
        (("u1", "order_paid", {"note": "café ✓ 東京"}), {}),
        (("u1", "order_paid", {"a": None}), {"idempotency_key": "k1"}),
        (("u1", "order_paid", {}), {"tenant_id": "t1", "brand_id": "b1"}),
        (("u1", "$user_login", {}), {"idempotency_key": "k", "tenant_id": "t"}),
    ],
)
async def test_event_body_matches_the_official_sdk(
    official: tuple[Any, list[dict[str, Any]]], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    sdk, sent = official
    assert sdk.track_event(suprsend.Event(*args, **kwargs))["success"]
    seen: list[httpx.Request] = []
    async with ours(seen) as client:
        await client.track_event(Event(*args, **kwargs))
    assert normalised(seen[0].content) == normalised(sent[0]["data"])
    assert seen[0].url.path == "/v2/event/" == httpx.URL(sent[0]["url"]).path
    # Non-ASCII travels as UTF-8, not as \\u escapes, in both.
    if "café" in str(args):
        assert "café".encode() in seen[0].content
        assert "café".encode() in sent[0]["data"]


async def test_our_sdk_version_is_our_own_user_agent() -> None:
    seen: list[httpx.Request] = []
    async with ours(seen) as client:
        await client.track_event(Event("u1", "order_paid"))
    body = json.loads(seen[0].content)
    assert body["properties"]["$ss_sdk_version"].startswith("suprsend-async/")
    assert seen[0].headers["User-Agent"] == body["properties"]["$ss_sdk_version"]
    assert json.loads(seen[0].headers["X-Suprsend-Client-User-Agent"])["sdk"] == "suprsend-async"


async def test_attachment_bodies_match_the_official_sdk(
    official: tuple[Any, list[dict[str, Any]]], tmp_path: Path
) -> None:
    sdk, sent = official
    path = tmp_path / "invoice.pdf"
    path.write_bytes(b"%PDF-1.4 tiny")
    event = suprsend.Event("u1", "invoice_ready")
    event.add_attachment(str(path))
    event.add_attachment("https://example.com/terms.pdf", file_name="terms.pdf")
    sdk.track_event(event)
    seen: list[httpx.Request] = []
    ours_event = (
        Event("u1", "invoice_ready")
        .with_attachment(await Attachment.from_path(path))
        .with_attachment(Attachment.from_url("https://example.com/terms.pdf", "terms.pdf"))
    )
    async with ours(seen) as client:
        await client.track_event(ours_event)
    assert normalised(seen[0].content) == normalised(sent[0]["data"])
    attached = json.loads(seen[0].content)["properties"]["$attachments"]
    assert base64.b64decode(attached[0]["data"]) == b"%PDF-1.4 tiny"
    assert attached[0]["contentType"] == "application/pdf"


TRIGGERS: list[dict[str, Any]] = [
    {"workflow": "welcome", "recipients": ["u1"]},
    {"workflow": "welcome", "recipients": ["u1"], "data": {"plan": "pro", "n": 1.5}},
    {
        "workflow": "welcome",
        "recipients": ["u1", {"distinct_id": "u2", "$email": ["a@b.co"], "name": "Ann"}],
        "actor": "u0",
        "data": {"x": [1, {"y": None}]},
        "metadata": {"source": "test"},
    },
    {
        "workflow": "welcome",
        "recipients": [{"object_type": "teams", "id": "t-1"}],
        "actor": {"distinct_id": "u0", "$sms": ["+15550100"]},
    },
]


@pytest.mark.parametrize("body", TRIGGERS)
async def test_trigger_body_matches_the_official_sdk(
    official: tuple[Any, list[dict[str, Any]]], body: dict[str, Any]
) -> None:
    sdk, sent = official
    options = {"idempotency_key": "ik", "tenant_id": "t1", "cancellation_key": "ck"}
    assert sdk.workflows.trigger(suprsend.WorkflowTriggerRequest(dict(body), **options))["success"]
    seen: list[httpx.Request] = []
    async with ours(seen) as client:
        await client.workflows.trigger(WorkflowTriggerRequest.from_body(body, **options))
    # Same fields and values. Key order is not compared: the official SDK keeps
    # the caller's dict order and appends the keys it adds ("data" last when
    # missing), while ours is one fixed order; a JSON object has no order.
    assert json.loads(seen[0].content) == json.loads(sent[0]["data"])
    assert seen[0].url.path == "/trigger/" == httpx.URL(sent[0]["url"]).path


async def test_typed_recipients_serialize_like_their_dict_form() -> None:
    seen: list[httpx.Request] = []
    typed = WorkflowTriggerRequest(
        workflow="welcome",
        recipients=[
            Recipient(distinct_id="u2", email=["a@b.co"], channels=["email"], locale="fr"),
            ObjectRecipient(object_type="teams", id="t-1"),
        ],
    )
    as_dicts = WorkflowTriggerRequest.from_body(
        {
            "workflow": "welcome",
            "recipients": [
                {
                    "distinct_id": "u2",
                    "$email": ["a@b.co"],
                    "$channels": ["email"],
                    "$locale": "fr",
                },
                {"object_type": "teams", "id": "t-1"},
            ],
        }
    )
    async with ours(seen) as client:
        await client.workflows.trigger(typed)
        await client.workflows.trigger(as_dicts)
    assert json.loads(seen[0].content) == json.loads(seen[1].content)


def hub_signature(method: str, body: bytes, content_type: str, date: str, path: str) -> str:
    """The hub's algorithm, written out here from the wire reference, independently of ours."""
    body_md5 = hashlib.md5(body).hexdigest() if body else ""
    message = f"{method}\n{body_md5}\n{content_type}\n{date}\n{path}".encode()
    return base64.b64encode(hmac.new(SECRET.encode(), message, hashlib.sha256).digest()).decode()


def test_the_reference_algorithm_reproduces_the_official_sdks_header(
    official: tuple[Any, list[dict[str, Any]]],
) -> None:
    sdk, sent = official
    sdk.track_event(suprsend.Event("u1", "order_paid", {"a": "é"}))
    request = sent[0]
    expected = hub_signature(
        "POST", request["data"], request["headers"]["Content-Type"], request["headers"]["Date"],
        httpx.URL(request["url"]).path,
    )  # fmt: skip
    assert request["headers"]["Authorization"] == f"{KEY}:{expected}"


def assert_signed(request: httpx.Request) -> None:
    expected = hub_signature(
        "POST", request.content, request.headers["Content-Type"], request.headers["Date"],
        request.url.raw_path.decode(),
    )  # fmt: skip
    assert request.headers["Authorization"] == f"{KEY}:{expected}"


async def test_our_signature_follows_the_same_algorithm_over_the_bytes_sent() -> None:
    seen: list[httpx.Request] = []
    async with ours(seen) as client:
        await client.track_event(Event("u1", "order_paid", {"a": "é"}))
        await client.bulk_events.send([Event("u2", "order_paid")])
        await client.workflows.trigger(WorkflowTriggerRequest(workflow="w", recipients=["u"]))
    assert [r.url.path for r in seen] == ["/v2/event/", "/v2/bulk/event/", "/trigger/"]
    for request in seen:
        assert request.headers["Content-Type"] == "application/json; charset=utf-8"
        assert_signed(request)


async def test_every_attempt_is_signed_again_over_the_exact_bytes_sent() -> None:
    clock = iter(float(t) for t in range(1_800_000_000, 1_800_000_100, 7))
    auth = WorkspaceSignatureAuth(KEY, SECRET, clock=lambda: next(clock))
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503 if len(seen) < 3 else 202, json={"status": "success"})

    client = AsyncSuprsend(
        KEY, SECRET, transport=httpx.MockTransport(handler), retry=RetryPolicy.instant()
    )
    client._transport.auth = auth  # a fixed clock, so the Dates are known
    async with client:
        response = await client.track_event(Event("u1", "order_paid", idempotency_key="k"))
    assert response.attempts == 3
    assert len({r.headers["Date"] for r in seen}) == 3  # a fresh Date each attempt
    assert len({r.content for r in seen}) == 1  # the same bytes each attempt
    for request in seen:
        assert_signed(request)
