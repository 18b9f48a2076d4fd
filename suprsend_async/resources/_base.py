"""What every resource shares: reads, writes and lists on the core, and bulk instances.

A REST resource (users now; objects, tenants, lists, messages next) is a
:class:`Resource` whose methods build an escaped path and its template,
pick the retry safety from ``_values.idempotency``, and call one of these.
A bulk instance (events, workflow triggers, user edits) is a
:class:`BulkInstance` handing its records to the bulk engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from .._core.bulk import BulkProgress, BulkResponse, RecordKind, run_bulk
from .._core.context import ClientContext
from .._core.pagination import CursorPaginator
from .._core.request import NO_BODY, Answer, Method, request
from .._core.retry import RetryPolicy, checked_policy
from .._values.answers import CursorPage
from .._values.errors import SuprsendValidationError
from .._values.idempotency import READ, RetrySafety

__all__ = ["BulkInstance", "ProgressHook", "Resource", "TriggeredInstance", "deleted", "mapping"]


def mapping(value: Mapping[str, Any] | None, field: str) -> dict[str, Any]:
    """Options or a payload as a dict ({} for None); SuprsendValidationError if not a mapping."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SuprsendValidationError(
            field, f"must be a mapping (dict), got {type(value).__name__}"
        )
    return dict(value)


def deleted(answer: Answer) -> dict[str, Any]:
    """What the official SDK returns for a delete."""
    return {"success": True, "status_code": answer.status_code}


class Resource:
    """One namespace of the REST API on the client (``client.users``...)."""

    def __init__(self, client: ClientContext) -> None:
        self._client = client

    async def _send(
        self,
        method: Method,
        path: str,
        route: str,
        safety: RetrySafety,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = NO_BODY,
        retry: RetryPolicy | None,
    ) -> Answer:
        client = self._client
        client._ensure_open()
        return await request(
            client._transport,
            method,
            path,
            route=route,
            safety=safety,
            params=params,
            body=body,
            policy=checked_policy(retry) or client.retry_policy,
            options=client._options,
        )

    async def _json(
        self,
        method: Method,
        path: str,
        route: str,
        safety: RetrySafety,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = NO_BODY,
        retry: RetryPolicy | None,
    ) -> dict[str, Any]:
        answer = await self._send(
            method, path, route, safety, params=params, body=body, retry=retry
        )
        return answer.json()

    async def _read(
        self, path: str, route: str, options: Mapping[str, Any] | None, retry: RetryPolicy | None
    ) -> dict[str, Any]:
        params = mapping(options, "options")
        return await self._json("GET", path, route, READ, params=params, retry=retry)

    async def _write(
        self,
        method: Method,
        path: str,
        route: str,
        safety: RetrySafety,
        payload: Mapping[str, Any] | None,
        options: Mapping[str, Any] | None,
        retry: RetryPolicy | None,
    ) -> dict[str, Any]:
        return await self._json(
            method,
            path,
            route,
            safety,
            params=mapping(options, "options"),
            body=mapping(payload, "payload"),
            retry=retry,
        )

    def _paginated(
        self, path: str, route: str, options: Mapping[str, Any] | None, retry: RetryPolicy | None
    ) -> CursorPaginator[Any]:
        async def fetch(params: Mapping[str, Any]) -> CursorPage[Any]:
            page = await self._json("GET", path, route, READ, params=params, retry=retry)
            return cast("CursorPage[Any]", page)

        return CursorPaginator(fetch, mapping(options, "options"))


ProgressHook = Callable[[BulkProgress], Any]


class BulkInstance:
    """Records collected with ``append``, sent all at once by the bulk engine.

    The official SDK's shape (``new_instance()``, ``append``, ``trigger()``
    or ``save()``); each subclass names its record kind and path.
    """

    _kind: RecordKind
    _path: str

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
            path=self._path,
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
