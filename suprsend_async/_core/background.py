"""The background sender (``client.background()``): accept records on the request path in
microseconds, send them in bulk behind the caller's back.

Accepting checks and encodes a record at once (a bad one raises there, in the
caller's code), gives it an idempotency key (its own, or a fresh one kept
with it) and queues its wire bytes: in memory, bounded, or in a SQLite spool
(``_core/spool.py``), where "accepted" means committed to disk. One uploader
task takes what is queued in batches and sends each batch through the bulk
engine (``run_bulk``: chunking, concurrency, retries). What the hub accepted
is forgotten, what it refused (a 4xx for the record) is kept as failed with
the reason, and what could not be sent (no answer, 5xx, 429) waits and goes
again after a backoff, forever: the hub drops the second copy of a keyed
record it already processed.
"""

from __future__ import annotations

import collections
import functools
import logging
import math
import os
import random
import time
import weakref
from collections.abc import Mapping
from types import TracebackType
from typing import Literal

import anyio
import anyio.to_thread
import attrs

from .._values.errors import (
    SuprsendClientClosedError,
    SuprsendConfigError,
    SuprsendQueueFullError,
    SuprsendSpoolError,
    SuprsendValidationError,
)
from .._values.limits import shown
from .._values.models import Event, WorkflowTriggerRequest
from .._wire.serialization import new_insert_id
from .bulk import FailedRecord, run_bulk
from .bulk import RecordKind as BulkKind
from .context import ClientContext
from .retry import is_retryable_status
from .spool import Pending, RecordKind, Spool, SpoolCounts, SpooledRecord, UploadLock

__all__ = ["BackgroundSender", "SenderStats", "WhenFull"]

logger = logging.getLogger("suprsend_async")

WhenFull = Literal["block", "drop_new", "raise"]
_WHEN_FULL = ("block", "drop_new", "raise")
DEFAULT_MAX_QUEUE = 10_000
DEFAULT_EXIT_TIMEOUT = 5.0
DEFAULT_MAX_BACKOFF = 30.0
DEFAULT_POLL_INTERVAL = 1.0
_FIRST_BACKOFF = 0.5
# Records a batch holds per request the client may have in flight: enough
# that the bulk engine's workers stay busy while the batch lasts.
_REQUESTS_PER_WORKER = 8
# Failed records a sender without a spool remembers (the oldest go first).
_FAILED_KEPT = 10_000


@attrs.frozen(kw_only=True)
class SenderStats:
    """A background sender's counts since it started (``sender.stats()``).

    ``queued`` is what waits to be sent: without a spool, this sender's
    records (in flight included); with one, every pending record in the
    spool file, other processes' included (as of the last look at it).
    """

    accepted: int
    sent: int
    failed: int  # refused by the hub: see sender.failed()
    dropped: int  # refused by a full queue (when_full="drop_new")
    retried: int  # records sent again after a batch could not deliver them
    queued: int
    in_flight: int
    uploading: bool  # this sender is the one sending (a spool has one per machine)
    spool_failed: int | None  # failed records in the spool file; None without one
    spool_bytes: int | None  # the spool's size on disk; None without one


class _Commit:
    """Rows that will be written in one transaction, and who waits for it."""

    __slots__ = ("done", "error", "rows")

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, bytes, float]] = []
        self.done = anyio.Event()
        self.error: Exception | None = None


_NEW, _OPEN, _CLOSING, _CLOSED, _FORKED = "new", "open", "closing", "closed", "forked"
# Every sender not yet closed, for the fork hook.
_LIVE: weakref.WeakSet[BackgroundSender] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for sender in list(_LIVE):
        sender._forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _seconds(value: object, name: str, *, zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SuprsendConfigError(f"{name} must be a number of seconds, got {shown(value)}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not zero):
        what = "0 or more" if zero else "more than 0"
        raise SuprsendConfigError(f"{name} must be finite seconds, {what}; got {shown(value)}")
    return seconds


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SuprsendConfigError(f"{name} must be a positive integer, got {shown(value)}")
    return value


def _refused(failure: FailedRecord) -> bool:
    """The hub said no to this record itself; sending it again would get the same answer."""
    code = failure.code
    return code is not None and 400 <= code < 500 and not is_retryable_status(code)


class BackgroundSender:
    """Accepts events and workflow triggers at once and sends them in bulk in the background.

    Made by :meth:`AsyncSuprsend.background`; use it as ``async with``. See
    the README's "Background sending" for what each mode guarantees.
    """

    def __init__(
        self,
        client: ClientContext,
        *,
        kinds: Mapping[RecordKind, BulkKind],
        spool: str | os.PathLike[str] | None = None,
        fsync: bool = True,
        max_queue: int | None = None,
        when_full: WhenFull | None = None,
        exit_timeout: float = DEFAULT_EXIT_TIMEOUT,
        batch_size: int | None = None,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        if spool is not None and not isinstance(spool, (str, os.PathLike)):
            raise SuprsendConfigError(f"spool must be a file path, got {type(spool).__name__}")
        if spool is not None and (max_queue is not None or when_full is not None):
            raise SuprsendConfigError(
                "max_queue and when_full bound the in-memory queue; a spool is bounded by its disk"
            )
        if not isinstance(fsync, bool):
            raise SuprsendConfigError(f"fsync must be True or False, got {type(fsync).__name__}")
        if when_full is not None and when_full not in _WHEN_FULL:
            raise SuprsendConfigError(
                f"when_full must be one of {', '.join(_WHEN_FULL)}; got {shown(when_full)}"
            )
        self._client = client
        self._kinds = dict(kinds)  # what the bulk engine sends each kind with (its path)
        self._spool_path = os.fspath(spool) if spool is not None else None
        self._fsync = fsync
        self._max_queue = _count(DEFAULT_MAX_QUEUE if max_queue is None else max_queue, "max_queue")
        self._when_full: WhenFull = when_full or "block"
        self._exit_timeout = _seconds(exit_timeout, "exit_timeout", zero=True)
        limits = client.limits
        self._batch_size = _count(
            batch_size
            if batch_size is not None
            else client.max_concurrency * limits.max_records_per_request * _REQUESTS_PER_WORKER,
            "batch_size",
        )
        self._max_backoff = _seconds(max_backoff, "max_backoff")
        self._poll_interval = _seconds(poll_interval, "poll_interval")
        self._telemetry = client._transport.telemetry
        self._state = _NEW
        self._pid = os.getpid()
        # Counts.
        self._accepted = self._sent = self._failed_count = self._dropped = self._retried = 0
        self._unreported_accepted = 0  # counted on the OTel counter by the uploader, not per call
        self._in_flight: list[Pending] = []
        # Without a spool: the queue, and the failed records kept for failed().
        self._queue: collections.deque[Pending] = collections.deque()
        self._failed_kept: collections.deque[SpooledRecord] = collections.deque(maxlen=_FAILED_KEPT)
        self._next_id = 0
        self._room = anyio.Event()  # set when the queue frees room (then replaced)
        self._dropping = False  # in an episode of drops: logged once per episode
        # With a spool: one connection, used by one worker thread at a time. (Two,
        # one for accepting and one for sending, made each wait for the other's
        # write lock in SQLite's busy handler, which sleeps in steps of milliseconds.)
        self._db: Spool | None = None
        self._lock: UploadLock | None = None
        self._limiter = anyio.CapacityLimiter(1)
        self._commit = _Commit()  # the rows the next transaction writes
        self._writing: _Commit | None = None  # the one being written
        self._write_wake = anyio.Event()
        self._last_id = 0  # the newest record this sender committed
        self._counts = SpoolCounts(pending=0, failed=0, size_bytes=0)
        # The uploader.
        self._upload_wake = anyio.Event()
        self._settled = anyio.Event()  # set after each settled batch (then replaced)
        self._stop_claiming = False  # closing: the batch in flight is the last
        self._task_group: anyio.abc.TaskGroup | None = None

    def __repr__(self) -> str:
        where = f"spool={self._spool_path!r}" if self._spool_path else "memory"
        return f"BackgroundSender({where}, state={self._state})"

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> BackgroundSender:
        if self._state is not _NEW:
            raise SuprsendConfigError("a background sender can be started once; make another")
        self._client._ensure_open()
        if self._spool_path is not None:
            await self._open_spool(self._spool_path)
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        task_group.start_soon(self._upload_loop)
        if self._db is not None:
            task_group.start_soon(self._write_loop)
        self._state = _OPEN
        _LIVE.add(self)
        self._telemetry.watch(self)
        return self

    async def _open_spool(self, path: str) -> None:
        # Opening checks the file: a bad one fails here, at start.
        db = self._db = await anyio.to_thread.run_sync(
            functools.partial(Spool, path, fsync=self._fsync)
        )
        try:
            self._lock = UploadLock(db.path)
            self._counts = await anyio.to_thread.run_sync(db.counts)
            # What an earlier sender left is this one's to send: drain() waits for it too.
            self._last_id = await anyio.to_thread.run_sync(db.last_id)
        except BaseException:
            await self._close_spool()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop accepting, send what was accepted for up to ``exit_timeout`` seconds, stop.

        What is left stays in the spool for the next sender; without a spool
        it is lost, and said so: a warning with the count, and the
        ``lost`` outcome on the records counter.
        """
        if self._state is _FORKED or self._state is _CLOSED or self._task_group is None:
            self._state = _CLOSED if self._state is not _FORKED else _FORKED
            return
        self._state = _CLOSING
        task_group = self._task_group
        # Shielded (an app being cancelled still gets its deadline to flush),
        # and bounded by the deadline.
        with anyio.CancelScope(shield=True), anyio.move_on_after(self._exit_timeout):
            await self._written()
            await self._until_settled()
            # The batch in flight may hold records that are not this sender's (a
            # spool's other processes'): cut off, they would be sent again by the
            # next sender. It finishes first; no new one starts.
            self._stop_claiming = True
            while self._in_flight:
                await self._settled.wait()
        # (The task group's scope was entered first, in __aenter__: it is left
        # outside the ones above.)
        task_group.cancel_scope.cancel()
        await task_group.__aexit__(None, None, None)
        self._task_group = None
        self._fail_unwritten()
        self._report_left()
        with anyio.CancelScope(shield=True):
            await self._close_spool()
        self._state = _CLOSED
        _LIVE.discard(self)
        self._telemetry.forget(self)
        self._room.set()  # callers blocked on a full queue: they now see it closed

    def _report_left(self) -> None:
        self._flush_counters()
        if self._db is None:
            lost = len(self._queue) + len(self._in_flight)
            if lost:
                logger.warning(
                    "background sender stopped with %d records not sent (in memory: lost;"
                    " %d were in flight, the hub may have them)",
                    lost,
                    len(self._in_flight),
                )
                self._telemetry.background("lost", lost)
            self._queue.clear()
            self._in_flight = []
        elif self._counts.pending:
            logger.info(
                "background sender stopped; %d records wait in the spool %s for the next one",
                self._counts.pending,
                self._spool_path,
            )

    async def _close_spool(self) -> None:
        if self._db is not None:
            await anyio.to_thread.run_sync(self._db.close)
        if self._lock is not None:
            self._lock.release()

    def _forget_after_fork(self) -> None:
        """In a forked child: nothing of this sender is the child's (the parent's
        event loop, SQLite connections and upload lock); calls raise."""
        self._state = _FORKED
        if self._db is not None:
            self._db.forget_in_child()
        if self._lock is not None:
            self._lock.forget_in_child()
        self._queue = collections.deque()
        self._in_flight = []

    def _closed_error(self) -> SuprsendClientClosedError:
        if self._state is _FORKED:
            return SuprsendClientClosedError(
                f"this background sender belongs to process {self._pid}, not to this forked"
                " child; open a new client and client.background(...) in the child"
            )
        if self._state is _NEW:
            return SuprsendClientClosedError(
                "this background sender is not started: use `async with client.background()`"
            )
        return SuprsendClientClosedError("this background sender is closed")

    # -- accepting --------------------------------------------------------------------------

    async def track_event(self, event: Event) -> str | None:
        """Accept an event; its idempotency key (its own, or the one given to it now).

        Without a spool it returns as soon as the event is queued (None if the
        queue was full and ``when_full="drop_new"``); with one, once it is on
        disk. A record that breaks a rule raises SuprsendValidationError here.
        """
        if not isinstance(event, Event):
            raise SuprsendValidationError(
                "event", f"track_event() takes an Event, got {type(event).__name__}"
            )
        key = event.idempotency_key or new_insert_id()
        body = self._client._serializer.event_bytes(event, idempotency_key=key)
        return await self._accept("event", key, body)

    async def trigger(self, request: WorkflowTriggerRequest) -> str | None:
        """Accept a workflow trigger; its idempotency key. As :meth:`track_event`."""
        if not isinstance(request, WorkflowTriggerRequest):
            raise SuprsendValidationError(
                "request", f"trigger() takes a WorkflowTriggerRequest, got {type(request).__name__}"
            )
        key = request.idempotency_key or new_insert_id()
        body = self._client._serializer.encode_trigger(request, idempotency_key=key).body
        return await self._accept("workflow", key, body)

    async def _accept(self, kind: RecordKind, key: str, body: bytes) -> str | None:
        if self._state is not _OPEN:
            raise self._closed_error()
        limits = self._client.limits
        overhead = limits.workflow_record_overhead_bytes if kind == "workflow" else 0
        if len(body) + overhead + 2 > limits.max_body_bytes:
            # Alone in a request it would still be refused: never queue it.
            raise SuprsendValidationError(
                "record",
                f"is {len(body)} bytes; a bulk request body may not exceed {limits.max_body_bytes}",
            )
        if self._db is not None:
            return await self._accept_to_spool(kind, key, body)
        queue = self._queue
        while len(queue) + len(self._in_flight) >= self._max_queue:
            if self._when_full == "drop_new":
                self._drop()
                return None
            if self._when_full == "raise":
                raise SuprsendQueueFullError(
                    f"the background sender's queue holds max_queue={self._max_queue} records"
                )
            room = self._room
            await room.wait()
            if self._state is not _OPEN:
                raise self._closed_error()
        self._next_id += 1
        queue.append(Pending(self._next_id, kind, key, body, time.time()))
        self._accepted += 1
        self._unreported_accepted += 1
        self._dropping = False
        self._upload_wake.set()
        return key

    def _drop(self) -> None:
        self._dropped += 1
        self._telemetry.background("dropped")
        if not self._dropping:  # once per episode of a full queue, not per record
            self._dropping = True
            logger.warning(
                "background sender's queue is full (max_queue=%d): dropping new records"
                " (%d dropped so far)",
                self._max_queue,
                self._dropped,
            )

    async def _accept_to_spool(self, kind: RecordKind, key: str, body: bytes) -> str:
        # Group commit: every caller arriving while a transaction is written
        # joins the next one, and all of them wait for that one commit.
        commit = self._commit
        commit.rows.append((kind, key, body, time.time()))
        self._write_wake.set()
        await commit.done.wait()
        if commit.error is not None:
            raise commit.error
        return key

    async def _write_loop(self) -> None:
        db = self._db
        assert db is not None
        while True:
            await self._write_wake.wait()
            self._write_wake = anyio.Event()
            commit, self._commit = self._commit, _Commit()
            if not commit.rows:
                continue
            self._writing = commit
            # Shielded: once rows go to the thread they are written, and their
            # callers must hear how it went, even from a sender that is closing.
            with anyio.CancelScope(shield=True):
                try:
                    last = await anyio.to_thread.run_sync(
                        db.add, commit.rows, limiter=self._limiter
                    )
                except SuprsendSpoolError as exc:
                    logger.error("background sender: %s", exc)
                    commit.error = exc
                else:
                    self._last_id = max(self._last_id, last)
                    self._accepted += len(commit.rows)
                    self._unreported_accepted += len(commit.rows)
                    self._upload_wake.set()
                self._writing = None
                commit.done.set()

    async def _written(self) -> None:
        """Until every row handed to the writer so far is written (or failed)."""
        while True:
            if self._writing is not None:
                await self._writing.done.wait()
            elif self._commit.rows:
                self._write_wake.set()
                await self._commit.done.wait()
            else:
                return

    def _fail_unwritten(self) -> None:
        commit = self._commit
        if commit.rows:
            commit.error = SuprsendClientClosedError(
                "the background sender closed before this record was written: not accepted"
            )
            commit.done.set()

    # -- sending ----------------------------------------------------------------------------

    async def _upload_loop(self) -> None:
        backoff = 0.0
        while True:
            self._flush_counters()
            if self._lock is not None and not self._lock.held and not self._lock.try_acquire():
                # Another process sends this spool's records; take over if it stops.
                await self._refresh_counts()
                await self._nap(self._poll_interval)
                continue
            if self._stop_claiming:
                await anyio.sleep_forever()  # until aclose() cancels it
            try:
                batch = await self._claim()
                if not batch:
                    # Other processes may add to a spool: look again now and then.
                    await self._nap(self._poll_interval if self._db is not None else None)
                    continue
                self._in_flight = batch
                sent, failed, retry = await self._send(batch)
                await self._settle(sent, failed, retry)
                trouble = bool(retry)
            except SuprsendClientClosedError:
                logger.error("background sender: the client was closed; nothing more is sent")
                self._requeue_in_flight()
                return
            except Exception:  # a spool that cannot be read or written, or a bug of ours
                # Logged and tried again later: a task of the sender must never
                # take down the application's task that holds it.
                logger.exception("background sender: sending failed; trying again later")
                self._requeue_in_flight()
                trouble = True
            if trouble:
                backoff = min(self._max_backoff, max(_FIRST_BACKOFF, backoff * 2))
                await anyio.sleep(backoff * (0.5 + random.random() / 2))  # noqa: S311
            else:
                backoff = 0.0

    async def _nap(self, seconds: float | None) -> None:
        """Until something is accepted here, or ``seconds`` pass (None: no limit)."""
        wake = self._upload_wake
        with anyio.move_on_after(math.inf if seconds is None else seconds):
            await wake.wait()
        if self._upload_wake is wake:
            self._upload_wake = anyio.Event()

    async def _claim(self) -> list[Pending]:
        if self._db is None:
            queue, size = self._queue, self._batch_size
            return [queue.popleft() for _ in range(min(size, len(queue)))]
        return await anyio.to_thread.run_sync(
            self._db.claim, self._batch_size, limiter=self._limiter
        )

    async def _send(
        self, batch: list[Pending]
    ) -> tuple[list[Pending], list[tuple[Pending, FailedRecord]], list[Pending]]:
        sent: list[Pending] = []
        failed: list[tuple[Pending, FailedRecord]] = []
        retry: list[Pending] = []
        for kind in ("event", "workflow"):
            records = [r for r in batch if r.kind == kind]
            if not records:
                continue
            response = await run_bulk(self._client, records, kind=self._kinds[kind], encoded=True)
            failures = {f.index: f for f in response.failed_records}
            for index, record in enumerate(records):
                failure = failures.get(index)
                if failure is None:
                    sent.append(record)
                elif _refused(failure):
                    failed.append((record, failure))
                else:
                    retry.append(record)
        if retry:
            logger.warning(
                "background sender: %d records not delivered yet; sent again later", len(retry)
            )
        return sent, failed, retry

    async def _settle(
        self,
        sent: list[Pending],
        failed: list[tuple[Pending, FailedRecord]],
        retry: list[Pending],
    ) -> None:
        if self._db is None:
            if retry:
                self._queue.extendleft(reversed(retry))  # first again, in their order
            for record, failure in failed:
                self._failed_kept.append(
                    SpooledRecord(
                        record.id,
                        record.kind,
                        record.key,
                        record.body,
                        record.accepted_at,
                        1,
                        failure.error,
                        failure.code,
                    )
                )
        else:
            db = self._db
            # Shielded: the hub has answered; forgetting that would send them again.
            with anyio.CancelScope(shield=True):
                self._counts = await anyio.to_thread.run_sync(
                    db.settle,
                    [r.id for r in sent],
                    [(r.id, f.error, f.code) for r, f in failed],
                    [(r.id, "not delivered yet", None) for r in retry],
                    limiter=self._limiter,
                )
        self._in_flight = []
        self._sent += len(sent)
        self._failed_count += len(failed)
        self._retried += len(retry)
        telemetry = self._telemetry
        telemetry.background("sent", len(sent))
        telemetry.background("failed", len(failed))
        telemetry.background("retried", len(retry))
        for record, failure in failed:
            logger.warning(
                "background sender: the hub refused a %s (key %s): %s",
                record.kind,
                record.key,
                failure.error,
            )
        self._notify_settled()

    def _notify_settled(self) -> None:
        self._settled.set()
        self._settled = anyio.Event()
        self._room.set()
        self._room = anyio.Event()

    def _requeue_in_flight(self) -> None:
        if self._db is None and self._in_flight:
            self._queue.extendleft(reversed(self._in_flight))
        self._in_flight = []
        self._notify_settled()

    async def _refresh_counts(self) -> None:
        if self._db is not None:
            self._counts = await anyio.to_thread.run_sync(self._db.counts, limiter=self._limiter)

    def _flush_counters(self) -> None:
        if self._unreported_accepted:
            self._telemetry.background("accepted", self._unreported_accepted)
            self._unreported_accepted = 0

    # -- waiting, reading ---------------------------------------------------------------------

    # A timeout parameter, not the caller's cancel scope: the common call is the
    # app's shutdown, "send what you can in 10 s", and the answer says whether it did.
    async def drain(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until every record accepted so far is sent or failed; False if ``timeout``
        seconds passed first (what is left keeps going in the background).

        With a spool, "accepted so far" includes what the spool held when this
        sender started (an earlier run's records) and what other processes
        accepted into it before this sender's last record."""
        if self._state is not _OPEN:
            raise self._closed_error()
        seconds = math.inf if timeout is None else _seconds(timeout, "timeout", zero=True)
        with anyio.move_on_after(seconds):
            await self._until_settled()
            return True
        return False

    async def _until_settled(self) -> None:
        if self._db is None:
            target = self._next_id
            while not self._memory_settled(target):
                await self._settled.wait()
            return
        target = self._last_id
        while await self._pending_up_to(target):
            # Woken by this process's uploader; else (another process sends) a look now and then.
            with anyio.move_on_after(self._poll_interval):
                await self._settled.wait()

    def _memory_settled(self, target: int) -> bool:
        ids = [r.id for r in self._in_flight]
        if self._queue:
            ids.append(self._queue[0].id)  # the oldest waiting (retried ones go first)
        return not ids or min(ids) > target

    async def _pending_up_to(self, target: int) -> int:
        db = self._db
        assert db is not None
        return await anyio.to_thread.run_sync(db.pending_up_to, target, limiter=self._limiter)

    def stats(self) -> SenderStats:
        spool = self._db is not None
        queued = self._counts.pending if spool else len(self._queue) + len(self._in_flight)
        return SenderStats(
            accepted=self._accepted,
            sent=self._sent,
            failed=self._failed_count,
            dropped=self._dropped,
            retried=self._retried,
            queued=queued,
            in_flight=len(self._in_flight),
            uploading=self._state is _OPEN and (self._lock is None or self._lock.held),
            spool_failed=self._counts.failed if spool else None,
            spool_bytes=self._counts.size_bytes if spool else None,
        )

    def observe(self) -> tuple[str, int, int | None]:
        stats = self.stats()
        return self._spool_path or "memory", stats.queued, stats.spool_bytes

    async def failed(self, limit: int | None = 100) -> list[SpooledRecord]:
        """Records the hub refused, oldest first, with the reason (at most ``limit``)."""
        if self._state is not _OPEN:
            raise self._closed_error()
        if self._db is None:
            kept = list(self._failed_kept)
            return kept if limit is None else kept[:limit]
        return await anyio.to_thread.run_sync(self._db.failed, limit, limiter=self._limiter)

    async def retry_failed(self) -> int:
        """Queue every failed record again (after fixing what the hub refused); how many."""
        if self._state is not _OPEN:
            raise self._closed_error()
        if self._db is None:
            records = [
                Pending(r.id, r.kind, r.idempotency_key, r.body, r.accepted_at)
                for r in self._failed_kept
            ]
            self._failed_kept.clear()
            self._queue.extendleft(reversed(records))
            count = len(records)
        else:
            count = await anyio.to_thread.run_sync(self._db.retry_failed, limiter=self._limiter)
        self._upload_wake.set()
        return count
