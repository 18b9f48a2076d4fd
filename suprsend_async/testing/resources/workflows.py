"""Where the emulator answers workflow triggers: ``trigger/`` (one or a bulk array)
and the legacy dynamic workflows on ``{workspace}/trigger/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ..._values.errors import SuprsendValidationError
from ..._values.rules import dynamic_trigger_body, trigger_body
from .._routing import Call, HubCore, Reject, Routes, bulk_records, record_ok, single_answer
from ._collection import StoreError
from ._run_store import parse_delay

__all__ = ["ROUTES", "ProcessedTrigger"]


@attrs.frozen(kw_only=True)
class ProcessedTrigger:
    """A workflow trigger the emulator accepted and processed.

    A dynamic workflow (the legacy ``{workspace}/trigger/`` path) has its
    ``name`` as :attr:`workflow`, its ``users`` as :attr:`recipients`, and a
    :attr:`template`.
    """

    workspace: str
    workflow: str
    recipients: list[Any]
    actor: Any
    data: Mapping[str, Any]
    idempotency_key: str | None
    tenant_id: str | None
    cancellation_key: str | None
    message_id: str
    body: Mapping[str, Any] = attrs.field(repr=False)
    template: str | None = None
    notification_category: str | None = None


# -- route handlers -------------------------------------------------------------------


def _triggers(hub: HubCore, call: Call) -> tuple[int, Any]:
    """``trigger/``: one workflow trigger, or an array (one result per record, 207)."""
    if isinstance(call.body, list):
        records = bulk_records(call.body, hub.limits.max_records_per_request)
        results = []
        for record in records:
            hub.stats.records_received += 1
            results.append(_trigger(hub, call.workspace, record)[1])
        return 207, {"status": "success", "records": results}
    hub.stats.records_received += 1
    return single_answer(*_trigger(hub, call.workspace, call.body))


def _dynamic_triggers(hub: HubCore, call: Call) -> tuple[int, Any]:
    """``{workspace}/trigger/``: dynamic workflows, one or an array (taken whole)."""
    many = isinstance(call.body, list)
    records = bulk_records(call.body, hub.limits.max_records_per_request) if many else [call.body]
    hub.stats.records_received += len(records)
    for i, record in enumerate(records):
        try:
            dynamic_trigger_body(record, hub.limits)
            parse_delay(record.get("delay"))
        except (SuprsendValidationError, StoreError) as exc:
            hub.stats.rejected_records += len(records)
            where = f"records[{i}]." if many else ""
            raise Reject(400, f"{where}{exc}", "validation_error") from None
    results = [_dynamic_trigger(hub, call.workspace, record) for record in records]
    if many:
        return 202, {"status": "success", "records": results}
    return single_answer(202, results[0])


ROUTES: Routes = {
    "/trigger/": {"POST": _triggers},
    "/{workspace}/trigger/": {"POST": _dynamic_triggers},
}


# -- processing -----------------------------------------------------------------------


def _trigger(hub: HubCore, workspace: str, record: Any) -> tuple[int, Any]:
    try:
        trigger_body(record, hub.limits)
    except SuprsendValidationError as exc:
        return hub._rejected(400, str(exc), "validation_error")
    slug = record["workflow"].strip()
    if hub.workflows is not None and slug not in hub.workflows:
        return hub._rejected(404, f"workflow '{slug}' not found", "not_found")
    message_id = _process(
        hub,
        workspace,
        record,
        workflow=slug,
        recipients=record["recipients"],
        actor=record.get("actor"),
        cancellation_key=record.get("cancellation_key"),
    )
    return 202, record_ok(message_id)


def _dynamic_trigger(hub: HubCore, workspace: str, record: Any) -> dict[str, Any]:
    # A dynamic workflow is defined by the request itself: no slug to look up.
    message_id = _process(
        hub,
        workspace,
        record,
        workflow=record["name"].strip(),
        recipients=record["users"],
        actor=None,
        cancellation_key=None,
        template=record["template"].strip(),
        notification_category=record["notification_category"].strip(),
    )
    return record_ok(message_id)


def _process(hub: HubCore, workspace: str, record: Any, *, workflow: str, **fields: Any) -> str:
    """Accept a checked trigger (a duplicate key is not run again); its message id."""
    message_id, key, new = hub._accept(workspace, record, None)
    if new:
        hub.stats.processed_triggers += 1
        store = hub.store(workspace)
        template = fields.get("template")
        if template is not None:
            store.templates.add(template)
        store.runs.start(
            "workflow",
            workflow,
            fields["recipients"],
            body=record,
            template=template,
            category=fields.get("notification_category"),
        )
        if hub.keep_records:
            hub.triggers.append(
                ProcessedTrigger(
                    workspace=workspace,
                    workflow=workflow,
                    data=record.get("data") or {},
                    idempotency_key=key,
                    tenant_id=record.get("tenant_id"),
                    message_id=message_id,
                    body=record,
                    **fields,
                )
            )
    return message_id
