"""Where the emulator answers the users API (``v1/user/...``, ``v1/bulk/user/...``):
the endpoints of ``_wire.endpoints.USERS`` to :class:`UserStore` calls (the
store is ``_user_store``).

Identity events posted to ``event/`` change the same store; they are answered
in ``events``. Bodies and status codes follow the hub's OpenAPI document: 201
for an upsert or merge, 202 for an edit or a preference update, 204 for a
delete, ``{"code", "message"}`` for an error.
"""

from __future__ import annotations

from typing import Any

from ..._wire.endpoints import USERS
from .._routing import Call, EndpointRoutes, HubCore
from ._collection import page
from ._preferences import Book, preference_routes
from ._profile import Profile
from ._user_store import StoredUser, UserStore

__all__ = ["ROUTES"]

Answer = tuple[int, Any]


def _store(hub: HubCore, call: Call) -> UserStore:
    return hub.store(call.workspace).users


def _id(call: Call) -> str:
    return call.ids["distinct_id"]


def _operations(call: Call) -> Any:
    return call.body.get("operations") if isinstance(call.body, dict) else None


def _list(hub: HubCore, call: Call) -> Answer:
    return 200, _store(hub, call).users.page(call.query, StoredUser.to_json)


def _get(hub: HubCore, call: Call) -> Answer:
    return 200, _store(hub, call).require(_id(call)).to_json()


def _upsert(hub: HubCore, call: Call) -> Answer:
    return 201, _store(hub, call).upsert(_id(call), call.body).to_json()


def _edit(hub: HubCore, call: Call) -> Answer:
    store = _store(hub, call)
    store.edit(_id(call), _operations(call))
    return 202, store.require(_id(call)).to_json()


def _unsubscribe(hub: HubCore, call: Call, distinct_ids: list[str]) -> None:
    """A deleted user's object subscriptions go with it (they are kept on the objects)."""
    objects = hub.store(call.workspace).objects
    for distinct_id in distinct_ids:
        objects.forget_subscriber(("user", distinct_id))


def _delete(hub: HubCore, call: Call) -> Answer:
    _store(hub, call).delete(_id(call))
    _unsubscribe(hub, call, [_id(call)])
    return 204, None


def _bulk_delete(hub: HubCore, call: Call) -> Answer:
    _unsubscribe(hub, call, _store(hub, call).bulk_delete(call.body))
    return 204, None


def _merge(hub: HubCore, call: Call) -> Answer:
    return 201, _store(hub, call).merge(_id(call), call.body).to_json()


def _tenants(hub: HubCore, call: Call) -> Answer:
    user = _store(hub, call).require(_id(call))
    links = (
        (n, {"tenant_id": t, "created_at": p.created_at, "updated_at": p.updated_at})
        for n, (t, p) in enumerate(user.tenants.items(), 1)
    )
    return 200, page(links, call.query)


def _tenant_json(call: Call, profile: Profile) -> dict[str, Any]:
    return {"distinct_id": _id(call), "tenant_id": call.ids["tenant_id"], **profile.to_json()}


def _get_tenant(hub: HubCore, call: Call) -> Answer:
    profile = _store(hub, call).tenant_profile(_id(call), call.ids["tenant_id"])
    return 200, _tenant_json(call, profile)


def _upsert_tenant(hub: HubCore, call: Call) -> Answer:
    store = _store(hub, call)
    return 201, _tenant_json(
        call, store.upsert_for_tenant(_id(call), call.ids["tenant_id"], call.body)
    )


def _edit_tenant(hub: HubCore, call: Call) -> Answer:
    profile = _store(hub, call).edit(_id(call), _operations(call), call.ids["tenant_id"])
    return 202, _tenant_json(call, profile)


def _unlink(hub: HubCore, call: Call) -> Answer:
    _store(hub, call).unlink_tenant(_id(call), call.ids["tenant_id"])
    return 204, None


def _objects(hub: HubCore, call: Call) -> Answer:
    _store(hub, call).require(_id(call))
    objects = hub.store(call.workspace).objects  # subscriptions are kept on the objects
    return 200, objects.subscribed_to_page(("user", _id(call)), call.query)


def _lists(hub: HubCore, call: Call) -> Answer:
    """The lists a user is in: those the subscriber lists API made them a member of, and
    those a test seeded with ``subscribe_to_list``."""
    store, distinct_id = _store(hub, call), _id(call)
    member_of = hub.store(call.workspace).lists.lists_of(distinct_id)
    user = store.get(distinct_id)
    if user is None and not member_of:
        store.require(distinct_id)  # the users API's 404
    rows = [{"list": found.to_json(), "created_at": found.created_at} for found in member_of]
    if user is not None:
        rows += [
            {"list": store.list_json(list_id), "created_at": user.created_at}
            for list_id in user.lists
        ]
    return 200, page(enumerate(rows, 1), call.query)


def _preferences(hub: HubCore, call: Call) -> Book:
    return _store(hub, call).require(_id(call)).preferences


def _bulk_prefs(hub: HubCore, call: Call) -> Answer:
    tenant = call.query.get("tenant_id") or None
    _store(hub, call).bulk_preferences(call.body, tenant, reset=False)
    return 202, {"success": True}


def _bulk_reset(hub: HubCore, call: Call) -> Answer:
    tenant = call.query.get("tenant_id") or None
    _store(hub, call).bulk_preferences(call.body, tenant, reset=True)
    return 202, {"success": True}


ROUTES: EndpointRoutes = {
    USERS.list: _list,
    USERS.get: _get,
    USERS.upsert: _upsert,
    USERS.edit: _edit,
    USERS.delete: _delete,
    USERS.merge: _merge,
    USERS.bulk_delete: _bulk_delete,
    USERS.associated_tenants: _tenants,
    USERS.get_for_tenant: _get_tenant,
    USERS.upsert_for_tenant: _upsert_tenant,
    USERS.edit_for_tenant: _edit_tenant,
    USERS.unlink_tenant: _unlink,
    USERS.objects_subscribed_to: _objects,
    USERS.lists_subscribed_to: _lists,
    USERS.bulk_update_preferences: _bulk_prefs,
    USERS.bulk_reset_preferences: _bulk_reset,
    **preference_routes(USERS.preferences, _preferences),
}
