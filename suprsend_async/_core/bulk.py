"""The bulk engine: validate, serialize and chunk a stream of records, and
upload the chunks concurrently through a bounded task group.

Every record given ends up counted: as a success, or in ``failed_records``
with the reason. A record is sent again when its request was never sent or
the hub refused it unprocessed (429); after an outcome that may hide a
delivery, only if it carries an idempotency key (or repeats harmlessly): a
keyless record whose fate is unknown is reported, not retried.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import (
    AsyncIterable,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, Literal, overload

import anyio
import anyio.lowlevel
import attrs
import httpx
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from .._values.errors import SuprsendError, SuprsendTransportError, SuprsendValidationError
from .._values.hooks import check_hook
from .._values.idempotency import AttemptEnd, Ending, may_retry
from .._values.json_codec import dumps_array, split_array
from .._values.limits import Limits
from .._wire.chunking import Chunk, ChunkBuilder, TooLarge
from .._wire.responses import parse_body, parse_error
from .._wire.serialization import EncodedRecord, record_idempotency_key, record_json
from .context import ClientContext
from .retry import (
    RetryPolicy,
    checked_policy,
    not_retried_without_key,
    parse_retry_after,
    send_with_retries,
)
from .transport import origin

__all__ = [
    "BulkItem",
    "BulkProgress",
    "BulkResponse",
    "Drafting",
    "FailedRecord",
    "RecordKind",
    "SuprsendBulkError",
    "run_bulk",
]

logger = logging.getLogger("suprsend_async")


# The official SDKs report a record that got no HTTP answer with code 500.
_NO_ANSWER_CODE = 500
_ARRAY = (b"[", b"]")
# The producer lets the event loop in once it has run this long (wall time,
# the caller's own iterator included) since it last did, and at least every
# this many records whatever the clock says. Each loop iteration runs
# everything ready at its start, so its length is the producer's stretch plus
# the upload workers' steps (some 0.3 ms each); an application's 1 ms sleeper
# waits about two of them. A stretch of 100 records (0.5 to 1 ms with nested
# properties built by a generator) made iterations of 1.3 ms and a lag p99 of
# 4 to 5 ms of CPU; 0.15 ms makes them 0.3 ms and the p99 2 ms, for no
# measurable CPU (`nox -s bench`, benchmarks/README.md). Handing a chunk over
# lets the loop in too (anyio's send is a checkpoint).
_PRODUCER_SLICE = 0.000_15
_RECORDS_PER_CHECKPOINT = 100
_clock = time.perf_counter  # (a name of its own: a test drives the producer with a fake)
_NOT_RETRIED = not_retried_without_key("record")


@attrs.frozen
class FailedRecord:
    """A record that was not delivered: where it was in the input, and why.

    ``maybe_delivered`` is True when the hub may have processed it all the
    same: a request of it was sent and got no readable answer (the
    connection died, the deadline passed, the call was abandoned
    mid-request) or a gateway error (502, 504) from something between the
    client and the hub. A request that was never sent (connection refused,
    a name that does not resolve, a failed TLS handshake) or that the hub
    refused unprocessed (429) leaves it False. Sending a record that may
    have been delivered again is only safe if it has an idempotency key
    (:attr:`safe_to_resend`).

    ``record`` is the record given, with the idempotency key it was sent
    with. An event that was sent is read back from the bytes sent (the
    engine does not keep it in flight, see :class:`Drafting`): fed back in,
    it sends the same record with the same key. It is not the object given
    (that is at ``index`` in a list), and equals it unless JSON changed it:
    attachments come back as the ``$attachments`` property the hub gets,
    a tuple as a list, a UUID as a string, a subclass as an ``Event``.

    ``failed["error"]`` (and ``"record"``, ``"code"``) read it as the
    official SDK's dict, as :meth:`to_dict` gives it.
    """

    index: int
    # Neither in the repr: a record holds ids, emails and phones, and the hub's
    # message may quote them; reprs end up in logs.
    record: Any = attrs.field(repr=False)
    error: str = attrs.field(repr=False)
    code: int | None  # the hub's status for this record; None if it never answered for it
    maybe_delivered: bool = attrs.field(default=False, kw_only=True)

    @property
    def safe_to_resend(self) -> bool:
        """True unless the record may have been processed and has no key to deduplicate it.

        (A keyed record is deduplicated by the hub for 24 hours after it was
        first processed.)
        """
        return not self.maybe_delivered or record_idempotency_key(self.record) is not None

    def __getitem__(self, key: str) -> Any:
        """``failed["error"]``, as code written for the official SDK's dicts reads it."""
        if key not in ("record", "error", "code"):
            raise KeyError(key)
        return self.to_dict()[key]

    def to_dict(self) -> dict[str, Any]:
        """The official SDK's shape: ``{"record": ..., "error": ..., "code": ...}``."""
        return {
            "record": record_json(self.record),
            "error": self.error,
            "code": self.code if self.code is not None else _NO_ANSWER_CODE,
        }


@attrs.frozen(kw_only=True)
class BulkProgress:
    """Running counts, handed to ``on_progress`` as chunks finish."""

    done: int
    succeeded: int
    failed: int
    total: int | None  # None when the input's length is not known up front


@attrs.frozen(kw_only=True)
class BulkResponse:
    """The outcome of a bulk call.

    Always ``total == success + failure`` and ``len(failed_records) ==
    failure``; ``failed_records`` is in input order.
    """

    status: Literal["success", "partial", "fail"]
    total: int
    success: int
    failure: int
    # (Its repr shows the counts: the failed records may be many.)
    failed_records: tuple[FailedRecord, ...] = attrs.field(default=(), repr=False)
    warnings: tuple[str, ...] = ()
    retried_requests: int = 0
    retried_records: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The official SDK's dict shape."""
        return {
            "status": self.status,
            "failed_records": [f.to_dict() for f in self.failed_records],
            "total": self.total,
            "success": self.success,
            "failure": self.failure,
            "warnings": list(self.warnings),
        }


@attrs.define  # one per record: slotted, and mutable for a cheaper __init__
class BulkItem:
    """One record ready to upload, as a :class:`RecordKind`'s ``prepare`` makes it."""

    index: int
    # What the user gave (with a generated key applied, if any); None for a
    # drafted record, which a failure reports rebuilt from ``body`` (see Drafting).
    source: Any
    body: bytes  # its wire bytes
    # Sending it again is harmless: it has an idempotency key, or repeating
    # it changes nothing (an identity edit of only idempotent operations).
    repeatable: bool
    not_repeated_because: str | None = None  # if not repeatable, and it is known why
    # A key generated for it, in ``body`` but not yet on ``source``: put on the
    # record only if it is reported failed (with the key, so that sending it
    # again is deduplicated), not on every record of an upload.
    generated_key: str | None = None

    def reported(self) -> Any:
        """The record as a failure reports it: the user's, with its generated key."""
        if self.generated_key is None:
            return self.source
        return self.source.with_idempotency_key(self.generated_key)

    @classmethod
    def of(cls, index: int, source: Any, record: EncodedRecord) -> BulkItem:
        repeatable = record.idempotency_key is not None or record.safe_to_repeat
        return cls(index, source, record.body, repeatable, record.not_repeated_because)


def _no_overhead(limits: Limits) -> int:
    return 0


@attrs.frozen
class Drafting:
    """How a kind's records are encoded a chunk's worth at a time, in one call.

    Encoding each record on its own (to know its size) cost ten times more
    than encoding the chunk's array at once, most of it a bytes object per
    record. So a record is drafted (checked, its wire form a dict), and when
    a chunk's worth are drafted they are encoded together: if they fit the
    limits whole (the array within the per-record limit, so each record is),
    that is the chunk, exactly the bytes and the records the one-at-a-time
    path would have made. If not (a large or unusual record), each is
    encoded on its own and chunked as before, which finds the one to blame.

    - ``draft(client, item)``: the record's wire form (a generated key in
      it), or :class:`SuprsendValidationError`.
    - ``encode(client, wire)``: one wire form's bytes, with every check a
      record's encoding makes (its size among them).
    - ``max_record_bytes``: the per-record size limit ``encode`` holds to.
    - ``item(index, body, wire)``: the item a record is settled by, from its
      bytes and its wire form (None: from its bytes alone).
    - ``rebuild(body)``: the record as a failure reports it, read back from
      the bytes that were sent.

    Nothing of a drafted record is kept in flight but its index and its
    bytes in the chunk's array: not the record given, not an item. Held
    until the hub answered, a streamed upload's records outlived the
    collector's young generations, and its full passes over them (20 to
    40 ms each, several per 30,000 events) were the event loop's longest
    stalls; let go, they die young as the floor's dicts do. Items are made
    (:class:`_Drafted`) only for a chunk whose records need settling one by
    one: a failure, a retry, an abandoned upload (benchmarks/README.md).
    """

    draft: Callable[[ClientContext, Any], Any]
    encode: Callable[[ClientContext, Any], bytes]
    max_record_bytes: Callable[[Limits], int]
    item: Callable[[int, bytes, Any], BulkItem]
    rebuild: Callable[[bytes], Any]


class _Drafted(Sequence[BulkItem]):
    """A drafted chunk's records: their indices, and their items only once asked for."""

    __slots__ = ("_encoded", "_indices", "_item", "_items")

    def __init__(
        self, indices: Sequence[int], encoded: bytes, item: Callable[[int, bytes, Any], BulkItem]
    ) -> None:
        self._indices = indices
        self._encoded = encoded
        self._item = item
        self._items: list[BulkItem] | None = None

    def __len__(self) -> int:
        return len(self._indices)

    @overload
    def __getitem__(self, i: int) -> BulkItem: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[BulkItem]: ...
    def __getitem__(self, i: int | slice) -> BulkItem | Sequence[BulkItem]:
        return self._made()[i]

    def __iter__(self) -> Iterator[BulkItem]:
        return iter(self._made())

    def _made(self) -> list[BulkItem]:
        if self._items is None:
            item, parts = self._item, split_array(self._encoded)
            self._items = [
                item(i, part, None) for i, part in zip(self._indices, parts, strict=True)
            ]
        return self._items


@attrs.frozen
class RecordKind:
    """One kind of bulk record, as the resource that sends it hands it to the engine.

    - ``operation``: what telemetry names the call by (the method the user called).
    - ``path``: where its chunks are posted.
    - ``prepare(client, index, item)``: the record checked and encoded, or
      :class:`SuprsendValidationError` to fail it (called once per record: keep it lean).
    - ``max_records`` / ``record_overhead``: per-request record cap, and bytes the
      hub counts per record beyond its JSON, from the client's limits.
    - ``route``: the path's template, naming the call in logs, spans and retry
      events when ``path`` holds ids (list membership); ``params``: its query.
    - ``envelope``: what goes around the records joined by commas (a JSON array
      by default; ``{"distinct_ids":[``...``]}`` for list members).
    - ``on_answer``: called with each 2xx answer that has no per-record results
      (the list membership answers' ``affected_count``).
    - ``drafting``: see :class:`Drafting` (``prepare`` is still what encodes
      a record alone, for the outbox).
    """

    operation: str
    path: str
    prepare: Callable[[ClientContext, int, Any], BulkItem]
    max_records: Callable[[Limits], int]
    record_overhead: Callable[[Limits], int] = _no_overhead
    route: str | None = attrs.field(default=None, kw_only=True)
    params: Mapping[str, Any] | None = attrs.field(default=None, kw_only=True)
    envelope: tuple[bytes, bytes] = attrs.field(default=(b"[", b"]"), kw_only=True)
    on_answer: Callable[[Any], None] | None = attrs.field(default=None, kw_only=True)
    # Records encoded a chunk at a time (JSON array envelopes only).
    drafting: Drafting | None = attrs.field(default=None, kw_only=True)

    @property
    def template(self) -> str:
        return self.route or self.path

    def body(self, bodies: Iterable[bytes]) -> bytes:
        prefix, suffix = self.envelope
        return prefix + b",".join(bodies) + suffix

    def max_body_bytes(self, limits: Limits) -> int:
        """The body limit for the records and their commas (the builder counts 2 for [])."""
        prefix, suffix = self.envelope
        return limits.max_body_bytes - (len(prefix) + len(suffix) - 2)


class SuprsendBulkError(SuprsendError):
    """A bulk call that must apply every record (list membership) left some unapplied.

    ``response`` is the :class:`BulkResponse`: each record not applied is in
    ``failed_records`` with the reason; the others were applied.
    """

    def __init__(self, message: str, response: BulkResponse) -> None:
        super().__init__(message)
        self.response = response


@attrs.define(eq=False)
class _Upload:
    """A chunk a worker holds: what is still pending, and what the hub may have seen."""

    pending: Sequence[BulkItem]  # (replaced as records settle, never changed in place)
    sent: bool = False  # an attempt is running or ran: the hub may have its records
    unknown: set[int] = attrs.field(factory=set)  # indices an attempt of got no answer


# Gateways answer these for a hub they lost track of: it may have processed the request.
# A record the hub took in without saying what it did with it.
_UNKNOWN = AttemptEnd(Ending.NO_ANSWER)
_ABANDONED = "abandoned while its request was in flight: the outcome is unknown"
_NOT_SENT = "not sent: the upload was abandoned before this record's request"


# Never-sent attempts in a row (besides unreachable_after seconds of them)
# before the hub counts as unreachable: one refused connection is no outage.
_UNREACHABLE_MIN_ATTEMPTS = 3


@attrs.define
class _Reach:
    """Whether the hub can be reached at all, judged from how the run's attempts end.

    Once every attempt for ``after`` seconds (and at least a few) was never
    sent, the hub is taken as unreachable: ``gone`` says so, and the waits
    of retrying chunks end at once so that they fail now, not at their
    deadline.
    """

    after: float
    host: str
    since: float | None = None  # when the current run of never-sent attempts began
    count: int = 0
    gone: str | None = None  # the failure of every record left, once unreachable
    stopped: anyio.Event = attrs.field(factory=anyio.Event)

    def note(self, end: AttemptEnd, log: Any) -> None:
        if end.ending is not Ending.NOT_SENT:
            self.since, self.count = None, 0
            return
        now = time.monotonic()
        if self.since is None:
            self.since = now
        self.count += 1
        waited = now - self.since
        if self.gone or self.count < _UNREACHABLE_MIN_ATTEMPTS or waited < self.after:
            return
        self.gone = (
            f"not sent: {self.host} could not be reached ({self.count} attempts in"
            f" {waited:.1f}s, none sent), so the upload stopped; safe to send again"
        )
        log.warning(
            "%s could not be reached for %.1fs (%d attempts, none sent): stopping the"
            " upload; every record not delivered fails as not sent",
            self.host,
            waited,
            self.count,
        )
        self.stopped.set()

    async def sleep(self, seconds: float) -> None:
        """A retry's wait, cut short when the hub is found unreachable."""
        with anyio.move_on_after(seconds):
            await self.stopped.wait()


@attrs.frozen
class _ChunkOutcome:
    retryable: bool
    retry_after: float | None
    description: str


@attrs.define
class _BulkRun:
    client: ClientContext
    kind: RecordKind
    policy: RetryPolicy
    on_progress: Callable[[BulkProgress], Any] | None
    total_hint: int | None
    reach: _Reach
    # Told each chunk's outcome as soon as it is settled: its items and those of
    # them that failed (the background sender settles records while the run goes on).
    on_chunk: Callable[[Sequence[BulkItem], list[FailedRecord]], None] | None = None
    # The records are already checked and encoded (the background sender's,
    # with their keys): ``body_of(record)`` is its wire bytes.
    body_of: Callable[[Any], bytes] | None = None
    # Each item of the input is a list of records (the background sender hands
    # over a chunk's worth at a time: one trip through an async iterator per
    # record cost more than the rest of its way to the chunk).
    batched: bool = False
    consumed: int = 0
    succeeded: int = 0
    failures: list[FailedRecord] = attrs.field(factory=list)
    warnings: list[str] = attrs.field(factory=list)
    requests: int = 0
    retried_requests: int = 0
    retried_records: int = 0
    reported: tuple[int, int] = (0, 0)  # (succeeded, failed) in the last progress report
    error: Exception | None = None  # from the caller's iterable or on_progress: re-raised
    # Where every record read but not yet settled is, so that an abandoned run
    # can still account for each: in the chunk being built, in the one being
    # handed to a worker, or in a worker's upload.
    builder: ChunkBuilder[BulkItem] | None = None
    # Drafted, not yet in a chunk: their indices and the items they were drafted from.
    drafted: list[int] = attrs.field(factory=list)
    drafted_from: list[Any] = attrs.field(factory=list)
    ready: list[Chunk[BulkItem]] = attrs.field(factory=list)  # closed, not yet handed over
    handing_over: Chunk[BulkItem] | None = None
    uploads: set[_Upload] = attrs.field(factory=set)

    def _fail(
        self, index: int, source: Any, error: str, code: int | None, *, maybe: bool = False
    ) -> FailedRecord:
        failure = FailedRecord(index, source, error, code, maybe_delivered=maybe)
        self.failures.append(failure)
        return failure

    def _progress(self) -> None:
        if self.on_progress is not None:
            failed = len(self.failures)
            self.reported = (self.succeeded, failed)
            self.on_progress(
                BulkProgress(
                    done=self.succeeded + failed,
                    succeeded=self.succeeded,
                    failed=failed,
                    total=self.total_hint,
                )
            )

    def final_progress(self) -> None:
        """One last report if records failed after the last chunk was reported (the
        producer fails invalid or oversized records without reporting them), so the
        last report always matches the response."""
        if self.reported != (self.succeeded, len(self.failures)):
            self._progress()

    async def produce(
        self, items: Iterable[Any] | AsyncIterable[Any], chunks: ObjectSendStream[Chunk[BulkItem]]
    ) -> None:
        limits = self.client.limits
        builder: ChunkBuilder[BulkItem] = ChunkBuilder(
            self.kind.max_records(limits),
            self.kind.max_body_bytes(limits),
            self.kind.record_overhead(limits),
        )
        self.builder = builder
        prepare = self.kind.prepare if self.body_of is None else _prepared(self.body_of)
        drafting = self.kind.drafting if self.body_of is None else None
        add, client, ready = builder.add, self.client, self.ready
        drafted, given = self.drafted, self.drafted_from
        wires: list[Any] = []  # the drafts' wire forms
        max_record_bytes = drafting.max_record_bytes(limits) if drafting else 0
        draft = drafting.draft if drafting else None
        room = builder.max_records  # drafts that make a chunk's worth with the builder's

        unyielded = 0  # records taken since the producer last let the loop in
        resumed = _clock()  # when it last got the loop back
        clock = _clock

        def added(item: BulkItem, given: Any = None) -> None:
            """``item`` (encoded) into the chunk being built; a chunk it closes is ready.

            One too large is never sent: reported as ``given`` (a drafted one's
            item has no record of its own), as a record that fails its checks is.
            """
            closed = add(item, item.body)
            if isinstance(closed, TooLarge):
                reported = closed.item.reported() if given is None else given
                self._fail(closed.item.index, reported, closed.reason, None)
            elif closed is not None:
                ready.append(closed)

        def encode_drafts() -> None:
            """The drafts encoded: as one chunk if they are one, else each on its own."""
            nonlocal room
            assert drafting is not None
            if not len(builder):
                body = dumps_array(wires)
                if (
                    body is not None
                    and len(body) - 2 <= max_record_bytes
                    and len(body) + len(wires) * builder.record_overhead <= builder.max_body_bytes
                ):
                    # Usually in a row (a range holds them in a few bytes), unless
                    # records failed their checks in between.
                    span = range(drafted[0], drafted[-1] + 1)
                    indices = span if len(span) == len(drafted) else tuple(drafted)
                    ready.append(Chunk(_Drafted(indices, body, drafting.item), (), body))
                    drafted.clear()
                    wires.clear()
                    given.clear()
                    return
            encode, item_of = drafting.encode, drafting.item
            for index, wire, source in zip(drafted, wires, given, strict=True):
                try:
                    record = encode(client, wire)
                except SuprsendValidationError as exc:
                    self._fail(index, source, str(exc), None)
                else:
                    added(item_of(index, record, wire), source)
            drafted.clear()
            wires.clear()
            given.clear()
            room = builder.max_records - len(builder)

        # A plain function, not a coroutine: one call per record, and the
        # producer awaits only when it returns True.
        def take(item: Any) -> bool:
            """Check and add one record (or fail it). True when a chunk is ready to
            hand over or the loop is due a turn."""
            nonlocal unyielded
            index = self.consumed
            self.consumed += 1
            try:
                if draft is None:
                    taken = prepare(client, index, item)
                else:
                    wire = draft(client, item)
            except SuprsendValidationError as exc:
                self._fail(index, item, str(exc), None)
            else:
                if draft is None:
                    added(taken)
                else:
                    drafted.append(index)
                    wires.append(wire)
                    given.append(item)
                    if len(wires) >= room:
                        encode_drafts()
            if ready:
                return True
            unyielded += 1
            return unyielded >= _RECORDS_PER_CHECKPOINT or clock() - resumed >= _PRODUCER_SLICE

        async def let_in() -> None:
            """Hand the ready chunks over or give the loop a turn: either lets other
            tasks run.

            Only after ``take``: a cancellation (an abandoned upload) landing
            here finds every record taken so far drafted, in the builder, ready,
            handed over or failed, and accounts for each, never lost.
            """
            nonlocal unyielded, resumed
            unyielded = 0
            if ready:
                while ready:
                    await self._hand_over(chunks)  # anyio's send is a checkpoint too
            else:
                await anyio.lowlevel.checkpoint()
            resumed = clock()

        async with chunks:
            if isinstance(items, AsyncIterable):
                iterator = aiter(items)
                try:
                    if self.batched:
                        async for batch in iterator:
                            for item in batch:
                                if take(item):
                                    await let_in()
                    else:
                        async for item in iterator:
                            if take(item):
                                await let_in()
                finally:
                    # Ended early (cancelled, abandoned, an error): a generator of
                    # the caller's is closed now, its finally blocks run here rather
                    # than whenever the garbage collector gets to it.
                    if inspect.isasyncgen(iterator):
                        await iterator.aclose()
            else:
                try:
                    for item in items:
                        if take(item):
                            await let_in()
                finally:
                    if inspect.isgenerator(items):
                        items.close()
            if wires:
                encode_drafts()
            last = builder.flush()
            if last is not None:
                ready.append(last)
            while ready:
                await self._hand_over(chunks)

    async def _hand_over(self, chunks: ObjectSendStream[Chunk[BulkItem]]) -> None:
        """The first ready chunk to a worker: in ``handing_over`` while it waits for one."""
        chunk = self.handing_over = self.ready.pop(0)
        await chunks.send(chunk)
        self.handing_over = None

    async def guarded(
        self, scope: anyio.CancelScope, work: Callable[..., Awaitable[None]], *args: Any
    ) -> None:
        """Run ``work(*args)``; on an error, keep the first one and stop everything else."""
        try:
            await work(*args)
        except Exception as exc:
            if self.error is None:
                self.error = exc
            scope.cancel()

    # -- uploading ------------------------------------------------------------------

    async def upload_all(self, chunks: ObjectReceiveStream[Chunk[BulkItem]]) -> None:
        async with chunks:
            async for chunk in chunks:
                if self.handing_over is chunk:
                    self.handing_over = None  # it is this worker's now
                await self.upload(chunk)
                # Not held while waiting for the next one: at most one chunk per
                # worker is alive, which is what bounds memory by the concurrency.
                del chunk
                self._progress()

    async def upload(self, chunk: Chunk[BulkItem]) -> None:
        transport = self.client._transport
        # Registered before the first checkpoint: from here on, an abandoned run
        # finds these records here.
        state = _Upload(chunk.items)
        self.uploads.add(state)
        last_error: dict[int, tuple[str, int | None]] = {}
        failed: list[FailedRecord] = []  # this chunk's, for on_chunk

        def settle(item: BulkItem, error: str, end: AttemptEnd | None) -> bool:
            """Record an outcome (None: delivered); True if the item stays pending
            for another attempt."""
            if end is None:
                self.succeeded += 1
                return False
            if end.may_have_applied:
                state.unknown.add(item.index)
            if may_retry(end, item.repeatable):
                last_error[item.index] = (error, end.status)
                return True
            if end.transient:
                why = item.not_repeated_because
                error = f"{error}; {f'not retried: {why}' if why else _NOT_RETRIED}"
            maybe = item.index in state.unknown
            failed.append(
                self._fail(item.index, self._reported(item), error, end.status, maybe=maybe)
            )
            return False

        attempt_number = 0
        skipped = 0  # attempts not made: the hub was found unreachable

        async def attempt() -> _ChunkOutcome:
            nonlocal attempt_number, skipped
            if self.reach.gone is not None:
                skipped = 1
                for item in state.pending:
                    maybe = item.index in state.unknown
                    failed.append(
                        self._fail(
                            item.index,
                            self._reported(item),
                            self.reach.gone,
                            None,
                            maybe=maybe,
                        )
                    )
                state.pending = []
                return _ChunkOutcome(False, None, "the hub is unreachable")
            attempt_number += 1
            sending = state.pending
            state.sent = True
            if attempt_number > 1:
                self.retried_records += len(sending)
            kind = self.kind
            if len(sending) == len(chunk.items):
                body = chunk.body() if kind.envelope == _ARRAY else kind.body(chunk.bodies)
            else:
                body = kind.body(i.body for i in sending)
            try:
                response = await transport.post_once(
                    kind.path,
                    body,
                    options=self.client._options,
                    params=kind.params,
                    route=kind.route,
                )
            except SuprsendTransportError as exc:
                # Never sent, or sent and the outcome unknown.
                end = AttemptEnd.of_error(exc)
                self.reach.note(end, transport.log)
                state.pending = [i for i in sending if settle(i, str(exc), end)]
                return _ChunkOutcome(bool(state.pending), None, f"{type(exc).__name__}: {exc}")
            status = response.status_code
            end = AttemptEnd.answered(status)
            self.reach.note(end, transport.log)
            raw = _parse_answer(response.content)
            if 200 <= status < 300:
                records = raw.get("records") if isinstance(raw, dict) else None
                if status == 207 or records is not None:
                    state.pending = self._settle_records(sending, records, settle)
                else:
                    if kind.on_answer is not None:
                        kind.on_answer(raw)
                    state.pending = [i for i in sending if settle(i, "", None)]
                return _ChunkOutcome(
                    bool(state.pending),
                    _retry_after(response, state),
                    f"HTTP {status} (per record)",
                )
            message, _ = parse_error(status, raw)
            state.pending = [i for i in sending if settle(i, message, end)]
            return _ChunkOutcome(
                bool(state.pending), _retry_after(response, state), f"HTTP {status}"
            )

        give_up_reason = ""

        def gave_up(why: str) -> None:
            nonlocal give_up_reason
            give_up_reason = f": {why}"

        try:
            _, attempts = await send_with_retries(
                attempt,
                policy=self.policy,
                # (Whether each record is sent again is settle()'s decision.)
                repeatable=True,
                path=self.kind.template,
                on_retry=transport.on_retry,
                log=transport.log,
                is_retryable=lambda o: o.retryable,
                retry_after=lambda o: o.retry_after,
                describe=lambda o: o.description,
                on_give_up=gave_up,
                bulk=True,
                sleep=self.reach.sleep,
                # Per record, in state.unknown: the error's "sent" is then only
                # whether the deadline cut an attempt short.
                may_have_applied=lambda _: False,
            )
        except SuprsendTransportError as exc:
            # Only the deadline ends here: attempts themselves never raise. An
            # attempt it cut short may have reached the hub.
            attempts = exc.attempts
            for item in state.pending:
                maybe = exc.sent or item.index in state.unknown
                reported = self._reported(item)
                failed.append(self._fail(item.index, reported, str(exc), None, maybe=maybe))
        else:
            for item in state.pending:
                error, code = last_error[item.index]
                error = f"{error} (gave up after {_attempts(attempts)}{give_up_reason})"
                maybe = item.index in state.unknown
                reported = self._reported(item)
                failed.append(self._fail(item.index, reported, error, code, maybe=maybe))
        attempts -= skipped
        self.uploads.discard(state)
        if self.on_chunk is not None:
            self.on_chunk(chunk.items, failed)
        self.requests += attempts
        self.retried_requests += max(0, attempts - 1)

    def account_for_abandoned(self) -> None:
        """After the uploads were cancelled: every record read and not settled fails.

        Records whose request was in flight (or had been sent and awaited a
        retry) may have been processed; the others were never sent.
        """
        before = len(self.failures)
        for state in self.uploads:
            for item in state.pending:
                maybe = state.sent or item.index in state.unknown
                error = _ABANDONED if maybe else _NOT_SENT
                self._fail(item.index, self._reported(item), error, None, maybe=maybe)
        self.uploads.clear()
        unsent = [self.handing_over] if self.handing_over is not None else []
        self.handing_over = None
        unsent += self.ready
        self.ready.clear()
        if self.builder is not None:
            last = self.builder.flush()
            if last is not None:
                unsent.append(last)
        for chunk in unsent:
            for item in chunk.items:
                self._fail(item.index, self._reported(item), _NOT_SENT, None)
        for index, given in zip(self.drafted, self.drafted_from, strict=True):
            self._fail(index, given, _NOT_SENT, None)
        self.drafted.clear()
        self.drafted_from.clear()
        if len(self.failures) > before:
            self.warnings.append(
                "the upload was abandoned: requests in flight were cancelled, their outcome unknown"
            )

    def _reported(self, item: BulkItem) -> Any:
        """``item``'s record as a failure reports it: the one given (with its generated
        key), or, for a drafted one (see :class:`Drafting`), rebuilt from its bytes."""
        if item.source is not None:
            return item.reported()
        assert self.kind.drafting is not None  # only drafted records are let go
        return self.kind.drafting.rebuild(item.body)

    def _settle_records(
        self,
        sending: Sequence[BulkItem],
        records: Any,
        settle: Callable[[BulkItem, str, AttemptEnd | None], bool],
    ) -> list[BulkItem]:
        if not isinstance(records, list) or len(records) != len(sending):
            got = len(records) if isinstance(records, list) else "no"
            warning = f"the hub answered {got} record results for {len(sending)} records"
            self.warnings.append(warning)
            # The hub accepted the request; what it did with each record is unknown.
            return [i for i in sending if settle(i, warning, _UNKNOWN)]
        if all(type(r) is dict and r.get("status") == "success" for r in records):
            self.succeeded += len(sending)  # the usual answer: no record needs a look
            return []
        keep = []
        for item, result in zip(sending, records, strict=True):
            if not isinstance(result, dict):
                result = {}
            code = result.get("status_code")
            code = code if isinstance(code, int) else None
            ok = result.get("status") == "success" or (code is not None and 200 <= code < 300)
            # (A record failed without a status: the hub's own verdict, final.)
            end = None if ok else AttemptEnd(Ending.ANSWERED, code)
            message = "" if ok else parse_error(code or 0, result)[0]
            if settle(item, message, end):
                keep.append(item)
        return keep

    def response(self) -> BulkResponse:
        self.failures.sort(key=lambda f: f.index)
        if self.reach.gone is not None:
            self.warnings.append(self.reach.gone.removeprefix("not sent: "))
        failure = len(self.failures)
        if failure == 0:
            status: Literal["success", "partial", "fail"] = "success"
        elif self.succeeded == 0:
            status = "fail"
        else:
            status = "partial"
        return BulkResponse(
            status=status,
            total=self.consumed,
            success=self.succeeded,
            failure=failure,
            failed_records=tuple(self.failures),
            warnings=tuple(self.warnings),
            retried_requests=self.retried_requests,
            retried_records=self.retried_records,
        )


def _prepared(body_of: Callable[[Any], bytes]) -> Callable[[ClientContext, int, Any], BulkItem]:
    def prepare(client: ClientContext, index: int, record: Any) -> BulkItem:
        # Keyed at acceptance: always safe to send again.
        return BulkItem(index, record, body_of(record), True)

    return prepare


def _retry_after(response: httpx.Response, state: _Upload) -> float | None:
    """The hub's Retry-After, read only when it matters: when records wait for a retry."""
    return parse_retry_after(response.headers.get("Retry-After")) if state.pending else None


try:  # the "fast" extra: a 207 for 100 records parses in a fifth of the time
    from orjson import loads as _orjson_loads

    def _parse_answer(content: bytes) -> Any:
        try:
            return _orjson_loads(content) if content else None
        except ValueError:  # not JSON (or not what orjson takes): the general reader decides
            return parse_body(content)

except ImportError:  # pragma: no cover - depends on the environment
    _parse_answer = parse_body


def _attempts(n: int) -> str:
    return "1 attempt" if n == 1 else f"{n} attempts"


async def run_bulk(
    client: ClientContext,
    items: Iterable[Any] | AsyncIterable[Any],
    *,
    kind: RecordKind,
    max_concurrency: int | None = None,
    retry: RetryPolicy | None = None,
    on_progress: Callable[[BulkProgress], Any] | None = None,
    abandon: anyio.Event | None = None,
    body_of: Callable[[Any], bytes] | None = None,
    batched: bool = False,
    on_chunk: Callable[[Sequence[BulkItem], list[FailedRecord]], None] | None = None,
) -> BulkResponse:
    """Upload ``items`` with at most ``max_concurrency`` requests in flight.

    ``abandon`` (for the command line's second Ctrl-C): once set, requests in
    flight are cancelled, nothing more is read or sent, and the response
    still accounts for every record read, the unsettled ones as failed
    (``maybe_delivered`` if their request had been sent).

    ``body_of``: each item is already checked, keyed and encoded, its wire
    bytes ``body_of(item)`` (the background sender's tuples; the outbox
    worker's records, ``attrgetter("body")``).

    ``batched``: ``items`` is an async iterable of lists of records, taken
    in turn.

    ``on_chunk(items, failed)``: called as each chunk is settled, with its
    items (``item.source`` is the record given) and the failures among them,
    so that a long-running upload's outcomes are known as it goes. Not
    called for records that never reach a chunk (invalid, too large) nor for
    an abandoned run's; those are in the response only.
    """
    check_hook(on_progress, "on_progress")
    if not isinstance(items, (Iterable, AsyncIterable)) or isinstance(items, (str, bytes, dict)):
        raise SuprsendValidationError(
            "records",
            f"must be an iterable or async iterable of records, got {type(items).__name__}",
        )
    concurrency = (
        client.max_concurrency
        if max_concurrency is None
        else client._check_concurrency(max_concurrency)
    )
    try:
        total_hint: int | None = len(items)  # type: ignore[arg-type]
    except TypeError:
        total_hint = None
    run = _BulkRun(
        client=client,
        kind=kind,
        policy=checked_policy(retry) or client.retry_policy,
        on_progress=on_progress,
        total_hint=total_hint,
        reach=_Reach(
            after=(checked_policy(retry) or client.retry_policy).unreachable_after,
            host=origin(client._transport.base_url),
        ),
        body_of=body_of,
        batched=batched,
        on_chunk=on_chunk,
    )
    client._ensure_open()  # fail now, not in a worker, if the client is closed
    with client._transport.telemetry.call(kind.operation, "POST", kind.template, records=0) as call:
        # No buffer: the producer waits for a free worker, so at most
        # max_concurrency chunks (plus the one being built) exist at once.
        # (A buffer of one chunk per worker was measured: no faster.)
        send, receive = anyio.create_memory_object_stream[Chunk[BulkItem]](0)
        abandoned = False
        async with anyio.create_task_group() as watch:
            async with anyio.create_task_group() as tg:
                if abandon is not None:

                    async def abandon_when_told() -> None:
                        nonlocal abandoned
                        await abandon.wait()
                        abandoned = True
                        tg.cancel_scope.cancel()

                    watch.start_soon(abandon_when_told)
                for _ in range(concurrency):
                    tg.start_soon(run.guarded, tg.cancel_scope, run.upload_all, receive.clone())
                receive.close()
                await run.guarded(tg.cancel_scope, run.produce, items, send)
            watch.cancel_scope.cancel()
        if abandoned:
            run.account_for_abandoned()
        if run.error is not None:
            # The caller's own error (from their iterable or on_progress), as
            # itself rather than wrapped in an ExceptionGroup.
            raise run.error
        run.final_progress()
        response = run.response()
        call.records = response.total
        call.failed = response.failure
        call.retried = response.retried_records
        call.attempts = run.requests
    return response
