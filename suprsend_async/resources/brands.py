"""``client.brands``: tenants under their older name, with the official SDK's names.

The official SDK still calls ``v1/brand/...``, and so does this namespace;
the hub's OpenAPI document describes only ``v1/tenant/...`` now
(``client.tenants``), and both paths name the same records, the brand paths
calling their keys ``brand_id`` and ``brand_name``. New code can use
``client.tenants``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._core.pagination import OffsetPaginator
from .._core.retry import RetryPolicy
from .._values.answers import BrandJSON
from .._values.rules import page_window
from .._wire.endpoints import BRANDS
from ._base import Resource

__all__ = ["Brands"]


class Brands(Resource):
    """The brands API (tenants, on the official SDK's ``v1/brand/`` paths: the hub's OpenAPI
    document describes them as tenants now, see ``client.tenants``)."""

    def list(
        self, limit: int = 20, offset: int = 0, *, retry: RetryPolicy | None = None
    ) -> OffsetPaginator[BrandJSON]:
        """Brands from ``offset``, ``limit`` (1 to 1,000) a page."""
        return self._offset_paginated(BRANDS.list.at(), page_window(limit, offset), retry)

    async def get(self, brand_id: str, *, retry: RetryPolicy | None = None) -> BrandJSON:
        return await self._read(BRANDS.get.at(brand_id=brand_id), None, retry)

    async def upsert(
        self,
        brand_id: str,
        brand_payload: Mapping[str, Any] | None,
        *,
        retry: RetryPolicy | None = None,
    ) -> BrandJSON:
        """Create the brand (``brand_name`` required) or update the fields given."""
        return await self._write(BRANDS.upsert.at(brand_id=brand_id), brand_payload, None, retry)
