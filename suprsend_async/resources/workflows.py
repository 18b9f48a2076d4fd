"""``client.workflows``: workflow triggers, one or in bulk, named as in the official SDK."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import Any

from .._core.bulk import BulkItem, BulkResponse, RecordKind, run_bulk
from .._core.context import ClientContext
from .._core.retry import RetryPolicy
from .._core.single import fresh_key, send_record
from .._values.audience_answers import CancelledRunsJSON
from .._values.errors import SuprsendValidationError
from .._values.models import WorkflowTriggerRequest
from .._wire.endpoints import RUNS
from .._wire.responses import TriggerResponse
from ._base import ProgressHook, Resource, TriggeredInstance, bulk_record
from ._runs import WORKFLOW_FILTERS, cancel_runs

__all__ = ["TRIGGER_PATH", "TRIGGER_RECORDS", "BulkWorkflowsInstance", "Workflows"]

TRIGGER_PATH = "trigger/"


def _prepare_trigger(client: ClientContext, index: int, item: Any) -> BulkItem:
    request = bulk_record(client, item, WorkflowTriggerRequest, WorkflowTriggerRequest.from_body)
    return BulkItem.of(index, request, client._serializer.encode_trigger(request))


# Workflow triggers in bulk, as the bulk engine sends them: the hub counts a
# few bytes per record beyond its JSON.
TRIGGER_RECORDS = RecordKind(
    "workflows.bulk_trigger",
    TRIGGER_PATH,
    _prepare_trigger,
    lambda limits: limits.max_records_per_request,
    lambda limits: limits.workflow_record_overhead_bytes,
)


class BulkWorkflowsInstance(TriggeredInstance):
    """Trigger requests collected with ``append``; ``await trigger()`` sends them all."""

    _kind = TRIGGER_RECORDS

    def append(self, *requests: WorkflowTriggerRequest | dict[str, Any]) -> None:
        """Add trigger requests (or bodies in the official SDK's dict form)."""
        self._records.extend(requests)


class Workflows(Resource):
    """Workflow triggers, one or in bulk, and cancelling runs (no official SDK can)."""

    async def trigger(
        self, request: WorkflowTriggerRequest, *, retry: RetryPolicy | None = None
    ) -> TriggerResponse:
        """Trigger one workflow run. Retried only if it has an idempotency key."""
        if not isinstance(request, WorkflowTriggerRequest):
            raise SuprsendValidationError(
                "request", f"trigger() takes a WorkflowTriggerRequest, got {type(request).__name__}"
            )
        client = self._client
        record = client._serializer.encode_trigger(
            request, idempotency_key=fresh_key(client, request.idempotency_key is not None)
        )
        return await send_record(client, "workflows.trigger", TRIGGER_PATH, record, retry)

    def bulk_trigger_instance(self) -> BulkWorkflowsInstance:
        return BulkWorkflowsInstance(self._client)

    async def bulk_trigger(
        self,
        requests: Iterable[WorkflowTriggerRequest | dict[str, Any]]
        | AsyncIterable[WorkflowTriggerRequest | dict[str, Any]],
        *,
        max_concurrency: int | None = None,
        retry: RetryPolicy | None = None,
        on_progress: ProgressHook | None = None,
    ) -> BulkResponse:
        """Stream any (async) iterable of requests; memory is bounded by the concurrency."""
        return await run_bulk(
            self._client,
            requests,
            kind=TRIGGER_RECORDS,
            max_concurrency=max_concurrency,
            retry=retry,
            on_progress=on_progress,
        )

    async def cancel(
        self,
        *,
        execution_id: str | None = None,
        recipients: list[str] | None = None,
        idempotency_key: str | None = None,
        workflow_slug: str | None = None,
        tenant_id: None = None,
        retry: RetryPolicy | None = None,
    ) -> CancelledRunsJSON:
        """Cancel the pending runs matching every filter given; ``{"execution_ids": [...]}``,
        empty when none matched. Never retried.

        At least one of ``execution_id``, ``recipients``, ``idempotency_key`` is
        required, as the hub requires; ``workflow_slug`` narrows them, never
        alone. ``tenant_id`` is refused (SuprsendValidationError): it is no
        filter in the hub's API reference, and a hub that ignored it would cancel
        the matching runs of every tenant.

        Trigger with an idempotency key of your own, and cancel by the same key.
        """
        given = {
            "execution_id": execution_id,
            "recipients": recipients,
            "idempotency_key": idempotency_key,
            "workflow_slug": workflow_slug,
            "tenant_id": tenant_id,
        }
        return await cancel_runs(self, RUNS.cancel_workflows.at(), given, WORKFLOW_FILTERS, retry)
