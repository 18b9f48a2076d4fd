"""The background sender keeps the bulk engine fed: it claims the next batch while the
engine sends the one before, so several batches are in flight at once; each chunk is
settled as the hub answers it; and what is in flight or claimed when the sender stops is
pending for the next one. In memory and with a spool, on asyncio and trio, against the
emulator on a loopback socket.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest

from suprsend_async import (
    AsyncSuprsend,
    BackgroundSender,
    Event,
    Limits,
    RetryPolicy,
    WorkflowTriggerRequest,
)
from suprsend_async.testing import Faults, HubEmulator
from tests._doubles import PATIENCE, Gate, HoldUntil, served, served_through, wait_for

pytestmark = pytest.mark.anyio

Record = Event | WorkflowTriggerRequest


def event(i: int, **options: Any) -> Event:
    return Event(f"user-{i}", "order_placed", {"i": i}, **options)


def trigger(i: int, workflow: str = "welcome") -> WorkflowTriggerRequest:
    return WorkflowTriggerRequest(workflow=workflow, recipients=[f"user-{i}"], data={"i": i})


@pytest.fixture(params=["memory", "spool"])
def spool(request: pytest.FixtureRequest, tmp_path: Path) -> Path | None:
    return tmp_path / "outbox.sqlite3" if request.param == "spool" else None


async def accept(
    sender: BackgroundSender, records: Sequence[Record], *, callers: int = 20
) -> list[str | None]:
    """Every record accepted, by concurrent callers (one: in order); their keys, in order."""
    keys: list[str | None] = [None] * len(records)

    async def caller(first: int) -> None:
        for i in range(first, len(records), callers):
            record = records[i]
            if isinstance(record, Event):
                keys[i] = await sender.track_event(record)
            else:
                keys[i] = await sender.trigger(record)

    async with anyio.create_task_group() as tasks:
        for first in range(callers):
            tasks.start_soon(caller, first)
    return keys


async def refused_port() -> int:
    """A loopback port nothing listens on: connections to it are refused."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port: int = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    return port


@asynccontextmanager
async def with_backlog(
    client: AsyncSuprsend,
    hub: HubEmulator,
    spool: Path | None,
    records: Sequence[Record],
    *,
    callers: int = 20,
    **options: Any,
) -> AsyncIterator[BackgroundSender]:
    """A sender that finds ``records`` waiting when it starts sending, accepted by
    ``callers`` concurrent callers (one: in order, so their batches are known).

    In memory: accepted in order before the uploader's first turn (accepting
    never yields, and no other task runs in between). With a spool: accepted
    by an earlier sender that could not reach the hub and stopped at once, so
    the file holds every one of them pending.
    """
    if spool is not None:
        port = await refused_port()
        async with (
            AsyncSuprsend(
                hub.workspace_key, hub.workspace_secret, base_url=f"http://127.0.0.1:{port}/"
            ) as offline,
            offline.background(spool=spool, exit_timeout=0, fsync=False) as earlier,
        ):
            await accept(earlier, records, callers=callers)
        async with client.background(spool=spool, **options) as sender:
            yield sender
    else:
        async with client.background(max_queue=len(records) + 1, **options) as sender:
            for record in records:
                if isinstance(record, Event):
                    await sender.track_event(record)
                else:
                    await sender.trigger(record)
            yield sender


def assert_each_processed_once(hub: HubEmulator, count: int) -> None:
    assert len(hub.processed_keys) == count
    assert set(hub.processed_keys.values()) == {1}


class HoldRequestWith:
    """An ASGI app in front of ``app`` that holds the hub request whose body holds
    ``marker`` until ``release()``; the others pass. ``holding`` is set once it is held."""

    def __init__(self, app: Any, marker: bytes) -> None:
        self.app = app
        self.marker = marker
        self.holding = anyio.Event()
        self._release = anyio.Event()

    def release(self) -> None:
        self._release.set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator/"):
            await self.app(scope, receive, send)
            return
        messages = [await receive()]
        while messages[-1].get("more_body"):
            messages.append(await receive())
        if self.marker in b"".join(m.get("body", b"") for m in messages):
            self.holding.set()
            await self._release.wait()

        async def replay() -> Any:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


# -- several batches in flight ------------------------------------------------------------


async def test_several_batches_are_in_flight_at_once_and_each_record_arrives_once(
    spool: Path | None,
) -> None:
    hub = HubEmulator()
    # Holds every request until four are in flight together: with batches of one
    # request each, only a sender that sends the next batch before the one
    # before is answered gets there (else each request waits out PATIENCE).
    held = HoldUntil(hub, 4)
    records = [event(i) for i in range(1_000)]
    async with (
        served_through(held, hub, max_concurrency=4) as client,
        with_backlog(client, hub, spool, records, batch_size=100) as sender,
    ):
        assert await sender.drain(timeout=PATIENCE)
        stats = sender.stats()

    assert held.reached.is_set()
    assert held.max_in_flight <= 4  # never more than the client's max_concurrency
    assert (stats.sent, stats.failed, stats.retried, stats.queued) == (1_000, 0, 0, 0)
    assert Counter(e.distinct_id for e in hub.events) == Counter(
        {f"user-{i}": 1 for i in range(1_000)}
    )
    assert_each_processed_once(hub, 1_000)
    assert hub.stats.resent_records == 0


async def test_a_refused_record_is_settled_while_an_earlier_batch_is_still_in_flight(
    spool: Path | None,
) -> None:
    hub = HubEmulator(workflows={"welcome"})
    held = HoldRequestWith(hub, b'"user-0"')  # the first batch's request
    records = [trigger(i, "nope" if i == 250 else "welcome") for i in range(300)]
    async with (
        served_through(held, hub) as client,
        # Accepted in order: batches of 0-99, 100-199 and 200-299.
        with_backlog(client, hub, spool, records, callers=1, batch_size=100) as sender,
    ):
        await held.holding.wait()  # the first batch's request is held
        # The second and third batches are sent and settled meanwhile, the
        # refused record among them as failed.
        await wait_for(lambda: (sender.stats().sent, sender.stats().failed) == (199, 1))
        [failed] = await sender.failed()
        assert (failed.kind, failed.code) == ("workflow", 404)
        assert failed.record()["workflow"] == "nope"
        assert "nope" in (failed.error or "")
        assert sender.stats().in_flight == 100  # the first batch, still held
        held.release()
        assert await sender.drain(timeout=PATIENCE)
        stats = sender.stats()
        assert [f.record()["workflow"] for f in await sender.failed()] == ["nope"]

    assert (stats.sent, stats.failed, stats.queued) == (299, 1, 0)
    assert Counter(t.recipients[0] for t in hub.triggers) == Counter(
        {f"user-{i}": 1 for i in range(300) if i != 250}
    )


async def test_chunks_the_hub_does_not_take_go_again_while_others_are_in_flight(
    spool: Path | None,
) -> None:
    # Every fault reaches the sender: one attempt per request, so each chunk the
    # hub faults (a 503, a 429, a connection dropped before or after the hub
    # processed it) waits for the sender's backoff while other chunks go on.
    hub = HubEmulator(workflows={"welcome"}, faults=Faults.mix(0.3, seed=7, retry_after=0))
    records: list[Record] = [event(i) if i % 3 else trigger(i) for i in range(1_200)]
    once = RetryPolicy(bulk_attempts=1, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0)
    async with (
        served(hub, retry=once) as client,
        with_backlog(client, hub, spool, records, batch_size=200, max_backoff=0.05) as sender,
    ):
        assert await sender.drain(timeout=PATIENCE)
        stats = sender.stats()

    assert (stats.sent, stats.failed, stats.queued, stats.in_flight) == (1_200, 0, 0, 0)
    assert stats.retried > 0
    assert_each_processed_once(hub, 1_200)
    assert len(hub.triggers) == 400
    assert len({e.distinct_id for e in hub.events}) == 800


# -- stopping with batches in flight ---------------------------------------------------------


async def test_stopping_with_batches_in_flight_leaves_them_pending_for_the_next_sender(
    tmp_path: Path,
) -> None:
    hub = HubEmulator()
    gate = Gate(hub, let_through=2)  # two requests are answered, the others held
    spool = tmp_path / "outbox.sqlite3"
    records = [event(i) for i in range(1_000)]
    async with served_through(gate, hub) as client:
        async with with_backlog(
            client, hub, spool, records, batch_size=100, exit_timeout=0
        ) as sender:
            await gate.holding.wait()
            await wait_for(lambda: sender.stats().sent == 200)
            # More than one batch out. (Waited for: sent counts as the hub answers, and
            # the claims behind those answers may not have been fed yet.)
            await wait_for(lambda: sender.stats().in_flight > 100)
        gate.open()
        async with client.background(spool=spool) as resumed:
            # Every record not answered is pending: in the engine, or claimed ahead.
            assert resumed.stats().queued == 800
            assert await resumed.drain(timeout=PATIENCE)
            assert (resumed.stats().sent, resumed.stats().queued) == (800, 0)

    assert Counter(e.distinct_id for e in hub.events) == Counter(
        {f"user-{i}": 1 for i in range(1_000)}
    )
    assert_each_processed_once(hub, 1_000)


async def test_stopping_with_batches_in_flight_in_memory_reports_all_that_was_not_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = HubEmulator()
    gate = Gate(hub, let_through=2)
    async with served_through(gate, hub) as client:
        async with client.background(batch_size=100, exit_timeout=0) as sender:
            for i in range(1_000):
                await sender.track_event(event(i))
            await gate.holding.wait()
            await wait_for(lambda: sender.stats().sent == 200)
            assert sender.stats().queued == 800
        gate.open()
    [lost] = [r for r in caplog.records if "not sent" in r.getMessage()]
    assert lost.levelno == logging.WARNING
    assert "800 records not sent" in lost.getMessage()


# -- a spool written by another client -----------------------------------------------------------


async def test_a_spooled_record_too_large_for_this_client_fails_with_the_reason(
    tmp_path: Path,
) -> None:
    hub = HubEmulator()
    spool = tmp_path / "outbox.sqlite3"
    big = Event("user-big", "order_placed", {"blob": "x" * 60_000})
    records = [event(0), big, event(1)]
    small = Limits(max_body_bytes=50_000)
    async with (
        served(hub, limits=small) as client,
        with_backlog(client, hub, spool, records) as sender,
    ):
        assert await sender.drain(timeout=PATIENCE)
        [failed] = await sender.failed()
        assert failed.record()["distinct_id"] == "user-big"
        assert failed.code is None
        assert "bytes" in (failed.error or "")
        assert (sender.stats().sent, sender.stats().failed) == (2, 1)
    assert sorted(e.distinct_id for e in hub.events) == ["user-0", "user-1"]
