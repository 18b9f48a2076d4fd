"""The templates the emulator knows, by slug: those it was given
(``HubEmulator(templates=[...])``), one per declared workflow slug, and every
template a processed dynamic workflow or broadcast named. Each has one
``email`` channel; answers have the reference's shapes.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ._collection import Collection, StoreError, offset_page

__all__ = ["TemplateStore"]

_CREATED = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc).isoformat()


def _channel(slug: str, channel: str) -> dict[str, Any]:
    return {
        "id": f"{slug}:{channel}",
        "channel": {"name": channel.title(), "slug": channel, "is_template_approval_needed": False},
        "is_active": True,
        "is_enabled": True,
        "created_at": _CREATED,
        "updated_at": _CREATED,
        "disabled_languages": [],
        "versions": [],
    }


def _template(slug: str) -> dict[str, Any]:
    return {
        "id": slug,
        "name": slug,
        "slug": slug,
        "description": None,
        "is_active": True,
        "default_language": {"name": "English", "slug": "en"},
        "created_at": _CREATED,
        "updated_at": _CREATED,
        "updated_by": None,
        "last_triggered_at": None,
        "is_auto_translate_enabled": False,
        "enabled_languages": ["en"],
        "channels": [_channel(slug, "email")],
        "tags": [],
    }


class TemplateStore:
    """The templates of one workspace, by slug (``hub.store(key).templates``)."""

    def __init__(self, slugs: Iterable[str] = ()) -> None:
        self.templates: Collection[str, dict[str, Any]] = Collection(
            _template, lambda slug: f"template {slug!r}"
        )
        for slug in slugs:
            self.add(slug)

    def add(self, slug: str) -> None:
        self.templates.get_or_create(slug)

    def __contains__(self, slug: object) -> bool:
        return slug in self.templates

    def __iter__(self) -> Iterator[str]:
        return iter(self.templates)

    def page(self, params: Mapping[str, str]) -> dict[str, Any]:
        rows = [self.templates[slug] for slug in self.templates]
        if params.get("is_active") == "false" or params.get("is_archived") == "true":
            rows = []
        return offset_page(rows, params)

    def channel(self, slug: str, channel: str) -> dict[str, Any]:
        template = self.templates.require(slug)
        for found in template["channels"]:
            if found["channel"]["slug"] == channel:
                return dict(found)
        raise StoreError(404, f"channel {channel!r} not found for template {slug!r}")
