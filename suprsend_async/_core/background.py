"""The background sender (``client.background()``): accept records on the request path in
microseconds, send them in bulk behind the caller's back.

Accepting checks and encodes a record at once (a bad one raises there, in the
caller's code), gives it an idempotency key (its own, or a fresh one kept
with it) and queues its wire bytes: in memory, bounded, or in a SQLite spool
(``_core/spool.py``), where "accepted" means committed to disk. One uploader
task feeds what is queued to one long bulk run (``run_bulk``: chunking,
concurrency, retries) for as long as there is any: it claims the next batch
while the engine sends the one before, and settles each chunk as the hub
answers it, so the engine's workers never wait at a batch's end for its last
request, nor for SQLite. What the hub accepted is forgotten (with a spool,
deleted from the file when the upload ends: in one statement if it was all the
file held), what it refused (a 4xx for the record) is kept as failed with the
reason, and what could not be sent (no answer, 5xx, 429) waits and goes again
after a backoff, forever: the hub drops the second copy of a keyed record it
already processed.
"""

from __future__ import annotations

import collections
import functools
import heapq
import logging
import math
import os
import random
import time
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from operator import attrgetter, itemgetter
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
from .bulk import BulkItem, FailedRecord, run_bulk
from .bulk import RecordKind as BulkKind
from .context import ClientContext
from .retry import is_retryable_status
from .spool import (
    ACCEPTED_AT,
    BODY,
    ID,
    KEY,
    KIND,
    Pending,
    RecordKind,
    Spool,
    SpoolCounts,
    SpooledRecord,
    UploadLock,
)

__all__ = ["BackgroundSender", "SenderStats", "WhenFull"]

logger = logging.getLogger("suprsend_async")

WhenFull = Literal["block", "drop_new", "raise"]
_WHEN_FULL = ("block", "drop_new", "raise")
DEFAULT_MAX_QUEUE = 10_000
DEFAULT_EXIT_TIMEOUT = 5.0
DEFAULT_MAX_BACKOFF = 30.0
DEFAULT_POLL_INTERVAL = 1.0
_FIRST_BACKOFF = 0.5
# Records a batch holds per request the client may have in flight: the
# uploader claims a batch at a time, the next one while the engine sends the
# one before, so a batch lasts long enough for a claim from SQLite to finish.
_REQUESTS_PER_WORKER = 8
_OTHER: dict[RecordKind, RecordKind] = {"event": "workflow", "workflow": "event"}
_by_id = itemgetter(ID)
_body = itemgetter(BODY)
_source = attrgetter("source")
# Answers a spooled sender holds before it writes them during a round, in batches
# (25,600 records with the defaults): what a crash sends again, and how far a
# round's settles may lag.
_ANSWERS_KEPT_BATCHES = 4
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


class _Wake:
    """A wake-up for one waiting task: set() any number of times, wait() returns once
    it was set since the last wait() returned."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = anyio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self) -> None:
        await self._event.wait()
        self._event = anyio.Event()


class _Round:
    """One bulk run of the uploader: records of one kind, fed while there are any."""

    __slots__ = (
        "answered",
        "claims_done",
        "error",
        "hungry",
        "kind",
        "more",
        "over",
        "retried",
        "stopping",
    )

    def __init__(self, kind: RecordKind, *, claims_done: bool) -> None:
        self.kind = kind
        self.claims_done = claims_done  # nothing more to claim this round
        self.over = False  # the bulk run returned (or was cancelled)
        self.retried = 0  # records the hub did not take: the round stops feeding, backs off
        self.error: Exception | None = None
        self.stopping = False  # records to retry, or an error: nothing more is fed
        self.hungry = _Wake()  # the claimer may claim the next batch
        self.more = _Wake()  # the feeder may look for records again
        self.answered = _Wake()  # the settler has outcomes to write

    def fail(self, exc: Exception) -> None:
        if self.error is None:
            self.error = exc
        self.stop()

    def stop(self) -> None:
        self.stopping = True
        self.more.set()  # the feeder may be waiting for a claim

    def wake_all(self) -> None:
        self.hungry.set()
        self.more.set()
        self.answered.set()


class _Outcomes:
    """What the hub said of records since the last spool write: written in one transaction."""

    __slots__ = ("failed", "refused", "retry", "sent")

    def __init__(self) -> None:
        self.sent: list[int] = []  # ids
        self.failed: list[tuple[Pending, str, int | None]] = []
        self.retry: list[tuple[Pending, str, int | None]] = []
        # Of ``failed``, those the hub refused: logged, with their keys, once written.
        self.refused: list[tuple[Pending, str]] = []

    def __len__(self) -> int:
        return len(self.sent) + len(self.failed) + len(self.retry)


def _too_large(size: int, largest: int) -> str:
    return f"is {size} bytes; this client's bulk requests take records of up to {largest}"


_NEW, _OPEN, _CLOSING, _CLOSED, _FORKED = "new", "open", "closing", "closed", "forked"
# The client was closed under an open sender: nothing can be sent any more.
_ORPHANED = "client-closed"
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


def _log_refused(kind: RecordKind, key: str, error: str) -> None:
    logger.warning("background sender: the hub refused a %s (key %s): %s", kind, key, error)


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
        # Records taken from the queue or spool and not settled yet, by id: in the
        # engine, or claimed ahead in ``_ready`` (by kind, oldest first).
        self._claimed: dict[int, Pending] = {}
        self._ready: dict[RecordKind, list[Pending]] = {"event": [], "workflow": []}
        # Without a spool: the queue (in id order), the records to queue again after
        # the round that could not deliver them, and the failed ones kept for failed().
        self._queue: collections.deque[Pending] = collections.deque()
        self._retry_later: list[Pending] = []
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
        self._counted_at = -math.inf  # when the counts were last read from the file
        self._cursor = 0  # the last id claimed: claims go on after it
        self._rewind = False  # claim from the oldest again (records to retry are pending)
        self._outcomes = _Outcomes()  # answers not yet written to the spool
        self._unwritten_low: float = math.inf  # the oldest id among them
        self._answers_kept = _ANSWERS_KEPT_BATCHES * self._batch_size
        # The uploader.
        self._upload_wake = anyio.Event()
        self._settled = anyio.Event()  # set as records are settled (then replaced)
        self._round: _Round | None = None  # the bulk run going on, if one is
        self._stop_claiming = False  # closing: what the engine has finishes, nothing more goes
        self._client_gone = False  # the client was closed under the sender: nothing is sent
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
            await self._refresh_counts()
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
        orphaned = self._state is _ORPHANED  # nothing can be sent: no flush to wait for
        self._state = _CLOSING
        task_group = self._task_group
        # Shielded (an app being cancelled still gets its deadline to flush),
        # and bounded by the deadline.
        with anyio.CancelScope(shield=True), anyio.move_on_after(self._exit_timeout):
            await self._written()
            if not orphaned:
                try:
                    await self._until_settled()
                except SuprsendClientClosedError:  # the client was closed meanwhile
                    pass
                except SuprsendSpoolError as exc:  # what is left stays there: closing goes on
                    logger.error("background sender: %s", exc)
            # The records in flight may be other processes' (a spool's): cut off,
            # they would be sent again by the next sender. What the engine has
            # finishes first; what is claimed but not yet sent is let go.
            self._stop_claiming = True
            if self._round is not None:
                self._round.wake_all()
            while self._round is not None:
                await self._settled.wait()
        # (The task group's scope was entered first, in __aenter__: it is left
        # outside the ones above.) Leaving it raises Cancelled when the block is
        # left by cancellation (its tasks are done by then): what follows runs
        # anyway, or the spool's connection and upload lock would outlive the
        # sender, and no other sender in this process could send the spool.
        task_group.cancel_scope.cancel()
        try:
            await task_group.__aexit__(None, None, None)
        finally:
            self._task_group = None
            try:
                self._fail_unwritten()
                self._report_left()
                # Shielded: a thread closing one SQLite connection, bounded.
                with anyio.CancelScope(shield=True):
                    await self._close_spool()
            finally:
                self._state = _CLOSED
                _LIVE.discard(self)
                self._telemetry.forget(self)
                self._room.set()  # callers blocked on a full queue: they now see it closed

    def _report_left(self) -> None:
        self._flush_counters()
        if self._db is None:
            lost = self._unsettled()
            if lost:
                in_flight = len(self._claimed) - sum(map(len, self._ready.values()))
                logger.warning(
                    "background sender stopped with %d records not sent (in memory: lost;"
                    " %d were in flight, the hub may have them)",
                    lost,
                    in_flight,
                )
                self._telemetry.background("lost", lost)
            self._forget_records()
        elif self._counts.pending:
            logger.info(
                "background sender stopped; %d records wait in the spool %s for the next one",
                self._counts.pending,
                self._spool_path,
            )

    async def _close_spool(self) -> None:
        try:
            if self._db is not None:
                await anyio.to_thread.run_sync(self._db.close)
        finally:
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
        self._forget_records()

    def _forget_records(self) -> None:
        self._queue.clear()
        self._claimed.clear()
        for ready in self._ready.values():
            ready.clear()
        self._retry_later = []
        self._outcomes, self._unwritten_low = _Outcomes(), math.inf

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
        if self._state is _ORPHANED:
            return SuprsendClientClosedError(
                "the client of this background sender was closed; it sends nothing more"
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
        while len(self._queue) + len(self._claimed) + len(self._retry_later) >= self._max_queue:
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
        self._queue.append((self._next_id, kind, key, body, time.time()))
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
                    counts = self._counts
                    self._counts = attrs.evolve(counts, pending=counts.pending + len(commit.rows))
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
                # (Woken by each commit here, to try the lock; the counts, which read
                # the whole index, at most every poll_interval.)
                if time.monotonic() - self._counted_at >= self._poll_interval:
                    try:
                        await self._refresh_counts()
                    except SuprsendSpoolError as exc:
                        # Not the end of the sender (nor of the application's block,
                        # which holds its tasks): the file may be readable again.
                        self._counted_at = time.monotonic()  # (once per poll_interval)
                        logger.warning("background sender: %s; looking again later", exc)
                await self._nap(self._poll_interval)
                continue
            if self._stop_claiming:
                await anyio.sleep_forever()  # until aclose() cancels it
            try:
                outcome = await self._run_round()
                if outcome != "idle" and self._db is not None:
                    await self._compact()
            except SuprsendClientClosedError:
                self._orphan()
                return
            except Exception:  # a spool that cannot be read or written, or a bug of ours
                # Logged and tried again later: a task of the sender must never
                # take down the application's task that holds it.
                logger.exception("background sender: sending failed; trying again later")
                self._release_claimed()
                outcome = "trouble"
            if outcome == "idle":
                # Other processes may add to a spool: look again now and then.
                await self._nap(self._poll_interval if self._db is not None else None)
            elif outcome == "trouble":
                backoff = min(self._max_backoff, max(_FIRST_BACKOFF, backoff * 2))
                await anyio.sleep(backoff * (0.5 + random.random() / 2))  # noqa: S311
            else:
                backoff = 0.0

    def _orphan(self) -> None:
        """The client was closed under the sender: nothing can be sent any more, so
        nothing more is accepted. What was accepted stays in the spool (for another
        process, or the next sender; the upload lock is let go now, not at exit) or,
        in memory, is reported lost now. Whoever waits is woken, to hear it."""
        self._release_claimed()
        self._client_gone = True
        if self._state is _OPEN:  # (not when closing: the exit reports, and closes)
            self._state = _ORPHANED
            if self._lock is not None:
                self._lock.release()
        logger.error("background sender: the client was closed; nothing more is sent")
        self._report_left()
        self._notify_settled()  # callers blocked on a full queue, and drain(), see it

    async def _nap(self, seconds: float | None) -> None:
        """Until something is accepted here, or ``seconds`` pass (None: no limit)."""
        wake = self._upload_wake
        with anyio.move_on_after(math.inf if seconds is None else seconds):
            await wake.wait()
        if self._upload_wake is wake:
            self._upload_wake = anyio.Event()

    async def _run_round(self) -> Literal["idle", "sent", "trouble"]:
        """One bulk run: records of one kind, claimed as they go, until none are left,
        the other kind's turn has come, or the hub stopped taking them.

        Three tasks: the engine's producer pulls records from ``_feed`` while
        ``_claim_ahead`` claims the next batch (from SQLite, in a thread) and,
        with a spool, ``_settle_as_answered`` writes the hub's answers in
        groups, each in one transaction. Neither waits for the other: only
        one batch beyond the one being fed is claimed, and a chunk's answer
        is written while later chunks go.
        """
        if self._rewind or not self._claimed:
            # Nothing in flight (or records to retry wait behind the cursor):
            # claims start from the oldest pending record again. What was claimed
            # ahead is let go and read again in its turn: claims never pass a
            # record claimed before, whose id the hub's answer takes out of
            # ``_claimed`` while it is still pending in the file (until the
            # settler writes it), so a claim from behind would take it again.
            if self._db is not None:
                self._let_go_of_ready()
            self._cursor, self._rewind = 0, False
        done = False
        if not (self._ready["event"] or self._ready["workflow"]):
            # Enough for every connection to get going: the engine starts on it
            # while the claimer reads on.
            done = await self._claim_batch(self._claim_step())
        kind = self._turn()
        if self._stop_claiming:  # closing began during the claim: nothing more goes
            self._let_go_of_ready()
            kind = None
        if kind is None:
            if self._outcomes:  # only records too large to send were claimed
                with anyio.CancelScope(shield=True):
                    await self._write_outcomes()
                self._notify_settled()
            return "idle"
        current = self._round = _Round(kind, claims_done=done)
        error: Exception | None = None
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._claim_ahead, current)
                if self._db is not None:
                    tasks.start_soon(self._settle_as_answered, current)
                try:
                    await run_bulk(
                        self._client,
                        self._feed(current),
                        kind=self._kinds[kind],
                        body_of=_body,
                        batched=True,
                        on_chunk=functools.partial(self._on_chunk, current),
                    )
                except Exception as exc:  # raised below as itself, not in an ExceptionGroup
                    error = exc
                finally:
                    current.over = True
                    current.wake_all()
        finally:
            # Answers not written yet (the round was cancelled by the exit deadline,
            # or the settler stopped on an error): shielded, since forgetting them
            # would send those records again.
            with anyio.CancelScope(shield=True):
                try:
                    await self._write_outcomes()
                except Exception as exc:
                    current.fail(exc)
            self._end_round(current)
        error = error or current.error
        if error is not None:
            raise error
        if current.retried:
            logger.warning(
                "background sender: %d records not delivered yet; sent again later",
                current.retried,
            )
            return "trouble"
        return "sent"

    def _turn(self) -> RecordKind | None:
        """The kind sent next: the one whose oldest claimed record is older."""
        events, workflows = self._ready["event"], self._ready["workflow"]
        if not events:
            return "workflow" if workflows else None
        if not workflows:
            return "event"
        return "event" if events[0][ID] < workflows[0][ID] else "workflow"

    async def _claim_batch(self, limit: int | None = None) -> bool:
        """Claim up to ``limit`` records (a batch) from the queue or spool into
        ``_ready``; True if that was all there was."""
        claimed, ready = self._claimed, self._ready
        limit = self._batch_size if limit is None else limit
        if self._db is None:
            queue = self._queue
            for _ in range(min(limit, len(queue))):
                record = queue.popleft()
                claimed[record[ID]] = record
                ready[record[KIND]].append(record)
            return not queue
        rows = await anyio.to_thread.run_sync(
            self._db.claim, limit, self._cursor, limiter=self._limiter
        )
        if rows:
            self._cursor = rows[-1][ID]
        limits = self._client.limits
        largest = limits.max_body_bytes - 2
        overhead = limits.workflow_record_overhead_bytes
        for record in rows:
            if record[ID] in claimed:  # in flight already (claims started over)
                continue
            claimed[record[ID]] = record
            size = len(record[BODY]) + (overhead if record[KIND] == "workflow" else 0)
            if size > largest:
                # Spooled by a client with larger limits: this one can never send it.
                self._outcomes.failed.append((record, _too_large(size, largest), None))
                continue
            ready[record[KIND]].append(record)
        return len(rows) < limit

    def _claim_step(self) -> int:
        """Records read from a spool at a time: a request's worth for every connection.

        Not a whole batch at once: a claim takes about twice its CPU time in wall
        time while the engine sends (the reading thread shares the GIL, taken
        again after every row, and the cores with the event loop), so a batch
        claimed in one go (6,400 records with the defaults: some 16 ms) left the
        engine waiting when a round began with the first 800 (8 ms of sending);
        read in steps, the next records arrive while those are sent."""
        limits = self._client.limits
        return min(self._client.max_concurrency * limits.max_records_per_request, self._batch_size)

    async def _claim_ahead(self, current: _Round) -> None:
        """Claim the next batch while the engine sends the one before (from a spool, in
        steps growing from a request per connection to a batch)."""
        batch, ready = self._batch_size, self._ready
        step = self._claim_step() if self._db is not None else batch
        try:
            while not (current.over or current.claims_done or current.stopping):
                if self._stop_claiming:
                    break
                if len(ready[current.kind]) >= batch or len(ready[_OTHER[current.kind]]) >= batch:
                    await current.hungry.wait()  # enough claimed: until the feeder takes it
                    continue
                current.claims_done = await self._claim_batch(step)
                step = min(2 * step, batch)  # (the engine has more to send meanwhile)
                current.more.set()
                if self._outcomes.failed:  # records found too large: written as failed
                    current.answered.set()
        except Exception as exc:
            current.fail(exc)
        finally:
            current.claims_done = True
            current.more.set()

    async def _feed(self, current: _Round) -> AsyncIterator[list[Pending]]:
        """The records the engine sends this round, a chunk's worth at a time, as it
        asks for them."""
        kind, ready = current.kind, self._ready
        step = self._kinds[kind].max_records(self._client.limits)
        taken: list[Pending] = []
        fed = 0  # of taken
        try:
            while True:
                while fed < len(taken) and not (self._stop_claiming or current.stopping):
                    piece = taken[fed : fed + step]
                    fed += len(piece)
                    yield piece
                if self._stop_claiming or current.stopping:
                    return
                if ready[kind]:
                    taken, fed, ready[kind] = ready[kind], 0, []
                    current.hungry.set()  # the next batch is claimed while this one goes
                    continue
                if current.claims_done or len(ready[_OTHER[kind]]) >= self._batch_size:
                    return  # all sent, or the other kind's turn
                current.hungry.set()
                await current.more.wait()
        finally:
            if fed < len(taken):  # not handed to the engine: first again next time
                ready[kind][:0] = taken[fed:]

    def _on_chunk(
        self, current: _Round, items: Sequence[BulkItem], failed: list[FailedRecord]
    ) -> None:
        """A chunk's outcome, as the engine settles it."""
        sent: list[Pending]
        refused: list[tuple[Pending, str, int | None]] = []
        retry: list[tuple[Pending, str, int | None]] = []
        if not failed:  # the usual answer
            if self._db is None:
                claimed = self._claimed
                for item in items:
                    del claimed[item.source[ID]]
                self._count(len(items), 0, 0)
            else:
                self._answered(current, list(map(_by_id, map(_source, items))))
            return
        failures = {f.index: f for f in failed}
        sent = []
        for item in items:
            failure = failures.get(item.index)
            if failure is None:
                sent.append(item.source)
            elif _refused(failure):
                refused.append((item.source, failure.error, failure.code))
            else:
                retry.append((item.source, failure.error, failure.code))
        if retry:
            current.retried += len(retry)
            current.stop()  # the round backs off before sending more
        if self._db is not None:
            self._answered(current, list(map(_by_id, sent)))
            outcomes = self._outcomes
            outcomes.failed += refused
            outcomes.refused += ((record, error) for record, error, _ in refused)
            outcomes.retry += retry
            current.answered.set()
            return
        for record, error, _ in refused:
            _log_refused(record[KIND], record[KEY], error)
        claimed = self._claimed
        for record in sent:
            del claimed[record[ID]]
        for record, error, code in refused:
            del claimed[record[ID]]
            self._failed_kept.append(
                SpooledRecord(
                    record[ID],
                    record[KIND],
                    record[KEY],
                    record[BODY],
                    record[ACCEPTED_AT],
                    1,
                    error,
                    code,
                )
            )
        for record, _, _ in retry:
            del claimed[record[ID]]
            self._retry_later.append(record)
        self._count(len(sent), len(refused), len(retry))

    def _answered(self, current: _Round, sent: list[int]) -> None:
        """Records the hub took (with a spool): sent, and out of this sender's hands at
        once (their bodies need not be kept); deleted from the file by the settler."""
        if not sent:
            return
        claimed = self._claimed
        for i in sent:
            del claimed[i]
        self._outcomes.sent += sent
        self._unwritten_low = min(self._unwritten_low, min(sent))
        self._sent += len(sent)
        self._telemetry.background("sent", len(sent))
        counts = self._counts
        self._counts = attrs.evolve(counts, pending=max(0, counts.pending - len(sent)))
        # (No wake-up for drain(): they are pending in the file until written.)
        if len(self._outcomes) >= self._answers_kept:
            current.answered.set()

    async def _settle_as_answered(self, current: _Round) -> None:
        """Write the hub's answers to the spool when the round ends, or while it goes on
        once four batches' worth wait (each write is one transaction).

        Not sooner: the records a round sends are often all the file holds (a
        backlog sent to its end; each upload of a sender that keeps up), and a
        settle of all of them empties the table in one statement, several times
        cheaper than deleting them in pieces. What waits costs ids, not bodies,
        and after a crash is sent again (the hub drops it by its keys), as
        records in flight are; ``drain()`` returns once it is written."""
        try:
            while True:
                outcomes = self._outcomes
                # (Refusals and retries, which are rare, are written at once: failed()
                # reads them from the file.)
                due = outcomes.failed or outcomes.retry or len(outcomes) >= self._answers_kept
                if outcomes and (current.over or due):
                    await self._write_outcomes()
                elif current.over:
                    return
                else:
                    await current.answered.wait()
        except Exception as exc:
            current.fail(exc)

    async def _write_outcomes(self) -> None:
        db, outcomes = self._db, self._outcomes
        if db is None or not outcomes:
            return
        self._outcomes, self._unwritten_low = _Outcomes(), math.inf
        claimed = self._claimed
        refused = [record[ID] for record, _ in outcomes.refused]

        def settle() -> dict[int, str]:
            db.settle(
                outcomes.sent,
                [(r[ID], error, code) for r, error, code in outcomes.failed],
                [(r[ID], error, code) for r, error, code in outcomes.retry],
            )
            # (Records claimed from the file come without their keys: read for the log.)
            return db.keys(refused) if refused else {}

        try:
            # Shielded: the hub has answered; forgetting that would send them again.
            with anyio.CancelScope(shield=True):
                keys = await anyio.to_thread.run_sync(settle, limiter=self._limiter)
        finally:
            # Written or not, they are not in flight any more: if not, they are still
            # pending in the file, and claimed (and sent) again after a rewind. (The
            # sent ones were let go as answered.)
            for record, _, _ in outcomes.failed:
                del claimed[record[ID]]
            for record, _, _ in outcomes.retry:
                del claimed[record[ID]]
            self._rewind = self._rewind or bool(outcomes.retry)
        for record, error in outcomes.refused:
            _log_refused(record[KIND], keys.get(record[ID]) or record[KEY], error)
        failed = len(outcomes.failed)
        counts = self._counts
        self._counts = SpoolCounts(
            pending=max(0, counts.pending - failed),  # (the sent ones, as answered)
            failed=counts.failed + failed,
            size_bytes=counts.size_bytes,  # (read again after the round)
        )
        self._count(0, failed, len(outcomes.retry))

    def _count(self, sent: int, failed: int, retried: int) -> None:
        self._sent += sent
        self._failed_count += failed
        self._retried += retried
        telemetry = self._telemetry
        telemetry.background("sent", sent)
        telemetry.background("failed", failed)
        telemetry.background("retried", retried)
        self._notify_settled()

    def _end_round(self, current: _Round) -> None:
        self._round = None
        if self._retry_later:  # without a spool: first again, after the backoff
            self._requeue(self._retry_later)
            self._retry_later = []
        if self._stop_claiming:
            self._let_go_of_ready()
        self._notify_settled()

    def _let_go_of_ready(self) -> None:
        """Claimed records the engine never got: back to the queue, or (with a spool)
        simply pending, for whoever sends next."""
        records: list[Pending] = []
        for ready in self._ready.values():
            records += ready
            ready.clear()
        for record in records:
            del self._claimed[record[ID]]
        if self._db is None and records:
            self._requeue(records)

    def _release_claimed(self) -> None:
        """After an error: nothing is in flight; what was is queued again (in memory) or
        still pending in the spool, claimed again from the oldest."""
        records = [*self._claimed.values(), *self._retry_later]
        self._claimed.clear()
        for ready in self._ready.values():
            ready.clear()
        self._retry_later = []
        # (With a spool: answers that could not be written; their records are
        # still pending there.)
        self._outcomes, self._unwritten_low = _Outcomes(), math.inf
        if self._db is None and records:
            self._requeue(records)
        self._rewind = True
        self._notify_settled()

    def _requeue(self, records: list[Pending]) -> None:
        """Back to the front of the queue, which stays in id order (drain() reads its head)."""
        records.sort(key=_by_id)
        queue = self._queue
        if not queue or records[-1][ID] < queue[0][ID]:
            queue.extendleft(reversed(records))
        else:
            merged = list(heapq.merge(records, queue, key=_by_id))
            queue.clear()
            queue.extend(merged)

    def _notify_settled(self) -> None:
        self._settled.set()
        self._settled = anyio.Event()
        self._room.set()
        self._room = anyio.Event()

    async def _refresh_counts(self) -> None:
        if self._db is not None:
            self._counts = await anyio.to_thread.run_sync(self._db.counts, limiter=self._limiter)
            self._counted_at = time.monotonic()

    async def _compact(self) -> None:
        """After a round: the spool's freed pages given back. Its counts, kept up to
        date in between by what this sender adds and settles, are read again at
        most every ``poll_interval`` (a count reads the whole index: after each
        batch of a large backlog it would cost more than the batch's deletes)."""
        db = self._db
        assert db is not None
        size = await anyio.to_thread.run_sync(db.compact, limiter=self._limiter)
        self._counts = attrs.evolve(self._counts, size_bytes=size)
        if time.monotonic() - self._counted_at >= self._poll_interval:
            await self._refresh_counts()

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
                self._raise_if_orphaned()
            return
        target = self._last_id
        # A record up to the target still in flight here, or sent and not yet deleted
        # from the file, says "not yet" without a query.
        while (
            self._claims_up_to(target)
            or self._unwritten_low <= target
            or await self._pending_up_to(target)
        ):
            # Woken by this process's uploader; else (another process sends) a look now and then.
            with anyio.move_on_after(self._poll_interval):
                await self._settled.wait()
            self._raise_if_orphaned()

    def _raise_if_orphaned(self) -> None:
        # (Not "settled": with the client closed, nothing will be.)
        if self._client_gone:
            raise self._closed_error()

    def _claims_up_to(self, target: int) -> bool:
        """Whether a record with an id up to ``target`` is claimed and not settled."""
        claimed = self._claimed
        if not claimed:
            return False
        # Claims go in id order but for records claimed again: the first claimed is
        # usually the oldest, and the whole lot is looked at only when it is not.
        return next(iter(claimed)) <= target or min(claimed) <= target

    def _memory_settled(self, target: int) -> bool:
        if self._queue and self._queue[0][ID] <= target:  # the queue is in id order
            return False
        if self._retry_later and min(r[ID] for r in self._retry_later) <= target:
            return False
        return not self._claims_up_to(target)

    def _unsettled(self) -> int:
        """Without a spool: records accepted and neither sent nor failed."""
        return len(self._queue) + len(self._claimed) + len(self._retry_later)

    async def _pending_up_to(self, target: int) -> int:
        db = self._db
        assert db is not None
        return await anyio.to_thread.run_sync(db.pending_up_to, target, limiter=self._limiter)

    def stats(self) -> SenderStats:
        spool = self._db is not None
        queued = self._counts.pending if spool else self._unsettled()
        return SenderStats(
            accepted=self._accepted,
            sent=self._sent,
            failed=self._failed_count,
            dropped=self._dropped,
            retried=self._retried,
            queued=queued,
            in_flight=len(self._claimed),
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
                (r.id, r.kind, r.idempotency_key, r.body, r.accepted_at) for r in self._failed_kept
            ]
            self._failed_kept.clear()
            if records:
                self._requeue(records)
            count = len(records)
        else:
            count = await anyio.to_thread.run_sync(self._db.retry_failed, limiter=self._limiter)
            self._rewind = True  # they have older ids than the claims have reached
        self._upload_wake.set()
        return count
