"""List membership at any scale: ids grouped into the requests the hub accepts, sent
concurrently by the bulk engine, every id accounted for.

An id is a few bytes: carried through the engine one by one, its bookkeeping
would cost more than its bytes (some 6 µs an id, slower than the official SDK
sending 1,000 at a time one request after another). So the ids are grouped
here, as they are read, into groups of at most ``Limits.max_list_ids_per_request``
ids that fit a request body, each encoded once; the engine sends one group a
request, retries it (membership is a set: a repeat is harmless) and reports
failed groups, which are then told apart again into the ids they held, with
their positions in the input.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Literal

import attrs

from .._core.bulk import BulkItem, BulkResponse, FailedRecord, RecordKind, run_bulk
from .._core.context import ClientContext
from .._core.retry import RetryPolicy
from .._values.errors import SuprsendValidationError
from .._values.json_codec import dumps
from .._values.rules import valid_text
from .._wire.routes import Call

__all__ = ["DistinctIds", "send_members"]

DistinctIds = Iterable[str] | AsyncIterable[str]
_ENVELOPE = (b'{"distinct_ids":[', b"]}")


@attrs.define(eq=False)
class _Group:
    """Ids for one request, where each was in the input, and their encoded list."""

    ids: list[str]
    indices: list[int]
    body: bytes = b""


def _prepare(client: ClientContext, index: int, group: Any) -> BulkItem:
    return BulkItem(index, group, group.body, True)  # a set: every group repeats harmlessly


# One group a request, in {"distinct_ids": [...]}; the path and route are the call's.
_GROUPS = RecordKind("subscriber_lists.add", "", _prepare, lambda limits: 1, envelope=_ENVELOPE)


def _id_problem(distinct_id: object) -> str | None:
    """Why ``distinct_id`` cannot be sent as one (the rule), or None.

    Sent as given, not stripped: an id with spaces around it is the hub's to judge.
    """
    if not isinstance(distinct_id, str) or not distinct_id.strip():
        return f"must be a non-empty string, got {type(distinct_id).__name__}"
    try:
        valid_text(distinct_id, "distinct_id")  # a lone surrogate: no UTF-8, no JSON
    except SuprsendValidationError as exc:
        return exc.rule
    return None


def checked_ids(distinct_ids: object) -> DistinctIds:
    """``distinct_ids`` if it can be iterated; a list is checked whole before anything is sent."""
    if isinstance(distinct_ids, (str, bytes, Mapping)) or not isinstance(
        distinct_ids, (Iterable, AsyncIterable)
    ):
        raise SuprsendValidationError(
            "distinct_ids",
            f"must be a list (or an iterable) of distinct ids, got {type(distinct_ids).__name__}",
        )
    if isinstance(distinct_ids, list):
        for i, distinct_id in enumerate(distinct_ids):
            # ASCII (the usual id) has UTF-8: the rule is asked only otherwise.
            if (
                not isinstance(distinct_id, str)
                or not distinct_id.isascii()
                or not distinct_id.strip()
            ):
                problem = _id_problem(distinct_id)
                if problem is not None:
                    raise SuprsendValidationError(f"distinct_ids[{i}]", problem)
    return distinct_ids


@attrs.define
class _Reading:
    """Groups ``ids`` as they are read; ``invalid`` and ``read`` say what was refused and seen."""

    per_request: int
    max_bytes: int
    invalid: list[FailedRecord] = attrs.field(factory=list)
    read: int = 0

    def _refuse(self, index: int, item: Any, why: str) -> None:
        self.invalid.append(FailedRecord(index, item, f"distinct_id: {why}", None))

    def _encoded(self, ids: list[str], indices: list[int]) -> list[_Group]:
        """The group, encoded; split in two while its body is over the limit (ids
        full of characters JSON escapes can be longer than estimated)."""
        body = dumps(ids)[1:-1]
        if len(body) <= self.max_bytes or len(ids) == 1:
            return [_Group(ids, indices, body)]
        half = len(ids) // 2
        return self._encoded(ids[:half], indices[:half]) + self._encoded(ids[half:], indices[half:])

    async def groups(self, distinct_ids: DistinctIds) -> AsyncIterator[_Group]:
        ids: list[str] = []
        indices: list[int] = []
        size = 0
        for_each: Any = (
            distinct_ids if isinstance(distinct_ids, AsyncIterable) else _aiter(distinct_ids)
        )
        async for item in for_each:
            index = self.read
            self.read += 1
            if not isinstance(item, str) or not item.strip():
                self._refuse(index, item, f"must be a non-empty string, got {type(item).__name__}")
                continue
            # Its bytes in the body: quoted, a comma; escapes are found when encoded.
            try:
                cost = len(item.encode()) + 3
            except UnicodeEncodeError:  # (one encode an id, the rule only to say why)
                problem = _id_problem(item)
                assert problem is not None  # the rule refuses what has no UTF-8
                self._refuse(index, item, problem)
                continue
            if cost > self.max_bytes:
                self._refuse(index, item, f"is {cost} bytes, more than a request may carry")
                continue
            if ids and (len(ids) == self.per_request or size + cost > self.max_bytes):
                for group in self._encoded(ids, indices):
                    yield group
                ids, indices, size = [], [], 0
            ids.append(item)
            indices.append(index)
            size += cost
        if ids:
            for group in self._encoded(ids, indices):
                yield group


async def _aiter(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


async def send_members(
    client: ClientContext,
    call: Call[Any],
    operation: str,
    distinct_ids: DistinctIds,
    query: Mapping[str, Any],
    max_concurrency: int | None,
    retry: RetryPolicy | None,
    on_answer: Callable[[Any], None],
) -> BulkResponse:
    """Send every id of ``distinct_ids`` to ``call``'s path; the outcome per id.

    ``on_answer`` sees each request's answer (its ``affected_count``).
    """
    limits = client.limits
    prefix, suffix = _ENVELOPE
    reading = _Reading(
        limits.max_list_ids_per_request, limits.max_body_bytes - len(prefix) - len(suffix)
    )
    kind = attrs.evolve(
        _GROUPS,
        operation=operation,
        path=call.path,
        route=call.route,
        params=dict(query) or None,
        on_answer=on_answer,
    )
    sent = await run_bulk(
        client,
        reading.groups(distinct_ids),
        kind=kind,
        max_concurrency=max_concurrency,
        retry=retry,
    )
    # Each failed group told apart into its ids, where they were in the input.
    failed = [
        FailedRecord(index, distinct_id, f.error, f.code, maybe_delivered=f.maybe_delivered)
        for f in sent.failed_records
        for distinct_id, index in zip(f.record.ids, f.record.indices, strict=True)
    ]
    failed = sorted([*reading.invalid, *failed], key=lambda f: f.index)
    total = reading.read
    status: Literal["success", "partial", "fail"] = (
        "success" if not failed else "fail" if len(failed) == total else "partial"
    )
    return BulkResponse(
        status=status,
        total=total,
        success=total - len(failed),
        failure=len(failed),
        failed_records=tuple(failed),
        warnings=sent.warnings,
        retried_requests=sent.retried_requests,
        retried_records=sent.retried_records,  # here, groups of ids sent again
    )
