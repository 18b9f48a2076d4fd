"""``client.workflows`` and ``client.bulk_events``, named as in the official SDK."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._models import WorkflowTriggerRequest
from ._response import TriggerResponse
from ._retry import RetryPolicy

if TYPE_CHECKING:
    from ._client import AsyncSuprsend

__all__ = ["BulkEvents", "Workflows"]

TRIGGER_PATH = "trigger/"
BULK_EVENT_PATH = "v2/bulk/event/"


class Workflows:
    def __init__(self, client: AsyncSuprsend) -> None:
        self._client = client

    async def trigger(
        self, request: WorkflowTriggerRequest, *, retry: RetryPolicy | None = None
    ) -> TriggerResponse:
        """Trigger one workflow run. Retried only if it has an idempotency key."""
        if not isinstance(request, WorkflowTriggerRequest):
            raise TypeError(
                f"trigger() takes a WorkflowTriggerRequest, got {type(request).__name__}"
            )
        client = self._client
        record = client._serializer.encode_trigger(
            request, idempotency_key=client._fresh_key(request.idempotency_key is not None)
        )
        return await client._send_single(TRIGGER_PATH, record, retry)


class BulkEvents:
    def __init__(self, client: AsyncSuprsend) -> None:
        self._client = client
