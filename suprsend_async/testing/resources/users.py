"""Where the emulator answers the users API (``v1/user/...``, ``v1/bulk/user/...``):
paths and methods to :class:`UserStore` calls (the store is ``_user_store``).

Identity events posted to ``event/`` change the same store; they are answered
in ``events``.

Ids are read from the raw path one segment at a time, so an id holding an
escaped ``/`` stays one id. Bodies and status codes follow the hub's OpenAPI
document: 201 for an upsert or merge, 202 for an edit or a preference
update, 204 for a delete, ``{"code", "message"}`` for an error.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

from .._codec import loads
from ._user_store import Preferences, Profile, UserError, UserStore, page

__all__ = ["UserRoute", "match_user_route"]

Params = dict[str, str]
Handler = Callable[[UserStore, list[str], Params, Any], tuple[int, Any]]


def _error(error: UserError) -> tuple[int, Any]:
    return error.status, {"code": error.status, "message": error.message}


def _tenant(params: Params) -> str | None:
    return params.get("tenant_id") or None


def _prefs(store: UserStore, ids: list[str], params: Params) -> Preferences:
    return store.preferences(ids[0], _tenant(params))


# -- handlers: (store, path ids, query, body) -> (status, payload) --------------------------


def _list(store: UserStore, ids: list[str], params: Params, body: Any) -> tuple[int, Any]:
    return 200, store.list_page(params)


def _get(store: UserStore, ids: list[str], params: Params, body: Any) -> tuple[int, Any]:
    return 200, store.require(ids[0]).to_json()


def _upsert(store: UserStore, ids: list[str], params: Params, body: Any) -> tuple[int, Any]:
    return 201, store.upsert(ids[0], body).to_json()


def _edit(store: UserStore, ids: list[str], params: Params, body: Any) -> tuple[int, Any]:
    operations = body.get("operations") if isinstance(body, dict) else None
    store.edit(ids[0], operations)
    return 202, store.require(ids[0]).to_json()


def _delete(store: UserStore, ids: list[str], params: Params, body: Any) -> tuple[int, Any]:
    store.delete(ids[0])
    return 204, None


def _bulk_delete(store: UserStore, ids: list[str], params: Params, body: Any) -> tuple[int, Any]:
    store.bulk_delete(body)
    return 204, None


def _merge(store: UserStore, ids: list[str], params: Params, body: Any) -> tuple[int, Any]:
    return 201, store.merge(ids[0], body).to_json()


def _tenants(store: UserStore, ids: list[str], params: Params, body: Any) -> tuple[int, Any]:
    user = store.require(ids[0])
    links = (
        (n, {"tenant_id": t, "created_at": p.created_at, "updated_at": p.updated_at})
        for n, (t, p) in enumerate(user.tenants.items(), 1)
    )
    return 200, page(links, params)


def _tenant_json(ids: list[str], profile: Profile) -> dict[str, Any]:
    return {"distinct_id": ids[0], "tenant_id": ids[1], **profile.to_json()}


def _get_tenant(store: UserStore, ids: list[str], params: Params, body: Any) -> tuple[int, Any]:
    return 200, _tenant_json(ids, store.tenant_profile(*ids))


def _upsert_tenant(store: UserStore, ids: list[str], params: Params, body: Any) -> tuple[int, Any]:
    return 201, _tenant_json(ids, store.upsert_for_tenant(ids[0], ids[1], body))


def _edit_tenant(store: UserStore, ids: list[str], params: Params, body: Any) -> tuple[int, Any]:
    operations = body.get("operations") if isinstance(body, dict) else None
    return 202, _tenant_json(ids, store.edit(ids[0], operations, tenant_id=ids[1]))


def _unlink(store: UserStore, ids: list[str], params: Params, body: Any) -> tuple[int, Any]:
    store.unlink_tenant(ids[0], ids[1])
    return 204, None


def _objects(store: UserStore, ids: list[str], params: Params, body: Any) -> tuple[int, Any]:
    user = store.require(ids[0])
    rows = (
        (n, {"properties": {}, "object": store.object_json(o), **user.timestamps()})
        for n, o in enumerate(user.objects, 1)
    )
    return 200, page(rows, params)


def _lists(store: UserStore, ids: list[str], params: Params, body: Any) -> tuple[int, Any]:
    user = store.require(ids[0])
    rows = (
        (n, {"list": store.list_json(list_id), "created_at": user.created_at})
        for n, list_id in enumerate(user.lists, 1)
    )
    return 200, page(rows, params)


def _full(store: UserStore, ids: list[str], params: Params, body: Any) -> tuple[int, Any]:
    return 200, store.full_json(_prefs(store, ids, params))


def _update_full(store: UserStore, ids: list[str], params: Params, body: Any) -> tuple[int, Any]:
    prefs = store.update_preferences(ids[0], _tenant(params), lambda p: store.update_full(p, body))
    return 200, store.full_json(prefs)


def _channels(store: UserStore, ids: list[str], params: Params, body: Any) -> tuple[int, Any]:
    return 200, {"channel_preferences": store.channels_json(_prefs(store, ids, params))}


def _update_channels(
    store: UserStore, ids: list[str], params: Params, body: Any
) -> tuple[int, Any]:
    items = body.get("channel_preferences") if isinstance(body, dict) else None
    prefs = store.update_preferences(
        ids[0], _tenant(params), lambda p: store.set_channels(p, items)
    )
    return 202, {"channel_preferences": store.channels_json(prefs)}


def _categories(store: UserStore, ids: list[str], params: Params, body: Any) -> tuple[int, Any]:
    prefs = _prefs(store, ids, params)
    try:
        limit, offset = int(params.get("limit", 10)), int(params.get("offset", 0))
    except ValueError:
        raise UserError(400, "limit and offset must be integers") from None
    every = [store.category_json(prefs, c) for c in store.categories]
    return 200, {
        "meta": {"count": len(every), "limit": limit, "offset": offset},
        "results": every[offset : offset + limit],
    }


def _category(store: UserStore, ids: list[str], params: Params, body: Any) -> tuple[int, Any]:
    prefs = _prefs(store, ids, params)
    store.require_category(ids[1])
    return 200, store.category_json(prefs, ids[1])


def _update_category(
    store: UserStore, ids: list[str], params: Params, body: Any
) -> tuple[int, Any]:
    prefs = store.update_preferences(
        ids[0], _tenant(params), lambda p: store.set_category(p, ids[1], body)
    )
    return 202, store.category_json(prefs, ids[1])


def _bulk_prefs(store: UserStore, ids: list[str], params: Params, body: Any) -> tuple[int, Any]:
    store.bulk_preferences(body, _tenant(params), reset=False)
    return 202, {"success": True}


def _bulk_reset(store: UserStore, ids: list[str], params: Params, body: Any) -> tuple[int, Any]:
    store.bulk_preferences(body, _tenant(params), reset=True)
    return 202, {"success": True}


# -- the table: path shape ("*" is an id) -> method -> handler --------------------------------

_ROUTES: dict[tuple[str, ...], dict[str, Handler]] = {
    ("v1", "user"): {"GET": _list},
    ("v1", "user", "*"): {"GET": _get, "POST": _upsert, "PATCH": _edit, "DELETE": _delete},
    ("v1", "user", "*", "merge"): {"POST": _merge},
    ("v1", "user", "*", "associated_tenant"): {"GET": _tenants},
    ("v1", "user", "*", "tenant", "*"): {
        "GET": _get_tenant,
        "POST": _upsert_tenant,
        "PATCH": _edit_tenant,
        "DELETE": _unlink,
    },
    ("v1", "user", "*", "subscribed_to", "object"): {"GET": _objects},
    ("v1", "user", "*", "subscribed_to", "list"): {"GET": _lists},
    ("v1", "user", "*", "preference"): {"GET": _full, "PATCH": _update_full},
    ("v1", "user", "*", "preference", "channel_preference"): {
        "GET": _channels,
        "PATCH": _update_channels,
    },
    ("v1", "user", "*", "preference", "category"): {"GET": _categories},
    ("v1", "user", "*", "preference", "category", "*"): {
        "GET": _category,
        "PATCH": _update_category,
    },
    ("v1", "bulk", "user"): {"DELETE": _bulk_delete},
    ("v1", "bulk", "user", "preference"): {"PATCH": _bulk_prefs},
    ("v1", "bulk", "user", "preference", "reset"): {"PATCH": _bulk_reset},
}


class UserRoute:
    """A request the users routes answer; call it with the workspace's store."""

    def __init__(
        self, handler: Handler | None, method: str, ids: list[str], query: bytes, body: bytes
    ) -> None:
        self._handler, self._method, self._ids = handler, method, ids
        self._query, self._body = query, body

    def __call__(self, store: UserStore) -> tuple[int, Any]:
        if self._handler is None:
            return 405, {"code": 405, "message": f"{self._method} is not allowed here"}
        params = dict(urllib.parse.parse_qsl(self._query.decode("latin-1")))
        try:
            body = loads(self._body) if self._body else None
        except ValueError as exc:
            return 400, {"code": 400, "message": str(exc)}
        try:
            return self._handler(store, self._ids, params, body)
        except UserError as error:
            return _error(error)


def match_user_route(method: str, raw_path: bytes, query: bytes, body: bytes) -> UserRoute | None:
    """The route for this request if the users API (or an identity event) is its target."""
    segments = [
        urllib.parse.unquote_to_bytes(s).decode("utf-8", errors="replace")
        for s in raw_path.strip(b"/").split(b"/")
    ]
    shape = tuple("*" if _is_id(i, segments) else s for i, s in enumerate(segments))
    methods = _ROUTES.get(shape)
    if methods is None:
        return None
    ids = [s for i, s in enumerate(segments) if shape[i] == "*"]
    return UserRoute(methods.get(method), method, ids, query, body)


# Positions of ids in the paths above: v1/user/{id}/..., .../tenant/{id}/, .../category/{id}/.
def _is_id(index: int, segments: list[str]) -> bool:
    if segments[:2] != ["v1", "user"]:
        return False
    return (
        index == 2
        or (index == 4 and segments[3] == "tenant")
        or (index == 5 and segments[3:5] == ["preference", "category"])
    )
