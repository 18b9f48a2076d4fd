"""Where the emulator answers the read-only templates API (``v1/template/...``), from the
workspace's :class:`~._template_store.TemplateStore`."""

from __future__ import annotations

from ..._wire.endpoints import TEMPLATES
from .._routing import Call, EndpointRoutes, HubCore
from ._template_store import TemplateStore

__all__ = ["ROUTES"]


def _templates(hub: HubCore, call: Call) -> TemplateStore:
    return hub.store(call.workspace).templates


ROUTES: EndpointRoutes = {
    TEMPLATES.list: lambda hub, call: (200, _templates(hub, call).page(call.query)),
    TEMPLATES.get: lambda hub, call: (
        200,
        _templates(hub, call).templates.require(call.ids["template_slug"]),
    ),
    TEMPLATES.channel: lambda hub, call: (
        200,
        _templates(hub, call).channel(call.ids["template_slug"], call.ids["channel_slug"]),
    ),
}
