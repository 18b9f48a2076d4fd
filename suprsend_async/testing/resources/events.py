"""Where the emulator answers events: ``v2/event/``, ``v2/bulk/event/`` and ``event/``.

``event/`` also takes identity events (a user edit as ``$user_operations``,
one object or an array, as the official Node and Python SDKs send them); they
are applied to the workspace's users (``_user_store``), the same store the
users routes (``users``) serve.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ..._values.errors import SuprsendValidationError
from ..._values.rules import event_body
from .._bodies import (
    MAX_IDENTITY_EVENT_BYTES,
    MAX_IDENTITY_EVENTS_PER_REQUEST,
    identity_event_body,
    is_identity_event,
)
from .._codec import dumps as _dumps
from .._routing import (
    Call,
    HubCore,
    Reject,
    Routes,
    bulk_records,
    check_single_size,
    record_error,
    record_ok,
    single_answer,
)
from ._user_store import UserError

__all__ = ["BULK_PATHS", "ROUTES", "ProcessedEvent", "ProcessedIdentityEvent"]


@attrs.frozen(kw_only=True)
class ProcessedEvent:
    """An event the emulator accepted and processed (a duplicate key is not)."""

    workspace: str
    event: str
    distinct_id: str
    properties: Mapping[str, Any]
    idempotency_key: str | None
    tenant_id: str | None
    brand_id: str | None
    insert_id: str | None
    message_id: str
    body: Mapping[str, Any] = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class ProcessedIdentityEvent:
    """An identity event (a user edit: ``$user_operations`` on ``event/``) the emulator accepted."""

    workspace: str
    distinct_id: str
    operations: list[Mapping[str, Any]]
    tenant_id: str | None
    message_id: str
    body: Mapping[str, Any] = attrs.field(repr=False)


# -- route handlers -------------------------------------------------------------------


def _signed_event(hub: HubCore, call: Call) -> tuple[int, Any]:
    """``v2/event/``: one event, the official SDKs' path."""
    if not isinstance(call.body, dict):
        raise Reject(400, "an event must be a JSON object", "validation_error")
    check_single_size(call.raw, hub.limits.max_single_event_bytes, "event")
    hub.stats.records_received += 1
    return single_answer(*_event(hub, call, call.body, require_env=call.signed))


def _bulk_events(hub: HubCore, call: Call) -> tuple[int, Any]:
    """``v2/bulk/event/``: an array of events, one result per record (207)."""
    records = bulk_records(call.body, hub.limits.max_records_per_request)
    check_size = len(call.raw) > hub.limits.max_single_event_bytes
    results = []
    for record in records:
        hub.stats.records_received += 1
        if check_size and len(_dumps(record)) > hub.limits.max_single_event_bytes:
            hub.stats.rejected_records += 1
            results.append(record_error(413, "event is over the size limit", "too_large"))
            continue
        results.append(_event(hub, call, record, require_env=call.signed)[1])
    return 207, {"status": "success", "records": results}


def _events(hub: HubCore, call: Call) -> tuple[int, Any]:
    """``event/``: an event or an identity event, or an array of them.

    The official SDKs post arrays here (Node's bulk events, both SDKs'
    bulk user edits) and read only the status, so an array is taken whole
    or refused whole: a 207 with failed records would read as success.
    """
    many = isinstance(call.body, list)
    if many:
        records = bulk_records(call.body, MAX_IDENTITY_EVENTS_PER_REQUEST)
        events = sum(1 for r in records if not is_identity_event(r))
        if events > hub.limits.max_records_per_request:
            raise Reject(
                400,
                f"an array may carry at most {hub.limits.max_records_per_request} events, "
                f"got {events}",
                "validation_error",
            )
    else:
        records = [call.body]
    hub.stats.records_received += len(records)
    for i, record in enumerate(records):
        where = f"records[{i}]." if many else ""
        try:
            _check_event_or_identity(hub, call, record)
        except SuprsendValidationError as exc:
            hub.stats.rejected_records += len(records)
            raise Reject(400, f"{where}{exc}", "validation_error") from None
        limit = MAX_IDENTITY_EVENT_BYTES if is_identity_event(record) else None
        limit = limit or hub.limits.max_single_event_bytes
        size = len(_dumps(record)) if many else len(call.raw)
        if size > limit:
            hub.stats.rejected_records += len(records)
            raise Reject(
                413,
                f"{where}body is {size} bytes, over the limit of {limit}",
                "payload_too_large",
            )
    results = [_process_event_or_identity(hub, call, record) for record in records]
    if many:
        return 202, {"status": "success", "records": results}
    return single_answer(202, results[0])


ROUTES: Routes = {
    "/v2/event/": {"POST": _signed_event},
    "/v2/bulk/event/": {"POST": _bulk_events},
    "/event/": {"POST": _events},
}
# Paths whose error answers carry ``"records": []`` (see ``error_body``).
BULK_PATHS = frozenset({"/v2/bulk/event/"})


# -- processing -----------------------------------------------------------------------


def _check_env(hub: HubCore, call: Call, record: Mapping[str, Any]) -> None:
    if record.get("env") not in (None, *hub._names(call.workspace)):
        raise SuprsendValidationError("env", "does not name the authenticated workspace")


def _check_event_or_identity(hub: HubCore, call: Call, record: Any) -> None:
    if is_identity_event(record):
        identity_event_body(record, hub.limits)
    else:
        event_body(record, hub.limits, require_env=False)
    _check_env(hub, call, record)


def _process_event_or_identity(hub: HubCore, call: Call, record: Any) -> dict[str, Any]:
    if is_identity_event(record):
        hub.stats.identity_events += 1
        message_id = hub._message_id(call.workspace, None)
        try:
            hub._apply_identity_event(call.workspace, record, message_id)
        except UserError as error:
            hub.stats.rejected_records += 1
            return record_error(error.status, error.message, "validation_error")
        return record_ok(message_id)
    return _process_event(hub, call.workspace, record)


def _event(hub: HubCore, call: Call, record: Any, *, require_env: bool) -> tuple[int, Any]:
    try:
        event_body(record, hub.limits, require_env=require_env)
        _check_env(hub, call, record)
    except SuprsendValidationError as exc:
        return hub._rejected(400, str(exc), "validation_error")
    return 202, _process_event(hub, call.workspace, record)


def _process_event(hub: HubCore, workspace: str, record: Any) -> dict[str, Any]:
    message_id, key, new = hub._accept(workspace, record, record.get("$insert_id"))
    if new:
        hub.stats.processed_events += 1
        if hub.keep_records:
            hub.events.append(
                ProcessedEvent(
                    workspace=workspace,
                    event=record["event"].strip(),
                    distinct_id=record["distinct_id"].strip(),
                    properties=record.get("properties") or {},
                    idempotency_key=key,
                    tenant_id=record.get("tenant_id"),
                    brand_id=record.get("brand_id"),
                    insert_id=record.get("$insert_id"),
                    message_id=message_id,
                    body=record,
                )
            )
    return record_ok(message_id)
