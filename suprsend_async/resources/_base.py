"""What every REST resource shares: the client, and reads, writes and lists on the core.

A resource (users now; objects, tenants, lists, messages next) is a
:class:`Resource` whose methods build an escaped path and its template,
pick the retry safety from ``_idempotency``, and call one of these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._context import ClientContext
from .._exceptions import SuprsendValidationError
from .._idempotency import READ, RetrySafety
from .._pagination import CursorPaginator
from .._request import NO_BODY, Answer, Method, request
from .._retry import RetryPolicy

__all__ = ["Resource", "deleted", "mapping"]


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
            policy=retry or client.retry_policy,
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
    ) -> CursorPaginator:
        async def fetch(params: Mapping[str, Any]) -> dict[str, Any]:
            return await self._json("GET", path, route, READ, params=params, retry=retry)

        return CursorPaginator(fetch, mapping(options, "options"))
