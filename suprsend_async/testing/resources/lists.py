"""Where the emulator answers subscriber lists and their versions (``v1/subscriber_list/...``).

State is the workspace's :class:`~._list_store.ListStore`; the routes are the
client's own endpoints (``_wire.endpoints.LISTS``).
"""

from __future__ import annotations

from typing import Any

from ..._wire.endpoints import LISTS
from .._routing import Call, EndpointRoutes, HubCore
from ._list_store import ListStore

__all__ = ["ROUTES"]


def _lists(hub: HubCore, call: Call) -> ListStore:
    return hub.store(call.workspace).lists


def _create(hub: HubCore, call: Call) -> tuple[int, Any]:
    return 201, _lists(hub, call).create(call.body).to_json()


def _get_all(hub: HubCore, call: Call) -> tuple[int, Any]:
    return 200, _lists(hub, call).all_page(call.query)


def _get(hub: HubCore, call: Call) -> tuple[int, Any]:
    return 200, _lists(hub, call).require(call.ids["list_id"]).to_json()


def _delete(hub: HubCore, call: Call) -> tuple[int, Any]:
    _lists(hub, call).delete(call.ids["list_id"])
    return 200, {"success": True}


def _subscribers(hub: HubCore, call: Call) -> tuple[int, Any]:
    return 200, _lists(hub, call).members_page(call.ids["list_id"], call.query)


def _change(add: bool) -> Any:
    def handler(hub: HubCore, call: Call) -> tuple[int, Any]:
        return 201, _lists(hub, call).change(call.ids["list_id"], call.body, add=add)

    return handler


def _start_sync(hub: HubCore, call: Call) -> tuple[int, Any]:
    return 201, _lists(hub, call).start_sync(call.ids["list_id"])


def _get_version(hub: HubCore, call: Call) -> tuple[int, Any]:
    found, version = _lists(hub, call).version(call.ids["list_id"], call.ids["version_id"])
    return 200, found.to_json(version)


def _change_version(add: bool) -> Any:
    def handler(hub: HubCore, call: Call) -> tuple[int, Any]:
        ids = call.ids
        return 201, _lists(hub, call).change_version(
            ids["list_id"], ids["version_id"], call.body, add=add
        )

    return handler


def _finish_sync(hub: HubCore, call: Call) -> tuple[int, Any]:
    return 201, _lists(hub, call).finish_sync(call.ids["list_id"], call.ids["version_id"])


def _delete_version(hub: HubCore, call: Call) -> tuple[int, Any]:
    _lists(hub, call).delete_version(call.ids["list_id"], call.ids["version_id"])
    return 200, {"success": True}


ROUTES: EndpointRoutes = {
    LISTS.create: _create,
    LISTS.get_all: _get_all,
    LISTS.get: _get,
    LISTS.delete: _delete,
    LISTS.subscribers: _subscribers,
    LISTS.add: _change(add=True),
    LISTS.remove: _change(add=False),
    LISTS.start_sync: _start_sync,
    LISTS.get_version: _get_version,
    LISTS.add_to_version: _change_version(add=True),
    LISTS.remove_from_version: _change_version(add=False),
    LISTS.finish_sync: _finish_sync,
    LISTS.delete_version: _delete_version,
}
