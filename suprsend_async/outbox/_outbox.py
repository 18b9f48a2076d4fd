"""PostgresOutbox: records enqueued in the caller's transaction, on pgqueuer's tables."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import asyncpg
import attrs
from pgqueuer.db import AsyncpgDriver
from pgqueuer.queries import Queries

from .._values.errors import SuprsendConfigError, SuprsendValidationError
from .._values.limits import DEFAULT_LIMITS, Limits
from .._values.models import WorkflowTriggerRequest
from ._records import (
    ENTRYPOINTS,
    Kind,
    OutboxRecord,
    RecordCodec,
    dedupe_key,
    entrypoint_of,
)
from ._schema import CREATE_FAILED_TABLE, FAILED_TABLE, INSTALL_LOCK, UPGRADE_FAILED_TABLE

if TYPE_CHECKING:
    from .._client import AsyncSuprsend
    from ._worker import WorkerReport

__all__ = ["OutboxFailure", "OutboxStatus", "PostgresOutbox"]


@attrs.frozen(kw_only=True)
class OutboxStatus:
    """What the outbox holds: waiting, being sent by a worker, kept as failed."""

    queued: int
    in_flight: int
    failed: int

    def to_dict(self) -> dict[str, int]:
        return attrs.asdict(self)


@attrs.frozen(kw_only=True)
class OutboxFailure:
    """A record a worker could not deliver, kept with the reason (``id`` is for retry/purge)."""

    id: int
    kind: Kind
    record: dict[str, Any]  # the official SDK's dict form, idempotency key included
    idempotency_key: str
    error: str
    code: int | None  # the hub's status for it; None if no answer came
    maybe_delivered: bool  # the hub may have processed it (its key makes a retry harmless)
    deliveries: int
    failed_at: datetime.datetime

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["failed_at"] = self.failed_at.isoformat()
        return data


def _ids(ids: Iterable[int] | None) -> list[int] | None:
    if ids is None:
        return None
    checked = list(ids)
    for value in checked:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SuprsendValidationError("ids", f"must be integers, got {type(value).__name__}")
    return checked


class PostgresOutbox:
    """A transactional outbox for SuprSend records, on PostgreSQL through pgqueuer.

    ``PostgresOutbox(dsn)`` (it opens a small asyncpg pool of its own when first
    needed, closed by :meth:`aclose`) or ``PostgresOutbox(pool)`` (an asyncpg
    pool of yours, never closed here). :meth:`track_event`, :meth:`trigger` and
    :meth:`enqueue` write on the connection you pass, inside your transaction:
    a rollback enqueues nothing, a commit makes the record durable. Workers
    (``suprsend-async outbox-worker`` or :meth:`run_worker`) deliver them.

    asyncio only: asyncpg and pgqueuer are asyncio libraries.
    """

    def __init__(
        self, database: str | asyncpg.Pool[Any], *, limits: Limits = DEFAULT_LIMITS
    ) -> None:
        if isinstance(database, str):
            if not database.strip():
                raise SuprsendConfigError("the outbox needs a PostgreSQL DSN or an asyncpg pool")
            self._dsn: str | None = database
            self._pool: asyncpg.Pool[Any] | None = None
        elif isinstance(database, asyncpg.Pool):
            self._dsn, self._pool = None, database
        else:
            raise SuprsendConfigError(
                f"database must be a DSN string or an asyncpg.Pool, got {type(database).__name__}"
            )
        if not isinstance(limits, Limits):
            raise SuprsendConfigError(f"limits must be a Limits, got {type(limits).__name__}")
        self._codec = RecordCodec(limits)
        self._owns_pool = self._dsn is not None
        self._pool_lock = anyio.Lock()

    def __repr__(self) -> str:
        # Never the DSN: it may carry a password.
        return f"PostgresOutbox({'own pool' if self._owns_pool else 'your pool'})"

    # -- lifecycle ------------------------------------------------------------------

    async def pool(self) -> asyncpg.Pool[Any]:
        """The asyncpg pool: yours, or the one opened from the DSN on first use."""
        async with self._pool_lock:
            if self._pool is None:
                assert self._dsn is not None
                self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=4)
            return self._pool

    async def aclose(self) -> None:
        """Close the pool this outbox opened (a pool you gave stays open)."""
        if self._owns_pool and self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def __aenter__(self) -> PostgresOutbox:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @staticmethod
    def _queries(conn: Any) -> Queries:
        """pgqueuer's queries on ``conn`` (about a microsecond to make: one per call)."""
        return Queries(AsyncpgDriver(conn))

    async def install(self) -> None:
        """Create pgqueuer's tables and the outbox's own, unless they exist, and bring
        an outbox's own table made by an earlier release up to this one's (idempotent,
        and safe when several processes call it at once)."""
        async with (await self.pool()).acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", INSTALL_LOCK)
            queries = self._queries(conn)
            if not await queries.schema_is_installed():
                await queries.install()
            await conn.execute(CREATE_FAILED_TABLE)
            await conn.execute(UPGRADE_FAILED_TABLE)

    # -- enqueue ----------------------------------------------------------------------

    async def track_event(self, conn: Any, event: OutboxRecord) -> str:
        """Enqueue one event on ``conn`` (in its transaction, if one is open).

        Checked as a send would check it (SuprsendValidationError, and nothing
        stored, if it could never be sent). Returns its idempotency key: its
        own, or a generated one that is stored with it.
        """
        [key] = await self.enqueue(conn, [event])
        return key

    async def trigger(self, conn: Any, request: WorkflowTriggerRequest) -> str:
        """Enqueue one workflow trigger on ``conn``; as :meth:`track_event`."""
        [key] = await self.enqueue(conn, [request])
        return key

    async def enqueue(self, conn: Any, records: Iterable[OutboxRecord]) -> list[str]:
        """Enqueue events and workflow triggers on ``conn`` in one round trip.

        All or nothing: every record is checked before any is written. A
        record whose key is already waiting in the outbox is not stored again
        (so resubmitting a job with derived keys is harmless). Returns the
        records' idempotency keys, in order.
        """
        if isinstance(records, (str, bytes, dict)) or not isinstance(records, Iterable):
            raise SuprsendValidationError(
                "records", f"must be an iterable of records, got {type(records).__name__}"
            )
        prepared = [self._codec.prepare(record) for record in records]
        if not prepared:
            return []
        await self._queries(conn).enqueue(
            [entrypoint_of(p.kind) for p in prepared],
            [p.payload for p in prepared],
            [0] * len(prepared),
            None,
            [dedupe_key(p.idempotency_key) for p in prepared],
            on_conflict="skip",
        )
        return [p.idempotency_key for p in prepared]

    # -- operations -------------------------------------------------------------------

    async def status(self) -> OutboxStatus:
        """How many records wait, are held by a worker, and were kept as failed."""
        async with (await self.pool()).acquire() as conn:
            counts = await self._queries(conn).queue_size()
            failed = await conn.fetchval(f"SELECT count(*) FROM {FAILED_TABLE}")  # noqa: S608
        ours = [c for c in counts if c.entrypoint in ENTRYPOINTS]
        return OutboxStatus(
            queued=sum(c.count for c in ours if c.status == "queued"),
            in_flight=sum(c.count for c in ours if c.status == "picked"),
            failed=int(failed),
        )

    async def failures(self, *, limit: int = 100) -> list[OutboxFailure]:
        """The records kept as failed, oldest first (at most ``limit``)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise SuprsendValidationError("limit", "must be a positive integer")
        async with (await self.pool()).acquire() as conn:
            rows = await conn.fetch(
                f"SELECT id, kind, payload::text AS payload, idempotency_key, error, code,"  # noqa: S608
                f" maybe_delivered, deliveries, failed_at FROM {FAILED_TABLE}"
                " ORDER BY id LIMIT $1",
                limit,
            )
        return [
            OutboxFailure(
                id=row["id"],
                kind=row["kind"],
                record=json.loads(row["payload"]),
                idempotency_key=row["idempotency_key"],
                error=row["error"],
                code=row["code"],
                maybe_delivered=row["maybe_delivered"],
                deliveries=row["deliveries"],
                failed_at=row["failed_at"],
            )
            for row in rows
        ]

    async def retry(self, ids: Sequence[int] | None = None) -> int:
        """Put failed records (those of ``ids``, or all) back in the queue, with their
        keys: a record the hub did process after all is not processed twice. Returns
        how many."""
        wanted = _ids(ids)
        async with (await self.pool()).acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"DELETE FROM {FAILED_TABLE} WHERE $1::bigint[] IS NULL OR id = ANY($1)"  # noqa: S608
                " RETURNING kind, payload::text AS payload, idempotency_key",
                wanted,
            )
            if rows:
                await self._queries(conn).enqueue(
                    [entrypoint_of(row["kind"]) for row in rows],
                    [row["payload"].encode() for row in rows],
                    [0] * len(rows),
                    None,
                    [dedupe_key(row["idempotency_key"]) for row in rows],
                    on_conflict="skip",
                )
        return len(rows)

    async def purge(self, ids: Sequence[int] | None = None) -> int:
        """Delete failed records (those of ``ids``, or all): they will never be sent.
        Returns how many."""
        wanted = _ids(ids)
        async with (await self.pool()).acquire() as conn:
            status = await conn.execute(
                f"DELETE FROM {FAILED_TABLE} WHERE $1::bigint[] IS NULL OR id = ANY($1)",  # noqa: S608
                wanted,
            )
        return int(status.split()[-1])

    async def run_worker(
        self,
        client: AsyncSuprsend,
        *,
        exit_when_empty: bool = False,
        batch_size: int = 1000,
        heartbeat_timeout: float = 30.0,
        poll_interval: float = 5.0,
        requeue_after: float = 10.0,
        max_deliveries: int = 20,
        stop: anyio.Event | None = None,
        abandon: anyio.Event | None = None,
    ) -> WorkerReport:
        """Deliver queued records through ``client`` until ``stop`` is set (or, with
        ``exit_when_empty``, until nothing is queued or in flight anywhere).

        The options are :class:`~suprsend_async.outbox.WorkerSettings`'s.
        ``abandon``: cancel the requests in flight and put their records back in
        the queue at once.
        """
        from ._worker import OutboxWorker, WorkerSettings

        settings = WorkerSettings(
            exit_when_empty=exit_when_empty,
            batch_size=batch_size,
            heartbeat_timeout=heartbeat_timeout,
            poll_interval=poll_interval,
            requeue_after=requeue_after,
            max_deliveries=max_deliveries,
        )
        return await OutboxWorker(self, client, settings).run(stop=stop, abandon=abandon)
