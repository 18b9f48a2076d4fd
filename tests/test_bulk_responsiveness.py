"""A bulk upload shares the event loop: encoding a long input never holds it for long."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator

import anyio
import anyio.lowlevel
import pytest

from suprsend_async import AsyncSuprsend, Event
from suprsend_async._core import bulk
from tests._doubles import ScriptedHub

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("valid", [True, False], ids=["valid", "invalid"])
async def test_other_tasks_get_the_loop_every_hundred_records_while_a_bulk_upload_encodes(
    valid: bool,
) -> None:
    # Invalid records make no chunk, so no hand-over lets the loop in: only
    # the producer's own checkpoints do.
    hub = ScriptedHub()
    ticks = 0
    seen: list[int] = []  # the other task's tick count as each record is taken

    def events() -> Iterator[Event | dict[str, str]]:
        for i in range(2_000):
            seen.append(ticks)
            yield Event(f"u{i}", "order_paid") if valid else {"event": "order_paid"}

    async def other_task() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.lowlevel.checkpoint()

    client = AsyncSuprsend("key", "secret", transport=hub.transport())
    async with client, anyio.create_task_group() as tg:
        tg.start_soon(other_task)
        response = await client.bulk_events.send(events())
        tg.cancel_scope.cancel()
    assert (response.success, response.failure) == ((2_000, 0) if valid else (0, 2_000))
    longest = max(len(list(run)) for _, run in itertools.groupby(seen))
    # The producer lets the loop in at least every 100 records; trio runs the
    # tasks of a batch in random order, so the other task may run just before
    # or just after it: at most two stretches. Without it: all 2,000.
    assert longest <= 200


@pytest.mark.parametrize("asynchronous", [False, True], ids=["generator", "async-generator"])
async def test_records_slow_to_build_let_other_tasks_in_every_few_records(
    asynchronous: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Records with nested properties, built one at a time by the caller's
    # generator, take long enough that a hundred of them held the loop for
    # 1 ms: the producer also lets the loop in once its stretch has lasted
    # its slice. Here each record takes 0.1 ms of a clock the test moves
    # (no real time is measured): two records fill the 0.15 ms slice.
    now = 0.0
    monkeypatch.setattr(bulk, "_clock", lambda: now)
    hub = ScriptedHub()
    ticks = 0
    seen: list[int] = []

    def record(i: int) -> Event:
        nonlocal now
        now += 0.000_1
        seen.append(ticks)
        return Event(f"u{i}", "ev", {"i": i, "nested": {"a": [1, 2]}}, idempotency_key=f"k{i}")

    def events() -> Iterator[Event]:
        return (record(i) for i in range(1_000))

    async def async_events() -> AsyncIterator[Event]:
        for i in range(1_000):
            yield record(i)

    async def other_task() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.lowlevel.checkpoint()

    client = AsyncSuprsend("key", "secret", transport=hub.transport())
    async with client, anyio.create_task_group() as tg:
        tg.start_soon(other_task)
        response = await client.bulk_events.send(async_events() if asynchronous else events())
        tg.cancel_scope.cancel()
    assert (response.success, response.failure) == (1_000, 0)
    longest = max(len(list(run)) for _, run in itertools.groupby(seen))
    # Two records per stretch, and (trio running a batch's tasks in random
    # order) at most two stretches between the other task's turns. With the
    # record count alone: 100 to 200.
    assert longest <= 4
