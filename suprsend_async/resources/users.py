"""``client.users``: the hub's users API, with the official SDK's names and parameters.

Each method sends one request through the shared request path
(``_core.request``), retried only when ``_values.idempotency`` says a repeat is
harmless, and returns what the official SDK returns: the hub's JSON, or
``{"success": True, "status_code": ...}`` for a delete, typed as its
endpoint declares (``UserJSON``...: ``suprsend_async.types``). List calls
return a :class:`CursorPaginator`: ``await`` it for the first page,
``async for`` for every user.

A delete retried after an attempt that got no answer (or a 5xx) may find
the user already gone; that 404 is reported as success (``status_code``
404), since the earlier attempt is what deleted it. A 404 on the first
attempt, or after only refused ones (429), is an error (see ``_core.request``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._core.bulk import BulkItem, BulkResponse, RecordKind
from .._core.context import ClientContext
from .._core.pagination import CursorPaginator
from .._core.retry import RetryPolicy
from .._values.answers import (
    CategoryPreferenceJSON,
    ChannelPreferencesJSON,
    DeletedJSON,
    EventAcceptedJSON,
    FullPreferenceJSON,
    ListSubscriptionJSON,
    ObjectSubscriptionJSON,
    OffsetPage,
    SuccessJSON,
    UserJSON,
    UserTenantJSON,
    UserTenantLinkJSON,
)
from .._values.errors import SuprsendValidationError
from .._values.idempotency import edit_safety
from .._values.profile_edit import UserEdit, edit_tenant_id
from .._values.rules import rest_id
from .._wire.endpoints import EVENTS, USERS
from .._wire.routes import Call
from .._wire.serialization import encode_identity_event
from ._base import BulkInstance, ProgressHook, Resource, mapping
from ._preferences import Preferences

__all__ = ["BulkUsersEdit", "Users"]

Options = Mapping[str, Any] | None


def _prepare_edit(client: ClientContext, index: int, item: Any) -> BulkItem:
    if not isinstance(item, UserEdit):
        raise SuprsendValidationError("record", f"must be a UserEdit, got {type(item).__name__}")
    record = encode_identity_event(
        item, env=client._env, sdk_version=client._serializer.sdk_version, limits=client.limits
    )
    return BulkItem.of(index, item, record)


# User edits in bulk: identity events, as the official SDK sends them.
USER_EDIT_RECORDS = RecordKind(
    "users.bulk_edit",
    EVENTS.identity.template,
    _prepare_edit,
    lambda limits: limits.max_identity_records_per_request,
)


class BulkUsersEdit(BulkInstance):
    """Collects :class:`UserEdit` s with ``append``; ``await save()`` sends them all.

    They go as identity events to ``event/``, concurrently, at most 400 and
    800 KB per request and 10 KB per edit (as the official SDK chunks them).
    An edit whose operations are all idempotent is retried; one with an
    increment or a list append is sent once. Every edit ends in ``success``
    or ``failed_records``.
    """

    _kind = USER_EDIT_RECORDS

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

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self._preferences = Preferences(self, USERS.preferences)

    # -- profiles ----------------------------------------------------------------------

    def list(
        self, options: Options = None, *, retry: RetryPolicy | None = None
    ) -> CursorPaginator[UserJSON]:
        """Users of the workspace: ``await`` for the first page, ``async for`` for all."""
        return self._paginated(USERS.list.at(), options, retry)

    async def get(
        self, distinct_id: str, options: Options = None, *, retry: RetryPolicy | None = None
    ) -> UserJSON:
        return await self._read(USERS.get.at(distinct_id=distinct_id), options, retry)

    async def upsert(
        self,
        distinct_id: str,
        payload: Mapping[str, Any] | None = None,
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> UserJSON:
        """Create the user or update it with ``payload``'s absolute values."""
        return await self._write(USERS.upsert.at(distinct_id=distinct_id), payload, options, retry)

    async def edit(
        self,
        edit_ins_or_distinct_id: UserEdit | str,
        edit_payload: Mapping[str, Any] | None = None,
        tenant_id: str | None = None,
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> UserJSON:
        """Apply a :class:`UserEdit` (or a distinct id and ``{"operations": [...]}``).

        Retried only if every operation in it is idempotent.
        """
        if isinstance(edit_ins_or_distinct_id, UserEdit):
            edit = edit_ins_or_distinct_id
            payload: Mapping[str, Any] = edit.get_payload()
            distinct_id, tenant = edit.distinct_id, edit.tenant_id
        else:
            payload = mapping(edit_payload, "edit_payload")
            distinct_id, tenant = edit_ins_or_distinct_id, edit_tenant_id(tenant_id)
        call: Call[UserJSON]
        if tenant:
            call = USERS.edit_for_tenant.at(distinct_id=distinct_id, tenant_id=tenant)
        else:
            call = USERS.edit.at(distinct_id=distinct_id)
        return await self._write(call, payload, options, retry)

    async def async_edit(
        self, edit_instance: UserEdit, *, retry: RetryPolicy | None = None
    ) -> EventAcceptedJSON:
        """Send the edit as an identity event, applied by the hub later.

        Returns ``{"success": True, "status": "success", "status_code": ...,
        "message": <the hub's answer text>}``, as the official SDK does.
        """
        if not isinstance(edit_instance, UserEdit):
            raise SuprsendValidationError(
                "edit_instance", f"must be a UserEdit, got {type(edit_instance).__name__}"
            )
        record = _prepare_edit(self._client, 0, edit_instance)
        call = EVENTS.identity.at().with_body(record.body)
        answer = await self._send(call.with_safety(edit_safety(edit_instance.operations)), retry)
        return {
            "success": True,
            "status": "success",
            "status_code": answer.status_code,
            "message": answer.text,
        }

    async def merge(
        self, distinct_id: str, from_user_id: str, *, retry: RetryPolicy | None = None
    ) -> UserJSON:
        """Merge ``from_user_id`` into ``distinct_id``. Never retried.

        A user cannot be merged into itself (the merge would delete it).
        """
        call = USERS.merge.at(distinct_id=distinct_id)
        from_id = rest_id(from_user_id, "from_user_id")
        if from_id == rest_id(distinct_id, "distinct_id"):
            raise SuprsendValidationError(
                "from_user_id", "must differ from distinct_id: a user cannot be merged into itself"
            )
        return await self._json(call.with_body({"from_user_id": from_id}), retry)

    async def delete(self, distinct_id: str, *, retry: RetryPolicy | None = None) -> DeletedJSON:
        return await self._delete(USERS.delete.at(distinct_id=distinct_id), retry)

    async def bulk_delete(
        self, payload: Mapping[str, Any], *, retry: RetryPolicy | None = None
    ) -> DeletedJSON:
        """Delete users: ``payload`` is ``{"distinct_ids": ["id1", "id2"]}``."""
        return await self._delete(USERS.bulk_delete.at(), retry, payload)

    # -- tenants --------------------------------------------------------------------------

    def list_associated_tenants(
        self, distinct_id: str, options: Options = None, *, retry: RetryPolicy | None = None
    ) -> CursorPaginator[UserTenantLinkJSON]:
        call = USERS.associated_tenants.at(distinct_id=distinct_id)
        return self._paginated(call, options, retry)

    async def get_for_tenant(
        self,
        distinct_id: str,
        tenant_id: str,
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> UserTenantJSON:
        call = USERS.get_for_tenant.at(distinct_id=distinct_id, tenant_id=tenant_id)
        return await self._read(call, options, retry)

    async def upsert_for_tenant(
        self,
        distinct_id: str,
        tenant_id: str,
        payload: Mapping[str, Any] | None = None,
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> UserTenantJSON:
        call = USERS.upsert_for_tenant.at(distinct_id=distinct_id, tenant_id=tenant_id)
        return await self._write(call, payload, options, retry)

    async def unlink_tenant(
        self, distinct_id: str, tenant_id: str, *, retry: RetryPolicy | None = None
    ) -> DeletedJSON:
        call = USERS.unlink_tenant.at(distinct_id=distinct_id, tenant_id=tenant_id)
        return await self._delete(call, retry)

    # -- subscriptions --------------------------------------------------------------------

    def get_objects_subscribed_to(
        self, distinct_id: str, options: Options = None, *, retry: RetryPolicy | None = None
    ) -> CursorPaginator[ObjectSubscriptionJSON]:
        call = USERS.objects_subscribed_to.at(distinct_id=distinct_id)
        return self._paginated(call, options, retry)

    def get_lists_subscribed_to(
        self, distinct_id: str, options: Options = None, *, retry: RetryPolicy | None = None
    ) -> CursorPaginator[ListSubscriptionJSON]:
        call = USERS.lists_subscribed_to.at(distinct_id=distinct_id)
        return self._paginated(call, options, retry)

    # -- builders -------------------------------------------------------------------------

    def get_edit_instance(self, distinct_id: str, tenant_id: str | None = None) -> UserEdit:
        return UserEdit(distinct_id, tenant_id)

    def get_bulk_edit_instance(self) -> BulkUsersEdit:
        return BulkUsersEdit(self._client)

    # -- preferences ------------------------------------------------------------------------

    async def get_full_preference(
        self, distinct_id: str, options: Options = None, *, retry: RetryPolicy | None = None
    ) -> FullPreferenceJSON:
        """Options: ``tenant_id``, ``show_opt_out_channels``, ``tags``, ``locale``."""
        return await self._preferences.full({"distinct_id": distinct_id}, options, retry)

    async def update_full_preference(
        self,
        distinct_id: str,
        payload: Mapping[str, Any],
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> FullPreferenceJSON:
        """Set channel and category preferences at once (Go SDK, OpenAPI).

        ``payload``: ``{"channel_preferences": [...], "categories": [...]}``.
        """
        ids = {"distinct_id": distinct_id}
        return await self._preferences.update_full(ids, payload, options, retry)

    async def get_global_channels_preference(
        self, distinct_id: str, options: Options = None, *, retry: RetryPolicy | None = None
    ) -> ChannelPreferencesJSON:
        """``{"channel_preferences": [...]}``; option ``tenant_id`` (Go SDK, OpenAPI)."""
        return await self._preferences.channels({"distinct_id": distinct_id}, options, retry)

    async def update_global_channels_preference(
        self,
        distinct_id: str,
        payload: Mapping[str, Any],
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> ChannelPreferencesJSON:
        """``payload``: ``{"channel_preferences": [{"channel": ..., "is_restricted": ...}]}``."""
        ids = {"distinct_id": distinct_id}
        return await self._preferences.update_channels(ids, payload, options, retry)

    async def get_all_categories_preference(
        self, distinct_id: str, options: Options = None, *, retry: RetryPolicy | None = None
    ) -> OffsetPage[CategoryPreferenceJSON]:
        """Every category's preference (offset-paged by the hub: ``limit``, ``offset``)."""
        return await self._preferences.categories({"distinct_id": distinct_id}, options, retry)

    async def get_category_preference(
        self,
        distinct_id: str,
        category: str,
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> CategoryPreferenceJSON:
        """Options: ``tenant_id``, ``show_opt_out_channels``, ``locale``."""
        ids = {"distinct_id": distinct_id}
        return await self._preferences.category(ids, category, options, retry)

    async def update_category_preference(
        self,
        distinct_id: str,
        category: str,
        payload: Mapping[str, Any],
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> CategoryPreferenceJSON:
        """``payload``: ``{"preference": "opt_in", "opt_out_channels": [...]}``."""
        ids = {"distinct_id": distinct_id}
        return await self._preferences.update_category(ids, category, payload, options, retry)

    async def bulk_update_preferences(
        self,
        payload: Mapping[str, Any],
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> SuccessJSON:
        """Set preferences of many users: ``{"distinct_ids": [...], "channel_preferences":
        [...], "categories": [...]}``; option ``tenant_id`` (Go SDK, OpenAPI)."""
        return await self._write(USERS.bulk_update_preferences.at(), payload, options, retry)

    async def bulk_reset_preferences(
        self,
        payload: Mapping[str, Any],
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> SuccessJSON:
        """Reset preferences of many users to the defaults: ``{"distinct_ids": [...],
        "reset_channel_preferences": True, "reset_categories": True}`` (Go SDK, OpenAPI)."""
        return await self._write(USERS.bulk_reset_preferences.at(), payload, options, retry)
