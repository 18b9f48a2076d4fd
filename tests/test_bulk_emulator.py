"""The bulk engine against the emulator over a real loopback socket."""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from suprsend_async import (
    AsyncSuprsend,
    BulkProgress,
    Event,
    Limits,
    RetryPolicy,
    WorkflowTriggerRequest,
)
from suprsend_async.testing import Faults, HubEmulator, serve

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def served(hub: HubEmulator, **options: Any) -> AsyncIterator[AsyncSuprsend]:
    async with (
        serve(hub) as base_url,
        AsyncSuprsend(hub.workspace_key, hub.workspace_secret, base_url=base_url, **options) as c,
    ):
        yield c


async def test_ten_thousand_events_delivered_once_each() -> None:
    hub = HubEmulator()
    events = [Event(f"user-{i}", "digest", {"i": i}) for i in range(10_000)]
    async with served(hub, max_concurrency=8) as client:
        resp = await client.bulk_events.send(events)
    assert (resp.status, resp.total, resp.success, resp.failure) == ("success", 10_000, 10_000, 0)
    assert hub.stats.processed_events == 10_000
    assert hub.stats.resent_records == 0
    assert sorted(e.properties["i"] for e in hub.events) == list(range(10_000))
    assert hub.stats.requests == 100  # greedy chunks of 100


async def test_two_thousand_workflow_triggers_delivered() -> None:
    hub = HubEmulator(workflows={"welcome"})
    requests = [
        WorkflowTriggerRequest(workflow="welcome", recipients=[f"u{i}"], data={"i": i})
        for i in range(2_000)
    ]
    async with served(hub) as client:
        resp = await client.workflows.bulk_trigger(requests)
    assert (resp.status, resp.success, resp.failure) == ("success", 2_000, 0)
    assert sorted(t.data["i"] for t in hub.triggers) == list(range(2_000))


async def test_partial_failures_are_accounted_record_by_record() -> None:
    hub = HubEmulator(workflows={"welcome"})
    inputs: list[Any] = []
    expected_failures: dict[int, str] = {}
    for i in range(250):
        if i == 3:
            inputs.append({"workflow": "retired", "recipients": ["u3"]})
            expected_failures[i] = "not found"
        elif i == 120:
            inputs.append({"workflow": "welcome", "recipients": []})  # fails validation
            expected_failures[i] = "recipients"
        elif i == 200:
            inputs.append("not a record")
            expected_failures[i] = "must be a WorkflowTriggerRequest or a dict"
        else:
            inputs.append({"workflow": "welcome", "recipients": [f"u{i}"], "data": {"i": i}})
    async with served(hub, max_concurrency=4) as client:
        resp = await client.workflows.bulk_trigger(inputs)
    assert resp.status == "partial"
    assert (resp.total, resp.success, resp.failure) == (250, 247, 3)
    assert [f.index for f in resp.failed_records] == sorted(expected_failures)
    for failed in resp.failed_records:
        assert expected_failures[failed.index] in failed.error
    by_index = {f.index: f for f in resp.failed_records}
    assert by_index[3].code == 404
    assert by_index[3].record.workflow == "retired"
    assert by_index[200].record == "not a record"
    assert len(hub.triggers) == 247


async def test_a_record_too_large_alone_fails_and_the_rest_is_sent() -> None:
    limits = Limits(max_body_bytes=4_000, max_single_event_bytes=4_000)
    hub = HubEmulator(limits=limits)
    events = [Event(f"u{i}", "digest", {"pad": "x" * 10}) for i in range(30)]
    events[7] = Event("u7", "digest", {"pad": "x" * 5_000})
    async with served(hub, limits=limits) as client:
        resp = await client.bulk_events.send(events)
    assert (resp.success, resp.failure) == (29, 1)
    [failed] = resp.failed_records
    assert failed.index == 7
    assert "larger than the limit" in failed.error
    assert hub.stats.processed_events == 29
    assert hub.stats.rejected_records == 0  # refused before it was sent


async def test_a_5xx_on_one_chunk_fails_exactly_that_chunks_records() -> None:
    hub = HubEmulator()
    hub.fail_next(1, status=503)
    events = [Event(f"u{i}", "digest", {"i": i}) for i in range(300)]
    async with served(hub, max_concurrency=1) as client:
        resp = await client.bulk_events.send(events)
    assert (resp.status, resp.success, resp.failure) == ("partial", 200, 100)
    assert [f.index for f in resp.failed_records] == list(range(100))
    for failed in resp.failed_records:
        assert failed.code == 503
        assert "not retried" in failed.error
    assert sorted(e.properties["i"] for e in hub.events) == list(range(100, 300))


async def test_concurrency_limit_is_observed_at_the_server() -> None:
    hub = HubEmulator(faults=Faults(latency=0.02))
    events = [Event(f"u{i}", "digest") for i in range(2_000)]
    async with served(hub, max_concurrency=4) as client:
        resp = await client.bulk_events.send(events)
        assert resp.success == 2_000
        assert hub.stats.max_in_flight == 4
        hub.reset()
        resp = await client.bulk_events.send(events, max_concurrency=2)  # per call
        assert resp.success == 2_000
        assert hub.stats.max_in_flight == 2


async def test_progress_is_reported_with_running_counts() -> None:
    hub = HubEmulator()
    seen: list[BulkProgress] = []
    events: list[Any] = [Event(f"u{i}", "digest") for i in range(1_000)]
    events[500] = {"event": "$bad", "distinct_id": "u"}
    async with served(hub) as client:
        resp = await client.bulk_events.send(events, on_progress=seen.append)
    assert seen
    assert all(p.total == 1_000 for p in seen)
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    assert all(p.done == p.succeeded + p.failed for p in seen)
    assert (seen[-1].done, seen[-1].succeeded, seen[-1].failed) == (1_000, 999, 1)
    assert (resp.success, resp.failure) == (999, 1)


async def test_cancelling_the_caller_stops_uploads_and_the_client_stays_usable() -> None:
    hub = HubEmulator(faults=Faults(latency=0.5))
    events = [Event(f"u{i}", "digest") for i in range(5_000)]
    async with served(hub, max_concurrency=4) as client:
        with anyio.move_on_after(0.2) as scope:
            await client.bulk_events.send(events)
        assert scope.cancelled_caught
        assert hub.stats.requests == 4  # only the first wave was sent, nothing after
        hub.faults = Faults()
        resp = await client.bulk_events.send(events[:300])
        assert (resp.status, resp.success) == ("success", 300)


async def test_streams_sync_and_async_generators_without_knowing_the_total() -> None:
    hub = HubEmulator()

    def sync_events() -> Iterator[Event]:
        for i in range(500):
            yield Event(f"u{i}", "digest")

    async def async_events() -> AsyncIterator[Event]:
        for i in range(500, 1_000):
            await anyio.lowlevel.checkpoint()
            yield Event(f"u{i}", "digest")

    totals: list[int | None] = []
    async with served(hub) as client:
        r1 = await client.bulk_events.send(
            sync_events(), on_progress=lambda p: totals.append(p.total)
        )
        r2 = await client.bulk_events.send(async_events())
    assert (r1.success, r2.success) == (500, 500)
    assert set(totals) == {None}
    assert len({e.distinct_id for e in hub.events}) == 1_000


async def test_empty_bulk_is_a_success_with_zero_records() -> None:
    hub = HubEmulator()
    async with served(hub) as client:
        resp = await client.bulk_events.new_instance().trigger()
        wf = await client.workflows.bulk_trigger([])
    assert (resp.status, resp.total, resp.success, resp.failure) == ("success", 0, 0, 0)
    assert wf.status == "success"
    assert hub.stats.requests == 0


async def test_instances_mirror_the_official_api() -> None:
    hub = HubEmulator(workflows={"w"})
    async with served(hub) as client:
        bulk = client.bulk_events.new_instance()
        bulk.append(Event("u1", "a_event"), {"event": "b_event", "distinct_id": "u2"})
        wf = client.workflows.bulk_trigger_instance()
        wf.append(WorkflowTriggerRequest(workflow="w", recipients=["u1"]))
        r1, r2 = await bulk.trigger(), await wf.trigger(max_concurrency=1)
    assert (r1.success, r2.success) == (2, 1)
    assert r1.to_dict()["failed_records"] == []
    assert [e.event for e in hub.events] == ["a_event", "b_event"]


async def stream_peak(count: int) -> int:
    hub = HubEmulator(keep_records=False)

    async def events() -> AsyncIterator[Event]:
        for i in range(count):
            yield Event(f"user-{i}", "digest", {"order": f"ord-{i}", "amount": i})

    async with served(hub, max_concurrency=4, retry=RetryPolicy.disabled()) as client:
        tracemalloc.start()
        try:
            resp = await client.bulk_events.send(events())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert resp.success == count
    return peak


async def test_streamed_memory_is_bounded_by_concurrency_not_input_size() -> None:
    small, large = await stream_peak(2_000), await stream_peak(16_000)
    # Eight times the records; memory held at once must not grow with them
    # (materialising 16,000 events alone would take several megabytes).
    assert large < small * 1.5 + 512 * 1024, (small, large)
