"""The background sender (``client.background()``) in one process, on asyncio and trio,
against the emulator on a loopback socket: what is accepted arrives once, a full
queue does what its policy says, deadlines hold, refused records are kept with the
reason, and a bad spool fails at start. (Crashes, two processes and fork:
test_background_processes.py.)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest

from suprsend_async import (
    AsyncSuprsend,
    Event,
    RetryPolicy,
    SuprsendClientClosedError,
    SuprsendConfigError,
    SuprsendQueueFullError,
    SuprsendSpoolError,
    SuprsendValidationError,
    WorkflowTriggerRequest,
)
from suprsend_async._cli import main as cli
from suprsend_async._core.spool import Spool, holder_of
from suprsend_async.testing import HubEmulator, serve
from tests._doubles import PATIENCE, Gate, served, served_through, wait_for

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(bulk_attempts=2, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0)


def event(i: int, **options: Any) -> Event:
    return Event(f"user-{i}", "order_placed", {"i": i}, **options)


@pytest.fixture(params=["memory", "spool"])
def spool(request: pytest.FixtureRequest, tmp_path: Path) -> Path | None:
    return tmp_path / "outbox.sqlite3" if request.param == "spool" else None


# -- delivering ---------------------------------------------------------------------------


async def test_what_is_accepted_arrives_once_with_the_key_it_was_given(
    spool: Path | None,
) -> None:
    hub = HubEmulator(workflows={"welcome"})
    async with served(hub) as client, client.background(spool=spool) as sender:
        keys: list[str | None] = []
        async with anyio.create_task_group() as callers:

            async def accept(first: int) -> None:
                for i in range(first, 1_000, 20):
                    keys.append(await sender.track_event(event(i)))

            for first in range(20):
                callers.start_soon(accept, first)
        own = await sender.track_event(event(-1, idempotency_key="mine-1"))
        trigger = WorkflowTriggerRequest(workflow="welcome", recipients=["ann"], data={"x": 1})
        keys.append(await sender.trigger(trigger))
        assert await sender.drain(timeout=PATIENCE)
        stats = sender.stats()

    assert own == "mine-1"
    assert (stats.accepted, stats.sent, stats.failed, stats.queued) == (1_002, 1_002, 0, 0)
    assert Counter(e.distinct_id for e in hub.events) == Counter(
        {f"user-{i}": 1 for i in range(-1, 1_000)}
    )
    assert len(hub.triggers) == 1
    # Each record went with the key the sender returned for it, once.
    assert None not in keys
    assert sorted(hub.processed_keys) == sorted([str(k) for k in keys] + ["mine-1"])
    assert set(hub.processed_keys.values()) == {1}
    assert hub.stats.requests < 1_002 / 10  # in bulk, not one request per record


async def test_a_bad_record_raises_in_the_caller_and_is_not_queued(spool: Path | None) -> None:
    hub = HubEmulator()
    async with served(hub) as client, client.background(spool=spool) as sender:
        with pytest.raises(SuprsendValidationError, match="track_event"):
            await sender.track_event({"distinct_id": "u"})  # type: ignore[arg-type]
        with pytest.raises(SuprsendValidationError, match="larger than the limit"):
            await sender.track_event(Event("u", "order_placed", {"blob": "x" * 200_000}))
        with pytest.raises(SuprsendValidationError, match="trigger"):
            await sender.trigger(event(1))  # type: ignore[arg-type]
        assert await sender.drain(timeout=PATIENCE)
        assert sender.stats().accepted == 0
    assert hub.stats.requests == 0


async def test_calls_outside_the_block_raise_a_typed_error(tmp_path: Path) -> None:
    hub = HubEmulator()
    async with served(hub) as client:
        sender = client.background()
        with pytest.raises(SuprsendClientClosedError, match="not started"):
            await sender.track_event(event(1))
        async with sender:
            await sender.track_event(event(1))
        with pytest.raises(SuprsendClientClosedError, match="closed"):
            await sender.track_event(event(2))
        with pytest.raises(SuprsendConfigError, match="started once"):
            await sender.__aenter__()
    assert len(hub.events) == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"when_full": "drop_oldest"}, "when_full must be one of block, drop_new, raise"),
        ({"max_queue": 0}, "max_queue must be a positive integer"),
        ({"exit_timeout": float("nan")}, "exit_timeout must be finite"),
        ({"spool": 3}, "spool must be a file path"),
        ({"spool": "x.sqlite3", "fsync": "no"}, "fsync must be True or False"),
        ({"spool": "x.sqlite3", "when_full": "raise"}, "bounded by its disk"),
    ],
)
async def test_bad_options_are_refused_by_name(options: dict[str, Any], message: str) -> None:
    async with HubEmulator().client() as client:
        with pytest.raises(SuprsendConfigError, match=message):
            client.background(**options)


# -- a full queue ---------------------------------------------------------------------------


async def test_a_full_queue_drops_new_records_and_counts_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = HubEmulator()
    gate = Gate(hub)  # holds every hub request until opened: nothing leaves the queue
    async with (
        served_through(gate, hub) as client,
        client.background(max_queue=10, when_full="drop_new") as sender,
    ):
        keys = [await sender.track_event(event(i)) for i in range(13)]
        assert keys[10:] == [None, None, None]
        assert all(keys[:10])
        assert (sender.stats().dropped, sender.stats().queued) == (3, 10)
        gate.open()
        assert await sender.drain(timeout=PATIENCE)
    assert sorted(e.distinct_id for e in hub.events) == sorted(f"user-{i}" for i in range(10))
    dropped = [r for r in caplog.records if "queue is full" in r.getMessage()]
    assert len(dropped) == 1  # once per episode, not once per record


async def test_a_full_queue_raises_when_told_to() -> None:
    hub = HubEmulator()
    gate = Gate(hub)
    async with (
        served_through(gate, hub) as client,
        client.background(max_queue=5, when_full="raise") as sender,
    ):
        for i in range(5):
            await sender.track_event(event(i))
        with pytest.raises(SuprsendQueueFullError, match="max_queue=5"):
            await sender.track_event(event(5))
        gate.open()
        assert await sender.drain(timeout=PATIENCE)
    assert len(hub.events) == 5


async def test_a_full_queue_blocks_the_caller_until_there_is_room() -> None:
    hub = HubEmulator()
    gate = Gate(hub)
    async with (
        served_through(gate, hub) as client,
        client.background(max_queue=5, batch_size=5) as sender,
    ):
        for i in range(5):
            await sender.track_event(event(i))
        accepted = anyio.Event()

        async def sixth() -> None:
            await sender.track_event(event(5))
            accepted.set()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(sixth)
            await gate.holding.wait()
            await anyio.wait_all_tasks_blocked()
            assert not accepted.is_set()  # the queue is full: the caller waits
            gate.open()
        assert await sender.drain(timeout=PATIENCE)
    assert sorted(e.distinct_id for e in hub.events) == [f"user-{i}" for i in range(6)]


# -- deadlines --------------------------------------------------------------------------------


async def test_drain_and_exit_keep_their_deadlines_and_memory_reports_what_it_loses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = HubEmulator()
    gate = Gate(hub)  # never opened while the sender lives: the hub never answers
    async with served_through(gate, hub) as client:
        async with client.background(exit_timeout=0.05) as sender:
            for i in range(30):
                await sender.track_event(event(i))
            assert await sender.drain(timeout=0.05) is False
            assert sender.stats().queued == 30
        gate.open()
    [lost] = [r for r in caplog.records if "not sent" in r.getMessage()]
    assert lost.levelno == logging.WARNING
    assert "30 records not sent" in lost.getMessage()


async def test_a_spool_keeps_what_the_deadline_cut_off_for_the_next_sender(
    tmp_path: Path,
) -> None:
    hub = HubEmulator()
    gate = Gate(hub)
    spool = tmp_path / "outbox.sqlite3"
    async with served_through(gate, hub) as client:
        async with client.background(spool=spool, exit_timeout=0) as sender:
            for i in range(300):
                await sender.track_event(event(i))
            await gate.holding.wait()  # a request is in flight when the block ends
        gate.open()
        async with client.background(spool=spool) as resumed:
            assert resumed.stats().queued == 300
            assert await resumed.drain(timeout=PATIENCE)
            assert resumed.stats().spool_bytes is not None
    assert Counter(e.distinct_id for e in hub.events) == Counter(
        {f"user-{i}": 1 for i in range(300)}
    )


async def test_records_wait_while_the_hub_is_down_and_go_out_when_it_is_back(
    spool: Path | None,
) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()  # connections to it are refused until the hub listens there
    hub = HubEmulator()
    async with (
        AsyncSuprsend(
            hub.workspace_key,
            hub.workspace_secret,
            base_url=f"http://127.0.0.1:{port}/",
            retry=FAST,
        ) as client,
        client.background(spool=spool, max_backoff=0.05, poll_interval=0.05) as sender,
    ):
        for i in range(500):
            await sender.track_event(event(i))
        await wait_for(lambda: sender.stats().retried >= 1_000)  # two rounds failed
        assert (sender.stats().sent, sender.stats().failed) == (0, 0)
        async with serve(hub, port=port):
            assert await sender.drain(timeout=PATIENCE)
    assert Counter(e.distinct_id for e in hub.events) == Counter(
        {f"user-{i}": 1 for i in range(500)}
    )


# -- refused records -------------------------------------------------------------------------


async def test_refused_records_are_kept_with_the_reason_and_can_be_retried(
    spool: Path | None, caplog: pytest.LogCaptureFixture
) -> None:
    hub = HubEmulator(workflows={"welcome"})
    async with (
        served(hub) as client,
        client.background(spool=spool, poll_interval=0.05) as sender,
    ):
        await sender.trigger(WorkflowTriggerRequest(workflow="welcome", recipients=["a"]))
        key = await sender.trigger(WorkflowTriggerRequest(workflow="nope", recipients=["b"]))
        assert await sender.drain(timeout=PATIENCE)
        # Logged with its key (which a spool's sender reads back for the log alone).
        assert _logged(caplog, f"refused a workflow (key {key})")
        [failed] = await sender.failed()
        assert (failed.idempotency_key, failed.kind, failed.code) == (key, "workflow", 404)
        assert "nope" in (failed.error or "")
        assert failed.record()["workflow"] == "nope"
        assert failed.accepted_at > 0
        assert (sender.stats().sent, sender.stats().failed) == (1, 1)

        hub.workflows = None  # the workflow now exists
        assert await sender.retry_failed() == 1
        assert await sender.drain(timeout=PATIENCE)
        assert await sender.failed() == []
    assert sorted(t.workflow for t in hub.triggers) == ["nope", "welcome"]


async def test_the_cli_shows_retries_and_purges_a_spool_s_failed_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hub = HubEmulator(workflows={"welcome"})
    spool = tmp_path / "outbox.sqlite3"
    async with (
        served(hub) as client,
        client.background(spool=spool, poll_interval=0.05) as sender,
    ):
        for slug in ("nope", "gone"):
            await sender.trigger(WorkflowTriggerRequest(workflow=slug, recipients=["b"]))
        assert await sender.drain(timeout=PATIENCE)

        assert cli(["spool", "show", str(spool)]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert (shown["pending"], shown["failed"], shown["sending_pid"]) == (0, 2, os.getpid())
        nope, gone = shown["failed_records"]
        assert (nope["record"]["workflow"], nope["code"]) == ("nope", 404)
        assert (gone["record"]["workflow"], gone["code"]) == ("gone", 404)

        hub.workflows = frozenset({"welcome", "nope"})
        assert cli(["spool", "retry", str(spool), "--id", str(nope["id"])]) == 0
        assert json.loads(capsys.readouterr().out) == {"retried": 1}
        await wait_for(lambda: len(hub.triggers) == 1)  # the running sender sent it
        assert cli(["spool", "purge", str(spool)]) == 0
        assert json.loads(capsys.readouterr().out) == {"purged": 1}
        assert await sender.failed() == []
    assert [t.workflow for t in hub.triggers] == ["nope"]
    assert cli(["spool", "show", str(tmp_path / "missing.sqlite3")]) == 2


# -- a spool that cannot be used ---------------------------------------------------------------


def _garbage(path: Path) -> Path:
    path.write_bytes(b"this is not a database, just some text" * 100)
    return path


def _someone_elses_database(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id INTEGER)")
    return path


def _under_a_file(path: Path) -> Path:
    path.write_text("a file, not a directory")
    return path / "outbox.sqlite3"


def _a_directory(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_garbage, "corrupt, not a spool, or not writable"),
        (_someone_elses_database, "not a suprsend-async spool"),
        (_under_a_file, "cannot be"),
        (_a_directory, "is a directory"),
    ],
)
async def test_a_spool_that_cannot_be_used_fails_at_start(
    tmp_path: Path, make: Any, message: str
) -> None:
    path = make(tmp_path / "outbox.sqlite3")
    async with HubEmulator().client() as client:
        with pytest.raises(SuprsendSpoolError, match=message) as raised:
            async with client.background(spool=path):
                pytest.fail("started on a spool it cannot use")
    assert raised.value.path == str(path)
    assert cli(["spool", "show", str(path)]) == 2


# -- when the client or the spool breaks under the sender -----------------------------------


CLIENT_CLOSED = "the client of this background sender was closed"


def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in r.getMessage() for r in caplog.records)


async def test_a_client_closed_under_the_sender_makes_it_refuse_and_wakes_who_waits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = HubEmulator()
    async with served(hub) as client, client.background(max_queue=2) as sender:
        await client.aclose()
        for i in range(2):
            await sender.track_event(event(i))
        woken: list[BaseException] = []

        async def waiting(call: Any) -> None:
            try:
                await call()
            except SuprsendClientClosedError as exc:
                woken.append(exc)

        async with anyio.create_task_group() as callers:
            # A caller blocked on the full queue, and one draining it.
            callers.start_soon(waiting, lambda: sender.track_event(event(2)))
            callers.start_soon(waiting, sender.drain)
            await wait_for(lambda: _logged(caplog, "client was closed"))
            await anyio.wait_all_tasks_blocked()
            callers.cancel_scope.cancel()  # (what still waits would wait forever)
        assert [str(e) for e in woken] == [
            "the client of this background sender was closed; it sends nothing more"
        ] * 2
        assert sender.stats().uploading is False
        with pytest.raises(SuprsendClientClosedError, match=CLIENT_CLOSED):
            await sender.track_event(event(3))
        with pytest.raises(SuprsendClientClosedError, match=CLIENT_CLOSED):
            await sender.drain()
    # In memory, what was accepted is lost, and said so (once).
    lost = [r for r in caplog.records if "not sent" in r.getMessage()]
    assert [r.getMessage().split(" (")[0] for r in lost] == [
        "background sender stopped with 2 records not sent"
    ]
    assert hub.events == []


async def test_a_client_closed_under_a_spool_s_sender_lets_another_sender_send(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hub = HubEmulator()
    spool = tmp_path / "outbox.sqlite3"
    async with (
        served(hub) as other,
        served(hub) as client,
        client.background(spool=spool) as sender,
    ):
        await sender.track_event(event(0))
        assert await sender.drain(timeout=PATIENCE)
        assert holder_of(str(spool)) == os.getpid()
        await client.aclose()
        await sender.track_event(event(1))  # on disk: accepted, sent by the next sender
        await wait_for(lambda: _logged(caplog, "client was closed"))
        assert holder_of(str(spool)) is None  # the upload lock is let go at once
        assert sender.stats().uploading is False
        with pytest.raises(SuprsendClientClosedError, match=CLIENT_CLOSED):
            await sender.track_event(event(2))
        async with other.background(spool=spool) as successor:
            assert await successor.drain(timeout=PATIENCE)
            assert successor.stats().uploading
    assert Counter(e.distinct_id for e in hub.events) == Counter({"user-0": 1, "user-1": 1})


async def test_a_block_left_by_cancellation_still_closes_and_reports(
    spool: Path | None, caplog: pytest.LogCaptureFixture
) -> None:
    hub = HubEmulator()
    gate = Gate(hub)  # the hub never answers while the sender lives
    async with served_through(gate, hub) as client:
        with anyio.CancelScope() as scope:
            async with client.background(spool=spool, exit_timeout=0) as sender:
                for i in range(3):
                    await sender.track_event(event(i))
                await gate.holding.wait()
                scope.cancel()
                await anyio.sleep_forever()  # (cancelled at once)
        assert scope.cancelled_caught
        assert "state=closed" in repr(sender)
        with pytest.raises(SuprsendClientClosedError, match="is closed"):
            await sender.track_event(event(3))
        if spool is None:  # in memory: what was not sent is reported lost
            assert _logged(caplog, "stopped with 3 records not sent")
        else:  # the spool and its upload lock are let go: a new sender sends what is left
            assert holder_of(str(spool)) is None
            gate.open()
            async with client.background(spool=spool) as successor:
                assert await successor.drain(timeout=PATIENCE)
        gate.open()
    if spool is not None:
        assert sorted(e.distinct_id for e in hub.events) == [f"user-{i}" for i in range(3)]


def _rename_table(spool: Path, old: str, new: str) -> None:
    # What an operator's tool (or a damaged file) does to the spool under the senders.
    with contextlib.closing(sqlite3.connect(spool)) as db:
        db.execute(f"ALTER TABLE {old} RENAME TO {new}")


async def test_a_spool_that_cannot_be_read_for_a_while_raises_typed_errors_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hub = HubEmulator()
    spool = tmp_path / "outbox.sqlite3"
    async with (
        served(hub) as client,
        client.background(spool=spool, poll_interval=0.01, max_backoff=0.05) as sender,
    ):
        await sender.track_event(event(0))
        assert await sender.drain(timeout=PATIENCE)
        # A second sender on the spool, not the uploader: it only looks at the counts.
        async with client.background(spool=spool, poll_interval=0.01) as looking:
            assert not looking.stats().uploading
            _rename_table(spool, "records", "hidden")
            with pytest.raises(SuprsendSpoolError, match="could not be read"):
                await sender.drain()
            with pytest.raises(SuprsendSpoolError, match="could not be read"):
                await sender.failed()
            # Its look at the counts failed: logged, and it keeps looking (the
            # application's block, which holds its tasks, goes on).
            await wait_for(lambda: _logged(caplog, "looking again later"))
            _rename_table(spool, "hidden", "records")
            await sender.track_event(event(1))
            assert await sender.drain(timeout=PATIENCE)
            assert await looking.drain(timeout=PATIENCE)
    assert Counter(e.distinct_id for e in hub.events) == Counter({"user-0": 1, "user-1": 1})


def test_a_commit_that_fails_leaves_no_transaction_open(tmp_path: Path) -> None:
    # A COMMIT that fails (a full disk, an I/O error) leaves SQLite's transaction
    # open. The fault here: a foreign key checked only at COMMIT, on a row a
    # trigger adds for a poisoned record (the spool's own schema has none).
    path = tmp_path / "outbox.sqlite3"
    spool = Spool(path)
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.executescript(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
            "CREATE TABLE child (p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);"
            "CREATE TRIGGER poison AFTER INSERT ON records WHEN NEW.kind = 'poison'"
            " BEGIN INSERT INTO child VALUES (42); END;"
        )
    spool._db.execute("PRAGMA foreign_keys = ON")
    try:
        with pytest.raises(SuprsendSpoolError, match="could not be written"):
            spool.add([("poison", "k-1", b"{}", 0.0)])
        # The next write begins a transaction of its own, and is kept.
        spool.add([("event", "k-2", b"{}", 0.0)])
        assert spool.counts().pending == 1
    finally:
        spool.close()


# -- settling and compacting a spool file ---------------------------------------------------


def _rows(n: int, size: int = 100) -> list[tuple[str, str, bytes, float]]:
    return [("event", f"k-{i}", b"{" + b" " * size + b"}", 1.0) for i in range(n)]


def _ids(path: Path, state: int) -> list[int]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [
            r[0] for r in db.execute("SELECT id FROM records WHERE state = ? ORDER BY id", (state,))
        ]


def test_settling_deletes_the_records_sent_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    spool, other = Spool(path), Spool(path)  # (the other: a second process accepting)
    try:
        assert spool.add(_rows(10)) == 10
        assert other.add(_rows(1)) == 11
        # A refused one among them, a gap (3 and 4 wait) and one beyond (11).
        spool.settle([1, 2, 5, 6, 8, 9, 10], [(7, "unknown workflow", 404)], [])
        assert (_ids(path, 0), _ids(path, 1)) == ([3, 4, 11], [7])
        spool.settle([3, 4], [], [(11, "503 from the hub", 503)])
        assert (_ids(path, 0), _ids(path, 1)) == ([11], [7])
        spool.settle([11], [], [])
        assert (_ids(path, 0), _ids(path, 1)) == ([], [7])
        counts = spool.counts()
        assert (counts.pending, counts.failed) == (0, 1)

        # Every record the file holds sent, in runs with gaps between them (other
        # records deleted before): the table is emptied, and ids go on from the last.
        assert spool.purge_failed() == 1
        assert spool.add(_rows(6)) == 17
        spool.settle([13, 16], [], [])
        assert _ids(path, 0) == [12, 14, 15, 17]
        spool.settle([17, 12, 15, 14], [], [])
        assert (_ids(path, 0), _ids(path, 1)) == ([], [])
        assert other.add(_rows(1)) == 18
    finally:
        spool.close()
        other.close()


@pytest.mark.parametrize("left", [0, 1], ids=["emptied", "one-left"])
def test_compacting_gives_the_pages_of_sent_records_back(tmp_path: Path, left: int) -> None:
    path = tmp_path / "outbox.sqlite3"
    spool = Spool(path)
    try:
        spool.add(_rows(12_000, size=1_000))
        full = os.path.getsize(path) + os.path.getsize(f"{path}-wal")
        spool.settle(list(range(1, 12_001 - left)), [], [])
        spool.compact()
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            assert db.execute("PRAGMA freelist_count").fetchone()[0] == 0
            assert db.execute("SELECT COUNT(*) FROM records").fetchone()[0] == left
        assert os.path.getsize(path) < full / 100  # (12 MB of records, a few pages left)
        assert spool.add(_rows(1)) == 12_001  # the file is still a spool, ids go on
    finally:
        spool.close()
