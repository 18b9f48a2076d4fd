"""The hub's REST endpoints, each declared once: read by the client, the emulator and tests.

Templates are relative to the base URL and written as the official SDKs
send them (trailing slash included). Retry safety comes from
``_values.idempotency``, the one place that decides it. A new resource is a
class of :class:`Endpoint` s here, a resource module of one-line methods,
and emulator handlers keyed by the same endpoints.
"""

from __future__ import annotations

import attrs

from .._values.idempotency import (
    ABSOLUTE_WRITE,
    DELETE,
    MERGE,
    READ,
    body_edit_safety,
)
from .routes import Endpoint, Route

__all__ = ["EVENTS", "EVERY_ENDPOINT", "OBJECTS", "USERS", "PreferenceEndpoints"]

USER = Route("v1/user/{distinct_id}/")
OBJECT_TYPE = Route("v1/object/{object_type}/")
OBJECT = OBJECT_TYPE / "{object_id}/"


@attrs.frozen
class PreferenceEndpoints:
    """The preference calls the hub has under an owner (a user, an object...).

    Declared once and mounted: ``PreferenceEndpoints.under(OBJECT)``; the
    client's :class:`~suprsend_async.resources._preferences.PreferenceMethods`
    and the emulator's preference routes read the same set.
    """

    full: Endpoint
    update_full: Endpoint
    channels: Endpoint
    update_channels: Endpoint
    categories: Endpoint
    category: Endpoint
    update_category: Endpoint

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

    def endpoints(self) -> tuple[Endpoint, ...]:
        return attrs.astuple(self, recurse=False)


class EVENTS:
    """The REST event path, where identity events (``users.async_edit``) go."""

    # Sent pre-encoded: the caller decides the safety from the edit's operations.
    identity = Endpoint("POST", Route("event/"), body_edit_safety)


class USERS:
    """``v1/user/...`` and ``v1/bulk/user/...``."""

    list = Endpoint("GET", Route("v1/user/"), READ, paged="cursor")
    get = Endpoint("GET", USER, READ)
    upsert = Endpoint("POST", USER, ABSOLUTE_WRITE)
    edit = Endpoint("PATCH", USER, body_edit_safety)
    delete = Endpoint("DELETE", USER, DELETE)
    merge = Endpoint("POST", USER / "merge/", MERGE)
    bulk_delete = Endpoint("DELETE", Route("v1/bulk/user/"), DELETE)
    associated_tenants = Endpoint("GET", USER / "associated_tenant/", READ, paged="cursor")
    get_for_tenant = Endpoint("GET", USER / "tenant/{tenant_id}/", READ)
    upsert_for_tenant = Endpoint("POST", USER / "tenant/{tenant_id}/", ABSOLUTE_WRITE)
    edit_for_tenant = Endpoint("PATCH", USER / "tenant/{tenant_id}/", body_edit_safety)
    unlink_tenant = Endpoint("DELETE", USER / "tenant/{tenant_id}/", DELETE)
    objects_subscribed_to = Endpoint("GET", USER / "subscribed_to/object/", READ, paged="cursor")
    lists_subscribed_to = Endpoint("GET", USER / "subscribed_to/list/", READ, paged="cursor")
    preferences = PreferenceEndpoints.under(USER)
    bulk_update_preferences = Endpoint("PATCH", Route("v1/bulk/user/preference/"), ABSOLUTE_WRITE)
    bulk_reset_preferences = Endpoint(
        "PATCH", Route("v1/bulk/user/preference/reset/"), ABSOLUTE_WRITE
    )


class OBJECTS:
    """``v1/object/...`` and the official SDK's ``v1/bulk/object/{object_type}/``."""

    list = Endpoint("GET", OBJECT_TYPE, READ, paged="cursor")
    get = Endpoint("GET", OBJECT, READ)
    upsert = Endpoint("POST", OBJECT, ABSOLUTE_WRITE)
    edit = Endpoint("PATCH", OBJECT, body_edit_safety)
    delete = Endpoint("DELETE", OBJECT, DELETE)
    bulk_delete = Endpoint("DELETE", Route("v1/bulk/object/{object_type}/"), DELETE)
    subscriptions = Endpoint("GET", OBJECT / "subscription/", READ, paged="cursor")
    # Subscribing a recipient twice leaves one subscription (with the last properties).
    create_subscriptions = Endpoint("POST", OBJECT / "subscription/", ABSOLUTE_WRITE)
    delete_subscriptions = Endpoint("DELETE", OBJECT / "subscription/", DELETE)
    objects_subscribed_to = Endpoint("GET", OBJECT / "subscribed_to/object/", READ, paged="cursor")
    preferences = PreferenceEndpoints.under(OBJECT)


def _declared(*namespaces: type) -> tuple[Endpoint, ...]:
    found: list[Endpoint] = []
    for namespace in namespaces:
        for value in vars(namespace).values():
            if isinstance(value, Endpoint):
                found.append(value)
            elif isinstance(value, PreferenceEndpoints):
                found.extend(value.endpoints())
    return tuple(found)


# Every endpoint above: what the route-table tests walk.
EVERY_ENDPOINT: tuple[Endpoint, ...] = _declared(EVENTS, USERS, OBJECTS)
