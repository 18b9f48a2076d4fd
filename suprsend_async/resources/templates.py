"""``client.templates``: the workspace's templates, read-only (no official SDK has them).

``list(options)`` is an offset paginator (``await`` the first page, ``async for``
every template); options are the hub's
filters (``is_active``, ``is_archived``, ``has_channels_any``,
``has_tag_ids_any``) and ``limit`` / ``offset``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._core.pagination import OffsetPaginator
from .._core.retry import RetryPolicy
from .._values.audience_answers import TemplateChannelJSON, TemplateJSON
from .._wire.endpoints import TEMPLATES
from ._base import Resource

__all__ = ["Templates"]

Options = Mapping[str, Any] | None


class Templates(Resource):
    def list(
        self, options: Options = None, *, retry: RetryPolicy | None = None
    ) -> OffsetPaginator[TemplateJSON]:
        """``await`` for the first page, ``async for`` every template."""
        return self._offset_paginated(TEMPLATES.list.at(), options, retry)

    async def get(
        self, template_slug: str, options: Options = None, *, retry: RetryPolicy | None = None
    ) -> TemplateJSON:
        call = TEMPLATES.get.at(template_slug=template_slug)
        return await self._read(call, options, retry)

    async def get_channel(
        self,
        template_slug: str,
        channel_slug: str,
        options: Options = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> TemplateChannelJSON:
        """One channel's content: ``get_channel("task-reminder", "email")``."""
        call = TEMPLATES.channel.at(template_slug=template_slug, channel_slug=channel_slug)
        return await self._read(call, options, retry)
