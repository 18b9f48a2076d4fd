"""``client.objects``: the hub's objects API, with the official SDK's names and parameters.

Objects (teams, organizations, roles...) have a profile as users do, edited
with an :class:`ObjectEdit`; users and other objects subscribe to them. As
for users, each method is one request on the shared request path, retried
only when ``_values.idempotency`` says a repeat is harmless, and returns the
hub's JSON (or ``{"success": True, "status_code": ...}`` for a delete). Lists
are :class:`CursorPaginator` s: ``await`` for the first page, ``async for``
for every item.

The hub has no documented path for bulk object edits (only the official
SDK's ``bulk_delete``), so there is no bulk edit instance for objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._core.context import ClientContext
from .._core.pagination import CursorPaginator
from .._core.retry import RetryPolicy
from .._values.answers import (
    CategoryPreferenceJSON,
    ChannelPreferencesJSON,
    DeletedJSON,
    FullPreferenceJSON,
    ObjectJSON,
    ObjectSubscriptionJSON,
    OffsetPage,
    SubscriptionJSON,
    SubscriptionsJSON,
)
from .._values.profile_edit import ObjectEdit
from .._wire.endpoints import OBJECTS
from ._base import Resource, mapping
from ._preferences import Preferences

__all__ = ["Objects"]

Options = Mapping[str, Any] | None


def _ids(object_type: str, object_id: str | None) -> dict[str, object]:
    return {"object_type": object_type, "object_id": object_id}


class Objects(Resource):
    """The objects API. Every method takes ``retry=`` to override the client's policy."""

    def __init__(self, client: ClientContext) -> None:
        super().__init__(client)
        self._preferences = Preferences(self, OBJECTS.preferences)

    # -- profiles ----------------------------------------------------------------------

    def list(
        self, object_type: str, options: Options = None, *, retry: RetryPolicy | None = None
    ) -> CursorPaginator[ObjectJSON]:
        """Objects of one type: ``await`` for the first page, ``async for`` for all."""
        return self._paginated(OBJECTS.list.at(object_type=object_type), options, retry)

    async def get(
        self, object_type: str, object_id: str, *, retry: RetryPolicy | None = None
    ) -> ObjectJSON:
        return await self._json(OBJECTS.get.at(**_ids(object_type, object_id)), retry)

    async def upsert(
        self,
        object_type: str,
        object_id: str,
        payload: Mapping[str, Any] | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> ObjectJSON:
        """Create the object or update it with ``payload``'s absolute values."""
        # (No local holding the call: _write makes the one sent, and this one
        # would be kept alive for nothing as long as the call is in flight.)
        return await self._write(
            OBJECTS.upsert.at(**_ids(object_type, object_id)), payload, None, retry
        )

    async def edit(
        self,
        edit_ins_or_object_type: ObjectEdit | str,
        object_id: str | None = None,
        edit_payload: Mapping[str, Any] | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> ObjectJSON:
        """Apply an :class:`ObjectEdit` (or a type, an id and ``{"operations": [...]}``).

        Retried only if every operation in it is idempotent.
        """
        if isinstance(edit_ins_or_object_type, ObjectEdit):
            edit = edit_ins_or_object_type
            call = OBJECTS.edit.at(**_ids(edit.object_type, edit.object_id))
            payload: Mapping[str, Any] = edit.get_payload()
        else:
            call = OBJECTS.edit.at(**_ids(edit_ins_or_object_type, object_id))
            payload = mapping(edit_payload, "edit_payload")
        return await self._write(call, payload, None, retry)

    async def delete(
        self, object_type: str, object_id: str, *, retry: RetryPolicy | None = None
    ) -> DeletedJSON:
        return await self._delete(OBJECTS.delete.at(**_ids(object_type, object_id)), retry)

    async def bulk_delete(
        self, object_type: str, payload: Mapping[str, Any], *, retry: RetryPolicy | None = None
    ) -> DeletedJSON:
        """Delete objects of one type: ``payload`` is ``{"object_ids": ["id1", "id2"]}``."""
        return await self._delete(OBJECTS.bulk_delete.at(object_type=object_type), retry, payload)

    # -- subscriptions --------------------------------------------------------------------

    def get_subscriptions(
        self,
        object_type: str,
        object_id: str,
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> CursorPaginator[SubscriptionJSON]:
        """The users and objects subscribed to this object."""
        call = OBJECTS.subscriptions.at(**_ids(object_type, object_id))
        return self._paginated(call, options, retry)

    async def create_subscriptions(
        self,
        object_type: str,
        object_id: str,
        payload: Mapping[str, Any],
        *,
        retry: RetryPolicy | None = None,
    ) -> SubscriptionsJSON:
        """Subscribe recipients: ``{"recipients": ["distinct_id", {"object_type": ...,
        "id": ...}], "properties": {...}}``. Subscribing again leaves one subscription."""
        call = OBJECTS.create_subscriptions.at(**_ids(object_type, object_id))
        return await self._write(call, payload, None, retry)

    async def delete_subscriptions(
        self,
        object_type: str,
        object_id: str,
        payload: Mapping[str, Any],
        *,
        retry: RetryPolicy | None = None,
    ) -> DeletedJSON:
        """Unsubscribe recipients: ``{"recipients": [...]}``."""
        call = OBJECTS.delete_subscriptions.at(**_ids(object_type, object_id))
        return await self._delete(call, retry, payload)

    def get_objects_subscribed_to(
        self,
        object_type: str,
        object_id: str,
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> CursorPaginator[ObjectSubscriptionJSON]:
        """The objects this object is subscribed to."""
        call = OBJECTS.objects_subscribed_to.at(**_ids(object_type, object_id))
        return self._paginated(call, options, retry)

    # -- builders -------------------------------------------------------------------------

    def get_edit_instance(self, object_type: str, object_id: str) -> ObjectEdit:
        return ObjectEdit(object_type, object_id)

    # -- preferences ------------------------------------------------------------------------

    async def get_full_preference(
        self,
        object_type: str,
        object_id: str,
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> FullPreferenceJSON:
        """Options: ``tenant_id``, ``show_opt_out_channels``, ``tags``, ``locale``."""
        return await self._preferences.full(_ids(object_type, object_id), options, retry)

    async def update_full_preference(
        self,
        object_type: str,
        object_id: str,
        payload: Mapping[str, Any],
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> FullPreferenceJSON:
        """Set channel and category preferences at once (OpenAPI; no official SDK has it).

        ``payload``: ``{"channel_preferences": [...], "categories": [...]}``.
        """
        ids = _ids(object_type, object_id)
        return await self._preferences.update_full(ids, payload, options, retry)

    async def get_global_channels_preference(
        self,
        object_type: str,
        object_id: str,
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> ChannelPreferencesJSON:
        """``{"channel_preferences": [...]}``; option ``tenant_id`` (OpenAPI)."""
        return await self._preferences.channels(_ids(object_type, object_id), options, retry)

    async def update_global_channels_preference(
        self,
        object_type: str,
        object_id: str,
        payload: Mapping[str, Any],
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> ChannelPreferencesJSON:
        """``payload``: ``{"channel_preferences": [{"channel": ..., "is_restricted": ...}]}``."""
        ids = _ids(object_type, object_id)
        return await self._preferences.update_channels(ids, payload, options, retry)

    async def get_all_categories_preference(
        self,
        object_type: str,
        object_id: str,
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> OffsetPage[CategoryPreferenceJSON]:
        """Every category's preference (offset-paged by the hub: ``limit``, ``offset``)."""
        return await self._preferences.categories(_ids(object_type, object_id), options, retry)

    async def get_category_preference(
        self,
        object_type: str,
        object_id: str,
        category: str,
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> CategoryPreferenceJSON:
        """Options: ``tenant_id``, ``show_opt_out_channels``, ``locale``."""
        ids = _ids(object_type, object_id)
        return await self._preferences.category(ids, category, options, retry)

    async def update_category_preference(
        self,
        object_type: str,
        object_id: str,
        category: str,
        payload: Mapping[str, Any],
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> CategoryPreferenceJSON:
        """``payload``: ``{"preference": "opt_in", "opt_out_channels": [...]}``."""
        ids = _ids(object_type, object_id)
        return await self._preferences.update_category(ids, category, payload, options, retry)
