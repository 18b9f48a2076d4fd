"""``client.bulk_events``: events in bulk, named as in the official SDK.

(A single event is ``client.track_event``, on the client itself, as there.)
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import Any

from .._core.bulk import BulkItem, BulkResponse, RecordKind, run_bulk
from .._core.context import ClientContext
from .._core.retry import RetryPolicy
from .._core.single import fresh_key
from .._values.models import Event
from ._base import ProgressHook, TriggeredInstance, bulk_record

__all__ = ["BULK_EVENT_PATH", "EVENT_RECORDS", "BulkEvents", "BulkEventsInstance"]

BULK_EVENT_PATH = "v2/bulk/event/"


def _prepare_event(client: ClientContext, index: int, item: Any) -> BulkItem:
    event = bulk_record(client, item, Event, Event.from_body, keyed=False)
    # The hot path of bulk uploads: the bytes alone, no EncodedRecord; a generated
    # key goes into them, and onto the event only if it fails (BulkItem.reported).
    key = fresh_key(client, event.idempotency_key is not None)
    body = client._serializer.event_bytes(event, idempotency_key=key)
    return BulkItem(
        index, event, body, key is not None or event.idempotency_key is not None, None, key
    )


# Events in bulk, as the bulk engine sends them.
EVENT_RECORDS = RecordKind(
    "bulk_events.send",
    BULK_EVENT_PATH,
    _prepare_event,
    lambda limits: limits.max_records_per_request,
)


class BulkEventsInstance(TriggeredInstance):
    """Events collected with ``append``; ``await trigger()`` sends them all."""

    _kind = EVENT_RECORDS

    def append(self, *events: Event | dict[str, Any]) -> None:
        """Add events. Invalid ones are not refused here: they come back in
        ``failed_records`` with the reason, so none is silently lost."""
        self._records.extend(events)


class BulkEvents:
    def __init__(self, client: ClientContext) -> None:
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
            kind=EVENT_RECORDS,
            max_concurrency=max_concurrency,
            retry=retry,
            on_progress=on_progress,
        )
