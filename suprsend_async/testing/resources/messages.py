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

# The request bodies' properties in the hub's API reference: (one of these is
# required, as its 400 says; these only narrow). Nothing else is a filter: a
# cancel with another key (tenant_id) is refused, not run with it ignored.
_WORKFLOW_FILTERS = (("execution_id", "recipients", "idempotency_key"), ("workflow_slug",))
_BROADCAST_FILTERS = (("execution_id", "list_id", "idempotency_key"), ())


def _list(hub: HubCore, call: Call) -> tuple[int, Any]:
    filters: dict[str, list[str]] = {}
    for key, values in call.query_lists.items():
        name = key[:-2] if key.endswith("[]") and key[:-2] in MULTI_VALUE_FILTERS else key
        filters.setdefault(name, []).extend(values)
    return 200, hub.store(call.workspace).runs.messages_page(filters)


def _bulk_update(hub: HubCore, call: Call) -> tuple[int, Any]:
    return 202, hub.store(call.workspace).runs.bulk_update(call.body)


def _cancel(kind: RunKind, filters: tuple[tuple[str, ...], tuple[str, ...]]) -> Any:
    required, narrowing = filters
    names = (*required, *narrowing)

    def handler(hub: HubCore, call: Call) -> tuple[int, Any]:
        body = call.body
        if isinstance(body, Mapping):
            for name in body:
                if name not in names:
                    raise StoreError(
                        400, f"{name}: not a filter of this cancel (filters: {', '.join(names)})"
                    )
        if not isinstance(body, Mapping) or not any(body.get(name) for name in required):
            raise StoreError(400, f"at least one filter is required: {', '.join(required)}")
        given = {name: body.get(name) for name in names}
        return 200, {"execution_ids": hub.store(call.workspace).runs.cancel(kind, given)}

    return handler


ROUTES: EndpointRoutes = {
    MESSAGES.list: _list,
    MESSAGES.bulk_update: _bulk_update,
    RUNS.cancel_workflows: _cancel("workflow", _WORKFLOW_FILTERS),
    RUNS.cancel_broadcasts: _cancel("broadcast", _BROADCAST_FILTERS),
}
