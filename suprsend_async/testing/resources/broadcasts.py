"""Where the emulator answers list broadcasts: ``{workspace}/broadcast/``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ..._values.errors import SuprsendValidationError
from ..._values.rules import broadcast_body
from .._routing import Call, HubCore, Reject, Routes
from ._collection import StoreError
from ._run_store import parse_delay

__all__ = ["ROUTES", "ProcessedBroadcast"]


@attrs.frozen(kw_only=True)
class ProcessedBroadcast:
    """A list broadcast (``POST {workspace}/broadcast/``) the emulator accepted and processed."""

    workspace: str
    list_id: str
    template: str
    notification_category: str
    data: Mapping[str, Any]
    channels: list[str] | None
    idempotency_key: str | None
    tenant_id: str | None
    message_id: str
    body: Mapping[str, Any] = attrs.field(repr=False)


def _broadcast(hub: HubCore, call: Call) -> tuple[int, Any]:
    """``{workspace}/broadcast/``: one broadcast to a subscriber list."""
    hub.stats.records_received += 1
    try:
        broadcast_body(call.body, hub.limits)
        parse_delay(call.body.get("delay"))
    except (SuprsendValidationError, StoreError) as exc:
        hub.stats.rejected_records += 1
        raise Reject(400, str(exc), "validation_error") from None
    record = call.body
    message_id, key, new = hub._accept(call.workspace, record, record.get("$insert_id"))
    if new:
        hub.stats.processed_broadcasts += 1
        store = hub.store(call.workspace)
        template = record["template"].strip()
        store.templates.add(template)
        # Its recipients are the list's members when it runs (now, unless delayed).
        store.runs.start(
            "broadcast",
            record["list_id"].strip(),
            [],
            body=record,
            template=template,
            category=record["notification_category"].strip(),
        )
        if hub.keep_records:
            hub.broadcasts.append(
                ProcessedBroadcast(
                    workspace=call.workspace,
                    list_id=record["list_id"].strip(),
                    template=record["template"].strip(),
                    notification_category=record["notification_category"].strip(),
                    data=record.get("data") or {},
                    channels=record.get("channels"),
                    idempotency_key=key,
                    tenant_id=record.get("tenant_id"),
                    message_id=message_id,
                    body=record,
                )
            )
    return 202, {"status": "success", "message_id": message_id}


ROUTES: Routes = {
    "/{workspace}/broadcast/": {"POST": _broadcast},
}
