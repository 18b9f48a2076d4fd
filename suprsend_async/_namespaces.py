"""``client.workflows`` and ``client.bulk_events``, named as in the official SDK."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._bulk import BulkProgress, BulkResponse, RecordKind, run_bulk
from ._models import Event, WorkflowTriggerRequest
from ._response import TriggerResponse
from ._retry import RetryPolicy

if TYPE_CHECKING:
    from ._client import AsyncSuprsend

__all__ = ["BulkEvents", "BulkEventsInstance", "BulkWorkflowsInstance", "Workflows"]

TRIGGER_PATH = "trigger/"
BULK_EVENT_PATH = "v2/bulk/event/"

ProgressHook = Callable[[BulkProgress], Any]


class _BulkInstance:
    """Collects records with ``append`` and sends them all with ``trigger``."""

    _kind: RecordKind
    _path: str

    def __init__(self, client: AsyncSuprsend) -> None:
        self._client = client
        self._records: list[Any] = []

    def __len__(self) -> int:
        return len(self._records)

    async def trigger(
        self,
        *,
        max_concurrency: int | None = None,
        retry: RetryPolicy | None = None,
        on_progress: ProgressHook | None = None,
    ) -> BulkResponse:
        """Send everything appended so far, concurrently; see :class:`BulkResponse`."""
        return await run_bulk(
            self._client,
            self._records,
            kind=self._kind,
            path=self._path,
            max_concurrency=max_concurrency,
            retry=retry,
            on_progress=on_progress,
        )


class BulkEventsInstance(_BulkInstance):
    _kind = "event"
    _path = BULK_EVENT_PATH

    def append(self, *events: Event | dict[str, Any]) -> None:
        """Add events. Invalid ones are not refused here: they come back in
        ``failed_records`` with the reason, so none is silently lost."""
        self._records.extend(events)


class BulkWorkflowsInstance(_BulkInstance):
    _kind = "workflow"
    _path = TRIGGER_PATH

    def append(self, *requests: WorkflowTriggerRequest | dict[str, Any]) -> None:
        """Add trigger requests (or bodies in the official SDK's dict form)."""
        self._records.extend(requests)


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
        return await client._send_single("workflows.trigger", TRIGGER_PATH, record, retry)

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
            kind="workflow",
            path=TRIGGER_PATH,
            max_concurrency=max_concurrency,
            retry=retry,
            on_progress=on_progress,
        )


class BulkEvents:
    def __init__(self, client: AsyncSuprsend) -> None:
        self._client = client

    def new_instance(self) -> BulkEventsInstance:
        return BulkEventsInstance(self._client)

    async def send(
        self,
        events: Iterable[Event | dict[str, Any]] | AsyncIterable[Event | dict[str, Any]],
        *,
        max_concurrency: int | None = None,
        retry: RetryPolicy | None = None,
        on_progress: ProgressHook | None = None,
    ) -> BulkResponse:
        """Stream any (async) iterable of events; memory is bounded by the concurrency."""
        return await run_bulk(
            self._client,
            events,
            kind="event",
            path=BULK_EVENT_PATH,
            max_concurrency=max_concurrency,
            retry=retry,
            on_progress=on_progress,
        )
