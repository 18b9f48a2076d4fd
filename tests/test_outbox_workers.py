"""Outbox workers as the processes they are in production: several at once, one
killed mid-upload, one stopped with SIGTERM; the hub emulator, with faults, on a
loopback socket; PostgreSQL from tests/_postgres.py.

asyncio only: asyncpg and pgqueuer are asyncio libraries.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

import anyio
import anyio.abc
import pytest

from suprsend_async import Event
from suprsend_async.outbox import PostgresOutbox
from suprsend_async.testing import Faults, HubEmulator, serve
from tests._doubles import PATIENCE
from tests.test_cli_subprocess import cli_env

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Gate:
    """An ASGI app in front of the hub that holds every hub request until opened.

    ``seen`` is set when the first request arrives: from then until ``open()``
    the sender is certainly mid-upload, with requests in flight.
    """

    def __init__(self, hub: HubEmulator) -> None:
        self.hub = hub
        self.seen = anyio.Event()
        self.opened = anyio.Event()

    def open(self) -> None:
        self.opened.set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/_emulator/"):
            self.seen.set()
            await self.opened.wait()
        await self.hub(scope, receive, send)


def worker_command(dsn: str, *options: str) -> list[str]:
    # A short heartbeat timeout, so that a killed worker's batch is taken over
    # in seconds; the poll interval is how often idle workers look for it.
    return [
        sys.executable, "-m", "suprsend_async", "outbox-worker", "--dsn", dsn,
        "--heartbeat-timeout", "2", "--poll-interval", "0.25", *options,
    ]  # fmt: skip


async def enqueue(dsn: str, transactions: int, per_transaction: int) -> set[str]:
    """Events in many transactions, every fourth rolled back; the committed keys."""
    committed: set[str] = set()
    async with PostgresOutbox(dsn) as outbox:
        await outbox.install()
        async with (await outbox.pool()).acquire() as conn:
            for t in range(transactions):
                events = [
                    Event(f"u{t}-{i}", "order_placed", {"t": t, "i": i})
                    for i in range(per_transaction)
                ]
                transaction = conn.transaction()
                await transaction.start()
                keys = await outbox.enqueue(conn, events)
                if t % 4 == 3:
                    await transaction.rollback()
                else:
                    await transaction.commit()
                    committed.update(keys)
    return committed


async def status(dsn: str) -> dict[str, int]:
    async with PostgresOutbox(dsn) as outbox:
        return (await outbox.status()).to_dict()


async def finish(process: anyio.abc.Process) -> tuple[int, dict[str, Any], str]:
    """Wait for a worker; its exit code, its report (last stdout line) and stderr."""
    assert process.stdout is not None
    assert process.stderr is not None
    out, err = b"", b""

    async def read_err() -> None:
        nonlocal err
        assert process.stderr is not None
        async for chunk in process.stderr:
            err += chunk

    async with anyio.create_task_group() as tg:
        tg.start_soon(read_err)
        async for chunk in process.stdout:
            out += chunk
    code = await process.wait()
    lines = out.decode().strip().splitlines()
    return code, json.loads(lines[-1]) if lines else {}, err.decode()


async def test_workers_deliver_exactly_the_committed_events_once_through_a_kill_and_faults(
    postgres_dsn: str,
) -> None:
    committed = await enqueue(postgres_dsn, transactions=100, per_transaction=40)
    assert len(committed) == 3_000

    hub = HubEmulator(faults=Faults.mix(0.2, seed=25, retry_after=0.05))
    gate = Gate(hub)
    async with serve(gate) as base_url:
        env = cli_env(hub, base_url)
        with anyio.fail_after(PATIENCE):  # a guard against a hang, nothing is timed
            doomed = await anyio.open_process(
                worker_command(postgres_dsn, "--batch-size", "400"), env=env
            )
            async with doomed:
                await gate.seen.wait()  # it holds a batch, and its requests are in flight
                doomed.kill()
                assert await doomed.wait() == -signal.SIGKILL
            gate.open()  # the hub now processes what the dead worker had sent

            results: list[tuple[int, dict[str, Any], str]] = []

            async def work() -> None:
                process = await anyio.open_process(
                    worker_command(postgres_dsn, "--exit-when-empty", "--batch-size", "300"),
                    env=env,
                )
                async with process:
                    results.append(await finish(process))

            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(work)

    for code, report, err in results:
        assert code == 0, err
        assert "Traceback" not in err
        assert hub.workspace_secret not in err
        assert report["stopped_because"] == "empty"
        assert report["failed"] == 0
    # Exactly the committed events, each processed once: the dead worker's batch
    # was taken over and sent again, and the hub's deduplication by key absorbed
    # what it had already processed of it, as it absorbed the retries after faults.
    assert set(hub.processed_keys) == committed
    assert set(hub.processed_keys.values()) == {1}
    assert len(hub.events) == len(committed)
    assert sum(report["delivered"] for _, report, _ in results) >= len(committed)
    assert sum(hub.stats.faults.values()) > 0
    assert await status(postgres_dsn) == {"queued": 0, "in_flight": 0, "failed": 0}


async def test_sigterm_finishes_the_batch_out_and_leaves_the_rest_queued(
    postgres_dsn: str,
) -> None:
    committed = await enqueue(postgres_dsn, transactions=10, per_transaction=50)
    hub = HubEmulator()
    gate = Gate(hub)
    async with serve(gate) as base_url:
        with anyio.fail_after(PATIENCE):  # a guard against a hang, nothing is timed
            process = await anyio.open_process(
                worker_command(postgres_dsn, "--batch-size", "100", "--concurrency", "2"),
                env=cli_env(hub, base_url),
            )
            async with process:
                await gate.seen.wait()  # mid-upload
                process.send_signal(signal.SIGTERM)
                assert process.stderr is not None
                said = b""
                while b"stopping" not in said:  # the worker has taken the signal in
                    said += await process.stderr.receive()
                gate.open()
                code, report, err = await finish(process)

    assert code == 0, err
    # The batch it held was sent and settled; it took no other.
    assert report == {
        "batches": 1,
        "delivered": 100,
        "failed": 0,
        "requeued": 0,
        "stopped_because": "stopped",
    }
    assert len(hub.events) == 100
    assert set(hub.processed_keys) < committed
    left = await status(postgres_dsn)
    assert left == {"queued": len(committed) - 100, "in_flight": 0, "failed": 0}


def test_help_lists_the_outbox_commands() -> None:
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "suprsend_async", "--help"],
        env={**os.environ},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "outbox-worker" in result.stdout
    assert "outbox" in result.stdout
