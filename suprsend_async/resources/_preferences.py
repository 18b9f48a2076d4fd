"""The preference calls, written once and mounted under every owner (users, objects...).

An owner's resource keeps its own typed signatures with the official SDK's
names (``users.get_full_preference(distinct_id, ...)``,
``objects.get_full_preference(object_type, object_id, ...)``) and hands its
ids to one :class:`Preferences`, built on that owner's
:class:`~suprsend_async._wire.endpoints.PreferenceEndpoints`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._core.retry import RetryPolicy
from .._values.answers import (
    CategoryPreferenceJSON,
    ChannelPreferencesJSON,
    FullPreferenceJSON,
    OffsetPage,
)
from .._wire.endpoints import PreferenceEndpoints
from ._base import Resource

__all__ = ["Preferences"]

Ids = Mapping[str, object]
Options = Mapping[str, Any] | None


class Preferences:
    """Every preference call of one owner kind, on its resource's request path."""

    def __init__(self, resource: Resource, endpoints: PreferenceEndpoints) -> None:
        self._resource, self._endpoints = resource, endpoints

    async def full(
        self, ids: Ids, options: Options, retry: RetryPolicy | None
    ) -> FullPreferenceJSON:
        return await self._resource._read(self._endpoints.full.at(**ids), options, retry)

    async def update_full(
        self, ids: Ids, payload: Mapping[str, Any], options: Options, retry: RetryPolicy | None
    ) -> FullPreferenceJSON:
        call = self._endpoints.update_full.at(**ids)
        return await self._resource._write(call, payload, options, retry)

    async def channels(
        self, ids: Ids, options: Options, retry: RetryPolicy | None
    ) -> ChannelPreferencesJSON:
        return await self._resource._read(self._endpoints.channels.at(**ids), options, retry)

    async def update_channels(
        self, ids: Ids, payload: Mapping[str, Any], options: Options, retry: RetryPolicy | None
    ) -> ChannelPreferencesJSON:
        call = self._endpoints.update_channels.at(**ids)
        return await self._resource._write(call, payload, options, retry)

    async def categories(
        self, ids: Ids, options: Options, retry: RetryPolicy | None
    ) -> OffsetPage[CategoryPreferenceJSON]:
        return await self._resource._read(self._endpoints.categories.at(**ids), options, retry)

    async def category(
        self, ids: Ids, category: str, options: Options, retry: RetryPolicy | None
    ) -> CategoryPreferenceJSON:
        call = self._endpoints.category.at(**ids, category=category)
        return await self._resource._read(call, options, retry)

    async def update_category(
        self,
        ids: Ids,
        category: str,
        payload: Mapping[str, Any],
        options: Options,
        retry: RetryPolicy | None,
    ) -> CategoryPreferenceJSON:
        call = self._endpoints.update_category.at(**ids, category=category)
        return await self._resource._write(call, payload, options, retry)
