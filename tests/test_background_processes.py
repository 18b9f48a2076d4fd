"""The background sender's spool across processes: killed with SIGKILL mid-upload, two
processes on one spool, a fork. The emulator runs in this test on a loopback socket;
the senders run in their own processes (tests/_spool_worker.py).

What a user relies on: every record a process accepted reaches the hub and is
processed once, whatever happened to the process; two processes never both send
a record.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.from_thread
import pytest

from suprsend_async import AsyncSuprsend, Event, SuprsendClientClosedError
from suprsend_async.testing import Faults, HubEmulator, serve
from tests._doubles import PATIENCE, Gate

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def anyio_backend() -> str:
    # The processes under test run asyncio; this side only serves the hub and waits.
    return "asyncio"


def worker_command(hub: HubEmulator, base_url: str, spool: Path, **options: Any) -> list[str]:
    settings = {
        "workspace_key": hub.workspace_key,
        "workspace_secret": hub.workspace_secret,
        "base_url": base_url,
        "spool": str(spool),
        **options,
    }
    return [sys.executable, "-m", "tests._spool_worker", json.dumps(settings)]


async def first_line(process: anyio.abc.Process) -> dict[str, Any]:
    assert process.stdout is not None
    buffer = b""
    while b"\n" not in buffer:
        buffer += await process.stdout.receive()
    result: dict[str, Any] = json.loads(buffer.split(b"\n", 1)[0])
    return result


async def drain_in_a_new_process(hub: HubEmulator, base_url: str, spool: Path) -> dict[str, Any]:
    done = await anyio.run_process(worker_command(hub, base_url, spool), cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.decode().splitlines()[-1])
    return result


def assert_each_processed_once(hub: HubEmulator, prefix: str, count: int) -> None:
    ids = Counter(e.distinct_id for e in hub.events)
    assert ids == Counter({f"{prefix}-{i}": 1 for i in range(count)})
    assert len(hub.processed_keys) == count
    assert set(hub.processed_keys.values()) == {1}


@pytest.mark.parametrize(
    ("faults", "count"),
    [(Faults(), 20_000), (Faults.mix(0.3, seed=11, retry_after=0), 6_000)],
    ids=["clean", "30%-faults"],
)
async def test_a_spool_killed_mid_upload_is_drained_by_the_next_process(
    tmp_path: Path, faults: Faults, count: int
) -> None:
    hub = HubEmulator(faults=faults)
    # After 5 requests, the hub processes each request but holds its answer: the
    # killed process dies with records the hub has and it never heard about.
    gate = Gate(hub, let_through=5, answered_later=True)
    spool = tmp_path / "outbox.sqlite3"
    async with serve(gate) as base_url:
        command = worker_command(hub, base_url, spool, accept=count, prefix="u", hold=True)
        first = await anyio.open_process(command, cwd=REPO, stderr=None)
        try:
            with anyio.fail_after(PATIENCE):
                assert await first_line(first) == {"accepted": count}
                await gate.holding.wait()  # mid-upload: a request is in flight
        finally:
            first.kill()  # SIGKILL: no exit handler, no flush, no goodbye
            await first.wait()
        gate.open()
        processed_before = hub.stats.processed_events
        assert 0 < processed_before < count
        result = await drain_in_a_new_process(hub, base_url, spool)

    assert result["drained"] is True
    assert (result["queued"], result["failed"]) == (0, 0)
    assert_each_processed_once(hub, "u", count)
    # The held requests' records were resent, and the hub dropped them by their keys.
    assert hub.stats.duplicates_suppressed > 0


async def test_records_accepted_while_the_hub_is_down_go_out_when_it_is_back(
    tmp_path: Path,
) -> None:
    hub = HubEmulator()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()  # nothing listens there now: connections are refused
    base_url = f"http://127.0.0.1:{port}/"
    spool = tmp_path / "outbox.sqlite3"
    count = 6_000
    command = worker_command(hub, base_url, spool, accept=count, prefix="d", hold=True)
    first = await anyio.open_process(command, cwd=REPO, stderr=None)
    try:
        with anyio.fail_after(PATIENCE):
            assert await first_line(first) == {"accepted": count}
    finally:
        first.kill()
        await first.wait()
    assert hub.stats.requests == 0
    async with serve(hub, port=port):
        result = await drain_in_a_new_process(hub, base_url, spool)
    assert result["drained"] is True
    assert_each_processed_once(hub, "d", count)


async def test_two_processes_on_one_spool_never_send_a_record_twice(tmp_path: Path) -> None:
    hub = HubEmulator()
    spool = tmp_path / "outbox.sqlite3"
    count = 4_000
    results: dict[str, dict[str, Any]] = {}
    async with serve(hub) as base_url:

        async def run(prefix: str) -> None:
            command = worker_command(hub, base_url, spool, accept=count, prefix=prefix)
            done = await anyio.run_process(command, cwd=REPO, check=False)
            assert done.returncode == 0, done.stderr.decode()[-3000:]
            results[prefix] = json.loads(done.stdout.decode().splitlines()[-1])

        async with anyio.create_task_group() as both:
            both.start_soon(run, "a")
            both.start_soon(run, "b")

    assert [results[p]["drained"] for p in "ab"] == [True, True]
    ids = Counter(e.distinct_id for e in hub.events)
    assert ids == Counter({f"{p}-{i}": 1 for p in "ab" for i in range(count)})
    # Not merely deduplicated by the hub: no record was ever sent twice.
    assert (hub.stats.resent_records, hub.stats.duplicates_suppressed) == (0, 0)
    assert hub.stats.records_received == 2 * count


def test_a_forked_child_gets_a_clear_error_and_may_open_its_own_sender(tmp_path: Path) -> None:
    hub = HubEmulator()
    spool = tmp_path / "outbox.sqlite3"
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve(hub)) as base_url,
    ):
        client = AsyncSuprsend(hub.workspace_key, hub.workspace_secret, base_url=base_url)
        with (
            portal.wrap_async_context_manager(client),
            portal.wrap_async_context_manager(
                client.background(spool=spool, poll_interval=0.05)
            ) as sender,
        ):
            portal.call(sender.track_event, Event("parent-1", "order_placed"))
            pid = os.fork()  # the event loop runs in the portal's thread: not in the child
            if pid == 0:  # pragma: no cover - the child reports through its exit code
                code = 70
                try:
                    code = anyio.run(_in_the_child, hub, base_url, spool, sender)
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
            assert portal.call(sender.drain, PATIENCE)
    ids = Counter(e.distinct_id for e in hub.events)
    assert ids == Counter({"parent-1": 1, "child-1": 1})


async def _in_the_child(hub: HubEmulator, base_url: str, spool: Path, inherited: Any) -> int:
    try:
        await inherited.track_event(Event("child-0", "order_placed"))
    except SuprsendClientClosedError as exc:
        if "forked child" not in str(exc):
            return 3
    else:
        return 2
    async with (
        AsyncSuprsend(hub.workspace_key, hub.workspace_secret, base_url=base_url) as client,
        client.background(spool=spool, poll_interval=0.05) as sender,
    ):
        await sender.track_event(Event("child-1", "order_placed"))
        # The parent still holds the spool's upload lock: it sends the child's record.
        return 0 if await sender.drain(timeout=PATIENCE) else 4
