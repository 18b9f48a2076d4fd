"""Where the emulator answers the messages API (``v1/message/``, ``v1/bulk/message/``) and
run cancellation (``v1/workflow_run/cancel/``, ``v1/broadcast_run/cancel/``).

Messages and runs are the workspace's :class:`~._run_store.RunStore`: every
processed trigger and broadcast made them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..._wire.endpoints import MESSAGES, RUNS
from .._routing import Call, EndpointRoutes, HubCore
from ._collection import StoreError
from ._run_store import MULTI_VALUE_FILTERS, RunKind

__all__ = ["ROUTES"]

_WORKFLOW_FILTERS = ("execution_id", "recipients", "idempotency_key", "workflow_slug")
_BROADCAST_FILTERS = ("execution_id", "list_id", "idempotency_key")


def _list(hub: HubCore, call: Call) -> tuple[int, Any]:
    filters: dict[str, list[str]] = {}
    for key, values in call.query_lists.items():
        name = key[:-2] if key.endswith("[]") and key[:-2] in MULTI_VALUE_FILTERS else key
        filters.setdefault(name, []).extend(values)
    return 200, hub.store(call.workspace).runs.messages_page(filters)


def _bulk_update(hub: HubCore, call: Call) -> tuple[int, Any]:
    return 202, hub.store(call.workspace).runs.bulk_update(call.body)


def _cancel(kind: RunKind, naming: tuple[str, ...]) -> Any:
    def handler(hub: HubCore, call: Call) -> tuple[int, Any]:
        body = call.body
        if not isinstance(body, Mapping) or not any(body.get(name) for name in naming):
            raise StoreError(400, f"at least one filter is required: {', '.join(naming)}")
        filters = {name: body.get(name) for name in (*naming, "tenant_id")}
        return 200, {"execution_ids": hub.store(call.workspace).runs.cancel(kind, filters)}

    return handler


ROUTES: EndpointRoutes = {
    MESSAGES.list: _list,
    MESSAGES.bulk_update: _bulk_update,
    RUNS.cancel_workflows: _cancel("workflow", _WORKFLOW_FILTERS),
    RUNS.cancel_broadcasts: _cancel("broadcast", _BROADCAST_FILTERS),
}
