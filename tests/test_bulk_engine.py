"""The bulk engine against a scripted hub (httpx.MockTransport replaces only the network).

These pin down record-by-record accounting exactly; tests/test_bulk_integration.py
runs the same engine against the emulator over a real socket.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from suprsend_async import (
    AsyncSuprsend,
    Attachment,
    BulkProgress,
    Event,
    RetryPolicy,
    WorkflowTriggerRequest,
)

pytestmark = pytest.mark.anyio

KEY, SECRET = "WS_TEST_KEY_000000000001", "test-secret"
Handler = Callable[[httpx.Request], Coroutine[Any, Any, httpx.Response]]


def client_for(handler: Handler, **options: object) -> AsyncSuprsend:
    # Keyless records unless a test gives keys: what the engine does with each is the point.
    options.setdefault("auto_idempotency_keys", False)
    return AsyncSuprsend(
        KEY,
        SECRET,
        base_url="http://hub.test/",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        **options,  # type: ignore[arg-type]
    )


def ok(record_id: str = "m") -> dict[str, object]:
    return {"status": "success", "status_code": 202, "message_id": record_id}


def err(code: int, message: str) -> dict[str, object]:
    return {"status": "error", "status_code": code, "error": {"message": message, "type": "x"}}


def per_record(decide: Callable[[dict[str, object]], dict[str, object]]) -> Handler:
    async def handler(request: httpx.Request) -> httpx.Response:
        records = json.loads(request.content)
        return httpx.Response(
            207, json={"status": "success", "records": [decide(r) for r in records]}
        )

    return handler


async def test_207_results_map_back_to_the_exact_input_records() -> None:
    def decide(record: dict[str, object]) -> dict[str, object]:
        return err(404, "no such user") if str(record["distinct_id"]).startswith("gone") else ok()

    events = [Event(f"gone-{i}" if i % 37 == 0 else f"u{i}", "ev_x") for i in range(1000)]
    async with client_for(per_record(decide)) as client:
        resp = await client.bulk_events.send(events)

    expected = [i for i in range(1000) if i % 37 == 0]
    assert [f.index for f in resp.failed_records] == expected
    assert all(f.record == events[f.index] for f in resp.failed_records)
    assert {(f.error, f.code) for f in resp.failed_records} == {("no such user", 404)}
    assert (resp.status, resp.total, resp.success, resp.failure) == (
        "partial",
        1000,
        1000 - len(expected),
        len(expected),
    )


async def test_a_non_2xx_answer_fails_every_record_of_that_chunk_with_the_servers_message() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        records = json.loads(request.content)
        if any(r["distinct_id"] == "poison" for r in records):
            return httpx.Response(400, json={"status": "fail", "message": "bad chunk"})
        return httpx.Response(207, json={"records": [ok() for _ in records]})

    events = [Event("poison" if i == 150 else f"u{i}", "ev_x") for i in range(300)]
    async with client_for(handler) as client:
        resp = await client.bulk_events.send(events)
    assert [f.index for f in resp.failed_records] == list(range(100, 200))
    assert {(f.error, f.code) for f in resp.failed_records} == {("bad chunk", 400)}
    assert resp.success == 200


async def test_a_lost_answer_fails_keyless_records_saying_why_they_were_not_retried() -> None:
    seen: list[int] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(len(json.loads(request.content)))
        raise httpx.ReadError("connection reset by peer")

    async with client_for(handler, retry=RetryPolicy.instant()) as client:
        resp = await client.bulk_events.send([Event(f"u{i}", "ev_x") for i in range(150)])
    assert seen == [100, 50]  # keyless and maybe delivered: never sent twice
    assert resp.failure == 150
    assert resp.status == "fail"
    for failed in resp.failed_records:
        assert "connection reset by peer" in failed.error
        assert "no idempotency key" in failed.error
        assert failed.code is None
        assert failed.to_dict()["code"] == 500
        assert (failed.maybe_delivered, failed.safe_to_resend) == (True, False)


@pytest.mark.parametrize(
    "not_sent",
    [
        pytest.param(httpx.ConnectError("connection refused"), id="refused"),
        pytest.param(httpx.ConnectError("[Errno -2] Name or service not known"), id="dns"),
        pytest.param(httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER]"), id="tls"),
        pytest.param(httpx.ConnectTimeout("connect timed out"), id="connect timeout"),
        pytest.param(httpx.PoolTimeout("no free connection"), id="pool timeout"),
    ],
)
async def test_records_never_sent_are_retried_keyless_and_end_safe_to_resend(
    not_sent: Exception,
) -> None:
    seen: list[int] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(len(json.loads(request.content)))
        raise not_sent

    async with client_for(handler, retry=RetryPolicy.instant(3)) as client:
        resp = await client.bulk_events.send([Event(f"u{i}", "ev_x") for i in range(150)])
    # The hub cannot have seen a request never written: keyless, it is tried again...
    assert sorted(seen) == [50, 50, 50, 100, 100, 100]
    assert resp.retried_requests == 4
    assert resp.failure == 150
    for failed in resp.failed_records:
        # ... and, failing still, is safe to send again, saying so.
        assert (failed.maybe_delivered, failed.safe_to_resend) == (False, True)
        assert "not sent" in failed.error
        assert "no idempotency key" not in failed.error
        assert failed["error"] == failed.error  # the official SDK's dict access


async def test_a_429_retries_keyless_records_and_a_later_lost_answer_stops_them() -> None:
    answers: list[int | Exception] = [429, 429, httpx.ReadError("reset")]
    seen: list[int] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(len(json.loads(request.content)))
        answer = answers[min(len(seen), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer, json={"message": "slow down"})

    async with client_for(handler, retry=RetryPolicy.instant(5)) as client:
        resp = await client.bulk_events.send([Event(f"u{i}", "ev_x") for i in range(10)])
    # 429 proves nothing was applied: resent; the lost answer may hide a delivery: not.
    assert seen == [10, 10, 10]
    assert {(f.maybe_delivered, f.safe_to_resend) for f in resp.failed_records} == {(True, False)}


async def test_a_record_refused_with_429_inside_a_207_is_resent_keyless() -> None:
    bodies: list[list[str]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        records = json.loads(request.content)
        bodies.append([r["distinct_id"] for r in records])
        results = [
            {"status": "fail", "status_code": 429, "error": {"message": "rate limited"}}
            if r["distinct_id"] == "u1" and len(bodies) == 1
            else ok()
            for r in records
        ]
        return httpx.Response(207, json={"records": results})

    async with client_for(handler, retry=RetryPolicy.instant()) as client:
        resp = await client.bulk_events.send([Event(f"u{i}", "ev_x") for i in range(3)])
    assert bodies == [["u0", "u1", "u2"], ["u1"]]
    assert (resp.success, resp.failure) == (3, 0)


async def test_only_keyed_records_are_resent_after_a_lost_request() -> None:
    bodies: list[list[str]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        records = json.loads(request.content)
        bodies.append([r["distinct_id"] for r in records])
        if len(bodies) == 1:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return httpx.Response(207, json={"records": [ok() for _ in records]})

    events = [Event(f"u{i}", "ev_x", idempotency_key=f"k{i}" if i % 2 else None) for i in range(10)]
    async with client_for(handler, retry=RetryPolicy.instant()) as client:
        resp = await client.bulk_events.send(events)
    assert bodies[1] == [f"u{i}" for i in range(10) if i % 2]
    assert [f.index for f in resp.failed_records] == [0, 2, 4, 6, 8]
    assert resp.success == 5
    assert (resp.retried_requests, resp.retried_records) == (1, 5)


async def test_retryable_per_record_results_are_resent_alone_in_a_follow_up_request() -> None:
    bodies: list[list[str]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        records = json.loads(request.content)
        bodies.append([r["$idempotency_key"] for r in records])
        first = len(bodies) == 1
        return httpx.Response(
            207,
            json={
                "records": [
                    err(503, "busy") if first and r["$idempotency_key"] in ("k3", "k7") else ok()
                    for r in records
                ]
            },
        )

    events = [Event(f"u{i}", "ev_x", idempotency_key=f"k{i}") for i in range(10)]
    async with client_for(handler, retry=RetryPolicy.instant()) as client:
        resp = await client.bulk_events.send(events)
    assert bodies == [[f"k{i}" for i in range(10)], ["k3", "k7"]]
    assert (resp.status, resp.success, resp.retried_records) == ("success", 10, 2)


async def test_records_resent_alone_carry_exactly_the_bytes_first_sent() -> None:
    """A chunk is encoded in one call; the records of it sent again are cut from it
    byte for byte (the same insert id, time and key: the hub sees the same record)."""
    bodies: list[bytes] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        records = json.loads(request.content)
        first = len(bodies) == 1
        return httpx.Response(
            207,
            json={"records": [err(429, "slow down") if first and i in (2, 5) else ok()
                              for i, _ in enumerate(records)]},
        )  # fmt: skip

    properties = {"nested": {"a": [1, 2.5, None]}, "text": 'é\n"null"'}
    events = [Event(f"u{i}", "ev_x", properties) for i in range(8)]
    async with client_for(handler, retry=RetryPolicy.instant(), auto_idempotency_keys=True) as c:
        resp = await c.bulk_events.send(events)
    assert (resp.success, resp.retried_records) == (8, 2)
    # Each record starts with its insert id: the first body cut at each record.
    cut = bodies[0][1:-1].split(b',{"$insert_id"')
    records = [cut[0]] + [b'{"$insert_id"' + part for part in cut[1:]]
    assert len(records) == 8
    assert bodies[1] == b"[" + records[2] + b"," + records[5] + b"]"


async def test_a_record_json_cannot_carry_fails_alone_and_its_chunk_goes() -> None:
    """A value JSON cannot carry (NaN) in the middle of a chunk: that record fails, named
    by its field, before anything is sent; the others go in one request, the integer
    past 64 bits among them (written by the standard library)."""
    sent: list[Any] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        records = json.loads(request.content)
        sent.append(records)
        return httpx.Response(207, json={"records": [ok() for _ in records]})

    events = [Event(f"u{i}", "ev_x", {"i": i}) for i in range(10)]
    events[4] = Event("u4", "ev_x", {"i": float("nan")})
    events[6] = Event("u6", "ev_x", {"i": 2**70})
    async with client_for(handler) as client:
        resp = await client.bulk_events.send(events)
    assert [f.index for f in resp.failed_records] == [4]
    assert "properties" in resp.failed_records[0].error
    assert resp.failed_records[0].record is events[4]
    assert len(sent) == 1
    assert [r["properties"]["i"] for r in sent[0]] == [0, 1, 2, 3, 5, 2**70, 7, 8, 9]


async def test_validation_failures_are_reported_and_the_rest_is_sent() -> None:
    sent: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        records = json.loads(request.content)
        sent.extend(r["workflow"] for r in records)
        return httpx.Response(207, json={"records": [ok() for _ in records]})

    items: list[object] = [
        WorkflowTriggerRequest(workflow="w0", recipients=["a"]),
        {"workflow": "w1", "recipients": []},  # no recipients
        {"workflow": "w2", "recipients": ["a"], "surprise": 1},  # unknown key
        "not a request",
        {"workflow": "w4", "recipients": ["a"]},
    ]
    async with client_for(handler) as client:
        resp = await client.workflows.bulk_trigger(items)  # type: ignore[arg-type]
    assert sent == ["w0", "w4"]
    assert [(f.index, f.code) for f in resp.failed_records] == [(1, None), (2, None), (3, None)]
    assert "recipients" in resp.failed_records[0].error
    assert "surprise" in resp.failed_records[1].error
    assert resp.failed_records[2].record == "not a request"


async def test_results_come_out_in_input_order_whatever_the_completion_order() -> None:
    # Earlier chunks answer later, so completion order is the reverse of input order.
    async def handler(request: httpx.Request) -> httpx.Response:
        records = json.loads(request.content)
        first = int(str(records[0]["distinct_id"])[1:])
        await anyio.sleep((1000 - first) / 100_000)
        return httpx.Response(207, json={"records": [err(400, "no") for _ in records]})

    async with client_for(handler, max_concurrency=10) as client:
        resp = await client.bulk_events.send([Event(f"u{i}", "ev_x") for i in range(1000)])
    assert [f.index for f in resp.failed_records] == list(range(1000))


async def test_never_more_than_max_concurrency_requests_in_flight() -> None:
    in_flight = peak = 0
    three_in_flight = anyio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight == 3:
            three_in_flight.set()
        # Held until three are in flight at once (bounded, so a client stuck below three
        # fails instead of hanging): the limit is reached whatever the machine's speed.
        with anyio.move_on_after(60):
            await three_in_flight.wait()
        in_flight -= 1
        return httpx.Response(207, json={"records": [ok() for _ in json.loads(request.content)]})

    async with client_for(handler, max_concurrency=16) as client:
        resp = await client.bulk_events.send(
            (Event(f"u{i}", "ev_x") for i in range(5000)), max_concurrency=3
        )
    assert resp.success == 5000
    assert three_in_flight.is_set()
    assert peak == 3
    assert peak == 3


async def test_progress_reports_running_counts() -> None:
    reports: list[BulkProgress] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        records = json.loads(request.content)
        return httpx.Response(
            207,
            json={
                "records": [err(404, "x") if r["distinct_id"] == "u5" else ok() for r in records]
            },
        )

    events = [Event(f"u{i}", "ev_x") for i in range(250)]
    async with client_for(handler, max_concurrency=1) as client:
        await client.bulk_events.send(events, on_progress=reports.append)
    assert [(r.done, r.succeeded, r.failed, r.total) for r in reports] == [
        (100, 99, 1, 250),
        (200, 199, 1, 250),
        (250, 249, 1, 250),
    ]


outcomes = st.sampled_from(["ok", "404", "503", "invalid"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(outcomes, st.booleans()), max_size=350), st.integers(1, 8))
def test_every_record_is_counted_exactly_once(
    plan: list[tuple[str, bool]], concurrency: int
) -> None:
    """Whatever mix of outcomes: total == success + failure == records given."""

    async def handler(request: httpx.Request) -> httpx.Response:
        records = json.loads(request.content)
        results = []
        for r in records:
            kind = r["properties"]["plan"]
            results.append(ok() if kind == "ok" else err(int(kind), kind))
        return httpx.Response(207, json={"records": results})

    events: list[object] = [
        "junk"
        if kind == "invalid"
        else Event("u", "ev_x", {"plan": kind}, idempotency_key=f"k{i}" if keyed else None)
        for i, (kind, keyed) in enumerate(plan)
    ]

    async def main() -> None:
        async with client_for(handler, retry=RetryPolicy.instant(attempts=2)) as client:
            resp = await client.bulk_events.send(events, max_concurrency=concurrency)  # type: ignore[arg-type]
        assert resp.total == len(plan) == resp.success + resp.failure
        assert len(resp.failed_records) == resp.failure
        assert resp.success == sum(1 for kind, _ in plan if kind == "ok")
        assert [f.index for f in resp.failed_records] == [
            i for i, (kind, _) in enumerate(plan) if kind != "ok"
        ]

    anyio.run(main)


# A record's size: its padding (None: a NaN instead, which JSON cannot carry).
paddings = st.one_of(st.integers(0, 40), st.none(), st.integers(0, 1_500))


@settings(max_examples=60, deadline=None)
# A chunk encoded whole; one with a record JSON cannot carry; one too large for a request
# whole (built record by record after all); a record over the per-record limit.
@example([5] * 250, 30_000, 102_400, 100)
@example([5] * 45 + [None] + [5] * 80, 30_000, 102_400, 100)
@example([5] * 70 + [1_000] + [5] * 30, 25_000, 102_400, 100)
@example([5] * 10 + [200] + [5] * 10, 30_000, 300, 100)
@given(
    st.lists(paddings, max_size=260),
    st.integers(300, 30_000),
    st.sampled_from([300, 1_600, 102_400]),
    st.integers(1, 100),
)
def test_chunks_are_what_packing_each_record_alone_would_make(
    plan: list[int | None], max_body: int, max_record: int, max_records: int
) -> None:
    """Records encoded a few at a time and joined make exactly the requests that encoding
    each on its own and packing them greedily makes: the same records in each, the same
    bytes; a record too large, or one JSON cannot carry, fails alone and names why."""
    from suprsend_async._values.json_codec import dumps
    from suprsend_async._values.limits import Limits
    from suprsend_async._wire.chunking import Chunk, chunk_records

    bodies: list[bytes] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return httpx.Response(207, json={"records": [ok() for _ in json.loads(request.content)]})

    events = [
        Event(f"u{i}", "ev_x", {"i": float("nan")} if pad is None else {"i": i, "p": "x" * pad})
        for i, pad in enumerate(plan)
    ]
    limits = Limits(
        max_body_bytes=max_body,
        max_single_event_bytes=max_record,
        max_records_per_request=max_records,
    )

    async def main() -> None:
        async with client_for(handler, limits=limits) as client:
            resp = await client.bulk_events.send(events, max_concurrency=1)
        sent = [json.loads(body) for body in bodies]
        records = [dumps(record) for request in sent for record in request]
        assert all(len(record) <= max_record for record in records)
        packed = [
            c.body()
            for c in chunk_records(
                ((i, r) for i, r in enumerate(records)),
                max_records=max_records,
                max_body_bytes=max_body,
            )
            if isinstance(c, Chunk)
        ]
        assert bodies == packed
        failed = {f.index: f.error for f in resp.failed_records}
        delivered = [int(r["distinct_id"][1:]) for request in sent for r in request]
        assert sorted([*failed, *delivered]) == list(range(len(plan)))
        for index, error in failed.items():
            if plan[index] is None:
                assert "properties" in error
            else:
                assert "bytes" in error  # too large: for an event, or for any request

    anyio.run(main)


async def test_an_upload_abandoned_mid_read_accounts_for_every_record_read() -> None:
    # The abandon lands while the producer yields to the loop (a checkpoint):
    # the record just read must still be in the response, as not sent.
    from suprsend_async._core.bulk import run_bulk
    from suprsend_async.resources.events import EVENT_RECORDS
    from suprsend_async.testing import HubEmulator

    hub = HubEmulator()
    abandon = anyio.Event()
    read = 0

    def events() -> Iterator[Event]:
        nonlocal read
        for i in range(1_000):
            if i == 32:
                abandon.set()
            read += 1
            yield Event(f"u{i}", "ev_x")

    async with hub.client() as client:
        resp = await run_bulk(client, events(), kind=EVENT_RECORDS, abandon=abandon)
    assert 32 < read < 1_000  # abandoned part way through reading
    assert resp.total == read  # every record read is in the response...
    assert resp.success + resp.failure == resp.total  # ...as a success or a failure
    assert not any(f.maybe_delivered for f in resp.failed_records)  # none was sent


# -- what is held in flight ----------------------------------------------------------


async def test_a_streamed_upload_lets_go_of_each_event_once_its_chunk_is_encoded() -> None:
    """The caller's events are not kept while their request is in flight, so a streamed
    upload's records die young (the collector's full passes over records held until
    their answer were the event loop's longest stalls)."""
    release = anyio.Event()
    refs: list[weakref.ref[Event]] = []
    alive_in_flight: list[int] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        await release.wait()  # every request stays in flight until the check below
        return httpx.Response(207, json={"records": [ok() for _ in json.loads(request.content)]})

    async def events() -> AsyncIterator[Event]:
        for i in range(400):
            if i == 250:  # chunks 0-99 and 100-199 encoded, handed over, unanswered
                alive_in_flight.append(sum(ref() is not None for ref in refs[:200]))
                release.set()
            event = Event(f"u{i}", "ev_x", {"i": i, "nested": {"a": [1, 2]}})
            refs.append(weakref.ref(event))
            yield event

    async with client_for(handler, auto_idempotency_keys=True) as client:
        resp = await client.bulk_events.send(events(), max_concurrency=4)
    assert alive_in_flight == [0]
    assert (resp.success, resp.failure) == (400, 0)


async def test_a_failed_record_is_the_event_as_sent_and_resending_it_sends_the_same() -> None:
    """A record let go in flight is reported rebuilt from its bytes: the event given,
    with the key it was sent with; fed back in, the hub gets the same record (but for
    the per-send insert id and time) and deduplicates it by that key."""
    sent: dict[str, list[dict[str, Any]]] = {}

    async def handler(request: httpx.Request) -> httpx.Response:
        records = json.loads(request.content)
        for record in records:
            sent.setdefault(record["distinct_id"], []).append(record)
        return httpx.Response(207, json={"records": [
            err(404, "no such user") if r["distinct_id"].startswith("gone") else ok()
            for r in records
        ]})  # fmt: skip

    events = [
        Event(
            f"gone-{i}" if i % 7 == 0 else f"u{i}",
            "ev_x",
            {"i": i, "pair": (1, 2), "nested": {"a": [1, 2.5, None]}},
            idempotency_key=f"mine-{i}" if i % 2 else None,
            tenant_id="acme" if i % 3 == 0 else None,
        )
        for i in range(250)
    ]
    async with client_for(handler, auto_idempotency_keys=True) as client:
        resp = await client.bulk_events.send(events)
        failed = resp.failed_records
        assert [f.index for f in failed] == [i for i in range(250) if i % 7 == 0]
        for f in failed:
            given, record = events[f.index], f.record
            (first,) = sent[given.distinct_id]
            assert isinstance(record, Event)
            assert (record.distinct_id, record.event_name, record.tenant_id) == (
                given.distinct_id,
                given.event_name,
                given.tenant_id,
            )
            assert record.idempotency_key == first["$idempotency_key"]
            if given.idempotency_key is not None:
                assert record.idempotency_key == given.idempotency_key
            # The official SDK's dict: the record as the hub got it, per-send keys aside.
            as_sent = json.loads(json.dumps(first))
            for per_send in ("$insert_id", "$time", "env"):
                del as_sent[per_send]
            del as_sent["properties"]["$ss_sdk_version"]
            assert f.to_dict()["record"] == as_sent
            assert f.safe_to_resend
        again = await client.bulk_events.send([f.record for f in failed])
    assert again.total == len(failed)
    for f in failed:
        first, second = sent[events[f.index].distinct_id]
        for per_send in ("$insert_id", "$time"):
            del first[per_send], second[per_send]
        assert second == first


async def test_an_upload_abandoned_in_flight_reports_each_record_as_given() -> None:
    from suprsend_async._core.bulk import run_bulk
    from suprsend_async.resources.events import EVENT_RECORDS

    abandon = anyio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        abandon.set()
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover

    events = [Event(f"u{i}", "ev_x", {"i": i}, idempotency_key=f"k{i}") for i in range(300)]
    async with client_for(handler) as client:
        resp = await run_bulk(
            client, events, kind=EVENT_RECORDS, abandon=abandon, max_concurrency=2
        )
    assert resp.total == resp.failure >= 100  # at least the chunk in flight, read
    in_flight = [f for f in resp.failed_records if f.maybe_delivered]
    assert in_flight  # some were let go in flight, and are rebuilt from their bytes
    assert all(f.record == events[f.index] for f in resp.failed_records)


async def test_a_failed_event_with_attachments_resends_the_same_record() -> None:
    """Read back from its bytes, an event's attachments are the `$attachments` property the
    hub got: fed back in, the same record goes out."""
    sent: list[dict[str, Any]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        records = json.loads(request.content)
        sent.extend(records)
        return httpx.Response(207, json={"records": [err(404, "no such user") for _ in records]})

    attachment = Attachment.from_url("https://example.com/a.pdf", "a.pdf")
    events = [
        Event(f"u{i}", "ev_x", {"i": i}, idempotency_key=f"k{i}", attachments=[attachment])
        for i in range(3)
    ]
    async with client_for(handler) as client:
        first = await client.bulk_events.send(events)
        again = await client.bulk_events.send([f.record for f in first.failed_records])
    assert again.failure == first.failure == 3
    for record in sent:
        del record["$insert_id"], record["$time"]
    assert sent[3:] == sent[:3]
    assert all(r["properties"]["$attachments"] for r in sent)


async def test_an_upload_abandoned_with_records_encoded_one_by_one_accounts_for_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Records too large to go as one array are encoded one by one, and wait in the chunk
    being built; abandoned then, each is reported as it was given (never sent) or as sent."""
    from suprsend_async._core import bulk
    from suprsend_async._core.bulk import run_bulk
    from suprsend_async.resources.events import EVENT_RECORDS

    abandon = anyio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        abandon.set()
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover

    pad = "x" * 9_000  # a chunk closes on size at 88 records; the rest wait in the builder
    events = [
        Event(f"u{i}", "ev_x", {"i": i, "pad": pad}, idempotency_key=f"k{i}") for i in range(1_000)
    ]
    held: list[int] = []
    original = bulk._BulkRun.account_for_abandoned

    def spy(self: Any) -> None:
        assert self.builder is not None
        held.append(len(self.builder))
        original(self)

    monkeypatch.setattr(bulk._BulkRun, "account_for_abandoned", spy)
    async with client_for(handler) as client:
        resp = await run_bulk(
            client, events, kind=EVENT_RECORDS, abandon=abandon, max_concurrency=1
        )
    assert held[0] > 0  # the path this test is about: records waited in the builder
    assert resp.total == resp.failure == len(resp.failed_records)
    assert [f.index for f in resp.failed_records] == list(range(resp.total))
    assert any(f.maybe_delivered for f in resp.failed_records)
    assert any(not f.maybe_delivered for f in resp.failed_records)
    assert all(f.record == events[f.index] for f in resp.failed_records)
