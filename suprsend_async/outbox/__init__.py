"""A transactional outbox on PostgreSQL: records enqueued in your transaction, sent by
workers anywhere (``pip install 'suprsend-async[postgres]'``).

::

    outbox = PostgresOutbox("postgresql://app@db/app")
    await outbox.install()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("INSERT INTO orders ...")
        await outbox.track_event(conn, Event("u1", "order_placed", {"id": 42}))

then ``suprsend-async outbox-worker --dsn postgresql://app@db/app`` on any number
of machines. Built on pgqueuer (its tables, ``FOR UPDATE SKIP LOCKED`` dequeue,
heartbeats) and asyncpg; asyncio only.
"""

try:
    import asyncpg  # noqa: F401
    import pgqueuer  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "suprsend_async.outbox needs the postgres extra: pip install 'suprsend-async[postgres]'"
    ) from exc

from .._values.derived_keys import derive_idempotency_key
from ._outbox import OutboxFailure, OutboxStatus, PostgresOutbox
from ._worker import OutboxWorker, WorkerReport, WorkerSettings

__all__ = [
    "OutboxFailure",
    "OutboxStatus",
    "OutboxWorker",
    "PostgresOutbox",
    "WorkerReport",
    "WorkerSettings",
    "derive_idempotency_key",
]
