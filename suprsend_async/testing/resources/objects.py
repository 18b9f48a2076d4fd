"""Where the emulator answers the objects API (``v1/object/...``, the official SDK's
``v1/bulk/object/{object_type}/``): the endpoints of ``_wire.endpoints.OBJECTS``
to :class:`ObjectStore` calls (the store is ``_object_store``).

Bodies and status codes follow the hub's OpenAPI document: 201 for an
upsert, 200 for an edit or a subscription, 204 for a delete, preferences as
for users.
"""

from __future__ import annotations

from typing import Any

from ..._wire.endpoints import OBJECTS
from .._routing import Call, EndpointRoutes, HubCore
from ._object_store import ObjectKey, ObjectStore
from ._preferences import Book, preference_routes

__all__ = ["ROUTES"]

Answer = tuple[int, Any]


def _store(hub: HubCore, call: Call) -> ObjectStore:
    return hub.store(call.workspace).objects


def _key(call: Call) -> ObjectKey:
    return call.ids["object_type"], call.ids["object_id"]


def _list(hub: HubCore, call: Call) -> Answer:
    return 200, _store(hub, call).list_page(call.ids["object_type"], call.query)


def _get(hub: HubCore, call: Call) -> Answer:
    return 200, _store(hub, call).require(_key(call)).to_json()


def _upsert(hub: HubCore, call: Call) -> Answer:
    return 201, _store(hub, call).upsert(_key(call), call.body).to_json()


def _edit(hub: HubCore, call: Call) -> Answer:
    operations = call.body.get("operations") if isinstance(call.body, dict) else None
    return 200, _store(hub, call).edit(_key(call), operations).to_json()


def _delete(hub: HubCore, call: Call) -> Answer:
    _store(hub, call).delete(_key(call))
    return 204, None


def _bulk_delete(hub: HubCore, call: Call) -> Answer:
    _store(hub, call).bulk_delete(call.ids["object_type"], call.body)
    return 204, None


def _subscriptions(hub: HubCore, call: Call) -> Answer:
    return 200, _store(hub, call).subscriptions_page(_key(call), call.query)


def _subscribe(hub: HubCore, call: Call) -> Answer:
    return 200, {"results": _store(hub, call).subscribe(_key(call), call.body)}


def _unsubscribe(hub: HubCore, call: Call) -> Answer:
    _store(hub, call).unsubscribe(_key(call), call.body)
    return 204, None


def _subscribed_to(hub: HubCore, call: Call) -> Answer:
    store = _store(hub, call)
    store.require(_key(call))
    return 200, store.subscribed_to_page(("object", *_key(call)), call.query)


def _preferences(hub: HubCore, call: Call) -> Book:
    return _store(hub, call).require(_key(call)).preferences


ROUTES: EndpointRoutes = {
    OBJECTS.list: _list,
    OBJECTS.get: _get,
    OBJECTS.upsert: _upsert,
    OBJECTS.edit: _edit,
    OBJECTS.delete: _delete,
    OBJECTS.bulk_delete: _bulk_delete,
    OBJECTS.subscriptions: _subscriptions,
    OBJECTS.create_subscriptions: _subscribe,
    OBJECTS.delete_subscriptions: _unsubscribe,
    OBJECTS.objects_subscribed_to: _subscribed_to,
    **preference_routes(OBJECTS.preferences, _preferences),
}
