"""The hub's answers for subscriber lists, messages, cancellations and templates, typed.

Beside ``_values.answers`` (users, objects, tenants; its page shapes are these
lists' too) and in its style: one
``TypedDict`` per shape, written from the response schemas (and, where a
schema is a bare ``object``, the examples) of the hub's OpenAPI document. The
methods still return the plain dict the hub sent, as the official SDK does;
the types are for mypy and editors. A key every example shows is required;
one shown only sometimes is ``NotRequired`` (read it with ``.get()``).

No ``from __future__ import annotations`` here: ``TypedDict`` reads its
annotations when the class is made, to know which keys are required.
"""

import sys
from typing import Any, Literal

if sys.version_info >= (3, 11):
    from typing import NotRequired, TypedDict
else:  # NotRequired came in 3.11
    from typing_extensions import NotRequired, TypedDict

from .answers import CursorPage, OffsetPage

__all__ = [
    "CancelledRunsJSON",
    "ListMembershipJSON",
    "ListSubscriberJSON",
    "ListSubscribersPage",
    "MessageActionResultJSON",
    "MessageActionsJSON",
    "MessageJSON",
    "MessagesPage",
    "SubscriberListJSON",
    "SubscriberListsPage",
    "TemplateChannelJSON",
    "TemplateJSON",
    "TemplatesPage",
]

ListType = Literal["static_list", "query_based"]


# -- subscriber lists ----------------------------------------------------------------------


class SubscriberListJSON(TypedDict):
    """A list (``get``, ``create``, ``start_sync``, ``finish_sync``, ``get_version``).

    ``version_id`` is the draft's id in ``start_sync``'s answer; ``status`` is
    ``"active"`` for a live list and ``"draft"`` for a version being built.
    """

    list_id: str
    list_name: str
    list_description: str
    list_type: ListType
    subscribers_count: int
    source: str | None
    is_readonly: bool
    status: str
    track_user_entry: bool
    track_user_exit: bool
    requested_for_delete: bool
    created_at: str
    updated_at: str
    drafts: NotRequired[Any]
    version_id: NotRequired[str | None]


# ``get_all``: one offset page of lists.
SubscriberListsPage = OffsetPage[SubscriberListJSON]


class ListMembershipJSON(TypedDict):
    """``add``, ``remove``, ``add_to_version``, ``remove_from_version``.

    (An empty ``distinct_ids`` is not sent: ``{"success": True}``, as the SDK.)
    """

    success: bool
    affected_count: NotRequired[int]


class ListSubscriberJSON(TypedDict):
    """One member, as ``list_subscribers`` lists it."""

    id: str
    distinct_id: str
    created_at: str


ListSubscribersPage = CursorPage[ListSubscriberJSON]


# -- messages -------------------------------------------------------------------------------


class _Recipient(TypedDict):
    # "$type" is not a Python name: read it as recipient["$type"] all the same.
    distinct_id: str | None
    object_type: str | None
    id: str | None


class MessageJSON(TypedDict):
    """One message as ``messages.list`` gives it (``MessageResponse`` in the document)."""

    message_id: str
    created_at: str
    updated_at: str
    status: str
    channel: str
    recipient: _Recipient
    execution_id: str | None
    idempotency_key: str | None
    tenant_id: str | None
    category: str | None
    workflow: dict[str, Any] | None
    template: dict[str, Any] | None
    is_read: bool
    is_archived: bool
    is_campaign: bool
    triggered_at: NotRequired[str | None]
    delivered_at: NotRequired[str | None]
    seen_at: NotRequired[str | None]
    clicked_at: NotRequired[str | None]
    dismissed_at: NotRequired[str | None]
    read_at: NotRequired[str | None]
    unread_at: NotRequired[str | None]
    archived_at: NotRequired[str | None]
    unarchived_at: NotRequired[str | None]
    failure_reason: NotRequired[str | None]
    parent_entity_id: NotRequired[str | None]
    parent_entity_type: NotRequired[str | None]
    parent_execution_id: NotRequired[str | None]
    vendor: NotRequired[dict[str, Any] | None]
    channel_identity: NotRequired[dict[str, Any] | None]


MessagesPage = CursorPage[MessageJSON]


class _ActionError(TypedDict):
    type: str
    message: str


class MessageActionResultJSON(TypedDict):
    message_id: str
    status_code: int
    error: _ActionError | None


class MessageActionsJSON(TypedDict):
    """``messages.bulk_update``: one result per message, in order."""

    records: list[MessageActionResultJSON]


# -- runs -------------------------------------------------------------------------------------


class CancelledRunsJSON(TypedDict):
    """``workflows.cancel``, ``broadcasts.cancel``: the runs this call cancelled ([] if none)."""

    execution_ids: list[str]


# -- templates --------------------------------------------------------------------------------


class TemplateChannelJSON(TypedDict):
    """One channel of a template (``templates.get_channel``; also in ``TemplateJSON``)."""

    id: int | str
    channel: dict[str, Any]
    is_active: bool
    is_enabled: bool
    created_at: str
    updated_at: str
    disabled_languages: list[str]
    versions: list[dict[str, Any]]


class TemplateJSON(TypedDict):
    """A template (``templates.get``, and each of ``templates.list``)."""

    id: int | str
    name: str
    slug: str
    description: str | None
    is_active: bool
    default_language: dict[str, str]
    created_at: str
    updated_at: str
    updated_by: dict[str, Any] | None
    last_triggered_at: str | None
    is_auto_translate_enabled: bool
    enabled_languages: list[str]
    channels: list[TemplateChannelJSON]
    tags: NotRequired[list[dict[str, str]]]


TemplatesPage = OffsetPage[TemplateJSON]
