"""``client.tenants``: the hub's tenants, with the official SDK's names and parameters.

A tenant carries what the notifications sent for it are branded with (name,
logo, colours, links, properties) and the preference settings it gives the
workspace's categories. ``client.brands`` is the same records under their
older name (``resources.brands``).

``list`` and ``list_preference_categories`` return an
:class:`OffsetPaginator`: ``await`` it for the page the official SDK returns,
``async for`` it for every item from ``offset`` on. Every answer is the
hub's JSON (a plain dict), typed as ``suprsend_async.types`` declares it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._core.pagination import OffsetPaginator
from .._core.retry import RetryPolicy
from .._values.answers import (
    DeletedJSON,
    OffsetPage,
    TenantCategoryJSON,
    TenantFullPreferenceJSON,
    TenantJSON,
)
from .._values.rules import page_window
from .._wire.endpoints import TENANTS
from ._base import Resource

__all__ = ["Tenants"]

Options = Mapping[str, Any] | None


class Tenants(Resource):
    """The tenants API. Every method takes ``retry=`` to override the client's policy."""

    def list(
        self, limit: int = 20, offset: int = 0, *, retry: RetryPolicy | None = None
    ) -> OffsetPaginator[TenantJSON]:
        """Tenants from ``offset``, ``limit`` (1 to 1,000) a page."""
        return self._offset_paginated(TENANTS.list.at(), page_window(limit, offset), retry)

    async def get(self, tenant_id: str, *, retry: RetryPolicy | None = None) -> TenantJSON:
        return await self._read(TENANTS.get.at(tenant_id=tenant_id), None, retry)

    async def upsert(
        self,
        tenant_id: str,
        tenant_payload: Mapping[str, Any] | None,
        *,
        retry: RetryPolicy | None = None,
    ) -> TenantJSON:
        """Create the tenant (``tenant_name`` required) or update the fields given:
        ``properties`` and ``social_links`` merged key by key, the others replaced."""
        # (No local holding the call: see Objects.upsert.)
        return await self._write(
            TENANTS.upsert.at(tenant_id=tenant_id), tenant_payload, None, retry
        )

    async def delete(self, tenant_id: str, *, retry: RetryPolicy | None = None) -> DeletedJSON:
        return await self._delete(TENANTS.delete.at(tenant_id=tenant_id), retry)

    # -- preferences: what the tenant sets for each of the workspace's categories --------------

    def list_preference_categories(
        self, tenant_id: str, options: Options = None, *, retry: RetryPolicy | None = None
    ) -> OffsetPaginator[TenantCategoryJSON]:
        """Options: ``limit``, ``offset``, ``tags``, ``locale``, ``include_disabled``."""
        call = TENANTS.preference_categories.at(tenant_id=tenant_id)
        return self._offset_paginated(call, options, retry)

    async def get_preference_category(
        self,
        tenant_id: str,
        category: str,
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> TenantCategoryJSON:
        """Option: ``locale``."""
        call = TENANTS.preference_category.at(tenant_id=tenant_id, category=category)
        return await self._read(call, options, retry)

    async def update_preference_category(
        self,
        tenant_id: str,
        category: str,
        payload: Mapping[str, Any] | None,
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> TenantCategoryJSON:
        """``payload``: ``preference``, ``enabled_for_tenant``, ``visible_to_subscriber``,
        ``mandatory_channels``, ``opt_in_channels``, ``blocked_channels``..."""
        call = TENANTS.update_preference_category.at(tenant_id=tenant_id, category=category)
        return await self._write(call, payload, options, retry)

    # -- beyond the official SDK: the OpenAPI document's other tenant preference calls ---------

    async def get_full_preference(
        self, tenant_id: str, options: Options = None, *, retry: RetryPolicy | None = None
    ) -> TenantFullPreferenceJSON:
        """Every category by root category and section (``GET v1/tenant/{id}/preference/``);
        option ``locale``."""
        call = TENANTS.full_preference.at(tenant_id=tenant_id)
        return await self._read(call, options, retry)

    async def get_default_preference(
        self, tenant_id: str, options: Options = None, *, retry: RetryPolicy | None = None
    ) -> OffsetPage[TenantCategoryJSON]:
        """The tenant's default for every category (``GET v1/tenant/{id}/category/``);
        option ``locale``."""
        return await self._read(TENANTS.default_preference.at(tenant_id=tenant_id), options, retry)

    async def update_default_category_preference(
        self,
        tenant_id: str,
        category: str,
        payload: Mapping[str, Any],
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> TenantCategoryJSON:
        """Set the tenant's default for one category
        (``PATCH v1/tenant/{id}/category/{slug}/``): ``preference``,
        ``visible_to_subscriber``, ``mandatory_channels``, ``opt_in_channels``,
        ``blocked_channels``."""
        call = TENANTS.update_default_category_preference.at(tenant_id=tenant_id, category=category)
        return await self._write(call, payload, options, retry)
