"""The PostgreSQL outbox in one process: enqueue in a transaction, deliver, keep
what the hub refuses, retry and purge it. Against a real PostgreSQL (tests/_postgres.py).

asyncio only: asyncpg and pgqueuer are asyncio libraries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from suprsend_async import (
    Event,
    Limits,
    RetryPolicy,
    SuprsendValidationError,
    WorkflowTriggerRequest,
)
from suprsend_async._cli import main
from suprsend_async.outbox import PostgresOutbox, derive_idempotency_key
from suprsend_async.outbox._schema import CREATE_FAILED_TABLE, FAILED_TABLE
from suprsend_async.testing import HubEmulator

pytestmark = pytest.mark.anyio


REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Rollback(Exception):
    pass


@pytest.fixture
async def outbox(postgres_dsn: str) -> AsyncIterator[PostgresOutbox]:
    async with PostgresOutbox(postgres_dsn) as outbox:
        await outbox.install()
        yield outbox


async def connect(outbox: PostgresOutbox) -> Any:
    return (await outbox.pool()).acquire()


def order(i: int, **options: Any) -> Event:
    return Event(f"u{i}", "order_placed", {"order": i}, **options)


async def deliver(outbox: PostgresOutbox, hub: HubEmulator, **options: Any) -> Any:
    async with hub.client(retry=options.pop("retry", None)) as client:
        return await outbox.run_worker(client, exit_when_empty=True, **options)


async def test_a_rollback_enqueues_nothing_and_a_commit_is_delivered_once(
    outbox: PostgresOutbox,
) -> None:
    async with await connect(outbox) as conn:
        await conn.execute("CREATE TABLE orders (id int PRIMARY KEY)")
        for i in range(10):
            try:
                async with conn.transaction():
                    await conn.execute("INSERT INTO orders VALUES ($1)", i)
                    await outbox.track_event(conn, order(i))
                    if i % 3 == 0:
                        raise Rollback
            except Rollback:
                pass
    committed = {i for i in range(10) if i % 3}
    assert (await outbox.status()).queued == len(committed)

    hub = HubEmulator()
    report = await deliver(outbox, hub)

    assert report.delivered == len(committed)
    assert report.stopped_because == "empty"
    assert sorted(e.properties["order"] for e in hub.events) == sorted(committed)
    assert all(n == 1 for n in hub.processed_keys.values())
    assert (await outbox.status()).to_dict() == {"queued": 0, "in_flight": 0, "failed": 0}


async def test_every_record_gets_a_stored_key_and_keeps_its_own(outbox: PostgresOutbox) -> None:
    async with await connect(outbox) as conn, conn.transaction():
        own = await outbox.track_event(conn, order(1, idempotency_key="order-1-placed"))
        generated = await outbox.trigger(
            conn, WorkflowTriggerRequest(workflow="welcome", recipients=["u2"])
        )
    assert own == "order-1-placed"
    hub = HubEmulator(workflows={"welcome"})
    await deliver(outbox, hub)
    assert [e.idempotency_key for e in hub.events] == ["order-1-placed"]
    assert set(hub.processed_keys) == {own, generated}


async def test_bad_input_is_refused_at_enqueue_and_nothing_is_stored(
    outbox: PostgresOutbox,
) -> None:
    async with await connect(outbox) as conn, conn.transaction():
        with pytest.raises(SuprsendValidationError, match="record"):
            await outbox.enqueue(conn, [order(1), {"distinct_id": "u1"}])  # type: ignore[list-item]
        too_large = Event("u2", "big", {"blob": "x" * 200_000})
        with pytest.raises(SuprsendValidationError, match="event"):
            await outbox.track_event(conn, too_large)
        # PostgreSQL's text holds no NUL character: a key with one is refused, typed,
        # rather than failing in the database driver.
        nul_key = Event("u3", "order_placed", {}, idempotency_key="order-\x003")
        with pytest.raises(SuprsendValidationError, match=r"idempotency_key.*NUL"):
            await outbox.track_event(conn, nul_key)
    assert (await outbox.status()).queued == 0


async def test_a_refused_record_is_kept_with_its_reason_then_retried_or_purged(
    outbox: PostgresOutbox,
) -> None:
    async with await connect(outbox) as conn, conn.transaction():
        await outbox.enqueue(
            conn,
            [
                WorkflowTriggerRequest(workflow="welcome", recipients=["u1"]),
                WorkflowTriggerRequest(workflow="no-such-flow", recipients=["u2"]),
                order(3),
            ],
        )
    hub = HubEmulator(workflows={"welcome"})
    report = await deliver(outbox, hub)
    assert (report.delivered, report.failed) == (2, 1)

    [failure] = await outbox.failures()
    assert failure.kind == "workflow"
    assert failure.code == 404
    assert "no-such-flow" in failure.error
    assert failure.record["workflow"] == "no-such-flow"
    assert failure.idempotency_key == failure.record["$idempotency_key"]
    assert (await outbox.status()).to_dict() == {"queued": 0, "in_flight": 0, "failed": 1}

    # The workflow is created; the kept record is sent again, under its key.
    hub.workflows = frozenset({"welcome", "no-such-flow"})
    assert await outbox.retry([failure.id]) == 1
    assert (await outbox.status()).to_dict() == {"queued": 1, "in_flight": 0, "failed": 0}
    assert (await deliver(outbox, hub)).delivered == 1
    assert hub.processed_keys[failure.idempotency_key] == 1

    hub.workflows = frozenset()
    async with await connect(outbox) as conn:
        await outbox.trigger(conn, WorkflowTriggerRequest(workflow="gone", recipients=["u"]))
    await deliver(outbox, hub)
    assert (await outbox.status()).failed == 1
    assert await outbox.purge() == 1
    assert (await outbox.status()).failed == 0
    assert await outbox.failures() == []


def refused(i: int, **data: Any) -> WorkflowTriggerRequest:
    """A trigger the hub refuses (404: the emulator knows no workflow of that name)."""
    return WorkflowTriggerRequest(workflow="no-such-flow", recipients=[f"u{i}"], data=data)


async def test_a_refused_record_holding_a_nul_is_kept_whole_and_settles_its_batch(
    outbox: PostgresOutbox,
) -> None:
    # jsonb cannot hold \u0000; the failed table's payload keeps any JSON text.
    # The hub's reason quotes the slug, NUL included: a text column holds no NUL either.
    nul_slug = WorkflowTriggerRequest(workflow="gone\x00slug", recipients=["u4"])
    async with await connect(outbox) as conn:
        await outbox.enqueue(
            conn,
            [order(1), refused(2, note="before\x00after"), refused(3, note="plain"), nul_slug],
        )
    hub = HubEmulator(workflows=set())
    report = await deliver(outbox, hub)
    assert (report.delivered, report.failed, report.requeued) == (1, 3, 0)
    assert (await outbox.status()).to_dict() == {"queued": 0, "in_flight": 0, "failed": 3}
    nul, plain, slug = await outbox.failures()
    assert nul.record["data"] == {"note": "before\x00after"}
    assert (nul.code, plain.record["data"]) == (404, {"note": "plain"})
    assert slug.record["workflow"] == "gone\x00slug"
    assert "gone\ufffdslug" in slug.error

    # Sent again as it was enqueued, NUL included.
    hub.workflows = frozenset({"no-such-flow"})
    assert await outbox.retry([nul.id]) == 1
    assert (await deliver(outbox, hub)).delivered == 1
    [trigger] = hub.triggers
    assert trigger.data == {"note": "before\x00after"}


async def test_an_install_from_before_upgrades_the_failed_tables_payload_and_keeps_its_rows(
    postgres_dsn: str,
) -> None:
    async with PostgresOutbox(postgres_dsn) as outbox:
        pool = await outbox.pool()
        # The table as releases before this one made it: payload jsonb, a row in it.
        await pool.execute(CREATE_FAILED_TABLE.replace("payload         json ", "payload jsonb "))
        await pool.execute(
            f"INSERT INTO {FAILED_TABLE} (kind, payload, idempotency_key, error, code,"
            " maybe_delivered, deliveries) VALUES ('workflow', $1::jsonb, 'k', 'e', 404, false, 1)",
            json.dumps({"workflow": "old", "$idempotency_key": "k"}),
        )
        await outbox.install()
        await outbox.install()  # idempotent
        kind = await pool.fetchval(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = $1::regclass AND attname = 'payload'",
            FAILED_TABLE,
        )
        assert kind == "json"
        [old] = await outbox.failures()
        assert old.record == {"workflow": "old", "$idempotency_key": "k"}


async def test_a_table_not_upgraded_still_settles_a_batch_with_a_record_it_cannot_hold(
    outbox: PostgresOutbox,
) -> None:
    # A worker of this release on a failed table installed before it (jsonb), not yet
    # upgraded by install(): the record is kept as text, the batch settles, nothing jams.
    pool = await outbox.pool()
    await pool.execute(f"ALTER TABLE {FAILED_TABLE} ALTER COLUMN payload TYPE jsonb")
    async with await connect(outbox) as conn:
        await outbox.enqueue(conn, [order(1), refused(2, note="a\x00b"), refused(3)])
    report = await deliver(outbox, HubEmulator(workflows=set()))
    assert (report.delivered, report.failed, report.requeued) == (1, 2, 0)
    nul, other = await outbox.failures()
    assert isinstance(nul.record, str)  # the payload's text, its NUL replaced
    assert "no-such-flow" in nul.record
    assert "\x00" not in nul.record
    assert "kept as a JSON string of its text" in nul.error
    assert "outbox install" in nul.error
    assert other.record["workflow"] == "no-such-flow"  # the others are kept as they were
    assert (await outbox.status()).to_dict() == {"queued": 0, "in_flight": 0, "failed": 2}


async def test_a_failure_that_may_pass_is_requeued_then_kept_after_max_deliveries(
    outbox: PostgresOutbox,
) -> None:
    async with await connect(outbox) as conn:
        await outbox.enqueue(conn, [order(i) for i in range(3)])
    hub = HubEmulator()
    hub.fail_next(times=1, status=503)  # one request, the whole batch
    once = RetryPolicy.disabled()

    first = await deliver(outbox, hub, retry=once, requeue_after=0, max_deliveries=5)
    # Requeued, then delivered by the same run on its next dequeue.
    assert first.requeued == 3
    assert first.delivered == 3
    assert first.failed == 0
    assert sorted(hub.processed_keys.values()) == [1, 1, 1]

    async with await connect(outbox) as conn:
        await outbox.track_event(conn, order(9))
    hub.fail_next(times=2, status=503)
    second = await deliver(outbox, hub, retry=once, requeue_after=0, max_deliveries=2)
    assert (second.requeued, second.failed) == (1, 1)
    [failure] = await outbox.failures()
    assert failure.code == 503
    assert failure.deliveries == 2
    assert "after 2 deliveries" in failure.error


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        (Limits(max_single_event_bytes=800), "event"),  # refused by the event's checks
        (Limits(max_body_bytes=800), "a bulk request body may not exceed 800 bytes"),
    ],
    ids=["event size", "request size"],
)
async def test_a_record_the_workers_client_refuses_is_kept_at_once_with_the_reason(
    outbox: PostgresOutbox, limits: Limits, reason: str
) -> None:
    # Enqueued under the default limits, sent by a worker whose client has tighter
    # ones: it can never be sent by that worker, so it is not requeued at all.
    async with await connect(outbox) as conn:
        await outbox.enqueue(conn, [order(1), Event("u2", "big", {"blob": "x" * 1000})])
    hub = HubEmulator()
    async with hub.client(limits=limits) as client:
        report = await outbox.run_worker(
            client, exit_when_empty=True, requeue_after=0, max_deliveries=5
        )
    assert (report.delivered, report.failed, report.requeued) == (1, 1, 0)
    [failure] = await outbox.failures()
    assert (failure.code, failure.maybe_delivered, failure.deliveries) == (None, False, 1)
    assert reason in failure.error
    assert "deliveries" not in failure.error
    assert [e.event for e in hub.events] == ["order_placed"]


@pytest.mark.parametrize("status", [501, 400])
async def test_only_a_4xx_refuses_a_record_for_good_as_the_background_sender_decides(
    outbox: PostgresOutbox, status: int
) -> None:
    # A 501 (or a redirect not followed) may pass, once the hub or the base URL is
    # fixed: requeued, kept after max_deliveries. A 400 is the hub refusing the record.
    async with await connect(outbox) as conn:
        await outbox.track_event(conn, order(1))
    hub = HubEmulator()
    hub.fail_next(times=2, status=status)
    once = RetryPolicy.disabled()
    report = await deliver(outbox, hub, retry=once, requeue_after=0, max_deliveries=2)
    [failure] = await outbox.failures()
    assert failure.code == status
    if status == 400:
        assert (report.requeued, failure.deliveries) == (0, 1)
    else:
        assert (report.requeued, failure.deliveries) == (1, 2)
        assert "after 2 deliveries" in failure.error


async def test_resubmitting_a_job_with_derived_keys_notifies_nobody_twice(
    outbox: PostgresOutbox,
) -> None:
    def campaign() -> list[Event]:
        return [
            order(i, idempotency_key=derive_idempotency_key("campaign-7", i)) for i in range(20)
        ]

    async with await connect(outbox) as conn:
        await outbox.enqueue(conn, campaign())
        await outbox.enqueue(conn, campaign())  # while the first is still waiting
    assert (await outbox.status()).queued == 20

    hub = HubEmulator()
    await deliver(outbox, hub)
    async with await connect(outbox) as conn:
        await outbox.enqueue(conn, campaign())  # after it was delivered
    await deliver(outbox, hub)

    assert len(hub.events) == 20
    assert hub.stats.duplicates_suppressed == 20
    assert all(n == 1 for n in hub.processed_keys.values())


async def test_a_pool_of_yours_is_used_and_left_open(postgres_dsn: str) -> None:
    pool = await asyncpg.create_pool(postgres_dsn, min_size=1, max_size=2)
    try:
        async with PostgresOutbox(pool) as outbox:
            await outbox.install()
            await outbox.install()  # idempotent
            assert "postgres" not in repr(outbox)
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()


def test_status_retry_and_purge_from_the_command_line(
    postgres_dsn: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def run(*args: str) -> dict[str, Any]:
        assert main([*args, "--dsn", postgres_dsn]) == 0
        out = capsys.readouterr().out
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return result

    assert run("outbox", "install") == {"installed": True}

    async def fill() -> None:
        async with PostgresOutbox(postgres_dsn) as outbox:
            async with await connect(outbox) as conn:
                await outbox.enqueue(
                    conn,
                    [WorkflowTriggerRequest(workflow="x", recipients=[f"u{i}"]) for i in (1, 2)],
                )
            await deliver(outbox, HubEmulator(workflows=set()))

    import anyio

    anyio.run(fill)
    status = run("outbox", "status")
    assert (status["queued"], status["in_flight"], status["failed"]) == (0, 0, 2)
    assert [f["code"] for f in status["failures"]] == [404, 404]
    first = status["failures"][0]["id"]
    assert run("outbox", "retry", "--id", str(first)) == {"requeued": 1}
    assert run("outbox", "purge", "--all") == {"purged": 1}
    status = run("outbox", "status")
    assert (status["queued"], status["failed"], status["failures"]) == (1, 0, [])


def test_the_command_line_needs_a_dsn(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SUPRSEND_OUTBOX_DSN", raising=False)
    assert main(["outbox", "status"]) == 2
    assert "--dsn" in capsys.readouterr().err


def test_an_unreachable_database_is_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    monkeypatch.setenv("SUPRSEND_WORKSPACE_KEY", "k")
    monkeypatch.setenv("SUPRSEND_WORKSPACE_SECRET", "s")
    dsn = f"postgresql://app:hunter2@/app?host={tmp_path}/no-server"
    assert main(["outbox-worker", "--dsn", dsn, "--exit-when-empty"]) == 1
    assert main(["outbox", "status", "--dsn", dsn]) == 1
    err = capsys.readouterr().err
    assert err.count("suprsend-async: database error:") == 2
    assert "hunter2" not in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("option", "value"),
    [("batch_size", 0), ("heartbeat_timeout", 0), ("poll_interval", float("nan")),
     ("requeue_after", -1), ("max_deliveries", True), ("heartbeat_timeout", "30")],
)  # fmt: skip
def test_worker_settings_are_checked_with_a_typed_error_naming_the_option(
    option: str, value: object
) -> None:
    from suprsend_async import SuprsendConfigError
    from suprsend_async.outbox import WorkerSettings

    with pytest.raises(SuprsendConfigError, match=option):
        WorkerSettings(**{option: value})  # type: ignore[arg-type]


# (Here, not in test_logging: it needs a PostgreSQL server, which the floors session,
# running test_logging on the oldest dependencies, does not start.)
# Info lines the library logs through plain loggers of its tree, not a client's: an
# outbox worker's (suprsend_async.outbox) delivering one event, and a line of the
# "suprsend_async" logger itself, as the background sender logs its own. With "app" the
# application logs WARNING and up to stderr itself, as basicConfig does.
PLAIN_LOGGERS = textwrap.dedent(
    """
    import logging, sys
    import anyio
    from suprsend_async import Event
    from suprsend_async.outbox import PostgresOutbox
    from suprsend_async.testing import HubEmulator

    if sys.argv[1] == "app":
        logging.basicConfig(level=logging.WARNING, format="APP %(levelname)s %(message)s")

    async def main():
        hub = HubEmulator()
        async with PostgresOutbox(sys.argv[2]) as outbox, hub.client() as client:
            await outbox.install()
            async with (await outbox.pool()).acquire() as conn:
                await outbox.track_event(conn, Event("user-secret-id", "paid"))
            report = await outbox.run_worker(client, exit_when_empty=True)
        assert report.delivered == 1

    anyio.run(main)
    logging.getLogger("suprsend_async").info("library info")
    logging.getLogger("suprsend_async").debug("library debug")
    """
)


@pytest.mark.parametrize("app", ["no-logging-setup", "app"])
def test_suprsend_log_info_shows_the_info_lines_of_every_logger_of_the_library(
    app: str, postgres_dsn: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SUPRSEND_LOG"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["SUPRSEND_LOG"] = "info"
    done = subprocess.run(
        [sys.executable, "-c", PLAIN_LOGGERS, app, postgres_dsn],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = [line.split(" ", 2)[2] for line in done.stderr.splitlines()]
    assert lines[0].startswith("INFO suprsend_async.outbox: outbox worker ")
    assert lines[0].endswith(" listening for records")
    assert lines[1:] == [
        "INFO suprsend_async.outbox: outbox batch: 1 delivered, 0 kept as failed, 0 requeued",
        "INFO suprsend_async: library info",  # not its debug line: below SUPRSEND_LOG's level
    ]
    # Printed once, by the library's handler: the application's own handler (for WARNING,
    # its root logger's level) is not handed what it did not ask for.
