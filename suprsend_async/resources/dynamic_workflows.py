"""The dynamic (legacy) workflow trigger: ``client.trigger_workflow(Workflow(...))`` and
``client.bulk_workflows.new_instance()``, as in the official SDK.

A :class:`Workflow` is a single-step workflow defined by the request itself
(``name``, ``template``, ``notification_category``, ``users``...), posted to
``{workspace}/trigger/``. One is a record, like an event: retried only with an
idempotency key. In bulk they go through the bulk engine, 100 a request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .._core.bulk import BulkItem, RecordKind
from .._core.context import ClientContext
from .._core.retry import RetryPolicy
from .._core.single import fresh_key, send_record
from .._values.body_requests import Workflow
from .._values.errors import SuprsendValidationError
from .._wire.responses import TriggerResponse
from ._base import TriggeredInstance, bulk_record, workspace_segment

__all__ = ["BulkWorkflows", "BulkWorkflowsFactory", "trigger_workflow"]

ROUTE = "{workspace}/trigger/"


def _workflow(item: Any, field: str) -> Workflow:
    if isinstance(item, Workflow):
        return item
    if isinstance(item, Mapping):  # the SDK's trigger_workflow(data) takes a dict too
        return Workflow(item)
    raise SuprsendValidationError(field, f"must be a Workflow or a dict, got {type(item).__name__}")


def _prepare(client: ClientContext, index: int, item: Any) -> BulkItem:
    workflow = bulk_record(client, item, Workflow, Workflow)
    return BulkItem.of(index, workflow, client._serializer.encode_workflow(workflow))


_RECORDS = RecordKind(
    "bulk_workflows.trigger",
    ROUTE,
    _prepare,
    lambda limits: limits.max_records_per_request,
    lambda limits: limits.workflow_record_overhead_bytes,
)


async def trigger_workflow(
    client: ClientContext, workflow: Workflow | Mapping[str, Any], retry: RetryPolicy | None
) -> TriggerResponse:
    request = _workflow(workflow, "workflow")
    record = client._serializer.encode_workflow(
        request, idempotency_key=fresh_key(client, request.idempotency_key is not None)
    )
    path = f"{workspace_segment(client, 'a dynamic workflow')}/trigger/"
    return await send_record(client, "trigger_workflow", path, record, retry)


class BulkWorkflows(TriggeredInstance):
    """Dynamic workflows collected with ``append``; ``await trigger()`` sends them all."""

    def __init__(self, client: ClientContext) -> None:
        super().__init__(client)
        path = f"{workspace_segment(client, 'a dynamic workflow')}/trigger/"
        self._kind = attrs.evolve(_RECORDS, path=path, route=ROUTE)

    def append(self, *workflows: Workflow | Mapping[str, Any]) -> None:
        """Add workflows (or their dict bodies). A bad one is not refused here: it
        comes back in ``failed_records`` with the reason."""
        self._records.extend(workflows)


class BulkWorkflowsFactory:
    """``client.bulk_workflows``: ``new_instance()``, as in the official SDK."""

    def __init__(self, client: ClientContext) -> None:
        self._client = client

    def new_instance(self) -> BulkWorkflows:
        return BulkWorkflows(self._client)
