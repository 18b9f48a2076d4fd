"""Value objects: what a user builds and hands to the client.

They are frozen attrs classes, checked when built so bad input fails at the
line that made it, with a SuprsendValidationError naming the field. Nothing
here does I/O or knows about the wire layout (see _serialization).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sized
from typing import Any, Union

import attrs

from . import _rules
from ._attachments import Attachment
from ._exceptions import SuprsendValidationError
from ._limits import DEFAULT_LIMITS

__all__ = [
    "Event",
    "ObjectRecipient",
    "Recipient",
    "RecipientLike",
    "WorkflowTriggerRequest",
]


def _bounded_tuple(values: Iterable[Any], most: int) -> tuple[Any, ...]:
    if isinstance(values, Sized):  # a list or a tuple: its length is reported as it is
        return tuple(values)
    # One more than allowed is enough to refuse it: an endless iterator is not read forever.
    return tuple(itertools.islice(values, most + 1))


def _channel_list(value: object, field: str) -> tuple[Any, ...]:
    if isinstance(value, (str, Mapping)):
        entries: tuple[Any, ...] = (value,)
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, bytearray)):
        entries = _bounded_tuple(value, _LIMITS.max_channel_entries)
    else:
        raise SuprsendValidationError(field, f"must be a list, got {type(value).__name__}")
    for i, entry in enumerate(entries):
        if isinstance(entry, Mapping):
            _rules.json_object(entry, f"{field}[{i}]")
        elif not isinstance(entry, str):
            raise SuprsendValidationError(
                f"{field}[{i}]", f"must be a string or a mapping, got {type(entry).__name__}"
            )
    return entries


# One named converter per channel, so an error names its field (mypy's attrs plugin
# accepts only named functions as converters).


def _email(value: object) -> tuple[Any, ...]:
    return _channel_list(value, "recipient.$email")


def _sms(value: object) -> tuple[Any, ...]:
    return _channel_list(value, "recipient.$sms")


def _whatsapp(value: object) -> tuple[Any, ...]:
    return _channel_list(value, "recipient.$whatsapp")


def _inbox(value: object) -> tuple[Any, ...]:
    return _channel_list(value, "recipient.$inbox")


def _androidpush(value: object) -> tuple[Any, ...]:
    return _channel_list(value, "recipient.$androidpush")


def _iospush(value: object) -> tuple[Any, ...]:
    return _channel_list(value, "recipient.$iospush")


def _webpush(value: object) -> tuple[Any, ...]:
    return _channel_list(value, "recipient.$webpush")


def _slack(value: object) -> tuple[Any, ...]:
    return _channel_list(value, "recipient.$slack")


def _ms_teams(value: object) -> tuple[Any, ...]:
    return _channel_list(value, "recipient.$ms_teams")


def _recipient_properties(value: object) -> Mapping[str, Any]:
    return _rules.require_mapping(value, "recipient.properties")


def _channel_names(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = _channel_list(value, "recipient.$channels")
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise SuprsendValidationError(
                f"recipient.$channels[{i}]", f"must be a channel name, got {type(name).__name__}"
            )
    return names


def _optional_text(_: object, attribute: attrs.Attribute[str | None], value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise SuprsendValidationError(
            f"recipient.{attribute.name}", f"must be a string, got {type(value).__name__}"
        )


def _flag(_: object, attribute: attrs.Attribute[bool], value: object) -> None:
    if not isinstance(value, bool):
        raise SuprsendValidationError(
            f"recipient.{attribute.name}", f"must be True or False, got {type(value).__name__}"
        )


@attrs.frozen(kw_only=True)
class Recipient:
    """A user to notify, with optional inline channel identities.

    ``Recipient(distinct_id="u1", email=["a@b.co"])`` is sent as
    ``{"distinct_id": "u1", "$email": ["a@b.co"]}``; ``properties`` holds any
    extra keys, sent as they are.
    """

    distinct_id: str | None = attrs.field(default=None, validator=_optional_text)
    is_transient: bool = attrs.field(default=False, validator=_flag)
    email: tuple[str, ...] = attrs.field(default=(), converter=_email)
    sms: tuple[str, ...] = attrs.field(default=(), converter=_sms)
    whatsapp: tuple[str, ...] = attrs.field(default=(), converter=_whatsapp)
    inbox: tuple[str, ...] = attrs.field(default=(), converter=_inbox)
    androidpush: tuple[Any, ...] = attrs.field(default=(), converter=_androidpush)
    iospush: tuple[Any, ...] = attrs.field(default=(), converter=_iospush)
    webpush: tuple[Any, ...] = attrs.field(default=(), converter=_webpush)
    slack: tuple[Any, ...] = attrs.field(default=(), converter=_slack)
    ms_teams: tuple[Any, ...] = attrs.field(default=(), converter=_ms_teams)
    channels: tuple[str, ...] | None = attrs.field(default=None, converter=_channel_names)
    timezone: str | None = attrs.field(default=None, validator=_optional_text)
    locale: str | None = attrs.field(default=None, validator=_optional_text)
    preferred_language: str | None = attrs.field(default=None, validator=_optional_text)
    properties: Mapping[str, Any] = attrs.field(factory=dict, converter=_recipient_properties)

    def __attrs_post_init__(self) -> None:
        from ._serialization import recipient_to_wire

        _rules.recipient(recipient_to_wire(self), "recipient")


@attrs.frozen
class ObjectRecipient:
    """An object (a team, a channel...) as a workflow recipient."""

    object_type: str
    id: str

    def __attrs_post_init__(self) -> None:
        _rules.require_id(self.object_type, "recipient.object_type")
        _rules.require_id(self.id, "recipient.id")


_LIMITS = DEFAULT_LIMITS
_EVENT_BODY_KEYS = frozenset(
    {"event", "distinct_id", "properties", "$idempotency_key", "tenant_id", "brand_id"}
)
_PER_SEND_EVENT_KEYS = frozenset({"$insert_id", "$time", "env"})

RecipientLike = Union[str, Mapping[str, Any], Recipient, ObjectRecipient]  # noqa: UP007


def _distinct_id(value: object) -> str:
    return _rules.require_id(value, "distinct_id")


def _event_name(value: object) -> str:
    return _rules.event_name(value, field="event_name")


def _dict(value: object, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    mapping = _rules.require_mapping(value, field)
    # JSON encoders only take real dicts; other mappings are copied once here.
    return mapping if isinstance(mapping, dict) else dict(mapping)


def _properties(value: object) -> dict[str, Any]:
    return _dict(value, "properties")


def _data(value: object) -> dict[str, Any]:
    return _dict(value, "data")


def _metadata(value: object) -> dict[str, Any] | None:
    return None if value is None else _dict(value, "metadata")


def _idempotency_key(value: object) -> str | None:
    return _rules.idempotency_key(value, "idempotency_key", _LIMITS.max_idempotency_key_length)


def _tenant_id(value: object) -> str | None:
    return _rules.optional_key(value, "tenant_id", _LIMITS.max_tenant_id_length)


def _brand_id(value: object) -> str | None:
    return _rules.optional_key(value, "brand_id", _LIMITS.max_tenant_id_length)


def _cancellation_key(value: object) -> str | None:
    return _rules.optional_key(value, "cancellation_key", _LIMITS.max_cancellation_key_length)


def _attachment_tuple(value: object) -> tuple[Attachment, ...]:
    if isinstance(value, Attachment):
        return (value,)
    if not isinstance(value, Iterable) or isinstance(value, (str, bytes)):
        raise SuprsendValidationError("attachments", "must be a sequence of Attachment")
    items = tuple(value)
    for i, item in enumerate(items):
        if not isinstance(item, Attachment):
            raise SuprsendValidationError(
                f"attachments[{i}]", f"must be an Attachment, got {type(item).__name__}"
            )
    return items


@attrs.frozen
class Event:
    """An event that triggers the workflows listening for ``event_name``.

    ``distinct_id`` and ``event_name`` are stripped of surrounding
    whitespace, as the official SDKs do. ``properties`` is kept by reference,
    not copied: do not mutate it while a send is in flight.
    """

    distinct_id: str = attrs.field(converter=_distinct_id)
    event_name: str = attrs.field(converter=_event_name)
    properties: dict[str, Any] = attrs.field(factory=dict, converter=_properties)
    idempotency_key: str | None = attrs.field(
        default=None, kw_only=True, converter=_idempotency_key
    )
    tenant_id: str | None = attrs.field(default=None, kw_only=True, converter=_tenant_id)
    brand_id: str | None = attrs.field(default=None, kw_only=True, converter=_brand_id)
    attachments: tuple[Attachment, ...] = attrs.field(
        default=(), kw_only=True, converter=_attachment_tuple
    )

    def __attrs_post_init__(self) -> None:
        if "$attachments" in self.properties:
            _rules.attachments(self.properties["$attachments"], "properties.$attachments", _LIMITS)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Event:
        """Build from the official SDK's dict form.

        ``{"event": ..., "distinct_id": ..., "properties": {...},
        "$idempotency_key": ..., "tenant_id": ..., "brand_id": ...}``; the
        per-send keys a full wire event also has (``$insert_id``, ``$time``,
        ``env``) are ignored, so captured bodies can be replayed.
        """
        _rules.require_mapping(body, "body")
        unknown = sorted(set(body) - _EVENT_BODY_KEYS - _PER_SEND_EVENT_KEYS)
        if unknown:
            raise SuprsendValidationError(
                unknown[0], f"is not an event key; allowed: {sorted(_EVENT_BODY_KEYS)}"
            )
        return cls(
            body.get("distinct_id"),
            body.get("event"),
            body.get("properties"),
            idempotency_key=body.get("$idempotency_key"),
            tenant_id=body.get("tenant_id"),
            brand_id=body.get("brand_id"),
        )

    def with_attachment(self, attachment: Attachment | None) -> Event:
        """A copy of this event with ``attachment`` added (unchanged if None)."""
        if attachment is None:
            return self
        return attrs.evolve(self, attachments=(*self.attachments, attachment))

    def with_idempotency_key(self, key: str | None) -> Event:
        return attrs.evolve(self, idempotency_key=key)


def _recipients(value: object) -> tuple[RecipientLike, ...]:
    if isinstance(
        value, (str, bytes, bytearray, Mapping, Recipient, ObjectRecipient)
    ) or not isinstance(value, Iterable):
        raise SuprsendValidationError(
            "recipients", f"must be a list of recipients, got {type(value).__name__}"
        )
    return _bounded_tuple(value, _LIMITS.max_recipients)


@attrs.frozen(kw_only=True)
class WorkflowTriggerRequest:
    """One run of the workflow ``workflow`` for up to 100 ``recipients``.

    A recipient (and the actor) is a distinct_id string, a mapping in the
    hub's JSON form, a :class:`Recipient` or an :class:`ObjectRecipient`.
    """

    workflow: str
    recipients: tuple[RecipientLike, ...] = attrs.field(converter=_recipients)
    data: dict[str, Any] = attrs.field(factory=dict, converter=_data)
    actor: RecipientLike | None = None
    metadata: dict[str, Any] | None = attrs.field(default=None, converter=_metadata)
    tenant_id: str | None = attrs.field(default=None, converter=_tenant_id)
    idempotency_key: str | None = attrs.field(default=None, converter=_idempotency_key)
    cancellation_key: str | None = attrs.field(default=None, converter=_cancellation_key)
    attachments: tuple[Attachment, ...] = attrs.field(default=(), converter=_attachment_tuple)

    def __attrs_post_init__(self) -> None:
        from ._serialization import recipient_to_wire

        _rules.require_id(self.workflow, "workflow")
        _rules.recipients([recipient_to_wire(r) for r in self.recipients], "recipients", _LIMITS)
        if self.actor is not None:
            _rules.recipient(recipient_to_wire(self.actor), "actor", _LIMITS)
        if "$attachments" in self.data:
            _rules.attachments(self.data["$attachments"], "data.$attachments", _LIMITS)

    @classmethod
    def from_body(
        cls,
        body: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        tenant_id: str | None = None,
        cancellation_key: str | None = None,
    ) -> WorkflowTriggerRequest:
        """Build from the official SDK's dict form (``{"workflow": ..., "recipients": ...}``).

        Keyword arguments win over the same keys in ``body``.
        """
        _rules.require_mapping(body, "body")
        _rules.trigger_keys(body)
        return cls(
            workflow=body.get("workflow"),  # type: ignore[arg-type]
            recipients=body.get("recipients"),
            data=body.get("data"),
            actor=body.get("actor"),
            metadata=body.get("metadata"),
            tenant_id=tenant_id if tenant_id is not None else body.get("tenant_id"),
            idempotency_key=(
                idempotency_key if idempotency_key is not None else body.get("$idempotency_key")
            ),
            cancellation_key=(
                cancellation_key if cancellation_key is not None else body.get("cancellation_key")
            ),
        )

    def with_attachment(self, attachment: Attachment | None) -> WorkflowTriggerRequest:
        """A copy of this request with ``attachment`` added (unchanged if None)."""
        if attachment is None:
            return self
        return attrs.evolve(self, attachments=(*self.attachments, attachment))

    def with_idempotency_key(self, key: str | None) -> WorkflowTriggerRequest:
        return attrs.evolve(self, idempotency_key=key)
