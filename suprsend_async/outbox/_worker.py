"""The outbox worker: take a batch of records from pgqueuer, send it through the bulk
engine, and settle every record of it in one transaction.

Why not pgqueuer's QueueManager: it dispatches each job to a task of its own,
and the hub takes records in requests of up to a hundred; a worker built on
it would have to gather jobs back into batches. pgqueuer's queries do what
matters here and are used as they are: the dequeue (``FOR UPDATE SKIP
LOCKED``, so workers anywhere never take the same record, and re-taking jobs
whose worker stopped sending heartbeats), heartbeats, the job log, retries.

What each record becomes, once its batch was sent:

- delivered: its job is logged "successful" and leaves the queue;
- refused by the hub (a 4xx for it), no longer a valid record, or one this
  worker's client cannot send (its limits are tighter than those it was
  enqueued under): kept in the failed table with the reason at once
  (``outbox status``; ``outbox retry|purge``);
- not delivered for a reason that may pass (no answer, 5xx, 429, a redirect
  not followed, still failing after the bulk engine's own retries): queued again, after a
  delay that doubles with each delivery, and kept as failed after
  ``max_deliveries``.

Each record carries its idempotency key from the moment it was enqueued, so a
batch sent again (its worker died after the hub processed it, or a retry)
notifies nobody twice.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections import defaultdict
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import anyio
import asyncpg
import attrs
from pgqueuer.models import Job
from pgqueuer.queries import EntrypointExecutionParameter, Queries
from pgqueuer.types import QueueEntrypoint, QueueManagerId

from .._core.bulk import BulkItem, FailedRecord, RecordKind, run_bulk
from .._core.logging import library_logger
from .._values.errors import SuprsendConfigError, SuprsendValidationError
from .._values.idempotency import refused_record
from .._wire.chunking import ChunkBuilder, TooLarge
from ._records import ENTRYPOINTS, Kind, OutboxRecord, RecordCodec, kind_of, records_of
from ._schema import FAILED_TABLE

if TYPE_CHECKING:
    from .._client import AsyncSuprsend
    from ._outbox import PostgresOutbox

__all__ = ["OutboxWorker", "WorkerReport", "WorkerSettings"]

logger = library_logger("suprsend_async.outbox")

_MAX_REQUEUE_DELAY = 600.0

# The payload's type is the column's: json, or jsonb in a table an earlier release made.
_INSERT_FAILED = f"""
INSERT INTO {FAILED_TABLE}
    (kind, payload, idempotency_key, error, code, maybe_delivered, deliveries)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""  # noqa: S608


@attrs.frozen(kw_only=True)
class WorkerReport:
    """What one worker run did."""

    batches: int
    delivered: int
    failed: int  # kept in the failed table
    requeued: int  # put back for a later delivery
    stopped_because: str  # "empty", "stopped" or "abandoned"

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.define
class _Kept:
    job: Job
    kind: Kind
    error: str
    code: int | None
    maybe_delivered: bool


@attrs.define
class _Settlement:
    delivered: list[Job] = attrs.field(factory=list)
    kept: list[_Kept] = attrs.field(factory=list)
    requeued: list[Job] = attrs.field(factory=list)


def _seconds(*, zero: bool = False) -> Callable[[object, attrs.Attribute[float], float], None]:
    def check(_: object, attribute: attrs.Attribute[float], value: float) -> None:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        in_range = number and (value >= 0 if zero else value > 0) and value < 1e9  # NaN: False
        if not in_range:
            least = "0" if zero else "more than 0"
            raise SuprsendConfigError(f"{attribute.name} must be {least} seconds, got {value!r}")

    return check


def _count(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SuprsendConfigError(f"{attribute.name} must be a positive integer, got {value!r}")


@attrs.frozen(kw_only=True)
class WorkerSettings:
    """How a worker drains the outbox (``PostgresOutbox.run_worker``'s options).

    - ``batch_size``: records taken per dequeue (sent concurrently, at the
      client's ``max_concurrency``, in requests of up to 100).
    - ``heartbeat_timeout``: seconds without a heartbeat after which any
      worker takes over a batch (its worker is taken for dead); heartbeats
      are sent every quarter of it while a batch is out.
    - ``poll_interval``: seconds between looks at an idle queue (an enqueue
      wakes the worker at once through pgqueuer's NOTIFY; this is the backstop).
    - ``requeue_after``: seconds before a record that failed for a passing
      reason is tried again, doubled at each delivery (at most 10 minutes).
    - ``max_deliveries``: deliveries of a record before it is kept as failed.
    - ``exit_when_empty``: return once nothing of the outbox is queued or in
      flight (held by any worker): for batch jobs and tests.
    """

    exit_when_empty: bool = False
    batch_size: int = attrs.field(default=1000, validator=_count)
    heartbeat_timeout: float = attrs.field(default=30.0, validator=_seconds())
    poll_interval: float = attrs.field(default=5.0, validator=_seconds())
    requeue_after: float = attrs.field(default=10.0, validator=_seconds(zero=True))
    max_deliveries: int = attrs.field(default=20, validator=_count)


class OutboxWorker:
    """Drains a :class:`PostgresOutbox` through one ``AsyncSuprsend`` (and its pool)."""

    def __init__(
        self, outbox: PostgresOutbox, client: AsyncSuprsend, settings: WorkerSettings
    ) -> None:
        self.outbox = outbox
        self.client = client
        self.settings = settings
        self._manager_id = QueueManagerId(uuid.uuid4())
        self._entrypoints = {
            QueueEntrypoint(entrypoint): EntrypointExecutionParameter(concurrency_limit=0)
            for entrypoint in ENTRYPOINTS
        }
        self._wake = anyio.Event()
        self._totals = {"batches": 0, "delivered": 0, "failed": 0, "requeued": 0}

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def run(
        self, *, stop: anyio.Event | None = None, abandon: anyio.Event | None = None
    ) -> WorkerReport:
        """Until ``stop`` is set: finish the batch out, then return. ``abandon``: cancel
        the requests in flight and put their records back in the queue at once."""
        stop = stop or anyio.Event()
        abandon = abandon or anyio.Event()
        pool = await self.outbox.pool()
        channel = self.outbox._queries(None).qbe.settings.channel
        reason = "stopped"
        async with pool.acquire() as conn:
            queries = self.outbox._queries(conn)
            await conn.add_listener(channel, self._notified)
            logger.info("outbox worker %s listening for records", self._manager_id)
            try:
                while not stop.is_set():
                    # Renewed before looking: an enqueue from here on wakes the idle wait.
                    self._wake = anyio.Event()
                    jobs = await queries.dequeue(
                        batch_size=self.settings.batch_size,
                        entrypoints=self._entrypoints,
                        queue_manager_id=self._manager_id,
                        global_concurrency_limit=None,
                        heartbeat_timeout=datetime.timedelta(
                            seconds=self.settings.heartbeat_timeout
                        ),
                    )
                    if jobs:
                        await self._deliver(conn, queries, jobs, abandon)
                        if abandon.is_set():
                            reason = "abandoned"
                            break
                        continue
                    if self.settings.exit_when_empty and not await self._anything_left(queries):
                        reason = "empty"
                        break
                    await self._idle(stop)
            finally:
                with anyio.CancelScope(shield=True):
                    await conn.remove_listener(channel, self._notified)
        return WorkerReport(stopped_because=reason, **self._totals)

    async def _anything_left(self, queries: Queries) -> bool:
        """Records queued (due or not) or held by a worker, this one's included."""
        counts = await queries.queue_size()
        return any(
            c.count
            for c in counts
            if c.entrypoint in ENTRYPOINTS and c.status in ("queued", "picked")
        )

    async def _idle(self, stop: anyio.Event) -> None:
        # A record that becomes due (a requeue's delay ending) or a batch whose
        # worker died sends no NOTIFY: the interval is what finds those.
        interval = min(self.settings.poll_interval, self.settings.heartbeat_timeout / 2)
        with anyio.move_on_after(interval):
            async with anyio.create_task_group() as tg:

                async def until(event: anyio.Event) -> None:
                    await event.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(until, self._wake)
                tg.start_soon(until, stop)

    async def _deliver(
        self, conn: Any, queries: Queries, jobs: list[Job], abandon: anyio.Event
    ) -> None:
        settlement = _Settlement()
        groups: dict[Kind, list[tuple[Job, OutboxRecord]]] = defaultdict(list)
        for job in jobs:
            kind = kind_of(job.entrypoint)
            try:
                groups[kind].append((job, RecordCodec.read(kind, job.payload)))
            except SuprsendValidationError as exc:
                settlement.kept.append(_Kept(job, kind, str(exc), None, False))
        beating = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._heartbeat, queries, [job.id for job in jobs], beating)
            try:
                for kind, group in groups.items():
                    records = records_of(kind)
                    sendable = self._sendable(settlement, kind, records, group)
                    response = await run_bulk(
                        self.client,
                        [item for _, item in sendable],
                        kind=records,
                        abandon=abandon,
                        body_of=attrgetter("body"),
                    )
                    failed = {f.index: f for f in response.failed_records}
                    for index, (job, _) in enumerate(sendable):
                        failure = failed.get(index)
                        if failure is None:
                            settlement.delivered.append(job)
                        else:
                            self._sort(settlement, job, kind, failure)
            finally:
                beating.set()  # the heartbeat ends after the update it may be sending
        await self._settle(conn, queries, settlement, at_once=abandon.is_set())

    def _sendable(
        self,
        settlement: _Settlement,
        kind: Kind,
        records: RecordKind,
        group: list[tuple[Job, OutboxRecord]],
    ) -> list[tuple[Job, BulkItem]]:
        """The group's records checked and encoded as the bulk engine would; one this
        worker's client refuses (a check, or too large for any request under its limits)
        is kept as failed at once: no later delivery by this worker could send it."""
        client, limits = self.client, self.client.limits
        # One record a chunk: the engine's own test of a record alone against the body limit.
        alone: ChunkBuilder[BulkItem] = ChunkBuilder(
            1, records.max_body_bytes(limits), records.record_overhead(limits)
        )
        sendable: list[tuple[Job, BulkItem]] = []
        for job, record in group:
            try:
                item = records.prepare(client, len(sendable), record)
            except SuprsendValidationError as exc:
                settlement.kept.append(_Kept(job, kind, str(exc), None, False))
                continue
            too_large = alone.add(item, item.body)
            if isinstance(too_large, TooLarge):
                settlement.kept.append(_Kept(job, kind, too_large.reason, None, False))
                continue
            sendable.append((job, item))
        return sendable

    def _sort(self, settlement: _Settlement, job: Job, kind: Kind, failure: FailedRecord) -> None:
        # What is left here was sent, or could have been: only the hub refuses it for good.
        code = failure.code
        refused = refused_record(code)
        deliveries = job.attempts + 1
        if refused or deliveries >= self.settings.max_deliveries:
            error = failure.error
            if not refused:
                error = f"{error} (after {deliveries} deliveries)"
            settlement.kept.append(_Kept(job, kind, error, code, failure.maybe_delivered))
        else:
            settlement.requeued.append(job)

    async def _heartbeat(self, queries: Queries, ids: list[Any], done: anyio.Event) -> None:
        # Never cancelled mid-query (a cancelled asyncpg query would leave the
        # connection busy for the settlement): it is told to stop instead.
        while True:
            with anyio.move_on_after(self.settings.heartbeat_timeout / 4):
                await done.wait()
            if done.is_set():
                return
            await queries.update_heartbeat(ids)

    async def _settle(
        self, conn: Any, queries: Queries, settlement: _Settlement, *, at_once: bool
    ) -> None:
        """Every record of the batch, in one transaction: a worker killed before it
        commits leaves the whole batch to be taken over and sent again (harmless:
        every record is keyed)."""
        finished = [(job, "successful") for job in settlement.delivered]
        finished += [(kept.job, "exception") for kept in settlement.kept]
        with anyio.CancelScope(shield=True):
            async with conn.transaction():
                if settlement.kept:
                    await _keep(conn, settlement.kept)
                if finished:
                    await queries.log_jobs([(job, status, None) for job, status in finished])  # type: ignore[misc]
                for job in settlement.requeued:
                    await queries.retry_job(job, self._delay(job, at_once), None)
        self._totals["batches"] += 1
        self._totals["delivered"] += len(settlement.delivered)
        self._totals["failed"] += len(settlement.kept)
        self._totals["requeued"] += len(settlement.requeued)
        logger.info(
            "outbox batch: %d delivered, %d kept as failed, %d requeued",
            len(settlement.delivered),
            len(settlement.kept),
            len(settlement.requeued),
        )

    def _delay(self, job: Job, at_once: bool) -> datetime.timedelta:
        if at_once:  # abandoned by this worker, not failed: another may take it now
            return datetime.timedelta(0)
        seconds = min(self.settings.requeue_after * 2**job.attempts, _MAX_REQUEUE_DELAY)
        return datetime.timedelta(seconds=seconds)


async def _keep(conn: Any, kept: list[_Kept]) -> None:
    """Insert the records kept as failed; one the table cannot hold does not fail the
    batch's settlement (which would leave the whole batch to be sent again, forever).

    Each try is a savepoint, so a refused insert leaves the batch's transaction usable.
    """
    rows = [_failed_row(k) for k in kept]
    try:
        async with conn.transaction():
            await conn.executemany(_INSERT_FAILED, rows)
        return
    except asyncpg.DataError:
        pass  # which row: one at a time
    for row in rows:
        try:
            async with conn.transaction():
                await conn.execute(_INSERT_FAILED, *row)
        except asyncpg.DataError as exc:
            await conn.execute(_INSERT_FAILED, *_as_text(row, exc))


def _failed_row(kept: _Kept) -> tuple[Any, ...]:
    payload, key = _stored(kept.job.payload)
    error = _storable(kept.error)
    return (kept.kind, payload, key, error, kept.code, kept.maybe_delivered, kept.job.attempts + 1)


def _as_text(row: tuple[Any, ...], exc: Exception) -> tuple[Any, ...]:
    """``row`` with its payload as a JSON string of its text, which any JSON column holds
    (NULs replaced: jsonb has none), and the error saying so."""
    kind, payload, key, error, *rest = row
    error += (
        f" (its payload is kept as a JSON string of its text, NULs replaced: the failed"
        f" table refused it as JSON, {type(exc).__name__}; `suprsend-async outbox install`"
        " upgrades a table made by an earlier release to keep any JSON)"
    )
    return (kind, json.dumps(payload.replace("\x00", "\ufffd")), key, error, *rest)


def _storable(text: str) -> str:
    """``text`` as a text column holds it: no NUL, no lone surrogate (each replaced)."""
    if text.isascii() and "\x00" not in text:
        return text
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python reads NaN and Infinity; PostgreSQL not


def _stored(payload: bytes | None) -> tuple[str, str]:
    """The payload as JSON text for the failed table, and the key it holds ("" if none).

    A payload that is not JSON (written by hand) is kept as a JSON string.
    """
    text = (payload or b"").decode(errors="replace")
    try:
        body = json.loads(text, parse_constant=_no_constant)
    except ValueError:
        return json.dumps(text), ""
    key = body.get("$idempotency_key") if isinstance(body, dict) else None
    return text, _storable(key) if isinstance(key, str) else ""
