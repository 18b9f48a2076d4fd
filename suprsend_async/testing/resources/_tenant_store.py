"""Tenants (and brands, their older name) as the emulator keeps them, with the preference
settings each tenant gives the workspace's categories.

One collection serves both paths: the hub renamed brands to tenants, so a brand
upserted on ``v1/brand/{brand_id}/`` is the tenant ``v1/tenant/{tenant_id}/``
reads, its ``brand_id``/``brand_name`` being ``tenant_id``/``tenant_name``.
Bodies follow the OpenAPI document: ``properties`` and ``social_links`` are
merged on their first-level keys, the other fields replaced when given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ._collection import Collection, StoreError
from ._preferences import PreferenceRules
from ._profile import CHANNELS, now

__all__ = ["StoredTenant", "TenantStore"]

# The fields a tenant has besides its id, name, properties and links, with their defaults.
_FIELDS: Mapping[str, Any] = {
    "logo": None,
    "timezone": None,
    "blocked_channels": None,
    "embedded_preference_url": None,
    "hosted_preference_domain": None,
    "preference_page_url": None,
    "primary_color": None,
    "secondary_color": None,
    "tertiary_color": None,
}
_MERGED = ("properties", "social_links")
_PREFERENCES = ("opt_in", "opt_out", "cant_unsubscribe")
_CHANNEL_LISTS = ("blocked_channels", "mandatory_channels", "opt_in_channels")
_FLAGS = ("enabled_for_tenant", "visible_to_subscriber")
# The root category a workspace category sits under (the rest are transactional).
_ROOTS = {"promotions": "promotional"}


@attrs.define
class StoredTenant:
    tenant_id: str
    name: str | None = None
    fields: dict[str, Any] = attrs.field(factory=lambda: dict(_FIELDS))
    properties: dict[str, Any] = attrs.field(factory=dict)
    social_links: dict[str, Any] = attrs.field(factory=dict)
    updated_at: str = attrs.field(factory=now)
    # category slug -> what this tenant set for it (only the keys it set)
    categories: dict[str, dict[str, Any]] = attrs.field(factory=dict)

    def to_json(self, kind: str = "tenant") -> dict[str, Any]:
        """As the tenant paths answer (``kind="brand"``: as the brand paths name the keys)."""
        return {
            f"{kind}_id": self.tenant_id,
            f"{kind}_name": self.name,
            **self.fields,
            "social_links": dict(self.social_links),
            "properties": dict(self.properties),
            "updated_at": self.updated_at,
        }

    def upsert(self, body: Any, kind: str) -> None:
        if not isinstance(body, Mapping):
            raise StoreError(400, "the body must be a JSON object")
        name = body.get(f"{kind}_name", self.name)
        if not isinstance(name, str) or not name.strip():
            raise StoreError(400, f"{kind}_name: This field is required (a non-empty string)")
        for key in _MERGED:
            value = body.get(key)
            if value is not None and not isinstance(value, Mapping):
                raise StoreError(400, f"{key}: must be a JSON object")
        self.name = name
        for key in _FIELDS.keys() & body.keys():
            self.fields[key] = body[key]
        self.properties.update(body.get("properties") or {})
        self.social_links.update(body.get("social_links") or {})
        self.updated_at = now()


class TenantStore:
    """One workspace's tenants (``tenants``, by id: ``hub.tenants["acme"]`` in a test) and
    how their preference settings read and change against the workspace's categories."""

    def __init__(self, rules: PreferenceRules) -> None:
        self.rules = rules
        self.tenants: Collection[str, StoredTenant] = Collection(
            StoredTenant, lambda tenant_id: f"tenant '{tenant_id}'"
        )

    def upsert(self, tenant_id: str, body: Any, kind: str = "tenant") -> StoredTenant:
        existing = self.tenants.get(tenant_id)
        if existing is None:
            # Checked before it is made: a refused create leaves nothing behind.
            StoredTenant(tenant_id).upsert(body, kind)
        tenant = self.tenants.get_or_create(tenant_id)
        tenant.upsert(body, kind)
        return tenant

    # -- a tenant's preference settings ---------------------------------------------------------

    def category_json(self, tenant: StoredTenant, category: str) -> dict[str, Any]:
        self.rules.require_category(category)
        default = self.rules.categories[category]
        setting = tenant.categories.get(category, {})
        return {
            "name": category.replace("-", " ").title(),
            "category": category,
            "description": f"{category} notifications",
            "tags": [],
            "effective_tags": [],
            "root_category": _ROOTS.get(category, "transactional"),
            "default_preference": default,
            "default_mandatory_channels": None,
            "default_opt_in_channels": None,
            "enabled_for_tenant": setting.get("enabled_for_tenant", True),
            "visible_to_subscriber": setting.get("visible_to_subscriber", True),
            "preference": setting.get("preference"),
            "mandatory_channels": setting.get("mandatory_channels"),
            "opt_in_channels": setting.get("opt_in_channels"),
            "blocked_channels": setting.get("blocked_channels"),
            "updated_at": setting.get("updated_at"),
        }

    def categories_json(self, tenant: StoredTenant) -> list[dict[str, Any]]:
        return [self.category_json(tenant, c) for c in self.rules.categories]

    def full_json(self, tenant: StoredTenant) -> dict[str, Any]:
        """Every category, by root category, each root one section (the emulator has no more)."""
        roots: dict[str, list[dict[str, Any]]] = {}
        for category in self.categories_json(tenant):
            roots.setdefault(category["root_category"], []).append(category)
        return {
            "root_categories": [
                {
                    "root_category": root,
                    "sections": [
                        {
                            "name": None,
                            "slug": None,
                            "description": None,
                            "tags": [],
                            "categories": categories,
                        }
                    ],
                }
                for root, categories in roots.items()
            ]
        }

    def set_category(self, tenant: StoredTenant, category: str, body: Any) -> None:
        """Apply what the body sets (the keys it gives), refusing it whole if one is wrong."""
        self.rules.require_category(category)
        if not isinstance(body, Mapping):
            raise StoreError(400, "the body must be a JSON object")
        setting: dict[str, Any] = {}
        if body.get("preference") is not None:
            if body["preference"] not in _PREFERENCES:
                raise StoreError(400, f"preference: must be one of {', '.join(_PREFERENCES)}")
            setting["preference"] = body["preference"]
        for key in _FLAGS:
            if body.get(key) is not None:
                if not isinstance(body[key], bool):
                    raise StoreError(400, f"{key}: must be a boolean")
                setting[key] = body[key]
        for key in _CHANNEL_LISTS:
            if key in body:
                value = body[key]
                if value is not None and (
                    not isinstance(value, list) or any(c not in CHANNELS for c in value)
                ):
                    raise StoreError(400, f"{key}: must be null or a list of {CHANNELS}")
                setting[key] = value
        tenant.categories.setdefault(category, {}).update(setting, updated_at=now())
