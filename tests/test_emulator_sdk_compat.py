"""Every request the official SDKs send for the calls the emulator covers is accepted.

The official Python SDK (synchronous, ``requests``) runs in a worker thread against
the emulator served on a loopback socket, in both of its auth modes. What the Node
SDK sends that the Python one does not (arrays of events on ``event/``) is sent
raw, signed as it signs.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import anyio
import httpx
import pytest
import suprsend

from suprsend_async import AsyncSuprsend, Event, WorkspaceSignatureAuth
from suprsend_async._core.auth import string_to_sign
from suprsend_async.testing import Fault, Faults, HubEmulator, serve

pytestmark = pytest.mark.anyio

T = TypeVar("T")


async def in_thread(call: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(call)


@pytest.fixture
async def served(anyio_backend: object) -> AsyncIterator[tuple[HubEmulator, str]]:
    hub = HubEmulator()
    async with serve(hub) as base_url:
        yield hub, base_url


def signed_sdk(hub: HubEmulator, base_url: str) -> Any:
    return suprsend.Suprsend(hub.workspace_key, hub.workspace_secret, base_url=base_url)


def api_key_sdk(hub: HubEmulator, base_url: str, api_key: str | None = None) -> Any:
    return suprsend.Suprsend.with_workspace_api_key(
        hub.workspace_uid, api_key or hub.api_key, base_url=base_url
    )


SDKS = [pytest.param(signed_sdk, id="signed"), pytest.param(api_key_sdk, id="api-key")]
Make = Callable[[HubEmulator, str], Any]


# -- events -----------------------------------------------------------------------------------


@pytest.mark.parametrize("make", SDKS)
async def test_official_sdk_events_and_bulk_events(
    served: tuple[HubEmulator, str], make: Make
) -> None:
    hub, base_url = served
    client = make(hub, base_url)
    single = await in_thread(lambda: client.track_event(suprsend.Event("u0", "paid", {"i": 0})))

    def bulk() -> Any:
        instance = client.bulk_events.new_instance()
        instance.append(*[suprsend.Event(f"u{i}", "paid", {"i": i}) for i in range(1, 151)])
        return instance.trigger()

    many = await in_thread(bulk)
    assert single["success"] is True, single
    assert (many.status, many.total, many.success) == ("success", 150, 150), many
    assert sorted(e.properties["i"] for e in hub.events) == list(range(151))


async def test_our_api_key_client_sends_bulk_events_to_the_emulator(
    served: tuple[HubEmulator, str],
) -> None:
    hub, base_url = served
    async with AsyncSuprsend.from_api_key(hub.api_key, base_url=base_url) as client:
        response = await client.bulk_events.send(Event(f"u{i}", "paid") for i in range(120))
    assert (response.success, response.failure) == (120, 0)
    assert hub.stats.processed_events == 120


# -- workflows, legacy and current ------------------------------------------------------------


@pytest.mark.parametrize("make", SDKS)
async def test_official_sdk_workflow_triggers(served: tuple[HubEmulator, str], make: Make) -> None:
    hub, base_url = served
    client = make(hub, base_url)
    body = {"workflow": "welcome", "recipients": ["u0"], "data": {"n": 0}}
    current = await in_thread(
        lambda: client.workflows.trigger(suprsend.WorkflowTriggerRequest(body))
    )
    assert current["success"] is True, current
    assert [t.workflow for t in hub.triggers] == ["welcome"]


def dynamic(i: int) -> dict[str, Any]:
    return {
        "name": "Welcome",
        "template": "welcome-email",
        "notification_category": "transactional",
        "users": [{"distinct_id": f"u{i}", "$email": [f"u{i}@example.com"]}],
        "data": {"n": i},
    }


@pytest.mark.parametrize("make", SDKS)
async def test_official_sdk_legacy_trigger_workflow_and_bulk_workflows(
    served: tuple[HubEmulator, str], make: Make
) -> None:
    hub, base_url = served
    client = make(hub, base_url)
    single = await in_thread(lambda: client.trigger_workflow(dynamic(0)))

    def bulk() -> Any:
        instance = client.bulk_workflows.new_instance()
        instance.append(*[suprsend.Workflow(dynamic(i)) for i in range(1, 121)])
        return instance.trigger()

    many = await in_thread(bulk)
    assert single["success"] is True, single
    assert (many.status, many.total, many.success) == ("success", 120, 120), many
    assert sorted(t.data["n"] for t in hub.triggers) == list(range(121))
    assert {(t.workflow, t.template) for t in hub.triggers} == {("Welcome", "welcome-email")}
    # The legacy path names the workspace: by key when signed, by uid with an API key.
    assert hub.stats.statuses == {202: 3}


async def test_a_legacy_path_naming_another_workspace_is_refused(
    served: tuple[HubEmulator, str],
) -> None:
    hub, base_url = served
    client = suprsend.Suprsend.with_workspace_api_key(
        "someone-elses-workspace", hub.api_key, base_url=base_url
    )
    result = await in_thread(lambda: client.trigger_workflow(dynamic(0)))
    assert (result["success"], result["status_code"]) == (False, 403)
    assert hub.triggers == []


# -- broadcasts -------------------------------------------------------------------------------


@pytest.mark.parametrize("make", SDKS)
async def test_official_sdk_list_broadcast(served: tuple[HubEmulator, str], make: Make) -> None:
    hub, base_url = served
    client = make(hub, base_url)
    broadcast = suprsend.SubscriberListBroadcast(
        {
            "list_id": "beta-users",
            "template": "launch",
            "notification_category": "promotional",
            "data": {"v": 2},
        },
        idempotency_key="launch-2",
    )
    first = await in_thread(lambda: client.subscriber_lists.broadcast(broadcast))
    again = await in_thread(lambda: client.subscriber_lists.broadcast(broadcast))
    assert first["success"] is True, first
    assert again["success"] is True, again
    [processed] = hub.broadcasts  # the same idempotency key is processed once
    assert (processed.list_id, processed.template, processed.data) == (
        "beta-users",
        "launch",
        {"v": 2},
    )
    assert hub.stats.duplicates_suppressed == 1


# -- identity events --------------------------------------------------------------------------


@pytest.mark.parametrize("make", SDKS)
async def test_official_sdk_user_edits_single_and_bulk(
    served: tuple[HubEmulator, str], make: Make
) -> None:
    hub, base_url = served
    client = make(hub, base_url)

    def save_one() -> Any:
        user = client.user.get_instance("u0")
        user.set("name", "Ada")
        user.add_email("ada@example.com")
        return user.save()

    def edit_async() -> Any:
        edit = client.users.get_edit_instance("u1")
        edit.set_once("plan", "free")
        edit.unset("trial")
        return client.users.async_edit(edit)

    def save_many() -> Any:
        bulk = client.bulk_users.new_instance()
        for i in range(2, 452):  # two requests: the SDK sends up to 400 per array
            user = client.user.get_instance(f"u{i}")
            user.increment("logins", 1)
            bulk.append(user)
        return bulk.save()

    one = await in_thread(save_one)
    edited = await in_thread(edit_async)
    many = await in_thread(save_many)
    assert one["success"] is True, one
    assert edited["success"] is True, edited
    assert (many.status, many.total, many.success) == ("success", 450, 450), many
    assert hub.stats.identity_events == 452
    assert [e.distinct_id for e in hub.identity_events[:2]] == ["u0", "u1"]
    assert {"$set": {"name": "Ada"}} in hub.identity_events[0].operations
    assert hub.identity_events[1].operations == [
        {"$set_once": {"plan": "free"}},
        {"$unset": ["trial"]},
    ]
    assert hub.events == []  # identity events are not events


# -- the users API ----------------------------------------------------------------------------


@pytest.mark.parametrize("make", SDKS)
async def test_official_sdk_users_api(served: tuple[HubEmulator, str], make: Make) -> None:
    hub, base_url = served
    users = make(hub, base_url).users
    ann = "team/ann é"  # escaped into one path segment by the SDK

    def edit(distinct_id: str, tenant_id: str | None = None, **properties: Any) -> Any:
        instance = users.get_edit_instance(distinct_id, tenant_id)
        for key, value in properties.items():
            instance.set(key, value)
        return instance

    def calls() -> dict[str, Any]:
        bulk = users.get_bulk_edit_instance()
        bulk.append(*[edit(f"c{i}", n=i) for i in range(3)])
        channels = {"channel_preferences": [{"channel": "email", "is_restricted": True}]}
        opt_out = {"preference": "opt_out", "opt_out_channels": ["sms"]}
        return {
            "upsert": users.upsert(ann, {"$email": ["ann@example.com"], "name": "Ann"}),
            "upsert bob": users.upsert("bob", {"plan": "free"}),
            "edit": users.edit(edit(ann, plan="pro")),
            "edit by payload": users.edit(ann, {"operations": [{"$set": {"seats": 3}}]}),
            "get": users.get(ann),
            "list": users.list({"limit": 1}),
            "upsert for tenant": users.upsert_for_tenant(ann, "acme", {"role": "admin"}),
            "edit for tenant": users.edit(edit(ann, "acme", team="core")),
            "get for tenant": users.get_for_tenant(ann, "acme"),
            "tenants": users.list_associated_tenants(ann),
            "unlink tenant": users.unlink_tenant(ann, "acme"),
            "lists": users.get_lists_subscribed_to(ann),
            "objects": users.get_objects_subscribed_to(ann),
            "channels": users.update_global_channels_preference(ann, channels),
            "category": users.update_category_preference(ann, "newsletter", opt_out),
            "read category": users.get_category_preference(ann, "newsletter"),
            "full": users.get_full_preference(ann),
            "merge": users.merge(ann, "bob"),
            "bulk edit": bulk.save(),
            "bulk delete": users.bulk_delete({"distinct_ids": ["c0", "c1"]}),
            "delete": users.delete(ann),
        }

    answers = await in_thread(calls)
    assert answers["get"]["properties"] == {"name": "Ann", "plan": "pro", "seats": 3}
    assert answers["list"]["meta"]["has_next"] is True
    assert answers["get for tenant"]["properties"] == {"role": "admin", "team": "core"}
    assert [t["tenant_id"] for t in answers["tenants"]["results"]] == ["acme"]
    assert answers["channels"]["channel_preferences"][0] == {
        "channel": "email",
        "is_restricted": True,
    }
    assert answers["read category"]["preference"] == "opt_out"
    assert answers["merge"]["properties"]["plan"] == "pro"  # the primary's value wins
    assert (answers["bulk edit"].status, answers["bulk edit"].success) == ("success", 3)
    assert answers["delete"] == answers["bulk delete"] == {"success": True, "status_code": 204}
    assert sorted(hub.users.users) == ["c2"]
    with pytest.raises(suprsend.SuprsendAPIException) as missing:
        await in_thread(lambda: users.get(ann))
    assert (missing.value.status_code, missing.value.message) == (
        404,
        f"user [distinct_id: '{ann}'] not found",
    )


# -- what the Node SDK sends: arrays of events on event/, signed ------------------------------


def node_event(hub: HubEmulator, i: int, **extra: Any) -> dict[str, Any]:
    return {
        "event": "paid",
        "distinct_id": f"u{i}",
        "env": hub.workspace_key,
        "$insert_id": f"00000000-0000-4000-8000-{i:012d}",
        "$time": 1_700_000_000_000,
        "properties": {"i": i},
        **extra,
    }


async def post_signed(hub: HubEmulator, base_url: str, path: str, payload: Any) -> httpx.Response:
    auth = WorkspaceSignatureAuth(hub.workspace_key, hub.workspace_secret)
    async with httpx.AsyncClient(base_url=base_url, auth=auth) as http:
        return await http.post(
            path,
            content=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )


async def test_an_array_of_events_on_event_path_is_accepted(
    served: tuple[HubEmulator, str],
) -> None:
    hub, base_url = served
    response = await post_signed(hub, base_url, "event/", [node_event(hub, i) for i in range(100)])
    assert response.status_code == 202, response.text
    assert response.reason_phrase == "Accepted"
    assert hub.stats.processed_events == 100


async def test_an_array_on_event_path_with_a_bad_record_is_refused_whole(
    served: tuple[HubEmulator, str],
) -> None:
    # The SDKs that post arrays here read only the status: a 207 with failed
    # records would tell them every record succeeded.
    hub, base_url = served
    records = [node_event(hub, 0), node_event(hub, 1, distinct_id="  "), node_event(hub, 2)]
    response = await post_signed(hub, base_url, "event/", records)
    assert response.status_code == 400
    assert response.json()["message"].startswith("records[1].distinct_id")
    assert hub.events == []
    assert hub.stats.rejected_records == 3


async def node_users_call(
    hub: HubEmulator, base_url: str, method: str, path: str, payload: Any = None
) -> httpx.Response:
    """A users API call as the Node SDK signs it: its users API dates the request in
    ISO 8601 (``new Date().toISOString()``), where its other calls use RFC 1123."""
    body = b"" if payload is None else json.dumps(payload).encode()
    content_type = "application/json; charset=utf-8"
    now = datetime.datetime.now(datetime.timezone.utc)
    date = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    message = string_to_sign(method, body, content_type, date, "/" + path)
    digest = hmac.new(hub.workspace_secret.encode(), message, hashlib.sha256).digest()
    headers = {
        "Content-Type": content_type,
        "Date": date,
        "Authorization": f"{hub.workspace_key}:{base64.b64encode(digest).decode()}",
    }
    async with httpx.AsyncClient(base_url=base_url) as http:
        return await http.request(method, path, content=body, headers=headers)


async def test_node_sdk_users_calls_dated_in_iso_8601_are_accepted(
    served: tuple[HubEmulator, str],
) -> None:
    hub, base_url = served
    identity = {"distinct_id": "ann", "$user_operations": [{"$set": {"plan": "pro"}}]}
    upsert = await node_users_call(hub, base_url, "POST", "v1/user/ann/", {"name": "Ann"})
    async_edit = await node_users_call(hub, base_url, "POST", "event/", identity)
    fetched = await node_users_call(hub, base_url, "GET", "v1/user/ann/")
    assert (upsert.status_code, async_edit.status_code, fetched.status_code) == (201, 202, 200)
    assert fetched.json()["properties"] == {"name": "Ann", "plan": "pro"}


# -- errors every SDK can read ----------------------------------------------------------------


async def test_official_sdk_reads_errors_on_bulk_events_without_crashing(
    served: tuple[HubEmulator, str],
) -> None:
    hub, base_url = served
    wrong_key = api_key_sdk(hub, base_url, api_key="not-the-key")
    client = api_key_sdk(hub, base_url)
    hub.script(Fault.rate_limit(0))

    def bulk(sdk: Any) -> Any:
        instance = sdk.bulk_events.new_instance()
        instance.append(suprsend.Event("u1", "paid"), suprsend.Event("u2", "paid"))
        return instance.trigger()

    limited = await in_thread(lambda: bulk(client))  # the scripted 429
    refused = await in_thread(lambda: bulk(wrong_key))  # 401
    single = await in_thread(lambda: wrong_key.track_event(suprsend.Event("u1", "paid")))
    assert (limited.status, limited.failure) == ("fail", 2)
    assert "rate limit" in limited.failed_records[0]["error"]
    assert (refused.status, refused.failure) == ("fail", 2)
    assert refused.failed_records[0]["error"] == "invalid API key"
    assert (single["success"], single["status_code"]) == (False, 401)
    assert "invalid API key" in single["message"]


async def test_official_sdk_api_errors_carry_the_message(served: tuple[HubEmulator, str]) -> None:
    hub, base_url = served
    wrong_key = api_key_sdk(hub, base_url, api_key="not-the-key")
    edit = wrong_key.users.get_edit_instance("u1")
    edit.set("name", "Ada")
    with pytest.raises(suprsend.SuprsendAPIException) as raised:
        await in_thread(lambda: wrong_key.users.async_edit(edit))
    assert raised.value.status_code == 401
    assert raised.value.message == "invalid API key"


async def test_status_lines_carry_reason_phrases(served: tuple[HubEmulator, str]) -> None:
    _, base_url = served
    port = int(base_url.rsplit(":", 1)[1].strip("/"))
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(b"POST /event/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        reply = await stream.receive()
    assert reply.startswith(b"HTTP/1.1 401 Unauthorized\r\n")


@pytest.mark.parametrize(
    ("status", "status_line"),
    [
        (503, b"HTTP/1.1 503 Service Unavailable"),
        (520, b"HTTP/1.1 520 Server Error"),  # a status HTTP names no phrase for
        (499, b"HTTP/1.1 499 Client Error"),
    ],
)
async def test_injected_errors_carry_a_reason_phrase(
    served: tuple[HubEmulator, str], status: int, status_line: bytes
) -> None:
    hub, base_url = served
    hub.fail_next(status=status)
    port = int(base_url.rsplit(":", 1)[1].strip("/"))
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(b"POST /event/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        reply = await stream.receive()
    assert reply.startswith(status_line + b"\r\n")


@pytest.mark.parametrize("status", [99, 200, 302, 600])
def test_an_error_fault_has_an_error_status(status: int) -> None:
    # Below 200 the server could not send it at all: the client would see a dead
    # connection, not the error the test meant to inject.
    with pytest.raises(ValueError, match="400 to 599"):
        Fault.error(status)
    with pytest.raises(ValueError, match="400 to 599"):
        Faults(error_rate=0.5, error_status=status)


async def failing_app(scope: Any, receive: Any, send: Any) -> None:
    raise RuntimeError("a bug in the app")


def official_bulk_events(sdk: Any, count: int) -> Any:
    instance = sdk.bulk_events.new_instance()
    instance.append(*[suprsend.Event(f"u{i}", "paid", {"i": i}) for i in range(count)])
    return instance.trigger()


async def test_official_sdk_reads_the_servers_own_error_answers(anyio_backend: object) -> None:
    # Answers the app never made: a failing app's 500, and the server's 413 for a
    # body over its cap. The SDK's single event parses the body as JSON, and its
    # bulk events read "records" from every answer.
    hub = HubEmulator()
    async with serve(failing_app) as base_url:
        sdk = signed_sdk(hub, base_url)
        single = await in_thread(lambda: sdk.track_event(suprsend.Event("u1", "paid")))
        bulk = await in_thread(lambda: official_bulk_events(sdk, 2))
    async with serve(hub, max_body_bytes=1024) as base_url:
        too_big = await in_thread(lambda: official_bulk_events(signed_sdk(hub, base_url), 50))
    assert (single["success"], single["status_code"]) == (False, 500)
    assert single["message"] == "the emulator failed on this request"
    assert (bulk.status, bulk.failure) == ("fail", 2)
    assert (too_big.status, too_big.failure) == ("fail", 50)
    assert "over the server's limit of 1024" in too_big.failed_records[0]["error"]
    assert hub.stats.requests == 0
