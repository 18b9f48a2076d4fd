"""The PostgreSQL outbox in one process: enqueue in a transaction, deliver, keep
what the hub refuses, retry and purge it. Against a real PostgreSQL (tests/_postgres.py).

asyncio only: asyncpg and pgqueuer are asyncio libraries.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from suprsend_async import Event, RetryPolicy, SuprsendValidationError, WorkflowTriggerRequest
from suprsend_async._cli import main
from suprsend_async.outbox import PostgresOutbox, derive_idempotency_key
from suprsend_async.testing import HubEmulator

pytestmark = pytest.mark.anyio


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
