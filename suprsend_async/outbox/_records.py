"""What the outbox stores for a record, and how a worker reads it back.

A record is stored as the official SDK's dict form of it (``event_json`` /
``trigger_json``), idempotency key included, as a pgqueuer job's payload: one
job per record, its entrypoint naming the kind. The key also becomes the
job's dedupe key, so the same record enqueued twice while the first is still
waiting is stored once.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

import attrs

from .._core.bulk import RecordKind
from .._core.transport import user_agent
from .._values.errors import SuprsendValidationError
from .._values.json_codec import dumps
from .._values.limits import Limits
from .._values.models import Event, WorkflowTriggerRequest
from .._wire.serialization import Serializer, event_json, trigger_json
from ..resources.events import EVENT_RECORDS
from ..resources.workflows import TRIGGER_RECORDS

__all__ = [
    "ENTRYPOINTS",
    "Kind",
    "OutboxRecord",
    "RecordCodec",
    "dedupe_key",
    "entrypoint_of",
    "kind_of",
    "records_of",
]

Kind = Literal["event", "workflow"]
OutboxRecord = Event | WorkflowTriggerRequest

_ENTRYPOINT: dict[Kind, str] = {
    "event": "suprsend_async.event",
    "workflow": "suprsend_async.workflow",
}
_KIND: dict[str, Kind] = {v: k for k, v in _ENTRYPOINT.items()}
ENTRYPOINTS = tuple(_ENTRYPOINT.values())
# What the bulk engine needs to send each kind (its path, its encoding), from its resource.
_RECORDS: dict[Kind, RecordKind] = {"event": EVENT_RECORDS, "workflow": TRIGGER_RECORDS}

# pgqueuer's dedupe keys are one namespace for every job in the database: ours
# are prefixed, so they never collide with the application's own jobs.
_DEDUPE_PREFIX = "suprsend_async:"
# The worker sends each event with its workspace key as ``env``; the size check
# at enqueue assumes one this long (a real one is shorter), so a record accepted
# here is never too large when a worker sends it.
_PLACEHOLDER_ENV = "w" * 64


def entrypoint_of(kind: Kind) -> str:
    return _ENTRYPOINT[kind]


def kind_of(entrypoint: str) -> Kind:
    return _KIND[entrypoint]


def records_of(kind: Kind) -> RecordKind:
    return _RECORDS[kind]


def dedupe_key(idempotency_key: str) -> str:
    return _DEDUPE_PREFIX + idempotency_key


@attrs.frozen
class Prepared:
    kind: Kind
    payload: bytes
    idempotency_key: str


class RecordCodec:
    """Checks a record as a send would, gives it its key, and turns it into a payload."""

    def __init__(self, limits: Limits) -> None:
        self._serializer = Serializer(env=_PLACEHOLDER_ENV, sdk_version=user_agent(), limits=limits)

    def prepare(self, record: object) -> Prepared:
        """SuprsendValidationError, naming the field and the rule, for a record no send could
        deliver; nothing is stored then."""
        if isinstance(record, Event):
            event = record
            if event.idempotency_key is None:
                event = event.with_idempotency_key(str(uuid.uuid4()))
            self._serializer.event_bytes(event)  # every check a send makes, size included
            return Prepared("event", dumps(event_json(event)), _key(event.idempotency_key))
        if isinstance(record, WorkflowTriggerRequest):
            request = record
            if request.idempotency_key is None:
                request = request.with_idempotency_key(str(uuid.uuid4()))
            self._serializer.encode_trigger(request)
            return Prepared("workflow", dumps(trigger_json(request)), _key(request.idempotency_key))
        raise SuprsendValidationError(
            "record",
            f"must be an Event or a WorkflowTriggerRequest, got {type(record).__name__}",
        )

    @staticmethod
    def read(kind: Kind, payload: bytes | None) -> OutboxRecord:
        """The record a payload stores; SuprsendValidationError if it no longer is one
        (a payload written by hand, or by a release with other rules)."""
        try:
            body: Any = json.loads(payload or b"")
        except ValueError as exc:
            raise SuprsendValidationError("payload", f"is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise SuprsendValidationError("payload", "must be a JSON object")
        if kind == "event":
            return Event.from_body(body)
        return WorkflowTriggerRequest.from_body(body)


def _key(key: str | None) -> str:
    assert key is not None  # given above when missing
    if "\x00" in key:
        # The hub's rules allow it; the outbox's table does not (PostgreSQL's text has no
        # NUL), and the driver's own error would name neither the field nor the rule.
        raise SuprsendValidationError(
            "idempotency_key", "must not contain a NUL character (\\x00) in the outbox"
        )
    return key
