"""``client.bulk_events``: events in bulk, named as in the official SDK.

(A single event is ``client.track_event``, on the client itself, as there.)
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Iterable
from typing import Any

from .._core.bulk import BulkItem, BulkResponse, Drafting, RecordKind, run_bulk
from .._core.context import ClientContext
from .._core.retry import RetryPolicy
from .._core.single import fresh_key
from .._values.models import Event
from ._base import ProgressHook, TriggeredInstance, bulk_record

__all__ = ["BULK_EVENT_PATH", "EVENT_RECORDS", "BulkEvents", "BulkEventsInstance"]

BULK_EVENT_PATH = "v2/bulk/event/"


def _draft_event(client: ClientContext, item: Any) -> dict[str, Any]:
    # The hot path of bulk uploads: the event checked, its wire form with a
    # generated key (held in the wire form only, and so in a failure's report).
    # An Event is taken as it is (it was checked when built): bulk_record's
    # call cost a tenth of drafting one.
    if type(item) is Event:
        event = item
    else:
        event = bulk_record(client, item, Event, Event.from_body, keyed=False)
    key = fresh_key(client, event.idempotency_key is not None)
    return client._serializer.event_body(event, idempotency_key=key)


def _encode_event(client: ClientContext, wire: Any) -> bytes:
    body: bytes = client._serializer.event_wire_bytes(wire)
    return body


def _prepare_event(client: ClientContext, index: int, item: Any) -> BulkItem:
    event = bulk_record(client, item, Event, Event.from_body, keyed=False)
    key = fresh_key(client, event.idempotency_key is not None)
    body = _encode_event(client, client._serializer.event_body(event, idempotency_key=key))
    repeatable = key is not None or event.idempotency_key is not None
    return BulkItem(index, event, body, repeatable, None, key)


def _event_item(index: int, body: bytes, wire: dict[str, Any] | None) -> BulkItem:
    # Sent again only with a key, which the wire form says (read back from the
    # bytes only for a chunk whose records settle one by one, a failure's or a retry's).
    keyed = "$idempotency_key" in (json.loads(body) if wire is None else wire)
    return BulkItem(index, None, body, keyed)


def _rebuild_event(body: bytes) -> Event:
    # Stdlib json: it reads back whatever either encoder wrote (integers
    # past 64 bits among them); only a failure report takes this path.
    wire = json.loads(body)
    properties = wire.get("properties")
    if isinstance(properties, dict):
        properties.pop("$ss_sdk_version", None)  # the client's, added to every event sent
    return Event.from_body(wire)


# Events in bulk, as the bulk engine sends them.
EVENT_RECORDS = RecordKind(
    "bulk_events.send",
    BULK_EVENT_PATH,
    _prepare_event,
    lambda limits: limits.max_records_per_request,
    drafting=Drafting(
        _draft_event,
        _encode_event,
        lambda limits: limits.max_single_event_bytes,
        _event_item,
        _rebuild_event,
    ),
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
