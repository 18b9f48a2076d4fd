"""Where the emulator answers the tenants API (``v1/tenant/...``) and the brands API
(``v1/brand/...``, the same records under their older name): the endpoints of
``_wire.endpoints.TENANTS`` and ``BRANDS`` to :class:`TenantStore` calls.

Bodies and status codes follow the hub's OpenAPI document: 201 for an upsert,
204 for a delete, 200 for a tenant category update and 202 for a default one,
offset pages (``limit``, ``offset``, ``meta.count``), ``{"code", "message"}``
for an error.
"""

from __future__ import annotations

from typing import Any

from ..._wire.endpoints import BRANDS, TENANTS
from .._routing import Call, EndpointRoutes, Handler, HubCore
from ._collection import offset_page
from ._tenant_store import StoredTenant, TenantStore

__all__ = ["ROUTES"]

Answer = tuple[int, Any]


def _store(hub: HubCore, call: Call) -> TenantStore:
    return hub.store(call.workspace).tenants


def _tenant(hub: HubCore, call: Call) -> StoredTenant:
    return _store(hub, call).tenants.require(call.ids["tenant_id"])


# The tenant and brand paths answer the same records, naming their keys after themselves.


def _list(kind: str) -> Handler:
    def handler(hub: HubCore, call: Call) -> Answer:
        return 200, _store(hub, call).tenants.offset_page(call.query, lambda t: t.to_json(kind))

    return handler


def _get(kind: str) -> Handler:
    def handler(hub: HubCore, call: Call) -> Answer:
        tenant_id = call.ids[f"{kind}_id"]
        return 200, _store(hub, call).tenants.require(tenant_id).to_json(kind)

    return handler


def _upsert(kind: str) -> Handler:
    def handler(hub: HubCore, call: Call) -> Answer:
        tenant = _store(hub, call).upsert(call.ids[f"{kind}_id"], call.body, kind)
        return 201, tenant.to_json(kind)

    return handler


def _delete(hub: HubCore, call: Call) -> Answer:
    _store(hub, call).tenants.delete(call.ids["tenant_id"])
    return 204, None


def _full(hub: HubCore, call: Call) -> Answer:
    return 200, _store(hub, call).full_json(_tenant(hub, call))


def _categories(hub: HubCore, call: Call) -> Answer:
    return 200, offset_page(_store(hub, call).categories_json(_tenant(hub, call)), call.query)


def _category(hub: HubCore, call: Call) -> Answer:
    return 200, _store(hub, call).category_json(_tenant(hub, call), call.ids["category"])


def _update_category(status: int) -> Handler:
    def handler(hub: HubCore, call: Call) -> Answer:
        store, tenant, category = _store(hub, call), _tenant(hub, call), call.ids["category"]
        store.set_category(tenant, category, call.body)
        return status, store.category_json(tenant, category)

    return handler


ROUTES: EndpointRoutes = {
    TENANTS.list: _list("tenant"),
    TENANTS.get: _get("tenant"),
    TENANTS.upsert: _upsert("tenant"),
    TENANTS.delete: _delete,
    TENANTS.full_preference: _full,
    TENANTS.preference_categories: _categories,
    TENANTS.preference_category: _category,
    TENANTS.update_preference_category: _update_category(200),
    TENANTS.default_preference: _categories,
    TENANTS.update_default_category_preference: _update_category(202),
    BRANDS.list: _list("brand"),
    BRANDS.get: _get("brand"),
    BRANDS.upsert: _upsert("brand"),
}
