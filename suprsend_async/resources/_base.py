"""What every resource shares: reads, writes and lists on the core, and bulk instances.

A REST resource (users now; objects, tenants, lists, messages next) is a
:class:`Resource` whose methods build an escaped path and its template,
pick the retry safety from ``_values.idempotency``, and call one of these.
A bulk instance (events, workflow triggers, user edits) is a
:class:`BulkInstance` handing its records to the bulk engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Protocol, TypeVar, cast

from .._core.bulk import BulkProgress, BulkResponse, RecordKind, run_bulk
from .._core.context import ClientContext
from .._core.pagination import CursorPaginator, OffsetPaginator
from .._core.request import NO_BODY, Answer, Call, request
from .._core.retry import RetryPolicy, checked_policy
from .._core.single import fresh_key
from .._values.answers import CursorPage, DeletedJSON, OffsetPage
from .._values.errors import SuprsendConfigError, SuprsendValidationError
from .._wire.query import path_segment

__all__ = [
    "BulkInstance",
    "ProgressHook",
    "Resource",
    "TriggeredInstance",
    "bulk_record",
    "deleted",
    "mapping",
    "workspace_segment",
]


def mapping(value: Mapping[str, Any] | None, field: str) -> dict[str, Any]:
    """Options or a payload as a dict ({} for None); SuprsendValidationError if not a mapping."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SuprsendValidationError(
            field, f"must be a mapping (dict), got {type(value).__name__}"
        )
    return dict(value)


def deleted(answer: Answer) -> DeletedJSON:
    """What the official SDK returns for a delete."""
    return {"success": True, "status_code": answer.status_code}


def workspace_segment(client: ClientContext, what: str) -> str:
    """The workspace as the legacy paths name it (``{workspace}/broadcast/``): its key, or
    the workspace uid an API-key client was given."""
    if client._env is None:
        raise SuprsendConfigError(
            f"{what} is sent to a path naming the workspace: give workspace_uid="
            " to AsyncSuprsend.from_api_key"
        )
    return path_segment(client._env, "workspace")


class _Keyed(Protocol):
    @property
    def idempotency_key(self) -> str | None: ...

    def with_idempotency_key(self, key: str | None) -> Any: ...


_R = TypeVar("_R", bound=_Keyed)
# The JSON a call answers (its endpoint's type), and the items of a page.
_A = TypeVar("_A")
_Item = TypeVar("_Item")


def bulk_record(
    client: ClientContext,
    item: Any,
    kind: type[_R],
    from_body: Callable[[Any], _R],
    *,
    keyed: bool = True,
) -> _R:
    """A bulk record (an Event, a WorkflowTriggerRequest) from itself or its dict form,
    with a generated idempotency key when the client gives them and it has none
    (unless ``keyed`` is False: the caller puts one in its wire form itself)."""
    if isinstance(item, kind):
        record = item
    elif isinstance(item, dict):
        record = from_body(item)
    else:
        name = kind.__name__
        article = "an" if name[0] in "AEIOU" else "a"
        raise SuprsendValidationError(
            "record", f"must be {article} {name} or a dict, got {type(item).__name__}"
        )
    key = fresh_key(client, record.idempotency_key is not None) if keyed else None
    return record if key is None else record.with_idempotency_key(key)


class Resource:
    """One namespace of the REST API on the client (``client.users``...).

    A method turns an endpoint of ``_wire.endpoints`` and its ids into a
    :class:`Call` (``USERS.get.at(distinct_id=...)``) and hands it to one of
    these: the path, the template and the retry safety all come with it.
    """

    def __init__(self, client: ClientContext) -> None:
        self._client = client

    # _send and _write hand back the coroutine of the call, to be awaited: one of
    # their own around it would be one more made, and passed through at every
    # resume, on every call. (Their checks raise as the caller awaits them all
    # the same: it is the caller's coroutine that calls them.)

    def _send(self, call: Call[Any], retry: RetryPolicy | None) -> Coroutine[Any, Any, Answer]:
        client = self._client
        client._ensure_open()
        return request(
            client._transport,
            call,
            policy=checked_policy(retry) or client.retry_policy,
            options=client._options,
        )

    async def _json(self, call: Call[_A], retry: RetryPolicy | None) -> _A:
        """The hub's JSON object, typed as the call's endpoint declares it (only for mypy:
        at run time it is the dict as parsed, as the official SDK returns it)."""
        return cast(_A, (await self._send(call, retry)).json())

    async def _read(
        self, call: Call[_A], options: Mapping[str, Any] | None, retry: RetryPolicy | None
    ) -> _A:
        """A GET with ``options`` as its query."""
        return await self._json(call.with_query(mapping(options, "options")), retry)

    def _write(
        self,
        call: Call[_A],
        payload: Mapping[str, Any] | None,
        options: Mapping[str, Any] | None,
        retry: RetryPolicy | None,
    ) -> Coroutine[Any, Any, _A]:
        """A POST or PATCH of ``payload`` (``{}`` for None), ``options`` as its query."""
        query = mapping(options, "options")
        return self._json(call.with_query_and_body(query, mapping(payload, "payload")), retry)

    async def _delete(
        self,
        call: Call[Any],
        retry: RetryPolicy | None,
        payload: Mapping[str, Any] | None = NO_BODY,
    ) -> DeletedJSON:
        """A DELETE, answered as the official SDK answers it; ``payload`` for a bulk one."""
        if payload is not NO_BODY:
            call = call.with_body(mapping(payload, "payload"))
        return deleted(await self._send(call, retry))

    def _fetch(
        self, call: Call[_A], retry: RetryPolicy | None
    ) -> Callable[[Mapping[str, Any]], Awaitable[_A]]:
        """How a paginator gets one page: the call with that page's query."""

        async def fetch(params: Mapping[str, Any]) -> _A:
            return await self._json(call.with_query(params), retry)

        return fetch

    def _paginated(
        self,
        call: Call[CursorPage[_Item]],
        options: Mapping[str, Any] | None,
        retry: RetryPolicy | None,
    ) -> CursorPaginator[_Item]:
        """A cursor list: ``options`` in every page's query, ``after`` from the last page."""
        return CursorPaginator(self._fetch(call, retry), mapping(options, "options"))

    def _offset_paginated(
        self,
        call: Call[OffsetPage[_Item]],
        options: Mapping[str, Any] | None,
        retry: RetryPolicy | None,
    ) -> OffsetPaginator[_Item]:
        """An offset list: ``options`` (``limit``, ``offset``...) in every page's query, the
        ``offset`` moved on by each page."""
        return OffsetPaginator(self._fetch(call, retry), mapping(options, "options"))


ProgressHook = Callable[[BulkProgress], Any]


class BulkInstance:
    """Records collected with ``append``, sent all at once by the bulk engine.

    The official SDK's shape (``new_instance()``, ``append``, ``trigger()``
    or ``save()``); each subclass names its record kind and path.
    """

    _kind: RecordKind

    def __init__(self, client: ClientContext) -> None:
        self._client = client
        self._records: list[Any] = []

    def __len__(self) -> int:
        return len(self._records)

    async def _send(
        self,
        max_concurrency: int | None,
        retry: RetryPolicy | None,
        on_progress: ProgressHook | None,
    ) -> BulkResponse:
        return await run_bulk(
            self._client,
            self._records,
            kind=self._kind,
            max_concurrency=max_concurrency,
            retry=retry,
            on_progress=on_progress,
        )


class TriggeredInstance(BulkInstance):
    """A bulk instance sent with ``trigger()``, as the official SDK names it for
    events and workflow triggers (user edits are sent with ``save()``)."""

    async def trigger(
        self,
        *,
        max_concurrency: int | None = None,
        retry: RetryPolicy | None = None,
        on_progress: ProgressHook | None = None,
    ) -> BulkResponse:
        """Send everything appended so far, concurrently; see :class:`BulkResponse`."""
        return await self._send(max_concurrency, retry, on_progress)
