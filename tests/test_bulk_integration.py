"""The bulk engine (issue 4) end to end: our client against the hub emulator over a
real loopback socket, on asyncio and trio.

Unit tests of the same engine with a scripted transport are in test_bulk_engine.py;
these check what a user can only see against a hub: what arrived, how often, how
many requests were open at once, and that every record given is accounted for.
"""

from __future__ import annotations

import itertools
import tracemalloc
import uuid
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

from suprsend_async import (
    AsyncSuprsend,
    BulkProgress,
    BulkResponse,
    Event,
    Limits,
    RetryPolicy,
    SuprsendConfigError,
    WorkflowTriggerRequest,
)
from suprsend_async.testing import Fault, Faults, HubEmulator, serve
from tests._doubles import HoldUntil, served, served_through

pytestmark = pytest.mark.anyio

NOT_RETRIED = "not retried: the record has no idempotency key, so a retry could deliver it twice"
PER_REQUEST = 100  # records per bulk request (the default Limits)


def check_accounting(resp: BulkResponse, given: int) -> None:
    """The invariants every BulkResponse keeps, whatever happened."""
    assert resp.total == resp.success + resp.failure == given
    assert len(resp.failed_records) == resp.failure
    indices = [f.index for f in resp.failed_records]
    assert indices == sorted(set(indices)), "failed_records must be in input order, each once"
    assert all(0 <= i < given for i in indices)
    status = "success" if resp.failure == 0 else "fail" if resp.success == 0 else "partial"
    assert resp.status == status
    official = resp.to_dict()
    assert (official["total"], official["success"], official["failure"]) == (
        resp.total,
        resp.success,
        resp.failure,
    )
    assert len(official["failed_records"]) == resp.failure


def event(i: int, name: str = "nightly_digest", **options: Any) -> Event:
    return Event(f"user-{i}", name, {"i": i}, **options)


# -- delivering everything ---------------------------------------------------------------


async def test_ten_thousand_events_arrive_once_each() -> None:
    hub = HubEmulator()
    events = [event(i) for i in range(10_000)]
    async with served(hub) as client:
        bulk = client.bulk_events.new_instance()
        bulk.append(*events)
        assert len(bulk) == 10_000
        resp = await bulk.trigger()

    check_accounting(resp, 10_000)
    assert (resp.status, resp.success, resp.retried_requests) == ("success", 10_000, 0)
    stats = hub.stats
    assert stats.processed_events == stats.records_received == 10_000
    assert (stats.rejected_records, stats.resent_records, stats.duplicates_suppressed) == (0, 0, 0)
    assert stats.statuses == Counter({207: 10_000 // PER_REQUEST})  # full chunks, nothing refused
    assert Counter(e.distinct_id for e in hub.events) == Counter(
        {f"user-{i}": 1 for i in range(10_000)}
    )
    insert_ids = {e.insert_id for e in hub.events}
    assert len(insert_ids) == 10_000
    assert all(uuid.UUID(str(i)).version == 4 for i in insert_ids)


async def test_two_thousand_workflow_triggers_arrive_once_each() -> None:
    hub = HubEmulator(workflows={"welcome"})
    requests: list[WorkflowTriggerRequest | dict[str, Any]] = [
        WorkflowTriggerRequest(workflow="welcome", recipients=[f"u{i}"], data={"i": i})
        if i % 2
        else {"workflow": "welcome", "recipients": [f"u{i}"], "data": {"i": i}}  # official form
        for i in range(2_000)
    ]
    async with served(hub) as client:
        resp = await client.workflows.bulk_trigger(requests)

    check_accounting(resp, 2_000)
    assert (resp.status, resp.success) == ("success", 2_000)
    assert hub.stats.processed_triggers == 2_000
    assert hub.stats.statuses == Counter({207: 2_000 // PER_REQUEST})
    assert Counter(t.recipients[0] for t in hub.triggers) == Counter(
        {f"u{i}": 1 for i in range(2_000)}
    )
    assert sorted(t.data["i"] for t in hub.triggers) == list(range(2_000))


# -- partial failures, record by record ---------------------------------------------------


async def test_workflow_failures_map_to_the_exact_input_records() -> None:
    """Unknown slugs (refused by the hub), invalid records, a record too large alone and a
    5xx on one chunk, all in one concurrent upload: each failure is its own input record."""
    hub = HubEmulator(workflows={"welcome"})
    hub.script(Fault.error(502))  # whichever chunk reaches the hub first
    n = 1_000
    inputs: list[Any] = [
        {"workflow": "welcome", "recipients": [f"u{i}"], "data": {"i": i}} for i in range(n)
    ]
    # Refused by the hub; in chunks 5 and 7, after the first wave of 4 where the 5xx lands.
    inputs[505] = WorkflowTriggerRequest(workflow="retired", recipients=["u505"])
    inputs[750] = {"workflow": "no-such-flow", "recipients": ["u750"], "data": {"i": 750}}
    inputs[400] = {"workflow": "welcome", "recipients": []}
    inputs[401] = {"workflow": "welcome", "recipients": ["u401"], "surprise": True}
    inputs[402] = Event("u402", "not_a_trigger")
    inputs[403] = None
    inputs[999] = WorkflowTriggerRequest(
        workflow="welcome", recipients=["u999"], data={"blob": "x" * 900_000}
    )
    invalid = {
        400: "recipients: must have 1 to 100 items",
        401: "surprise: is not an allowed top-level key",
        402: "record: must be a WorkflowTriggerRequest or a dict, got Event",
        403: "record: must be a WorkflowTriggerRequest or a dict, got NoneType",
        999: "larger than the limit of 819200 bytes",
    }
    unknown = {505: "workflow 'retired' not found", 750: "workflow 'no-such-flow' not found"}

    async with served(hub, max_concurrency=4, auto_idempotency_keys=False) as client:
        resp = await client.workflows.bulk_trigger(inputs)

    check_accounting(resp, n)
    # The 5xx failed exactly one whole chunk of the first wave: the valid records,
    # packed 100 at a time.
    sent = [i for i in range(n) if i not in invalid]
    chunks = [set(sent[k : k + PER_REQUEST]) for k in range(0, len(sent), PER_REQUEST)]
    faulted = {f.index for f in resp.failed_records if f.code == 502}
    assert faulted in chunks[:4]

    expected: dict[int, tuple[int | None, str]] = {i: (None, why) for i, why in invalid.items()}
    expected |= {i: (404, why) for i, why in unknown.items()}
    expected |= {i: (502, "service unavailable (emulator fault); " + NOT_RETRIED) for i in faulted}
    assert [f.index for f in resp.failed_records] == sorted(expected)
    for failed in resp.failed_records:
        code, why = expected[failed.index]
        assert failed.code == code, failed
        assert why in failed.error, failed
        assert failed.to_dict()["code"] == (500 if code is None else code)  # official shape

    by_index = {f.index: f for f in resp.failed_records}
    for i in invalid:  # what failed validation comes back exactly as given
        assert by_index[i].record is inputs[i]
    assert by_index[505].record is inputs[505]
    for i in faulted:
        assert by_index[i].record == WorkflowTriggerRequest.from_body(inputs[i])
    # A dict body comes back as the request built from it, and in its official form.
    assert by_index[750].record == WorkflowTriggerRequest.from_body(inputs[750])
    assert by_index[750].to_dict()["record"] == inputs[750]

    delivered = {int(t.recipients[0][1:]) for t in hub.triggers}
    assert delivered == set(range(n)) - set(expected)
    assert hub.stats.processed_triggers == len(delivered) == resp.success


async def test_event_failures_map_to_the_exact_input_records() -> None:
    """Invalid records mixed in (through the official append API), and records too large
    alone under tightened limits: refused before sending, everything else delivered."""
    limits = Limits(max_body_bytes=6_000)
    hub = HubEmulator(limits=limits)
    n = 600
    inputs: list[Any] = [
        event(i)
        if i % 3
        else {"event": "nightly_digest", "distinct_id": f"user-{i}", "properties": {"i": i}}
        for i in range(n)
    ]
    inputs[0] = {"event": "$reserved_name", "distinct_id": "user-0"}
    inputs[77] = {"event": "nightly_digest", "properties": {"i": 77}}
    inputs[78] = {"event": "nightly_digest", "distinct_id": "user-78", "properties": [78]}
    inputs[79] = WorkflowTriggerRequest(workflow="welcome", recipients=["u79"])
    inputs[300] = Event("user-300", "nightly_digest", {"pad": "x" * 7_000})
    inputs[301] = Event("user-301", "nightly_digest", {"pad": "x" * 200_000})
    inputs[n - 1] = Event(f"user-{n - 1}", "nightly_digest", {"pad": "y" * 6_000})
    expected: dict[int, tuple[int | None, str]] = {
        0: (None, "event_name: names starting with '$' or 'ss_' are reserved"),
        77: (None, "distinct_id: must be a string, got NoneType"),
        78: (None, "properties: must be a mapping (dict), got list"),
        79: (None, "record: must be an Event or a dict, got WorkflowTriggerRequest"),
        # Fits a single event, not a bulk request of 6,000 bytes.
        300: (None, "a bulk request body may not exceed 6000 bytes"),
        # Over the 100 KB a single event may have.
        301: (None, "larger than the limit of 102400 bytes"),
        n - 1: (None, "a bulk request body may not exceed 6000 bytes"),
    }

    async with served(hub, limits=limits, auto_idempotency_keys=False) as client:
        bulk = client.bulk_events.new_instance()
        bulk.append(*inputs)
        resp = await bulk.trigger()

    check_accounting(resp, n)
    assert [f.index for f in resp.failed_records] == sorted(expected)
    for failed in resp.failed_records:
        code, why = expected[failed.index]
        assert failed.code == code, failed
        assert why in failed.error, failed
    assert all(f.record is inputs[f.index] for f in resp.failed_records)

    assert Counter(e.distinct_id for e in hub.events) == Counter(
        {f"user-{i}": 1 for i in range(n) if i not in expected}
    )
    # Every request fitted the tightened limit: the hub refused nothing.
    assert set(hub.stats.statuses) == {207}
    assert hub.stats.rejected_records == 0
    assert hub.stats.requests > n // PER_REQUEST  # smaller bodies, so more requests


@pytest.mark.parametrize("keyed", [False, True], ids=["unkeyed", "keyed-retries-disabled"])
async def test_a_5xx_on_one_chunk_fails_exactly_that_chunks_records(keyed: bool) -> None:
    hub = HubEmulator()
    hub.script(Fault.error(503))
    n = 1_000
    events = [event(i, idempotency_key=f"k-{i}" if keyed else None) for i in range(n)]
    policy = RetryPolicy.disabled() if keyed else RetryPolicy.instant()
    async with served(hub, max_concurrency=4, retry=policy, auto_idempotency_keys=False) as client:
        resp = await client.bulk_events.send(events)

    check_accounting(resp, n)
    assert resp.failure == PER_REQUEST
    first = resp.failed_records[0].index
    assert first in range(0, 4 * PER_REQUEST, PER_REQUEST)  # a chunk of the first wave
    assert [f.index for f in resp.failed_records] == list(range(first, first + PER_REQUEST))
    reason = (
        "service unavailable (emulator fault) (gave up after 1 attempt)"
        if keyed
        else f"service unavailable (emulator fault); {NOT_RETRIED}"
    )
    for failed in resp.failed_records:
        assert (failed.code, failed.error) == (503, reason)
        assert failed.record == events[failed.index]
    assert hub.stats.requests == n // PER_REQUEST  # nothing was sent twice
    assert hub.stats.resent_records == 0
    assert {e.distinct_id for e in hub.events} == {
        f"user-{i}" for i in range(n) if not first <= i < first + PER_REQUEST
    }


# -- concurrency ------------------------------------------------------------------------


async def test_the_concurrency_limit_is_what_the_hub_sees() -> None:
    # The hub holds requests until the expected number are in flight at once, so the
    # limit is reached however slowly a loaded machine answers (a limit set too low or
    # not applied leaves ``reached`` unset), and never passed.
    hub = HubEmulator(workflows={"w"})
    events = [event(i) for i in range(1_500)]

    async def client_default(client: AsyncSuprsend) -> BulkResponse:
        return await client.bulk_events.send(events)

    async def per_call_lower(client: AsyncSuprsend) -> BulkResponse:
        bulk = client.bulk_events.new_instance()
        bulk.append(*events)
        return await bulk.trigger(max_concurrency=2)

    async def workflows_per_call(client: AsyncSuprsend) -> BulkResponse:
        requests = [WorkflowTriggerRequest(workflow="w", recipients=[f"u{i}"]) for i in range(600)]
        return await client.workflows.bulk_trigger(requests, max_concurrency=3)

    for limit, send in [(5, client_default), (2, per_call_lower), (3, workflows_per_call)]:
        hub.reset()
        gate = HoldUntil(hub, limit)
        async with served_through(gate, hub, max_concurrency=5) as client:
            resp = await send(client)
        assert resp.success == resp.total > 0
        assert gate.reached.is_set(), f"never {limit} requests in flight at once"
        assert gate.max_in_flight == limit


async def test_a_per_call_concurrency_above_the_clients_is_honoured() -> None:
    hub = HubEmulator()
    gate = HoldUntil(hub, 16)
    async with served_through(gate, hub) as client:  # the default max_concurrency (8)
        resp = await client.bulk_events.send([event(i) for i in range(4_000)], max_concurrency=16)
    assert resp.success == 4_000
    assert gate.reached.is_set(), "never 16 requests in flight at once"
    assert gate.max_in_flight == 16


async def test_a_concurrency_the_pool_cannot_honour_is_refused_before_sending() -> None:
    hub = HubEmulator()
    async with served(hub, max_concurrency=2, max_connections=4) as client:
        with pytest.raises(SuprsendConfigError, match=r"max_concurrency=5 .* max_connections=4"):
            await client.bulk_events.send([event(i) for i in range(10)], max_concurrency=5)
        with pytest.raises(SuprsendConfigError, match="positive integer"):
            await client.bulk_events.send([event(i) for i in range(10)], max_concurrency=0)
    assert hub.stats.requests == 0
    with pytest.raises(SuprsendConfigError, match=r"max_concurrency=9 .* max_connections=8"):
        AsyncSuprsend("k", "s", max_concurrency=9, max_connections=8)


# -- progress ---------------------------------------------------------------------------


def check_progress(reports: list[BulkProgress], resp: BulkResponse, total: int | None) -> None:
    assert reports
    for before, after in itertools.pairwise(reports):
        assert before.done <= after.done
        assert before.succeeded <= after.succeeded
        assert before.failed <= after.failed
    assert all(p.done == p.succeeded + p.failed for p in reports)
    assert {p.total for p in reports} == {total}
    last = reports[-1]
    assert (last.done, last.succeeded, last.failed) == (resp.total, resp.success, resp.failure)


async def test_progress_counts_run_up_to_the_totals() -> None:
    hub = HubEmulator(workflows={"w"})
    inputs: list[Any] = [
        WorkflowTriggerRequest(workflow="w" if i % 97 else "gone", recipients=[f"u{i}"])
        for i in range(1_500)
    ]
    inputs[700] = {"workflow": "w", "recipients": "u700"}  # invalid
    reports: list[BulkProgress] = []
    async with served(hub, max_concurrency=3) as client:
        resp = await client.workflows.bulk_trigger(inputs, on_progress=reports.append)
    check_accounting(resp, 1_500)
    assert resp.failure == 1 + len(range(0, 1_500, 97))
    check_progress(reports, resp, 1_500)
    assert len(reports) >= 1_500 // PER_REQUEST  # a report per chunk at least


async def test_the_last_progress_report_counts_records_failed_after_the_last_upload() -> None:
    """Invalid records read after the last chunk finished still reach the progress bar."""
    hub = HubEmulator()
    reports: list[BulkProgress] = []
    uploaded = anyio.Event()

    def on_progress(progress: BulkProgress) -> None:
        reports.append(progress)
        if progress.done >= 200:
            uploaded.set()

    async def records() -> AsyncIterator[Any]:
        for i in range(200):
            yield event(i)
        await uploaded.wait()  # both chunks are uploaded and reported by now
        for _ in range(3):
            yield {"event": "nightly_digest"}  # no distinct_id

    async with served(hub) as client:
        resp = await client.bulk_events.send(records(), on_progress=on_progress)
        check_accounting(resp, 203)
        check_progress(reports, resp, None)

        reports.clear()  # nothing valid at all: nothing uploaded, still one report
        junk = [{"event": "x"}] * 5
        resp = await client.bulk_events.send(junk, on_progress=reports.append)
        assert (resp.status, resp.failure) == ("fail", 5)
        check_progress(reports, resp, 5)
    assert hub.stats.requests == 2


# -- cancellation, errors ------------------------------------------------------------------


async def test_cancelling_mid_upload_leaves_nothing_running_and_the_client_usable() -> None:
    concurrency = 4
    hub = HubEmulator(faults=Faults(latency=30.0))  # answers would take 30 s
    all_waiting = anyio.Event()
    arrived = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal arrived
        if scope["type"] == "http":
            arrived += 1
            if arrived == concurrency:
                all_waiting.set()
        await hub(scope, receive, send)

    pulled = 0

    def events() -> Iterator[Event]:
        nonlocal pulled
        for i in range(1_000_000):
            pulled += 1
            yield event(i)

    finished = False
    async with (
        serve(app) as base_url,
        AsyncSuprsend(
            hub.workspace_key, hub.workspace_secret, base_url=base_url, max_concurrency=concurrency
        ) as client,
    ):
        async with anyio.create_task_group() as tg:

            async def cancel_once_every_worker_waits_on_the_hub() -> None:
                await all_waiting.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(cancel_once_every_worker_waits_on_the_hub)
            await client.bulk_events.send(events())
            finished = True
        # The task group returned: the uploads were cancelled, not awaited (the hub,
        # 30 s from answering, has answered nothing yet).
        assert not finished
        assert sum(hub.stats.statuses.values()) == 0
        assert hub.stats.requests == concurrency
        pulled_at_cancel = pulled
        assert pulled_at_cancel <= (concurrency + 1) * PER_REQUEST + 1  # read lazily

        hub.faults = Faults()  # the same client, the same pool, a fresh bulk call
        resp = await client.bulk_events.send([event(i, "after_cancel") for i in range(1_000)])
        assert (resp.status, resp.success) == ("success", 1_000)
        # No orphan worker or producer sent or read anything after the cancel.
        assert hub.stats.requests == concurrency + 10
        assert pulled == pulled_at_cancel
    assert hub.stats.processed_events == 1_000
    assert {e.event for e in hub.events} == {"after_cancel"}


async def test_an_error_from_the_callers_iterable_propagates_as_itself() -> None:
    hub = HubEmulator()

    def events() -> Iterator[Event]:
        for i in range(250):
            yield event(i)
        raise LookupError("the database cursor went away")

    def explode(progress: BulkProgress) -> None:
        raise RuntimeError("progress bar broke")

    async with served(hub) as client:
        with pytest.raises(LookupError, match="cursor went away"):
            await client.bulk_events.send(events())
        with pytest.raises(RuntimeError, match="progress bar broke"):
            await client.bulk_events.send([event(i) for i in range(10)], on_progress=explode)
        resp = await client.bulk_events.send([event(i, "still_works") for i in range(10)])
    assert resp.success == 10


# -- streaming, memory -------------------------------------------------------------------


async def test_streams_sync_and_async_generators_of_unknown_length() -> None:
    hub = HubEmulator(workflows={"w"})

    def sync_events() -> Iterator[Event]:
        for i in range(1_234):
            yield event(i, "sync_event")

    async def async_events() -> AsyncIterator[Event]:
        for i in range(1_234):
            await anyio.lowlevel.checkpoint()
            yield event(i, "async_event")

    async def async_triggers() -> AsyncIterator[dict[str, Any]]:
        for i in range(567):
            yield {"workflow": "w", "recipients": [f"u{i}"]}

    sync_reports: list[BulkProgress] = []
    async_reports: list[BulkProgress] = []
    async with served(hub) as client:
        r1 = await client.bulk_events.send(sync_events(), on_progress=sync_reports.append)
        r2 = await client.bulk_events.send(async_events(), on_progress=async_reports.append)
        r3 = await client.workflows.bulk_trigger(async_triggers())
    for resp, n in ((r1, 1_234), (r2, 1_234), (r3, 567)):
        check_accounting(resp, n)
        assert resp.status == "success"
    check_progress(sync_reports, r1, None)
    check_progress(async_reports, r2, None)
    by_name = Counter((e.event, e.distinct_id) for e in hub.events)
    assert set(by_name.values()) == {1}
    assert {d for (name, d) in by_name if name == "sync_event"} == {
        f"user-{i}" for i in range(1_234)
    }
    assert {d for (name, d) in by_name if name == "async_event"} == {
        f"user-{i}" for i in range(1_234)
    }
    assert sorted(t.recipients[0] for t in hub.triggers) == sorted(f"u{i}" for i in range(567))


async def test_records_alive_at_once_are_bounded_by_the_concurrency() -> None:
    """Streaming 10,000 events keeps at most max_concurrency + 1 chunks of them alive."""
    concurrency = 4
    hub = HubEmulator(keep_records=False)
    alive = peak = 0

    def gone() -> None:
        nonlocal alive
        alive -= 1

    async def events() -> AsyncIterator[Event]:
        nonlocal alive, peak
        for i in range(10_000):
            e = event(i)
            weakref.finalize(e, gone)
            alive += 1
            peak = max(peak, alive)
            yield e
            del e

    async with served(hub, max_concurrency=concurrency) as client:
        resp = await client.bulk_events.send(events())
    assert resp.success == hub.stats.processed_events == 10_000
    # One chunk per worker, plus the one being packed or waiting for a worker (and
    # the record in hand): whatever the input size.
    assert peak <= (concurrency + 1) * PER_REQUEST + 1, peak


async def streamed_peak_bytes(count: int, concurrency: int) -> int:
    """Peak traced memory while streaming ``count`` events of about 4 KB each."""
    hub = HubEmulator(keep_records=False)

    async def events() -> AsyncIterator[Event]:
        for i in range(count):
            yield Event(f"user-{i}", "weekly_digest", {"body": f"{i:08d}" * 500})

    async with served(hub, max_concurrency=concurrency, retry=RetryPolicy.disabled()) as client:
        tracemalloc.start()
        try:
            resp = await client.bulk_events.send(events())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert resp.success == count
    return peak


async def test_peak_memory_does_not_grow_with_the_input() -> None:
    # 5x the records (4 KB each: 12 MB more if they were held) for the same peak.
    # Sizes are kept small because tracemalloc slows every allocation down; the
    # benchmarks measure peak RSS on millions of records.
    small = await streamed_peak_bytes(800, concurrency=2)
    large = await streamed_peak_bytes(4_000, concurrency=2)
    assert large < small * 1.3, (small, large)


# -- empty -------------------------------------------------------------------------------


async def test_an_empty_bulk_is_a_success_with_zero_records() -> None:
    hub = HubEmulator()

    async def nothing() -> AsyncIterator[Event]:
        return
        yield  # pragma: no cover

    async with served(hub) as client:
        responses = [
            await client.bulk_events.new_instance().trigger(),
            await client.workflows.bulk_trigger_instance().trigger(),
            await client.bulk_events.send([]),
            await client.bulk_events.send(nothing()),
            await client.workflows.bulk_trigger(iter([])),
        ]
    for resp in responses:
        assert (resp.status, resp.total, resp.success, resp.failure) == ("success", 0, 0, 0)
        assert resp.to_dict() == {
            "status": "success",
            "failed_records": [],
            "total": 0,
            "success": 0,
            "failure": 0,
            "warnings": [],
        }
    assert hub.stats.requests == 0
