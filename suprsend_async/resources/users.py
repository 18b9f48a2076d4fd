"""``client.users``: the hub's users API, with the official SDK's names and parameters.

Each method sends one request through the shared request path
(``_core.request``), retried only when ``_values.idempotency`` says a repeat is
harmless, and returns what the official SDK returns: the hub's JSON, or
``{"success": True, "status_code": ...}`` for a delete. List calls return a
:class:`CursorPaginator`: ``await`` it for the first page, ``async for``
for every user.

A delete retried after an attempt that got no answer (or a 5xx) may find
the user already gone; that 404 is reported as success (``status_code``
404), since the earlier attempt is what deleted it. A 404 on the first
attempt, or after only refused ones (429), is an error (see ``_core.request``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._core.bulk import BulkResponse
from .._core.pagination import CursorPaginator
from .._core.retry import RetryPolicy
from .._values.errors import SuprsendValidationError
from .._values.idempotency import ABSOLUTE_WRITE, DELETE, MERGE, edit_safety
from .._values.rules import require_id
from .._values.user_edit import UserEdit
from .._wire.query import path_segment
from .._wire.serialization import encode_identity_event
from ._base import BulkInstance, ProgressHook, Resource, deleted, mapping

__all__ = ["BulkUsersEdit", "Users"]

EVENT_PATH = "event/"
USER_ROUTE = "v1/user/{distinct_id}/"
TENANT_ROUTE = USER_ROUTE + "tenant/{tenant_id}/"
CATEGORY_ROUTE = USER_ROUTE + "preference/category/{category}/"


def _user_path(distinct_id: object) -> str:
    return f"v1/user/{path_segment(distinct_id, 'distinct_id')}/"


def _user(distinct_id: object, below: str = "") -> tuple[str, str]:
    """(path, route) of a user's URL and what is ``below`` it: the path escaped, the
    route its template, both from one suffix."""
    return _user_path(distinct_id) + below, USER_ROUTE + below


def _category(distinct_id: object, category: object) -> tuple[str, str]:
    segment = path_segment(category, "category")
    return f"{_user_path(distinct_id)}preference/category/{segment}/", CATEGORY_ROUTE


def _tenant(distinct_id: object, tenant_id: object) -> tuple[str, str]:
    segment = path_segment(tenant_id, "tenant_id")
    return f"{_user_path(distinct_id)}tenant/{segment}/", TENANT_ROUTE


class BulkUsersEdit(BulkInstance):
    """Collects :class:`UserEdit` s with ``append``; ``await save()`` sends them all.

    They go as identity events to ``event/``, concurrently, at most 400 and
    800 KB per request and 10 KB per edit (as the official SDK chunks them).
    An edit whose operations are all idempotent is retried; one with an
    increment or a list append is sent once. Every edit ends in ``success``
    or ``failed_records``.
    """

    _kind = "user_edit"
    _path = EVENT_PATH

    def append(self, *users: UserEdit) -> None:
        """Add edits (copied: later calls on an appended edit do not change what is sent).

        Anything that is not a UserEdit comes back in ``failed_records``.
        """
        self._records.extend(u.copy() if isinstance(u, UserEdit) else u for u in users)

    async def save(
        self,
        *,
        max_concurrency: int | None = None,
        retry: RetryPolicy | None = None,
        on_progress: ProgressHook | None = None,
    ) -> BulkResponse:
        """Send every edit appended so far; see :class:`BulkResponse`."""
        return await self._send(max_concurrency, retry, on_progress)


class Users(Resource):
    """The users API. Every method takes ``retry=`` to override the client's policy."""

    # -- profiles ----------------------------------------------------------------------

    def list(
        self, options: Mapping[str, Any] | None = None, *, retry: RetryPolicy | None = None
    ) -> CursorPaginator[Any]:
        """Users of the workspace: ``await`` for the first page, ``async for`` for all."""
        return self._paginated("v1/user/", "v1/user/", options, retry)

    async def get(
        self,
        distinct_id: str,
        options: Mapping[str, Any] | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> dict[str, Any]:
        return await self._read(*_user(distinct_id), options, retry)

    async def upsert(
        self,
        distinct_id: str,
        payload: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> dict[str, Any]:
        """Create the user or update it with ``payload``'s absolute values."""
        return await self._write(
            "POST", *_user(distinct_id), ABSOLUTE_WRITE, payload, options, retry
        )

    async def edit(
        self,
        edit_ins_or_distinct_id: UserEdit | str,
        edit_payload: Mapping[str, Any] | None = None,
        tenant_id: str | None = None,
        options: Mapping[str, Any] | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> dict[str, Any]:
        """Apply a :class:`UserEdit` (or a distinct id and ``{"operations": [...]}``).

        Retried only if every operation in it is idempotent.
        """
        if isinstance(edit_ins_or_distinct_id, UserEdit):
            edit = edit_ins_or_distinct_id
            payload = edit.get_payload()
            distinct_id, tenant = edit.distinct_id, edit.tenant_id
        else:
            payload = mapping(edit_payload, "edit_payload")
            distinct_id, tenant = edit_ins_or_distinct_id, tenant_id
        if tenant:
            path, route = _tenant(distinct_id, tenant)
        else:
            path, route = _user(distinct_id)
        return await self._json(
            "PATCH",
            path,
            route,
            edit_safety(payload.get("operations")),
            params=mapping(options, "options"),
            body=payload,
            retry=retry,
        )

    async def async_edit(
        self, edit_instance: UserEdit, *, retry: RetryPolicy | None = None
    ) -> dict[str, Any]:
        """Send the edit as an identity event, applied by the hub later.

        Returns ``{"success": True, "status": "success", "status_code": ...,
        "message": <the hub's answer text>}``, as the official SDK does.
        """
        if not isinstance(edit_instance, UserEdit):
            raise SuprsendValidationError(
                "edit_instance", f"must be a UserEdit, got {type(edit_instance).__name__}"
            )
        client = self._client
        record = encode_identity_event(
            edit_instance,
            env=client._env,
            sdk_version=client._serializer.sdk_version,
            limits=client.limits,
        )
        safety = edit_safety(edit_instance.operations)
        answer = await self._send(
            "POST", EVENT_PATH, EVENT_PATH, safety, body=record.body, retry=retry
        )
        return {
            "success": True,
            "status": "success",
            "status_code": answer.status_code,
            "message": answer.text,
        }

    async def merge(
        self, distinct_id: str, from_user_id: str, *, retry: RetryPolicy | None = None
    ) -> dict[str, Any]:
        """Merge ``from_user_id`` into ``distinct_id``. Never retried."""
        return await self._json(
            "POST",
            *_user(distinct_id, "merge/"),
            MERGE,
            body={"from_user_id": require_id(from_user_id, "from_user_id")},
            retry=retry,
        )

    async def delete(self, distinct_id: str, *, retry: RetryPolicy | None = None) -> dict[str, Any]:
        return deleted(await self._send("DELETE", *_user(distinct_id), DELETE, retry=retry))

    async def bulk_delete(
        self, payload: Mapping[str, Any], *, retry: RetryPolicy | None = None
    ) -> dict[str, Any]:
        """Delete users: ``payload`` is ``{"distinct_ids": ["id1", "id2"]}``."""
        answer = await self._send(
            "DELETE",
            "v1/bulk/user/",
            "v1/bulk/user/",
            DELETE,
            body=mapping(payload, "payload"),
            retry=retry,
        )
        return deleted(answer)

    # -- tenants --------------------------------------------------------------------------

    def list_associated_tenants(
        self,
        distinct_id: str,
        options: Mapping[str, Any] | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> CursorPaginator[Any]:
        return self._paginated(*_user(distinct_id, "associated_tenant/"), options, retry)

    async def get_for_tenant(
        self,
        distinct_id: str,
        tenant_id: str,
        options: Mapping[str, Any] | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> dict[str, Any]:
        return await self._read(*_tenant(distinct_id, tenant_id), options, retry)

    async def upsert_for_tenant(
        self,
        distinct_id: str,
        tenant_id: str,
        payload: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> dict[str, Any]:
        return await self._write(
            "POST",
            *_tenant(distinct_id, tenant_id),
            ABSOLUTE_WRITE,
            payload,
            options,
            retry,
        )

    async def unlink_tenant(
        self, distinct_id: str, tenant_id: str, *, retry: RetryPolicy | None = None
    ) -> dict[str, Any]:
        answer = await self._send("DELETE", *_tenant(distinct_id, tenant_id), DELETE, retry=retry)
        return deleted(answer)

    # -- subscriptions --------------------------------------------------------------------

    def get_objects_subscribed_to(
        self,
        distinct_id: str,
        options: Mapping[str, Any] | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> CursorPaginator[Any]:
        return self._paginated(*_user(distinct_id, "subscribed_to/object/"), options, retry)

    def get_lists_subscribed_to(
        self,
        distinct_id: str,
        options: Mapping[str, Any] | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> CursorPaginator[Any]:
        return self._paginated(*_user(distinct_id, "subscribed_to/list/"), options, retry)

    # -- builders -------------------------------------------------------------------------

    def get_edit_instance(self, distinct_id: str, tenant_id: str | None = None) -> UserEdit:
        return UserEdit(distinct_id, tenant_id)

    def get_bulk_edit_instance(self) -> BulkUsersEdit:
        return BulkUsersEdit(self._client)

    # -- preferences ------------------------------------------------------------------------

    async def get_full_preference(
        self,
        distinct_id: str,
        options: Mapping[str, Any] | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> dict[str, Any]:
        """Options: ``tenant_id``, ``show_opt_out_channels``, ``tags``, ``locale``."""
        return await self._read(*_user(distinct_id, "preference/"), options, retry)

    async def update_full_preference(
        self,
        distinct_id: str,
        payload: Mapping[str, Any],
        options: Mapping[str, Any] | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> dict[str, Any]:
        """Set channel and category preferences at once (Go SDK, OpenAPI).

        ``payload``: ``{"channel_preferences": [...], "categories": [...]}``.
        """
        return await self._write(
            "PATCH",
            *_user(distinct_id, "preference/"),
            ABSOLUTE_WRITE,
            payload,
            options,
            retry,
        )

    async def get_global_channels_preference(
        self,
        distinct_id: str,
        options: Mapping[str, Any] | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> dict[str, Any]:
        """``{"channel_preferences": [...]}``; option ``tenant_id`` (Go SDK, OpenAPI)."""
        return await self._read(
            *_user(distinct_id, "preference/channel_preference/"),
            options,
            retry,
        )

    async def update_global_channels_preference(
        self,
        distinct_id: str,
        payload: Mapping[str, Any],
        options: Mapping[str, Any] | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> dict[str, Any]:
        """``payload``: ``{"channel_preferences": [{"channel": ..., "is_restricted": ...}]}``."""
        return await self._write(
            "PATCH",
            *_user(distinct_id, "preference/channel_preference/"),
            ABSOLUTE_WRITE,
            payload,
            options,
            retry,
        )

    async def get_all_categories_preference(
        self,
        distinct_id: str,
        options: Mapping[str, Any] | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> dict[str, Any]:
        """Every category's preference (offset-paged by the hub: ``limit``, ``offset``)."""
        return await self._read(
            *_user(distinct_id, "preference/category/"),
            options,
            retry,
        )

    async def get_category_preference(
        self,
        distinct_id: str,
        category: str,
        options: Mapping[str, Any] | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> dict[str, Any]:
        """Options: ``tenant_id``, ``show_opt_out_channels``, ``locale``."""
        return await self._read(*_category(distinct_id, category), options, retry)

    async def update_category_preference(
        self,
        distinct_id: str,
        category: str,
        payload: Mapping[str, Any],
        options: Mapping[str, Any] | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> dict[str, Any]:
        """``payload``: ``{"preference": "opt_in", "opt_out_channels": [...]}``."""
        return await self._write(
            "PATCH", *_category(distinct_id, category), ABSOLUTE_WRITE, payload, options, retry
        )

    async def bulk_update_preferences(
        self,
        payload: Mapping[str, Any],
        options: Mapping[str, Any] | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> dict[str, Any]:
        """Set preferences of many users: ``{"distinct_ids": [...], "channel_preferences":
        [...], "categories": [...]}``; option ``tenant_id`` (Go SDK, OpenAPI)."""
        return await self._write(
            "PATCH",
            "v1/bulk/user/preference/",
            "v1/bulk/user/preference/",
            ABSOLUTE_WRITE,
            payload,
            options,
            retry,
        )

    async def bulk_reset_preferences(
        self,
        payload: Mapping[str, Any],
        options: Mapping[str, Any] | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> dict[str, Any]:
        """Reset preferences of many users to the defaults: ``{"distinct_ids": [...],
        "reset_channel_preferences": True, "reset_categories": True}`` (Go SDK, OpenAPI)."""
        return await self._write(
            "PATCH",
            "v1/bulk/user/preference/reset/",
            "v1/bulk/user/preference/reset/",
            ABSOLUTE_WRITE,
            payload,
            options,
            retry,
        )
