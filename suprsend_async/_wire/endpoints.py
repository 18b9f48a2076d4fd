"""The hub's REST endpoints, each declared once: read by the client, the emulator and tests.

Templates are relative to the base URL and written as the official SDKs
send them (trailing slash included). Retry safety comes from
``_values.idempotency``, the one place that decides it. A new resource is a
class of :class:`Endpoint` s here, a resource module of one-line methods,
and emulator handlers keyed by the same endpoints.
"""

from __future__ import annotations

from typing import Any

import attrs

from .._values.answers import (
    BrandJSON,
    CategoryPreferenceJSON,
    ChannelPreferencesJSON,
    CursorPage,
    FullPreferenceJSON,
    ListSubscriptionJSON,
    ObjectJSON,
    ObjectSubscriptionJSON,
    OffsetPage,
    SubscriptionJSON,
    SubscriptionsJSON,
    SuccessJSON,
    TenantCategoryJSON,
    TenantFullPreferenceJSON,
    TenantJSON,
    UserJSON,
    UserTenantJSON,
    UserTenantLinkJSON,
)
from .._values.audience_answers import (
    CancelledRunsJSON,
    ListMembershipJSON,
    ListSubscriberJSON,
    MessageActionsJSON,
    MessageJSON,
    SubscriberListJSON,
    TemplateChannelJSON,
    TemplateJSON,
)
from .._values.idempotency import (
    ABSOLUTE_WRITE,
    CANCEL,
    DELETE,
    FINISH_SYNC,
    MEMBERSHIP,
    MERGE,
    MESSAGE_ACTIONS,
    READ,
    START_SYNC,
    body_edit_safety,
)
from .routes import Endpoint, Route

__all__ = [
    "BRANDS",
    "EVENTS",
    "EVERY_ENDPOINT",
    "LISTS",
    "MESSAGES",
    "OBJECTS",
    "RUNS",
    "TEMPLATES",
    "TENANTS",
    "USERS",
    "PreferenceEndpoints",
]

USER = Route("v1/user/{distinct_id}/")
OBJECT_TYPE = Route("v1/object/{object_type}/")
OBJECT = OBJECT_TYPE / "{object_id}/"
SUBSCRIBER_LISTS = Route("v1/subscriber_list/")
SUBSCRIBER_LIST = SUBSCRIBER_LISTS / "{list_id}/"
VERSION = SUBSCRIBER_LIST / "version/{version_id}/"
TEMPLATE = Route("v1/template/{template_slug}/")
TENANT = Route("v1/tenant/{tenant_id}/")
BRAND = Route("v1/brand/{brand_id}/")


@attrs.frozen
class PreferenceEndpoints:
    """The preference calls the hub has under an owner (a user, an object...).

    Declared once and mounted: ``PreferenceEndpoints.under(OBJECT)``; the
    client's :class:`~suprsend_async.resources._preferences.PreferenceMethods`
    and the emulator's preference routes read the same set.
    """

    full: Endpoint[FullPreferenceJSON]
    update_full: Endpoint[FullPreferenceJSON]
    channels: Endpoint[ChannelPreferencesJSON]
    update_channels: Endpoint[ChannelPreferencesJSON]
    categories: Endpoint[OffsetPage[CategoryPreferenceJSON]]
    category: Endpoint[CategoryPreferenceJSON]
    update_category: Endpoint[CategoryPreferenceJSON]

    @classmethod
    def under(cls, owner: Route) -> PreferenceEndpoints:
        base = owner / "preference/"
        category = base / "category/{category}/"
        return cls(
            full=Endpoint("GET", base, READ),
            update_full=Endpoint("PATCH", base, ABSOLUTE_WRITE),
            channels=Endpoint("GET", base / "channel_preference/", READ),
            update_channels=Endpoint("PATCH", base / "channel_preference/", ABSOLUTE_WRITE),
            # Offset-paged by the hub, but answered whole by the SDKs: one page per call.
            categories=Endpoint("GET", base / "category/", READ),
            category=Endpoint("GET", category, READ),
            update_category=Endpoint("PATCH", category, ABSOLUTE_WRITE),
        )

    def endpoints(self) -> tuple[Endpoint[Any], ...]:
        return attrs.astuple(self, recurse=False)


class EVENTS:
    """The REST event path, where identity events (``users.async_edit``) go."""

    # Sent pre-encoded: the caller decides the safety from the edit's operations.
    identity = Endpoint("POST", Route("event/"), body_edit_safety)


class USERS:
    """``v1/user/...`` and ``v1/bulk/user/...``."""

    list: Endpoint[CursorPage[UserJSON]] = Endpoint("GET", Route("v1/user/"), READ, paged="cursor")
    get: Endpoint[UserJSON] = Endpoint("GET", USER, READ)
    upsert: Endpoint[UserJSON] = Endpoint("POST", USER, ABSOLUTE_WRITE)
    edit: Endpoint[UserJSON] = Endpoint("PATCH", USER, body_edit_safety)
    delete: Endpoint[None] = Endpoint("DELETE", USER, DELETE)
    merge: Endpoint[UserJSON] = Endpoint("POST", USER / "merge/", MERGE)
    bulk_delete: Endpoint[None] = Endpoint("DELETE", Route("v1/bulk/user/"), DELETE)
    associated_tenants: Endpoint[CursorPage[UserTenantLinkJSON]] = Endpoint(
        "GET", USER / "associated_tenant/", READ, paged="cursor"
    )
    get_for_tenant: Endpoint[UserTenantJSON] = Endpoint("GET", USER / "tenant/{tenant_id}/", READ)
    upsert_for_tenant: Endpoint[UserTenantJSON] = Endpoint(
        "POST", USER / "tenant/{tenant_id}/", ABSOLUTE_WRITE
    )
    edit_for_tenant: Endpoint[UserTenantJSON] = Endpoint(
        "PATCH", USER / "tenant/{tenant_id}/", body_edit_safety
    )
    unlink_tenant: Endpoint[None] = Endpoint("DELETE", USER / "tenant/{tenant_id}/", DELETE)
    objects_subscribed_to: Endpoint[CursorPage[ObjectSubscriptionJSON]] = Endpoint(
        "GET", USER / "subscribed_to/object/", READ, paged="cursor"
    )
    lists_subscribed_to: Endpoint[CursorPage[ListSubscriptionJSON]] = Endpoint(
        "GET", USER / "subscribed_to/list/", READ, paged="cursor"
    )
    preferences = PreferenceEndpoints.under(USER)
    bulk_update_preferences: Endpoint[SuccessJSON] = Endpoint(
        "PATCH", Route("v1/bulk/user/preference/"), ABSOLUTE_WRITE
    )
    bulk_reset_preferences: Endpoint[SuccessJSON] = Endpoint(
        "PATCH", Route("v1/bulk/user/preference/reset/"), ABSOLUTE_WRITE
    )


class OBJECTS:
    """``v1/object/...`` and the official SDK's ``v1/bulk/object/{object_type}/``."""

    list: Endpoint[CursorPage[ObjectJSON]] = Endpoint("GET", OBJECT_TYPE, READ, paged="cursor")
    get: Endpoint[ObjectJSON] = Endpoint("GET", OBJECT, READ)
    upsert: Endpoint[ObjectJSON] = Endpoint("POST", OBJECT, ABSOLUTE_WRITE)
    edit: Endpoint[ObjectJSON] = Endpoint("PATCH", OBJECT, body_edit_safety)
    delete: Endpoint[None] = Endpoint("DELETE", OBJECT, DELETE)
    bulk_delete: Endpoint[None] = Endpoint("DELETE", Route("v1/bulk/object/{object_type}/"), DELETE)
    subscriptions: Endpoint[CursorPage[SubscriptionJSON]] = Endpoint(
        "GET", OBJECT / "subscription/", READ, paged="cursor"
    )
    # Subscribing a recipient twice leaves one subscription (with the last properties).
    create_subscriptions: Endpoint[SubscriptionsJSON] = Endpoint(
        "POST", OBJECT / "subscription/", ABSOLUTE_WRITE
    )
    delete_subscriptions: Endpoint[None] = Endpoint("DELETE", OBJECT / "subscription/", DELETE)
    objects_subscribed_to: Endpoint[CursorPage[ObjectSubscriptionJSON]] = Endpoint(
        "GET", OBJECT / "subscribed_to/object/", READ, paged="cursor"
    )
    preferences = PreferenceEndpoints.under(OBJECT)


class LISTS:
    """``v1/subscriber_list/...``: lists, their members and draft versions.

    Deletes are the hub reference's ``PATCH .../delete/`` (the Python SDK sends
    ``DELETE`` on the resource); ``get_version`` is the SDK's (the reference has none).
    """

    create: Endpoint[SubscriberListJSON] = Endpoint("POST", SUBSCRIBER_LISTS, ABSOLUTE_WRITE)
    get_all: Endpoint[OffsetPage[SubscriberListJSON]] = Endpoint(
        "GET", SUBSCRIBER_LISTS, READ, paged="offset"
    )
    get: Endpoint[SubscriberListJSON] = Endpoint("GET", SUBSCRIBER_LIST, READ)
    delete: Endpoint[None] = Endpoint("PATCH", SUBSCRIBER_LIST / "delete/", DELETE, deletes=True)
    subscribers: Endpoint[CursorPage[ListSubscriberJSON]] = Endpoint(
        "GET", SUBSCRIBER_LIST / "subscriber/", READ, paged="cursor"
    )
    add: Endpoint[ListMembershipJSON] = Endpoint(
        "POST", SUBSCRIBER_LIST / "subscriber/add/", MEMBERSHIP
    )
    remove: Endpoint[ListMembershipJSON] = Endpoint(
        "POST", SUBSCRIBER_LIST / "subscriber/remove/", MEMBERSHIP
    )
    start_sync: Endpoint[SubscriberListJSON] = Endpoint(
        "POST", SUBSCRIBER_LIST / "start_sync/", START_SYNC
    )
    get_version: Endpoint[SubscriberListJSON] = Endpoint("GET", VERSION, READ)
    add_to_version: Endpoint[ListMembershipJSON] = Endpoint(
        "POST", VERSION / "subscriber/add/", MEMBERSHIP
    )
    remove_from_version: Endpoint[ListMembershipJSON] = Endpoint(
        "POST", VERSION / "subscriber/remove/", MEMBERSHIP
    )
    finish_sync: Endpoint[SubscriberListJSON] = Endpoint(
        "PATCH", VERSION / "finish_sync/", FINISH_SYNC
    )
    delete_version: Endpoint[None] = Endpoint("PATCH", VERSION / "delete/", DELETE, deletes=True)


class MESSAGES:
    """``v1/message/`` (its multi-value filters as repeated ``key[]``) and ``v1/bulk/message/``."""

    list: Endpoint[CursorPage[MessageJSON]] = Endpoint(
        "GET", Route("v1/message/"), READ, paged="cursor", repeated_query=True
    )
    bulk_update: Endpoint[MessageActionsJSON] = Endpoint(
        "PATCH", Route("v1/bulk/message/"), MESSAGE_ACTIONS
    )


class RUNS:
    """Cancelling workflow and broadcast runs."""

    cancel_workflows: Endpoint[CancelledRunsJSON] = Endpoint(
        "POST", Route("v1/workflow_run/cancel/"), CANCEL
    )
    cancel_broadcasts: Endpoint[CancelledRunsJSON] = Endpoint(
        "POST", Route("v1/broadcast_run/cancel/"), CANCEL
    )


class TEMPLATES:
    """``v1/template/...``, read-only."""

    list: Endpoint[OffsetPage[TemplateJSON]] = Endpoint(
        "GET", Route("v1/template/"), READ, paged="offset"
    )
    get: Endpoint[TemplateJSON] = Endpoint("GET", TEMPLATE, READ)
    channel: Endpoint[TemplateChannelJSON] = Endpoint(
        "GET", TEMPLATE / "channel/{channel_slug}/", READ
    )


class TENANTS:
    """``v1/tenant/...``: tenants, and the preference settings each gives the workspace's
    categories. Those sit at the templates of a user's preferences but are other calls
    (a tenant's category settings, no channel preferences), so they are declared here."""

    list: Endpoint[OffsetPage[TenantJSON]] = Endpoint(
        "GET", Route("v1/tenant/"), READ, paged="offset"
    )
    get: Endpoint[TenantJSON] = Endpoint("GET", TENANT, READ)
    # Fields replaced, properties and social links merged key by key: a repeat converges.
    upsert: Endpoint[TenantJSON] = Endpoint("POST", TENANT, ABSOLUTE_WRITE)
    delete: Endpoint[None] = Endpoint("DELETE", TENANT, DELETE)
    full_preference: Endpoint[TenantFullPreferenceJSON] = Endpoint(
        "GET", TENANT / "preference/", READ
    )
    preference_categories: Endpoint[OffsetPage[TenantCategoryJSON]] = Endpoint(
        "GET", TENANT / "preference/category/", READ, paged="offset"
    )
    preference_category: Endpoint[TenantCategoryJSON] = Endpoint(
        "GET", TENANT / "preference/category/{category}/", READ
    )
    update_preference_category: Endpoint[TenantCategoryJSON] = Endpoint(
        "PATCH", TENANT / "preference/category/{category}/", ABSOLUTE_WRITE
    )
    # The tenant's defaults (the document's older calls): offset meta, answered whole.
    default_preference: Endpoint[OffsetPage[TenantCategoryJSON]] = Endpoint(
        "GET", TENANT / "category/", READ
    )
    update_default_category_preference: Endpoint[TenantCategoryJSON] = Endpoint(
        "PATCH", TENANT / "category/{category}/", ABSOLUTE_WRITE
    )


class BRANDS:
    """``v1/brand/...``: tenants under their older name, on the official SDK's paths (the
    OpenAPI document describes only ``v1/tenant/...`` now)."""

    list: Endpoint[OffsetPage[BrandJSON]] = Endpoint(
        "GET", Route("v1/brand/"), READ, paged="offset"
    )
    get: Endpoint[BrandJSON] = Endpoint("GET", BRAND, READ)
    upsert: Endpoint[BrandJSON] = Endpoint("POST", BRAND, ABSOLUTE_WRITE)


def _declared(*namespaces: type) -> tuple[Endpoint[Any], ...]:
    found: list[Endpoint[Any]] = []
    for namespace in namespaces:
        for value in vars(namespace).values():
            if isinstance(value, Endpoint):
                found.append(value)
            elif isinstance(value, PreferenceEndpoints):
                found.extend(value.endpoints())
    return tuple(found)


# Every endpoint above: what the route-table tests walk.
EVERY_ENDPOINT: tuple[Endpoint[Any], ...] = _declared(
    EVENTS, USERS, OBJECTS, TENANTS, BRANDS, LISTS, MESSAGES, RUNS, TEMPLATES
)
