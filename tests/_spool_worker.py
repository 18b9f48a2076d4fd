"""A process with a background sender on a spool, for tests/test_background_processes.py.

``python -m tests._spool_worker '{"base_url": ..., "spool": ..., "accept": N, ...}'``:
accepts N events (``prefix-0`` ... as distinct ids) from 50 concurrent callers and
prints ``{"accepted": N}``; then, with ``"hold": true``, waits to be killed, else
drains and prints the sender's stats as JSON.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import anyio
import attrs

from suprsend_async import AsyncSuprsend, Event, RetryPolicy

CALLERS = 50
# Retries without long waits: the hub is an emulator on loopback.
FAST = RetryPolicy(wait_initial=0.01, wait_max=0.05, wait_jitter=0.01, max_retry_after=0.1)


async def main(options: dict[str, Any]) -> None:
    client = AsyncSuprsend(
        options["workspace_key"],
        options["workspace_secret"],
        base_url=options["base_url"],
        retry=FAST,
    )
    background = client.background(
        spool=options["spool"], max_backoff=0.1, poll_interval=0.05, exit_timeout=60
    )
    async with client, background as sender:
        count, prefix = options.get("accept", 0), options.get("prefix", "user")

        async def accept(first: int) -> None:
            for i in range(first, count, CALLERS):
                await sender.track_event(Event(f"{prefix}-{i}", "order_placed", {"i": i}))

        if count:
            async with anyio.create_task_group() as callers:
                for first in range(CALLERS):
                    callers.start_soon(accept, first)
            print(json.dumps({"accepted": count}), flush=True)
        if options.get("hold"):
            await anyio.sleep_forever()
        drained = await sender.drain(timeout=120)
        print(json.dumps({"drained": drained, **attrs.asdict(sender.stats())}), flush=True)


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=logging.ERROR)
    anyio.run(main, json.loads(sys.argv[1]))
