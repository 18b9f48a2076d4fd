"""``client.subscriber_lists``: lists, their members and versions, and broadcasts to them.

The official SDK's names and parameters, so porting is adding ``await``; each
method returns what the SDK returns (the hub's JSON, typed). Beyond the SDK:

- ``add``, ``remove``, ``add_to_version`` and ``remove_from_version`` take any
  number of ids (a list, any iterable, an async iterable): more than a request
  should carry are split into requests of at most ``Limits.max_list_ids_per_request``
  sent concurrently by the bulk engine. Membership is a set, so every request
  is retried when it fails (``_values.idempotency.MEMBERSHIP``). If any id
  could not be sent, :class:`SuprsendBulkError` says which, after the others
  were (sending them all again is harmless).
- ``replace(list_id)``: an atomic replacement of the members, as an
  ``async with`` block that starts a sync, finishes it when the block ends
  and deletes the draft if it raises or is cancelled (never once a finish
  may have made it live).
- ``list_subscribers(list_id)``: the members, a cursor paginator.

Deletes follow the hub's document (``PATCH .../delete/``), not the SDK's
``DELETE`` on the resource, and return ``{"success": True, "status_code": ...}``
as the SDK does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import anyio
import attrs

from .._core.bulk import BulkResponse, SuprsendBulkError
from .._core.pagination import CursorPaginator, OffsetPaginator
from .._core.retry import RetryPolicy
from .._core.single import fresh_key, send_record
from .._values.answers import DeletedJSON
from .._values.audience_answers import (
    ListMembershipJSON,
    ListSubscriberJSON,
    SubscriberListJSON,
)
from .._values.body_requests import SubscriberListBroadcast
from .._values.errors import (
    SuprsendAPIError,
    SuprsendConfigError,
    SuprsendError,
    SuprsendTransportError,
    SuprsendValidationError,
)
from .._values.idempotency import AttemptEnd
from .._values.rules import page_window, require_id
from .._wire.endpoints import LISTS
from .._wire.responses import TriggerResponse
from .._wire.routes import Call
from ._base import Resource, mapping, workspace_segment
from ._membership import DistinctIds, checked_ids, send_members

__all__ = ["ListDraft", "ListReplacement", "SubscriberLists"]

logger = logging.getLogger("suprsend_async")

Options = Mapping[str, Any] | None
# How long a draft's cleanup may take after the block failed or was cancelled: it
# runs shielded from the cancellation, so it must be bounded on its own.
CLEANUP_TIMEOUT = 30.0


class SubscriberLists(Resource):
    """The subscriber lists API. Every method takes ``retry=`` to override the client's policy."""

    # -- lists ------------------------------------------------------------------------------

    async def create(
        self,
        payload: Mapping[str, Any],
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> SubscriberListJSON:
        """Create a list (or update its name and description): ``{"list_id": ..., "list_name":
        ..., "list_description": ...}``."""
        body = mapping(payload, "payload")
        body["list_id"] = require_id(body.get("list_id"), "list_id")
        return await self._write(LISTS.create.at(), body, options, retry)

    def get_all(
        self,
        limit: int = 20,
        offset: int = 0,
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> OffsetPaginator[SubscriberListJSON]:
        """The workspace's lists from ``offset``, ``limit`` (1 to 1,000) a page: ``await``
        for that page (the SDK's answer), ``async for`` every list from there on."""
        query = {**mapping(options, "options"), **page_window(limit, offset)}
        return self._offset_paginated(LISTS.get_all.at(), query, retry)

    async def get(
        self, list_id: str, options: Options = None, *, retry: RetryPolicy | None = None
    ) -> SubscriberListJSON:
        return await self._read(LISTS.get.at(list_id=list_id), options, retry)

    async def delete(
        self, list_id: str, options: Options = None, *, retry: RetryPolicy | None = None
    ) -> DeletedJSON:
        """``PATCH v1/subscriber_list/{list_id}/delete/`` (the SDK sends ``DELETE``)."""
        call = LISTS.delete.at(list_id=list_id).with_query(mapping(options, "options"))
        return await self._delete(call, retry)

    def list_subscribers(
        self, list_id: str, options: Options = None, *, retry: RetryPolicy | None = None
    ) -> CursorPaginator[ListSubscriberJSON]:
        """The members (``{"id", "distinct_id", "created_at"}``): ``await`` for the first
        page, ``async for`` for all. Options: ``limit``, ``sort`` (``-id``, the newest first,
        by default; ``id``)."""
        return self._paginated(LISTS.subscribers.at(list_id=list_id), options, retry)

    # -- members ----------------------------------------------------------------------------

    async def add(
        self,
        list_id: str,
        distinct_ids: DistinctIds,
        options: Options = None,
        *,
        max_concurrency: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> ListMembershipJSON:
        """Add members: ``{"success": True, "affected_count": <ids that were not members>}``."""
        call = LISTS.add.at(list_id=list_id)
        return await self._members(call, distinct_ids, options, max_concurrency, retry)

    async def remove(
        self,
        list_id: str,
        distinct_ids: DistinctIds,
        options: Options = None,
        *,
        max_concurrency: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> ListMembershipJSON:
        """Remove members: ``{"success": True, "affected_count": <ids that were members>}``."""
        call = LISTS.remove.at(list_id=list_id)
        return await self._members(call, distinct_ids, options, max_concurrency, retry)

    async def _members(
        self,
        call: Call[ListMembershipJSON],
        distinct_ids: DistinctIds,
        options: Options,
        max_concurrency: int | None,
        retry: RetryPolicy | None,
    ) -> ListMembershipJSON:
        ids = checked_ids(distinct_ids)
        if isinstance(ids, list) and not ids:
            return {"success": True}  # as the SDK: nothing to send
        affected = 0

        def count(answer: Any) -> None:
            nonlocal affected
            if isinstance(answer, dict) and _is_int(answer.get("affected_count")):
                affected += answer["affected_count"]

        operation = f"subscriber_lists.{_OPERATION[call.endpoint]}"
        query = mapping(options, "options")
        outcome = await send_members(
            self._client, call, operation, ids, query, max_concurrency, retry, count
        )
        if outcome.failure:
            raise SuprsendBulkError(_membership_failure(outcome), outcome)
        return {"success": True, "affected_count": affected}

    # -- broadcasts -------------------------------------------------------------------------

    async def broadcast(
        self, broadcast_instance: SubscriberListBroadcast, *, retry: RetryPolicy | None = None
    ) -> TriggerResponse:
        """Send a broadcast to the list's members. Retried only with an idempotency key.

        Returns a :class:`TriggerResponse`, whatever the hub answered
        (``to_dict()`` is the SDK's dict).
        """
        if not isinstance(broadcast_instance, SubscriberListBroadcast):
            raise SuprsendValidationError(
                "broadcast_instance",
                f"must be a SubscriberListBroadcast, got {type(broadcast_instance).__name__}",
            )
        client = self._client
        record = client._serializer.encode_broadcast(
            broadcast_instance,
            idempotency_key=fresh_key(client, broadcast_instance.idempotency_key is not None),
        )
        path = f"{workspace_segment(client, 'a broadcast')}/broadcast/"
        return await send_record(client, "subscriber_lists.broadcast", path, record, retry)

    # -- versions ---------------------------------------------------------------------------

    async def start_sync(
        self, list_id: str, options: Options = None, *, retry: RetryPolicy | None = None
    ) -> SubscriberListJSON:
        """Start a draft version (its id is the answer's ``version_id``). Never retried:
        a repeat would start a second draft. See :meth:`replace` for the whole cycle."""
        return await self._write(LISTS.start_sync.at(list_id=list_id), {}, options, retry)

    async def get_version(
        self,
        list_id: str,
        version_id: str,
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> SubscriberListJSON:
        call = LISTS.get_version.at(list_id=list_id, version_id=version_id)
        return await self._read(call, options, retry)

    async def add_to_version(
        self,
        list_id: str,
        version_id: str,
        distinct_ids: DistinctIds,
        options: Options = None,
        *,
        max_concurrency: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> ListMembershipJSON:
        call = LISTS.add_to_version.at(list_id=list_id, version_id=version_id)
        return await self._members(call, distinct_ids, options, max_concurrency, retry)

    async def remove_from_version(
        self,
        list_id: str,
        version_id: str,
        distinct_ids: DistinctIds,
        options: Options = None,
        *,
        max_concurrency: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> ListMembershipJSON:
        call = LISTS.remove_from_version.at(list_id=list_id, version_id=version_id)
        return await self._members(call, distinct_ids, options, max_concurrency, retry)

    async def finish_sync(
        self,
        list_id: str,
        version_id: str,
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> SubscriberListJSON:
        """Make the version's members the list's, at once. Never retried."""
        call = LISTS.finish_sync.at(list_id=list_id, version_id=version_id)
        return await self._write(call, {}, options, retry)

    async def delete_version(
        self,
        list_id: str,
        version_id: str,
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> DeletedJSON:
        """``PATCH .../version/{version_id}/delete/`` (the SDK sends ``DELETE``)."""
        call = LISTS.delete_version.at(list_id=list_id, version_id=version_id)
        return await self._delete(call.with_query(mapping(options, "options")), retry)

    def replace(
        self,
        list_id: str,
        *,
        max_concurrency: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> ListReplacement:
        """Replace the list's members atomically::

            async with client.subscriber_lists.replace("beta") as draft:
                await draft.add(ids)  # any (async) iterable, any size

        On entry a sync starts (a draft version); the block adds (and
        removes) members of the draft; when it ends, the draft's members
        become the list's at once (``finish_sync``). If the block raises or is
        cancelled, the draft is deleted instead (shielded from the
        cancellation, bounded by ``CLEANUP_TIMEOUT``) and the list stays as it
        was; so it is when ``finish_sync`` is refused. If ``finish_sync``'s
        outcome is unknown (no answer, a gateway's 502/504, or cancelled in
        flight), the version may be live: it is kept, and the error says the
        finish may have been applied. After the block, ``replacement.result``
        is ``finish_sync``'s answer.
        """
        require_id(list_id, "list_id")
        return ListReplacement(self, list_id, max_concurrency, retry)


@attrs.define
class ListDraft:
    """A draft version of a list, being filled inside ``replace()``."""

    lists: SubscriberLists = attrs.field(repr=False)
    list_id: str
    version_id: str
    max_concurrency: int | None = attrs.field(default=None, repr=False)
    retry: RetryPolicy | None = attrs.field(default=None, repr=False)

    async def add(self, distinct_ids: DistinctIds) -> ListMembershipJSON:
        return await self.lists.add_to_version(
            self.list_id,
            self.version_id,
            distinct_ids,
            max_concurrency=self.max_concurrency,
            retry=self.retry,
        )

    async def remove(self, distinct_ids: DistinctIds) -> ListMembershipJSON:
        return await self.lists.remove_from_version(
            self.list_id,
            self.version_id,
            distinct_ids,
            max_concurrency=self.max_concurrency,
            retry=self.retry,
        )


class ListReplacement:
    """``async with client.subscriber_lists.replace(list_id) as draft:`` (see there)."""

    def __init__(
        self,
        lists: SubscriberLists,
        list_id: str,
        max_concurrency: int | None,
        retry: RetryPolicy | None,
    ) -> None:
        self._lists, self.list_id = lists, list_id
        self._max_concurrency, self._retry = max_concurrency, retry
        self.draft: ListDraft | None = None
        self.result: SubscriberListJSON | None = None

    def __repr__(self) -> str:
        version = self.draft.version_id if self.draft else None
        return f"ListReplacement(list_id={self.list_id!r}, version_id={version!r})"

    async def __aenter__(self) -> ListDraft:
        if self.draft is not None:
            raise SuprsendConfigError("a replace() block can be entered once; call replace() again")
        try:
            answer = await self._lists.start_sync(self.list_id, retry=self._retry)
        except SuprsendTransportError as error:
            if not error.sent:
                raise
            # The hub may have made a draft version, whose id was in the lost answer.
            raise error.with_note(
                "start_sync may have been applied: a draft version of the list may exist"
                " (its id was in the answer lost); a draft is never live, and the list's"
                " members are unchanged"
            ) from error
        version_id = answer.get("version_id")
        if not isinstance(version_id, str) or not version_id:
            raise SuprsendConfigError(
                "the hub started a sync but its answer gives no version_id; nothing was replaced"
            )
        self.draft = ListDraft(
            self._lists, self.list_id, version_id, self._max_concurrency, self._retry
        )
        return self.draft

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self.draft is not None
        version_id = self.draft.version_id
        if exc_type is None:
            try:
                self.result = await self._lists.finish_sync(
                    self.list_id, version_id, retry=self._retry
                )
            except SuprsendError as error:
                if _may_have_applied(error):
                    raise self._maybe_live(error, version_id) from error
                await self._discard(version_id)
                raise
            except BaseException:
                # Cancelled (or worse) with the finish perhaps at the hub: the
                # version may be live now, and deleting it is no undo.
                logger.warning(
                    "a list replacement was interrupted during finish_sync, which may have"
                    " been applied: the draft version was not deleted"
                )
                raise
            return
        await self._discard(version_id)

    def _maybe_live(self, error: SuprsendError, version_id: str) -> SuprsendError:
        """``error`` saying that the finish may have made the version live."""
        note = (
            f"finish_sync may have been applied: the list's members may now be the draft's;"
            f" the draft version {version_id} was not deleted (get_version answers 404"
            " once it went live; if it is still a draft, finish_sync or delete_version it)"
        )
        if isinstance(error, SuprsendTransportError):
            return error.with_note(note)
        assert isinstance(error, SuprsendAPIError)  # (the other errors applied nothing)
        return SuprsendAPIError(
            f"{error.message}; {note}",
            status_code=error.status_code,
            error_type=error.error_type,
            body=error.body,
        )

    async def _discard(self, version_id: str) -> None:
        """Delete the draft, whatever cancellation is under way; never masks the error."""
        with anyio.CancelScope(shield=True) as scope:
            scope.deadline = anyio.current_time() + CLEANUP_TIMEOUT
            try:
                await self._lists.delete_version(self.list_id, version_id, retry=self._retry)
            except SuprsendError as exc:
                logger.warning(
                    "could not delete the draft version of a failed list replacement"
                    " (the list itself is unchanged): %s",
                    exc,
                )
        if scope.cancelled_caught:
            logger.warning(
                "deleting the draft version of a failed list replacement took over %s s;"
                " the list itself is unchanged",
                CLEANUP_TIMEOUT,
            )


_OPERATION = {
    LISTS.add: "add",
    LISTS.remove: "remove",
    LISTS.add_to_version: "add_to_version",
    LISTS.remove_from_version: "remove_from_version",
}


def _may_have_applied(error: SuprsendError) -> bool:
    """Whether a call that raised ``error`` may have done its work at the hub (the one
    rule, ``AttemptEnd.may_have_applied``: no answer, or a gateway's 502/504)."""
    if isinstance(error, SuprsendTransportError):
        return AttemptEnd.of_error(error).may_have_applied
    if isinstance(error, SuprsendAPIError):
        return AttemptEnd.answered(error.status_code).may_have_applied
    return False  # refused before anything was sent


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _membership_failure(response: BulkResponse) -> str:
    first = response.failed_records[0]
    return (
        f"{response.failure} of {response.total} distinct ids were not applied"
        f" (the others were; sending them all again is harmless): {first.error}"
    )
