"""A bulk upload shares the event loop: encoding a long input never holds it for long."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import anyio
import anyio.lowlevel
import pytest

from suprsend_async import AsyncSuprsend, Event
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
