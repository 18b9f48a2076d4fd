"""Retries against the emulator's faults, over a real socket: never a duplicate, never a loss."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from suprsend_async import AsyncSuprsend, Event, RetryEvent, RetryPolicy, TriggerResponse
from suprsend_async.testing import Fault, Faults, HubEmulator, serve

pytestmark = pytest.mark.anyio

# Waits short enough for a test, attempts enough to outlast a 40 % fault rate,
# and a total deadline all the same.
FAST = RetryPolicy(attempts=12, deadline=30.0, wait_initial=0.002, wait_max=0.02, wait_jitter=0.002)
FAULTY = Faults.mix(0.4, seed=11, retry_after=0.01)


@asynccontextmanager
async def served(hub: HubEmulator, **options: Any) -> AsyncIterator[AsyncSuprsend]:
    async with (
        serve(hub) as base_url,
        AsyncSuprsend(hub.workspace_key, hub.workspace_secret, base_url=base_url, **options) as c,
    ):
        yield c


async def send_singles(client: AsyncSuprsend, events: list[Event]) -> list[TriggerResponse]:
    results: list[TriggerResponse | None] = [None] * len(events)
    limiter = anyio.CapacityLimiter(16)

    async def one(i: int) -> None:
        async with limiter:
            results[i] = await client.track_event(events[i])

    async with anyio.create_task_group() as tg:
        for i in range(len(events)):
            tg.start_soon(one, i)
    return [r for r in results if r is not None]


def fault_share(hub: HubEmulator) -> float:
    return sum(hub.stats.faults.values()) / hub.stats.requests


async def test_keyed_records_are_processed_exactly_once_under_faults() -> None:
    hub = HubEmulator(faults=FAULTY)
    bulk = [Event(f"u{i}", "digest", idempotency_key=f"bulk-{i}") for i in range(10_000)]
    singles = [Event(f"s{i}", "paid", idempotency_key=f"single-{i}") for i in range(500)]
    async with served(hub, retry=FAST, max_concurrency=8) as client:
        resp = await client.bulk_events.send(bulk)
        results = await send_singles(client, singles)
    assert fault_share(hub) >= 0.3
    assert set(hub.stats.faults) == {"error", "rate_limit", "drop_before", "drop_after"}
    assert (resp.status, resp.success, resp.failure) == ("success", 10_000, 0)
    assert resp.retried_requests > 0
    assert all(r.success for r in results)
    assert max(r.attempts for r in results) > 1
    expected = {e.idempotency_key for e in bulk + singles}
    assert set(hub.processed_keys) == expected  # nothing missing
    assert set(hub.processed_keys.values()) == {1}  # nothing twice
    assert hub.stats.processed_events == 10_500
    assert hub.stats.duplicates_suppressed > 0  # answers were lost and the retries deduplicated


async def test_unkeyed_records_are_never_retried_and_every_failure_has_its_reason() -> None:
    hub = HubEmulator(faults=FAULTY)
    bulk = [Event(f"u{i}", "digest") for i in range(10_000)]
    singles = [Event(f"s{i}", "paid") for i in range(500)]
    async with served(hub, retry=FAST, max_concurrency=8) as client:
        resp = await client.bulk_events.send(bulk)
        results = await send_singles(client, singles)
    assert fault_share(hub) >= 0.3
    assert hub.stats.resent_records == 0  # the hub never saw a record twice
    assert resp.retried_requests == resp.retried_records == 0
    assert resp.total == resp.success + resp.failure == 10_000
    assert len(resp.failed_records) == resp.failure > 0
    for failed in resp.failed_records:
        assert "not retried: the record has no idempotency key" in failed.error
    assert all(r.attempts == 1 for r in results)
    failed_singles = [r for r in results if not r.success]
    assert failed_singles
    assert all(r.message for r in failed_singles)
    # Lost answers mean the hub processed more than the client could confirm, never fewer.
    assert hub.stats.processed_events >= resp.success + sum(r.success for r in results)


async def test_auto_idempotency_keys_make_everything_safe_to_retry() -> None:
    hub = HubEmulator(faults=FAULTY)
    bulk = [Event(f"u{i}", "digest") for i in range(3_000)]
    singles = [Event(f"s{i}", "paid") for i in range(200)]
    async with served(hub, retry=FAST, auto_idempotency_keys=True) as client:
        resp = await client.bulk_events.send(bulk)
        results = await send_singles(client, singles)
    assert (resp.success, resp.failure) == (3_000, 0)
    assert all(r.success for r in results)
    assert hub.stats.processed_events == 3_200
    assert len(hub.processed_keys) == 3_200
    assert set(hub.processed_keys.values()) == {1}


async def test_a_two_second_deadline_beats_retry_after_60() -> None:
    hub = HubEmulator()
    hub.script(Fault.rate_limit(60), times=100)
    policy = RetryPolicy(deadline=2.0, max_retry_after=600)
    async with served(hub, retry=policy) as client:
        start = anyio.current_time()
        single = await client.track_event(Event("u1", "paid", idempotency_key="k"))
        single_elapsed = anyio.current_time() - start
        start = anyio.current_time()
        bulk = await client.bulk_events.send(
            [Event(f"u{i}", "paid", idempotency_key=f"k{i}") for i in range(10)]
        )
        bulk_elapsed = anyio.current_time() - start
    assert single_elapsed < 2.0
    assert bulk_elapsed < 2.0
    assert (single.success, single.status_code) == (False, 429)
    assert bulk.failure == 10
    assert all(f.code == 429 for f in bulk.failed_records)
    assert hub.stats.processed_events == 0


async def test_retry_hook_and_warnings_carry_no_payload_or_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = HubEmulator()
    hub.fail_next(2)
    seen: list[RetryEvent] = []
    caplog.set_level(logging.DEBUG, logger="suprsend_async")
    async with served(hub, retry=FAST, on_retry=seen.append) as client:
        resp = await client.track_event(
            Event("secret-user-id", "paid", {"card": "4111-1111"}, idempotency_key="k-77")
        )
    assert resp.success
    assert resp.attempts == 3
    assert [(e.attempt, e.path) for e in seen] == [(1, "v2/event/"), (2, "v2/event/")]
    assert all("503" in e.reason for e in seen)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "retrying v2/event/" in text
    for secret in (hub.workspace_secret, "secret-user-id", "4111-1111"):
        assert secret not in text
