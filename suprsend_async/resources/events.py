"""``client.bulk_events``: events in bulk, named as in the official SDK.

(A single event is ``client.track_event``, on the client itself, as there.)
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import Any

from .._core.bulk import BulkResponse, run_bulk
from .._core.context import ClientContext
from .._core.retry import RetryPolicy
from .._values.models import Event
from ._base import ProgressHook, TriggeredInstance

__all__ = ["BULK_EVENT_PATH", "BulkEvents", "BulkEventsInstance"]

BULK_EVENT_PATH = "v2/bulk/event/"


class BulkEventsInstance(TriggeredInstance):
    """Events collected with ``append``; ``await trigger()`` sends them all."""

    _kind = "event"
    _path = BULK_EVENT_PATH

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
            kind="event",
            path=BULK_EVENT_PATH,
            max_concurrency=max_concurrency,
            retry=retry,
            on_progress=on_progress,
        )
