"""From value objects to the exact bytes the hub receives.

Each record is serialized once: the value object is turned into its wire
form (a dict built directly for events, the hot path of bulk uploads; an
attrs class unstructured by cattrs for triggers), encoded to JSON bytes, checked
against the size caps, and those bytes are what gets signed and sent, alone
or joined into a bulk body.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from .._values import rules as _rules
from .._values.body_requests import SubscriberListBroadcast, Workflow
from .._values.errors import SuprsendValidationError
from .._values.idempotency import edit_safety
from .._values.json_codec import dumps
from .._values.limits import DEFAULT_LIMITS, Limits
from .._values.models import Event, WorkflowTriggerRequest
from .._values.profile_edit import UserEdit, identity_event
from .._values.recipient_wire import recipient_to_wire

__all__ = [
    "EncodedRecord",
    "Serializer",
    "dumps",
    "encode_identity_event",
    "event_json",
    "join_records",
    "recipient_to_wire",
    "record_idempotency_key",
    "record_json",
    "trigger_json",
]


def join_records(records: list[bytes]) -> bytes:
    """A JSON array body made from already-encoded records, without re-encoding."""
    return b"[" + b",".join(records) + b"]"


# -- wire forms -------------------------------------------------------------------

_converter = cattrs.Converter()


# A UUID4's variant digit is 8, 9, a or b: a random hex digit's low two bits, plus 8.
_UUID4_VARIANT = bytes.maketrans(b"0123456789abcdef", b"89ab89ab89ab89ab")
# Where each character of a UUID4 string comes from: a position in 32 random
# hex digits, or a fixed character (the digit at 12 is the version, 4; the
# one at 16 gives the variant).
_UUID4_LAYOUT: tuple[int | bytes, ...] = (
    *range(0, 8), b"-", *range(8, 12), b"-", b"4", *range(13, 16), b"-",
    16, *range(17, 20), b"-", *range(20, 32),
)  # fmt: skip


class _InsertIds:
    """Fresh ``$insert_id`` values: UUID4 strings, as ``str(uuid.uuid4())`` writes them.

    Made from one ``os.urandom`` call per batch rather than one per record,
    and laid out a column at a time (each character position of all the
    batch's ids in one slice), which costs an eighth as much as uuid4. Each id
    is taken from a list iterator (atomic under the GIL), so no two callers
    get the same one; a forked child drops what it inherited, so parent and
    child never share ids.
    """

    BATCH = 256

    def __init__(self) -> None:
        self._ids: Iterator[str] = iter(())
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self._ids = iter(())

    def _batch(self) -> Iterator[str]:
        n = self.BATCH
        digits = os.urandom(16 * n).hex().encode("ascii")
        # Each id followed by a newline, so that one split() cuts them all (a
        # slice per id cost a third of the batch).
        out = bytearray(b"\n" * (37 * n))
        for position, source in enumerate(_UUID4_LAYOUT):
            if isinstance(source, bytes):
                out[position::37] = source * n
            elif source == 16:
                out[position::37] = digits[16::32].translate(_UUID4_VARIANT)
            else:
                out[position::37] = digits[source::32]
        return iter(out.decode("ascii").split())

    def __call__(self) -> str:
        try:
            return next(self._ids)
        except StopIteration:  # once a batch
            self._ids = self._batch()
            return next(self._ids)


new_insert_id = _InsertIds()


@attrs.frozen
class _TriggerWire:
    workflow: str
    recipients: list[Any]
    data: dict[str, Any]
    actor: Any = None
    metadata: dict[str, Any] | None = None
    idempotency_key: str | None = None
    tenant_id: str | None = None
    cancellation_key: str | None = None


_unstructure_trigger = make_dict_unstructure_fn(
    _TriggerWire,
    _converter,
    _cattrs_omit_if_default=True,
    recipients=override(unstruct_hook=lambda v: v),
    data=override(omit_if_default=False, unstruct_hook=lambda v: v),
    actor=override(unstruct_hook=lambda v: v),
    metadata=override(unstruct_hook=lambda v: v),
    idempotency_key=override(rename="$idempotency_key"),
)


def _with_attachments(
    payload: dict[str, Any], attachments: tuple[Any, ...], tail: dict[str, Any]
) -> dict[str, Any]:
    if not attachments and not tail:
        return payload
    merged = dict(payload)
    if attachments:
        existing = merged.get("$attachments")
        merged["$attachments"] = [
            *(existing if isinstance(existing, list) else ()),
            *(a.to_wire() for a in attachments),
        ]
    merged.update(tail)
    return merged


def event_json(event: Event) -> dict[str, Any]:
    """The event in the official SDK's dict form, as ``Event.from_body`` reads it.

    No per-send fields: this is what failure reports carry, so a failed
    record can be fed back in as it is.
    """
    body: dict[str, Any] = {
        "event": event.event_name,
        "distinct_id": event.distinct_id,
        "properties": _with_attachments(event.properties, event.attachments, {}),
    }
    if event.idempotency_key is not None:
        body["$idempotency_key"] = event.idempotency_key
    if event.tenant_id is not None:
        body["tenant_id"] = event.tenant_id
    if event.brand_id is not None:
        body["brand_id"] = event.brand_id
    return body


def trigger_json(
    request: WorkflowTriggerRequest, idempotency_key: str | None = None
) -> dict[str, Any]:
    """The trigger body as sent (and as ``WorkflowTriggerRequest.from_body`` reads it)."""
    wire = _TriggerWire(
        workflow=request.workflow,
        recipients=[recipient_to_wire(r) for r in request.recipients],
        data=_with_attachments(request.data, request.attachments, {}),
        actor=recipient_to_wire(request.actor),
        metadata=request.metadata,
        idempotency_key=idempotency_key or request.idempotency_key,
        tenant_id=request.tenant_id,
        cancellation_key=request.cancellation_key,
    )
    body: dict[str, Any] = _unstructure_trigger(wire)
    return body


# -- the serializer -------------------------------------------------------------------


@attrs.define  # one per record: slotted and plain, a third of a frozen class's __init__
class EncodedRecord:
    """One record's final bytes, plus what the bulk and retry layers need to know."""

    body: bytes
    idempotency_key: str | None
    # A record without a key is sent once, unless repeating it is harmless
    # anyway (an identity edit of only idempotent operations); if not, why.
    safe_to_repeat: bool = False
    not_repeated_because: str | None = None


@attrs.frozen(kw_only=True)
class Serializer:
    """Turns events and trigger requests into wire bytes for one workspace."""

    env: str | None
    sdk_version: str
    limits: Limits = DEFAULT_LIMITS
    clock: Callable[[], float] = time.time

    def event_body(self, event: Event, *, idempotency_key: str | None = None) -> dict[str, Any]:
        # Built as a dict directly, in the official SDK's key order (the hot
        # path of a bulk upload: one call per record).
        properties = event.properties
        if event.attachments:
            properties = _with_attachments(properties, event.attachments, {})
        properties = {**properties, "$ss_sdk_version": self.sdk_version}
        body: dict[str, Any]
        if self.env is not None:
            body = {
                "$insert_id": new_insert_id(),
                "$time": int(self.clock() * 1000),
                "event": event.event_name,
                "env": self.env,
                "distinct_id": event.distinct_id,
                "properties": properties,
            }
        else:  # the REST path without a named workspace sends none
            body = {
                "$insert_id": new_insert_id(),
                "$time": int(self.clock() * 1000),
                "event": event.event_name,
                "distinct_id": event.distinct_id,
                "properties": properties,
            }
        key = idempotency_key or event.idempotency_key
        if key is not None:
            body["$idempotency_key"] = key
        if event.tenant_id is not None:
            body["tenant_id"] = event.tenant_id
        if event.brand_id is not None:
            body["brand_id"] = event.brand_id
        return body

    def trigger_body(
        self, request: WorkflowTriggerRequest, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        return trigger_json(request, idempotency_key)

    def encode_event(self, event: Event, *, idempotency_key: str | None = None) -> EncodedRecord:
        data = self.event_bytes(event, idempotency_key=idempotency_key)
        return EncodedRecord(data, idempotency_key or event.idempotency_key)

    def event_bytes(self, event: Event, *, idempotency_key: str | None = None) -> bytes:
        """The event's wire bytes, checked against the per-event size limit (the bulk
        path's per-record work: its idempotency key is the event's own)."""
        return self.event_wire_bytes(self.event_body(event, idempotency_key=idempotency_key))

    def event_wire_bytes(self, body: dict[str, Any]) -> bytes:
        """An :meth:`event_body`'s bytes, checked against the per-event size limit."""
        # _encode's work inlined for the usual record; it runs again only to
        # name the field to blame.
        try:
            data = dumps(body)
        except (TypeError, ValueError, RecursionError):
            data = _encode(body, ("properties",))
        if len(data) > self.limits.max_single_event_bytes:
            _rules.record_size(len(data), self.limits.max_single_event_bytes, "event")
        return data

    def encode_trigger(
        self, request: WorkflowTriggerRequest, *, idempotency_key: str | None = None
    ) -> EncodedRecord:
        body = self.trigger_body(request, idempotency_key=idempotency_key)
        data = _encode(body, ("data", "recipients", "actor", "metadata"))
        _rules.record_size(
            len(data) + self.limits.workflow_record_overhead_bytes,
            self.limits.max_body_bytes,
            "workflow trigger (with the hub's per-record overhead)",
        )
        return EncodedRecord(data, body.get("$idempotency_key"))

    def encode_broadcast(
        self, broadcast: SubscriberListBroadcast, *, idempotency_key: str | None = None
    ) -> EncodedRecord:
        """A list broadcast, stamped as the official SDK stamps it (``$insert_id``, ``$time``)."""
        body = {
            **self._keyed(broadcast, idempotency_key),
            "$insert_id": new_insert_id(),
            "$time": int(self.clock() * 1000),
        }
        data = _encode(body, ("data",))
        _rules.record_size(len(data), self.limits.max_body_bytes, "broadcast")
        return EncodedRecord(data, body.get("$idempotency_key"))

    def encode_workflow(
        self, workflow: Workflow, *, idempotency_key: str | None = None
    ) -> EncodedRecord:
        """A dynamic workflow, as sent alone or as one record of a bulk request."""
        body = self._keyed(workflow, idempotency_key)
        data = _encode(body, ("data", "users"))
        _rules.record_size(
            len(data) + self.limits.workflow_record_overhead_bytes,
            self.limits.max_body_bytes,
            "workflow (with the hub's per-record overhead)",
        )
        return EncodedRecord(data, body.get("$idempotency_key"))

    @staticmethod
    def _keyed(
        request: SubscriberListBroadcast | Workflow, idempotency_key: str | None
    ) -> dict[str, Any]:
        body = request.to_json()
        if idempotency_key is not None and "$idempotency_key" not in body:
            body["$idempotency_key"] = idempotency_key  # a generated one (auto keys)
        return body


def _encode(body: dict[str, Any], suspects: tuple[str, ...]) -> bytes:
    try:
        return dumps(body)
    except (TypeError, ValueError, RecursionError) as exc:
        # Only on failure: find which part of the record is to blame.
        # (RecursionError: nesting too deep for the encoder, or a cycle.)
        field = "body"
        for name in suspects:
            try:
                dumps(body.get(name))
            except (TypeError, ValueError, RecursionError):
                field = name
                break
        raise SuprsendValidationError(field, f"must be JSON-serializable: {exc}") from None


def encode_identity_event(
    edit: UserEdit,
    *,
    env: str | None,
    sdk_version: str,
    limits: Limits = DEFAULT_LIMITS,
) -> EncodedRecord:
    """The identity event's bytes, within the per-record limits, with its retry safety.

    Checked here against the client's own limits (which may be tighter than the
    defaults an edit was built with): the hub refuses a whole request for one
    record it refuses, so such a record must fail alone, before it is sent.
    """
    _rules.optional_key(edit.tenant_id, "tenant_id", limits.max_tenant_id_length)
    try:
        data = dumps(identity_event(edit, env=env, sdk_version=sdk_version))
    except (TypeError, ValueError, RecursionError) as exc:
        # A value was checked when set, but is kept by reference: changed since.
        raise SuprsendValidationError(
            "$user_operations", f"must be JSON-serializable: {exc}"
        ) from None
    _rules.record_size(len(data), limits.max_identity_event_bytes, "user edit")
    safety = edit_safety(edit._operations)
    return EncodedRecord(
        data, None, safe_to_repeat=safety.retry, not_repeated_because=safety.reason
    )


def record_idempotency_key(record: Any) -> Any:
    """The idempotency key of a bulk record (an Event, a trigger, or its dict form), if any."""
    if isinstance(record, (Event, WorkflowTriggerRequest)):
        return record.idempotency_key
    return record.get("$idempotency_key") if isinstance(record, dict) else None


def record_json(record: Any) -> Any:
    """A bulk record as the official SDK reports a failed one (its JSON form)."""
    if isinstance(record, Event):
        return event_json(record)
    if isinstance(record, WorkflowTriggerRequest):
        return trigger_json(record)
    if isinstance(record, UserEdit):
        return record.to_dict()
    return record
