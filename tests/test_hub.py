"""The hub emulator, in-process: auth, validation, limits, idempotency, faults, records."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from email.utils import formatdate
from typing import Any

import anyio
import httpx
import pytest

from suprsend_async import AsyncSuprsend, Event, Limits, RetryPolicy, WorkflowTriggerRequest
from suprsend_async._core.auth import string_to_sign
from suprsend_async.testing import Fault, Faults, HubEmulator

pytestmark = pytest.mark.anyio

CT = "application/json; charset=utf-8"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def signed_headers(
    hub: HubEmulator, body: bytes, path: str, *, secret: str | None = None, date: str | None = None
) -> dict[str, str]:
    date = date if date is not None else formatdate(hub.clock(), usegmt=True)
    message = string_to_sign("POST", body, CT, date, path)
    key = (secret or hub.workspace_secret).encode()
    signature = base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
    return {
        "Content-Type": CT,
        "Date": date,
        "Authorization": f"{hub.workspace_key}:{signature}",
    }


def event_body(hub: HubEmulator, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "$insert_id": "5b3f0e0c-0000-4000-8000-000000000001",
        "$time": 1_800_000_000_000,
        "event": "order_paid",
        "env": hub.workspace_key,
        "distinct_id": "u1",
        "properties": {"amount": 10},
    }
    body.update(overrides)
    return body


async def post(
    hub: HubEmulator, path: str, payload: Any, *, headers: dict[str, str] | None = None
) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    async with httpx.AsyncClient(transport=hub.transport(), base_url="http://hub/") as http:
        return await http.post(
            path, content=body, headers=headers or signed_headers(hub, body, "/" + path)
        )


def assert_documented_error(response: httpx.Response) -> str:
    """Every error body carries both documented shapes at once, so every official SDK
    finds the message where it looks; returns the message."""
    body = response.json()
    assert body["status"] == "fail"
    assert body["code"] == response.status_code  # what the Go SDK reads, beside message
    assert set(body["error"]) == {"message", "type"}
    assert body["error"]["message"] == body["message"]
    return str(body["message"])


# -- our client, in-process ------------------------------------------------------------


async def test_client_events_and_triggers_are_processed_with_their_fields() -> None:
    hub = HubEmulator(workflows={"welcome"})
    async with hub.client() as client:
        r1 = await client.track_event(
            Event("u1", "signed_up", {"plan": "pro"}, idempotency_key="k1", tenant_id="t1")
        )
        r2 = await client.workflows.trigger(
            WorkflowTriggerRequest(
                workflow="welcome",
                recipients=["u1", {"distinct_id": "u2", "$email": ["a@b.co"]}],
                data={"x": 1},
                cancellation_key="c1",
            )
        )
    assert r1.success
    assert r2.success
    [event] = hub.events
    assert (event.distinct_id, event.event, event.idempotency_key, event.tenant_id) == (
        "u1",
        "signed_up",
        "k1",
        "t1",
    )
    assert event.properties["plan"] == "pro"
    assert event.message_id == r1.message_id
    [trigger] = hub.triggers
    assert trigger.workflow == "welcome"
    assert trigger.recipients == ["u1", {"distinct_id": "u2", "$email": ["a@b.co"]}]
    assert trigger.cancellation_key == "c1"
    assert trigger.message_id == r2.message_id


async def test_bearer_api_key_is_accepted_on_rest_paths() -> None:
    hub = HubEmulator()
    client = AsyncSuprsend.from_api_key(
        hub.api_key, base_url="http://hub/", transport=hub.transport()
    )
    async with client:
        assert (await client.track_event(Event("u1", "signed_up"))).success
    assert hub.events[0].workspace == hub.workspace_key


# -- authentication ----------------------------------------------------------------------


async def test_valid_signature_accepted() -> None:
    hub = HubEmulator()
    response = await post(hub, "v2/event/", event_body(hub))
    assert response.status_code == 202
    assert response.json()["status"] == "success"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong secret", "signature mismatch"),
        ("unknown key", "unknown workspace key"),
        ("no authorization", "missing or malformed Authorization"),
        ("malformed authorization", "missing or malformed Authorization"),
        ("no date", "missing Date"),
        ("malformed date", "malformed Date"),
        ("date out of range", "malformed Date"),
        ("stale date", "too far"),
        ("future date", "too far"),
        ("tampered body", "signature mismatch"),
        ("signed other path", "signature mismatch"),
        ("unknown api key", "invalid API key"),
    ],
)
async def test_bad_credentials_are_refused_with_401(case: str, expected: str) -> None:
    clock = Clock()
    hub = HubEmulator(clock=clock)
    body = json.dumps(event_body(hub)).encode()
    headers = signed_headers(hub, body, "/v2/event/")
    if case == "wrong secret":
        headers = signed_headers(hub, body, "/v2/event/", secret="not-the-secret")
    elif case == "unknown key":
        headers["Authorization"] = "someone-else:" + headers["Authorization"].split(":")[1]
    elif case == "no authorization":
        del headers["Authorization"]
    elif case == "malformed authorization":
        headers["Authorization"] = "no-colon-here"
    elif case == "no date":
        del headers["Date"]
    elif case == "malformed date":
        headers = signed_headers(hub, body, "/v2/event/", date="yesterday-ish")
    elif case == "date out of range":  # a year past what a datetime holds: not a 500
        headers = signed_headers(
            hub, body, "/v2/event/", date="Fri, 31 Dec 99999999999999999999 23:59:59 GMT"
        )
    elif case == "stale date":
        headers = signed_headers(
            hub, body, "/v2/event/", date=formatdate(clock.now - 301, usegmt=True)
        )
    elif case == "future date":
        headers = signed_headers(
            hub, body, "/v2/event/", date=formatdate(clock.now + 301, usegmt=True)
        )
    elif case == "tampered body":
        body = body.replace(b'"u1"', b'"u2"')
    elif case == "signed other path":
        headers = signed_headers(hub, body, "/event/")
    elif case == "unknown api key":
        headers["Authorization"] = "Bearer not-a-key"
    response = await post(hub, "v2/event/", body, headers=headers)
    assert response.status_code == 401
    assert expected in assert_documented_error(response)
    assert hub.stats.auth_failures == 1
    assert hub.events == []


async def test_date_within_allowed_skew_is_accepted() -> None:
    clock = Clock()
    hub = HubEmulator(clock=clock)
    body = json.dumps(event_body(hub)).encode()
    headers = signed_headers(hub, body, "/v2/event/", date=formatdate(clock.now - 299, usegmt=True))
    assert (await post(hub, "v2/event/", body, headers=headers)).status_code == 202


async def test_wrong_api_key_refused() -> None:
    hub = HubEmulator()
    body = json.dumps(event_body(hub)).encode()
    headers = {"Content-Type": CT, "Authorization": "Bearer wrong-key"}
    response = await post(hub, "event/", body, headers=headers)
    assert response.status_code == 401
    assert "invalid API key" in assert_documented_error(response)


async def test_requests_for_another_workspace_cannot_use_its_env() -> None:
    hub = HubEmulator(workspaces={"workspace-a-key-0000000": "sa", "workspace-b-key-0000000": "sb"})
    body = event_body(hub, env="workspace-b-key-0000000")
    response = await post(hub, "v2/event/", body)
    assert response.status_code == 400
    assert "env" in assert_documented_error(response)


# -- validation and limits -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"event": "$reserved"}, "event"),
        ({"event": "SS_reserved"}, "event"),
        ({"distinct_id": "   "}, "distinct_id"),
        ({"distinct_id": 42}, "distinct_id"),
        ({"properties": [1, 2]}, "properties"),
        ({"$idempotency_key": "k" * 256}, "$idempotency_key"),
        ({"tenant_id": "t" * 65}, "tenant_id"),
    ],
)
async def test_invalid_event_gets_400_naming_the_field(
    overrides: dict[str, Any], field: str
) -> None:
    hub = HubEmulator()
    response = await post(hub, "v2/event/", event_body(hub, **overrides))
    assert response.status_code == 400
    assert assert_documented_error(response).startswith(field)
    assert hub.events == []


async def test_allowed_system_event_names_pass() -> None:
    hub = HubEmulator()
    response = await post(hub, "v2/event/", event_body(hub, event="$user_login"))
    assert response.status_code == 202


async def test_not_json_gets_400() -> None:
    hub = HubEmulator()
    response = await post(hub, "v2/event/", b"{not json")
    assert response.status_code == 400
    assert "not valid JSON" in assert_documented_error(response)


def nested(depth: int) -> Any:
    """``depth`` objects, one inside the next."""
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("v2/event/", {"event": "paid", "distinct_id": "u1", "properties": nested(300)}),
        ("v2/bulk/event/", [{"event": "paid", "distinct_id": "u1", "properties": nested(300)}]),
        ("event/", {"distinct_id": "u1", "$user_operations": [{"$set": {"x": nested(300)}}]}),
        ("trigger/", {"workflow": "w", "recipients": ["u1"], "data": nested(300)}),
        ("v1/user/u1/", {"x": nested(300)}),
    ],
    ids=["event", "bulk events", "identity event", "trigger", "user upsert"],
)
async def test_a_body_nested_deeper_than_the_encoder_writes_gets_400(
    path: str, payload: Any
) -> None:
    # The client refuses to encode these; accepted, they would be stored or
    # fingerprinted, and every answer that encodes them would fail.
    hub = HubEmulator()
    response = await post(hub, path, payload)
    assert response.status_code == 400
    assert response.json()["message"] == "request body nests more than 254 levels deep"
    assert hub.stats.processed_events == hub.stats.identity_events == len(hub.users) == 0


async def test_a_body_nested_past_the_parsers_limit_gets_400() -> None:
    hub = HubEmulator()
    response = await post(hub, "v1/user/u1/", b"[" * 5000 + b"]" * 5000)
    assert (response.status_code, response.json()["code"]) == (400, 400)


async def test_users_nested_to_the_limit_are_answered_wrapped_deeper_still() -> None:
    hub = HubEmulator()
    properties = nested(254)  # the deepest body the client's encoder writes
    async with hub.client() as client:
        created = await client.users.upsert("u1", properties)
        fetched = await client.users.get("u1")
        page = await client.users.list()
    assert created["properties"] == fetched["properties"] == properties
    assert page["results"][0]["properties"] == properties


async def test_unknown_workflow_is_404_when_workflows_are_declared() -> None:
    hub = HubEmulator(workflows={"welcome"})
    body = {"workflow": "nope", "recipients": ["u1"]}
    response = await post(hub, "trigger/", body)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"
    assert (await post(hub, "trigger/", {**body, "workflow": "welcome"})).status_code == 202


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"workflow": "w", "recipients": []}, "recipients"),
        ({"workflow": "w", "recipients": ["u"] * 101}, "recipients"),
        ({"workflow": "w", "recipients": ["u"], "extra": 1}, "extra"),
        ({"workflow": "w", "recipients": [{"distinct_id": "u", "$email": ["e"] * 11}]}, "$email"),
        (
            {"workflow": "w", "recipients": [{"distinct_id": "u", "$channels": ["fax"]}]},
            "$channels",
        ),
        ({"recipients": ["u"]}, "workflow"),
    ],
)
async def test_invalid_trigger_gets_400_naming_the_field(body: dict[str, Any], field: str) -> None:
    hub = HubEmulator()
    response = await post(hub, "trigger/", body)
    assert response.status_code == 400
    assert field in assert_documented_error(response)


async def test_bulk_with_more_than_100_records_is_refused_whole() -> None:
    hub = HubEmulator()
    records = [event_body(hub, **{"$insert_id": str(i)}) for i in range(101)]
    response = await post(hub, "v2/bulk/event/", records)
    assert response.status_code == 400
    assert "at most 100" in assert_documented_error(response)
    assert hub.stats.processed_events == 0


async def test_oversize_body_is_413() -> None:
    hub = HubEmulator(limits=Limits(max_body_bytes=2000))
    records = [event_body(hub, properties={"pad": "x" * 500}) for _ in range(5)]
    response = await post(hub, "v2/bulk/event/", records)
    assert response.status_code == 413
    assert "over the limit" in assert_documented_error(response)


async def test_oversize_single_event_is_413_and_oversize_bulk_record_fails_alone() -> None:
    hub = HubEmulator(limits=Limits(max_single_event_bytes=600))
    big = event_body(hub, properties={"pad": "x" * 700})
    assert (await post(hub, "v2/event/", big)).status_code == 413
    small = event_body(hub, **{"$insert_id": "small"})
    response = await post(hub, "v2/bulk/event/", [small, big])
    assert response.status_code == 207
    records = response.json()["records"]
    assert [r["status_code"] for r in records] == [202, 413]
    assert hub.stats.processed_events == 1


async def test_bulk_answers_one_result_per_record_in_order() -> None:
    hub = HubEmulator(workflows={"w"})
    records = [
        {"workflow": "w", "recipients": ["u1"]},
        {"workflow": "missing", "recipients": ["u2"]},
        {"workflow": "w", "recipients": []},
        {"workflow": "w", "recipients": ["u4"]},
    ]
    response = await post(hub, "trigger/", records)
    assert response.status_code == 207
    results = response.json()["records"]
    assert [r["status_code"] for r in results] == [202, 404, 400, 202]
    assert [r["status"] for r in results] == ["success", "error", "error", "success"]
    assert results[0]["message_id"] != results[3]["message_id"]
    assert [t.recipients for t in hub.triggers] == [["u1"], ["u4"]]
    assert hub.stats.rejected_records == 2


# -- idempotency ---------------------------------------------------------------------------


async def test_duplicate_key_is_acknowledged_but_processed_once() -> None:
    clock = Clock()
    hub = HubEmulator(clock=clock)
    first = await post(hub, "v2/event/", event_body(hub, **{"$idempotency_key": "order-1"}))
    again = await post(
        hub, "v2/event/", event_body(hub, **{"$idempotency_key": " order-1 ", "$insert_id": "x"})
    )
    assert first.status_code == again.status_code == 202
    assert first.json()["message_id"] == again.json()["message_id"]
    assert hub.stats.processed_events == 1
    assert hub.stats.duplicates_suppressed == 1
    assert hub.processed_keys == {"order-1": 1}
    assert hub.received_keys == {"order-1": 2}
    # After 24 hours the key is forgotten, as on the hub.
    clock.now += 24 * 3600 + 1
    await post(hub, "v2/event/", event_body(hub, **{"$idempotency_key": "order-1"}))
    assert hub.stats.processed_events == 2


async def test_idempotency_is_per_workspace() -> None:
    hub = HubEmulator(
        workspaces={"workspace-a-key-0000000": "sa", "workspace-b-key-0000000": "sb"},
        api_keys={"key-a": "workspace-a-key-0000000", "key-b": "workspace-b-key-0000000"},
    )
    for api_key in ("key-a", "key-b"):
        client = AsyncSuprsend.from_api_key(
            api_key, base_url="http://hub/", transport=hub.transport()
        )
        async with client:
            await client.track_event(Event("u1", "paid", idempotency_key="same"))
    assert hub.stats.processed_events == 2
    assert {e.workspace for e in hub.events} == {
        "workspace-a-key-0000000",
        "workspace-b-key-0000000",
    }


async def test_resent_records_are_counted() -> None:
    hub = HubEmulator()
    body = event_body(hub)
    await post(hub, "v2/event/", body)
    await post(hub, "v2/event/", body)
    assert hub.stats.resent_records == 1
    assert hub.stats.processed_events == 2  # no key: the hub cannot tell, so it processes twice


# -- faults, seen from a client -------------------------------------------------------------


def no_retry_client(hub: HubEmulator) -> AsyncSuprsend:
    client: AsyncSuprsend = hub.client(retry=RetryPolicy.disabled())
    return client


async def test_scripted_faults_apply_in_order_then_stop() -> None:
    hub = HubEmulator()
    hub.fail_next(2, status=502)
    hub.script(Fault.rate_limit(7))
    async with no_retry_client(hub) as client:
        results = [await client.track_event(Event("u1", "paid")) for _ in range(4)]
    assert [r.status_code for r in results] == [502, 502, 429, 202]
    assert hub.stats.faults == {"error": 2, "rate_limit": 1}
    assert hub.stats.processed_events == 1


async def test_rate_limit_fault_sends_retry_after() -> None:
    hub = HubEmulator()
    hub.script(Fault.rate_limit(12))
    body = json.dumps(event_body(hub)).encode()
    response = await post(hub, "v2/event/", body)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "12"


async def test_drop_before_processing_processes_nothing() -> None:
    hub = HubEmulator()
    hub.script(Fault.drop_before())
    async with no_retry_client(hub) as client:
        response = await client.track_event(Event("u1", "paid", idempotency_key="k"))
    assert not response.success
    assert "RemoteProtocolError" in (response.message or "")
    assert hub.stats.processed_events == 0


async def test_drop_after_processing_processes_but_the_answer_is_lost() -> None:
    hub = HubEmulator()
    hub.script(Fault.drop_after())
    async with no_retry_client(hub) as client:
        response = await client.track_event(Event("u1", "paid", idempotency_key="k"))
    assert not response.success
    assert hub.stats.processed_events == 1
    assert hub.processed_keys == {"k": 1}


def fault_sequence(seed: int, jitter_draws: list[int] | None = None) -> list[str | None]:
    """The first 200 fault decisions, with ``jitter_draws[n]`` latency draws before the n-th."""
    hub = HubEmulator(faults=Faults.mix(0.5, seed=seed, latency=0.01, jitter=0.01))
    kinds: list[str | None] = []
    for n in range(200):
        for _ in range(jitter_draws[n] if jitter_draws else 0):
            hub.injector.delay()
        fault = hub.injector.next_fault()
        kinds.append(None if fault is None else fault.kind.value)
    return kinds


def test_random_faults_are_reproducible_from_the_seed() -> None:
    assert fault_sequence(1) == fault_sequence(1)
    assert fault_sequence(1) != fault_sequence(2)
    kinds = fault_sequence(3)
    # Faults.mix(0.5) splits half of all requests over the four kinds.
    assert 70 <= sum(k is not None for k in kinds) <= 130
    assert {k for k in kinds if k} == {"error", "rate_limit", "drop_before", "drop_after"}


def test_the_nth_requests_fault_does_not_depend_on_latency_draws_in_between() -> None:
    # Concurrent requests draw their latency in whatever order they arrive; the
    # faults must not shift with it, or a seeded run would not replay.
    interleaved = [n % 3 for n in range(200)]
    assert fault_sequence(4, interleaved) == fault_sequence(4)


def test_fault_rates_are_validated() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        Faults(error_rate=1.5)
    with pytest.raises(ValueError, match="add up"):
        Faults(error_rate=0.6, drop_after_rate=0.6)
    with pytest.raises(ValueError, match="negative"):
        Faults(latency=-1)


# -- control endpoints ------------------------------------------------------------------------


async def test_stats_and_reset_endpoints() -> None:
    hub = HubEmulator()
    await post(hub, "v2/event/", event_body(hub, **{"$idempotency_key": "k"}))
    async with httpx.AsyncClient(transport=hub.transport(), base_url="http://hub/") as http:
        stats = (await http.get("_emulator/stats")).json()
        assert stats["processed_events"] == 1
        assert stats["statuses"] == {"202": 1}
        assert stats["keys_processed"] == 1
        assert (await http.post("_emulator/reset")).status_code == 200
    assert hub.stats.processed_events == 0
    assert hub.events == []
    # the key is forgotten too
    await post(hub, "v2/event/", event_body(hub, **{"$idempotency_key": "k"}))
    assert hub.stats.processed_events == 1


async def test_reset_while_requests_are_in_flight_keeps_the_gauge_true() -> None:
    hub = HubEmulator(faults=Faults(latency=30.0))
    async with hub.client() as client, anyio.create_task_group() as tg:
        for i in range(3):
            tg.start_soon(client.track_event, Event(f"u{i}", "order_paid"))
        await anyio.wait_all_tasks_blocked()  # all three are waiting inside the hub
        assert hub.stats.in_flight == 3
        hub.reset()
        assert (hub.stats.requests, hub.stats.in_flight, hub.stats.max_in_flight) == (0, 3, 3)
        tg.cancel_scope.cancel()
    assert hub.stats.in_flight == 0


# -- the calls only the official SDKs make -----------------------------------------------------


def dynamic_workflow(**changes: Any) -> dict[str, Any]:
    body = {
        "name": "Welcome",
        "template": "welcome",
        "notification_category": "transactional",
        "users": [{"distinct_id": "u1"}],
        "data": {},
    }
    return {k: v for k, v in {**body, **changes}.items() if v is not None}


def broadcast(**changes: Any) -> dict[str, Any]:
    body = {"list_id": "beta", "template": "launch", "notification_category": "promotional"}
    return {k: v for k, v in {**body, **changes}.items() if v is not None}


def identity(**changes: Any) -> dict[str, Any]:
    body = {"distinct_id": "u1", "$user_operations": [{"$set": {"name": "Ada"}}]}
    return {k: v for k, v in {**body, **changes}.items() if v is not None}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("event/", identity(distinct_id=" "), "distinct_id"),
        ("event/", identity(**{"$user_operations": {"$set": {}}}), "$user_operations"),
        (
            "event/",
            identity(**{"$user_operations": [{"$delete": {}}]}),
            "$user_operations[0].$delete",
        ),
        (
            "event/",
            identity(**{"$user_operations": [{"$unset": "k"}]}),
            "$user_operations[0].$unset",
        ),
        ("{ws}/trigger/", dynamic_workflow(template=None), "template"),
        ("{ws}/trigger/", dynamic_workflow(users=[]), "users"),
        ("{ws}/trigger/", dynamic_workflow(users=["u1"]), "users[0]"),
        ("{ws}/trigger/", dynamic_workflow(delay=-1), "delay"),
        ("{ws}/broadcast/", broadcast(list_id=None), "list_id"),
        ("{ws}/broadcast/", broadcast(channels="email"), "channels"),
    ],
)
async def test_sdk_only_bodies_are_validated(path: str, body: dict[str, Any], field: str) -> None:
    hub = HubEmulator()
    response = await post(hub, path.format(ws=hub.workspace_key), body)
    assert response.status_code == 400
    assert assert_documented_error(response).startswith(f"{field}:")
    assert (hub.triggers, hub.broadcasts, hub.identity_events) == ([], [], [])


async def test_identity_events_are_counted_and_handed_to_the_users_hook() -> None:
    hub = HubEmulator()
    applied: list[tuple[str, str]] = []
    original = hub._apply_identity_event

    def spy(workspace: str, record: Any, message_id: str) -> None:
        applied.append((workspace, record["distinct_id"]))
        original(workspace, record, message_id)

    hub._apply_identity_event = spy  # type: ignore[method-assign]
    response = await post(hub, "event/", [identity(), identity(distinct_id="u2")])
    assert response.status_code == 202
    assert applied == [(hub.workspace_key, "u1"), (hub.workspace_key, "u2")]
    assert hub.stats.identity_events == 2
    assert [e.operations for e in hub.identity_events] == [[{"$set": {"name": "Ada"}}]] * 2


async def test_options_lists_the_allowed_methods_without_auth() -> None:
    hub = HubEmulator()
    async with httpx.AsyncClient(transport=hub.transport(), base_url="http://hub/") as http:
        response = await http.options("v2/event/")
    assert response.status_code == 204
    assert response.headers["allow"] == "POST, OPTIONS"
    assert response.content == b""
