"""Preferences as the emulator keeps them, and their routes, mounted under each owner.

Users and objects (and tenants) have the same preference calls
(``_wire.endpoints.PreferenceEndpoints``); :func:`preference_routes` answers
them for any owner, given how to find the owner's :class:`Preferences`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import attrs

from ..._wire.endpoints import PreferenceEndpoints
from .._routing import Call, EndpointRoutes, HubCore
from ._collection import StoreError, offset_page
from ._profile import CHANNELS

__all__ = [
    "DEFAULT_CATEGORIES",
    "Book",
    "PreferenceRules",
    "Preferences",
    "preference_routes",
    "read",
    "update",
]

DEFAULT_CATEGORIES: Mapping[str, str] = {
    "newsletter": "opt_in",
    "product-updates": "opt_in",
    "promotions": "opt_out",
}


@attrs.define
class Preferences:
    """One owner's preferences (a user's or an object's), for the workspace or one tenant."""

    restricted_channels: dict[str, bool] = attrs.field(factory=dict)
    # category -> (preference, channels opted out of)
    categories: dict[str, tuple[str, frozenset[str]]] = attrs.field(factory=dict)


class PreferenceRules:
    """The workspace's preference categories (with their defaults), and how
    preferences read and change against them."""

    def __init__(self, categories: Mapping[str, str] = DEFAULT_CATEGORIES) -> None:
        self.categories = dict(categories)

    def category_json(self, prefs: Preferences, category: str) -> dict[str, Any]:
        default = self.categories[category]
        preference, opted_out = prefs.categories.get(category, (default, frozenset()))
        return {
            "name": category.replace("-", " ").title(),
            "category": category,
            "description": f"{category} notifications",
            "original_preference": default,
            "preference": preference,
            "is_editable": True,
            "channels": [
                {
                    "channel": channel,
                    "preference": "opt_out" if channel in opted_out else "opt_in",
                    "is_editable": True,
                }
                for channel in CHANNELS
            ],
        }

    def channels_json(self, prefs: Preferences) -> list[dict[str, Any]]:
        return [
            {"channel": channel, "is_restricted": prefs.restricted_channels.get(channel, False)}
            for channel in CHANNELS
        ]

    def full_json(self, prefs: Preferences) -> dict[str, Any]:
        return {
            "sections": [
                {"subcategories": [self.category_json(prefs, c) for c in self.categories]}
            ],
            "channel_preferences": self.channels_json(prefs),
        }

    def require_category(self, category: str) -> None:
        if category not in self.categories:
            raise StoreError(404, f"category '{category}' not found")

    def set_category(self, prefs: Preferences, category: str, body: Any) -> None:
        self.require_category(category)
        if not isinstance(body, Mapping):
            raise StoreError(400, "the body must be a JSON object")
        preference = body.get("preference", self.categories[category])
        if preference not in ("opt_in", "opt_out"):
            raise StoreError(400, "preference: must be one of opt_in, opt_out")
        opt_out = _channel_set(body.get("opt_out_channels"), "opt_out_channels")
        opt_in = _channel_set(body.get("opt_in_channels"), "opt_in_channels")
        prefs.categories[category] = (preference, opt_out - opt_in)

    def set_channels(self, prefs: Preferences, items: Any) -> None:
        if not isinstance(items, list):
            raise StoreError(400, "channel_preferences: must be a list")
        for i, item in enumerate(items):
            channel = item.get("channel") if isinstance(item, Mapping) else None
            if channel not in CHANNELS:
                raise StoreError(
                    400, f"channel_preferences[{i}].channel: must be one of {CHANNELS}"
                )
            prefs.restricted_channels[channel] = bool(item.get("is_restricted", False))

    def update_full(self, prefs: Preferences, body: Any) -> None:
        if not isinstance(body, Mapping):
            raise StoreError(400, "the body must be a JSON object")
        if "channel_preferences" in body:
            self.set_channels(prefs, body["channel_preferences"])
        categories = body.get("categories") or []
        if not isinstance(categories, list):
            raise StoreError(400, "categories: must be a list")
        for i, item in enumerate(categories):
            category = item.get("category") if isinstance(item, Mapping) else None
            if not isinstance(category, str):
                raise StoreError(400, f"categories[{i}].category: must be a string")
            self.set_category(prefs, category, item)


def _channel_set(value: Any, field: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or any(c not in CHANNELS for c in value):
        raise StoreError(400, f"{field}: must be a list of channels of {CHANNELS}")
    return frozenset(value)


# An owner's preferences by tenant (None: the workspace's own), the owner's record's.
Book: TypeAlias = "dict[str | None, Preferences]"


def read(book: Book, tenant_id: str | None) -> Preferences:
    """Preferences to read: the defaults, not stored, if never set."""
    return book.get(tenant_id) or Preferences()


def update(book: Book, tenant_id: str | None, change: Callable[[Preferences], None]) -> Preferences:
    """Apply ``change`` to a copy, kept only if ``change`` raised nothing: a refused
    request changes nothing."""
    current = book.get(tenant_id) or Preferences()
    staged = Preferences(dict(current.restricted_channels), dict(current.categories))
    change(staged)
    book[tenant_id] = staged
    return staged


# How a route finds the owner's preferences (a 404 if the owner does not exist).
FindBook = Callable[[HubCore, Call], Book]


def preference_routes(endpoints: PreferenceEndpoints, find: FindBook) -> EndpointRoutes:
    """The handlers of every preference call under one owner, for the ``tenant_id``
    option when given."""

    def rules(hub: HubCore, call: Call) -> PreferenceRules:
        return hub.store(call.workspace).preference_rules

    def tenant(call: Call) -> str | None:
        return call.query.get("tenant_id") or None

    def current(hub: HubCore, call: Call) -> Preferences:
        return read(find(hub, call), tenant(call))

    def changed(hub: HubCore, call: Call, change: Callable[[Preferences], None]) -> Preferences:
        return update(find(hub, call), tenant(call), change)

    def full(hub: HubCore, call: Call) -> tuple[int, Any]:
        return 200, rules(hub, call).full_json(current(hub, call))

    def update_full(hub: HubCore, call: Call) -> tuple[int, Any]:
        book = rules(hub, call)
        prefs = changed(hub, call, lambda p: book.update_full(p, call.body))
        return 200, book.full_json(prefs)

    def channels(hub: HubCore, call: Call) -> tuple[int, Any]:
        return 200, {"channel_preferences": rules(hub, call).channels_json(current(hub, call))}

    def update_channels(hub: HubCore, call: Call) -> tuple[int, Any]:
        book, body = rules(hub, call), call.body
        items = body.get("channel_preferences") if isinstance(body, dict) else None
        prefs = changed(hub, call, lambda p: book.set_channels(p, items))
        return 202, {"channel_preferences": book.channels_json(prefs)}

    def categories(hub: HubCore, call: Call) -> tuple[int, Any]:
        prefs, book = current(hub, call), rules(hub, call)
        every = [book.category_json(prefs, c) for c in book.categories]
        return 200, offset_page(every, call.query)

    def category(hub: HubCore, call: Call) -> tuple[int, Any]:
        prefs, book, slug = current(hub, call), rules(hub, call), call.ids["category"]
        book.require_category(slug)
        return 200, book.category_json(prefs, slug)

    def update_category(hub: HubCore, call: Call) -> tuple[int, Any]:
        book, slug = rules(hub, call), call.ids["category"]
        prefs = changed(hub, call, lambda p: book.set_category(p, slug, call.body))
        return 202, book.category_json(prefs, slug)

    return {
        endpoints.full: full,
        endpoints.update_full: update_full,
        endpoints.channels: channels,
        endpoints.update_channels: update_channels,
        endpoints.categories: categories,
        endpoints.category: category,
        endpoints.update_category: update_category,
    }
