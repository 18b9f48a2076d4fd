"""Value objects: what a user builds and hands to the client.

They are frozen attrs classes, checked when built so bad input fails at the
line that made it, with a SuprsendValidationError naming the field. Nothing
here does I/O or knows about the wire layout (see _wire/serialization.py).
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from typing import Any, Union

import attrs

from . import rules as _rules
from .attachments import Attachment, attachment_tuple
from .errors import SuprsendValidationError
from .limits import DEFAULT_LIMITS
from .recipient_wire import (
    recipient_to_wire,
    register_object_recipient,
    register_recipient,
)

__all__ = [
    "Event",
    "ObjectRecipient",
    "Recipient",
    "RecipientLike",
    "Recipients",
    "WorkflowTriggerRequest",
]


def _bounded_tuple(values: Iterable[Any], most: int) -> tuple[Any, ...]:
    if isinstance(values, Sized):  # a list or a tuple: its length is reported as it is
        return tuple(values)
    # One more than allowed is enough to refuse it: an endless iterator is not read forever.
    return tuple(itertools.islice(values, most + 1))


_LIMITS = DEFAULT_LIMITS


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
# accepts only named functions as converters). A converter's parameter type is
# what mypy and editors show for the constructor's argument; the converter
# still checks the value at run time, for callers without a type checker.

_ChannelValues = Union[str, Mapping[str, Any], Iterable[Union[str, Mapping[str, Any]]]]  # noqa: UP007


def _email(value: str | Iterable[str]) -> tuple[Any, ...]:
    return _channel_list(value, "recipient.$email")


def _sms(value: str | Iterable[str]) -> tuple[Any, ...]:
    return _channel_list(value, "recipient.$sms")


def _whatsapp(value: str | Iterable[str]) -> tuple[Any, ...]:
    return _channel_list(value, "recipient.$whatsapp")


def _inbox(value: str | Iterable[str]) -> tuple[Any, ...]:
    return _channel_list(value, "recipient.$inbox")


def _androidpush(value: _ChannelValues) -> tuple[Any, ...]:
    return _channel_list(value, "recipient.$androidpush")


def _iospush(value: _ChannelValues) -> tuple[Any, ...]:
    return _channel_list(value, "recipient.$iospush")


def _webpush(value: _ChannelValues) -> tuple[Any, ...]:
    return _channel_list(value, "recipient.$webpush")


def _slack(value: _ChannelValues) -> tuple[Any, ...]:
    return _channel_list(value, "recipient.$slack")


def _ms_teams(value: _ChannelValues) -> tuple[Any, ...]:
    return _channel_list(value, "recipient.$ms_teams")


def _recipient_properties(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return _rules.require_mapping(value, "recipient.properties")


def _channel_names(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
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
    """A user to notify, with optional inline channel identities (keyword arguments).

    ``Recipient(distinct_id="u1", email=["a@b.co"])`` is sent as
    ``{"distinct_id": "u1", "$email": ["a@b.co"]}``. Each channel (``email``,
    ``sms``, ``whatsapp``, ``inbox``, ``androidpush``, ``iospush``,
    ``webpush``, ``slack``, ``ms_teams``) takes one value or a list;
    ``channels`` limits the channels used; ``is_transient`` sends to the
    identities given without creating a user; ``properties`` holds any extra
    keys, sent as they are.
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
        _rules.recipient(recipient_to_wire(self), "recipient")


@attrs.frozen
class ObjectRecipient:
    """An object (a team, a channel...) as a workflow recipient."""

    object_type: str
    id: str

    def __attrs_post_init__(self) -> None:
        _rules.require_id(self.object_type, "recipient.object_type")
        _rules.require_id(self.id, "recipient.id")


register_recipient(Recipient)
register_object_recipient(ObjectRecipient)

_EVENT_BODY_KEYS = frozenset(
    {"event", "distinct_id", "properties", "$idempotency_key", "tenant_id", "brand_id"}
)
_PER_SEND_EVENT_KEYS = frozenset({"$insert_id", "$time", "env"})

RecipientLike = Union[str, Mapping[str, Any], Recipient, ObjectRecipient]  # noqa: UP007
# A list of recipients, typed so that mypy refuses a lone string (itself a
# sequence of strings) or a lone mapping. ``list[Any]`` because lists are
# invariant: ``list[RecipientLike]`` would refuse a ``list[str]`` variable, and
# mypy infers a mixed list literal against at most one list type. The
# elements are checked when the request is built.
Recipients = Union[list[Any], tuple[RecipientLike, ...], Iterator[RecipientLike]]  # noqa: UP007


def _distinct_id(value: str) -> str:
    return _rules.require_id(value, "distinct_id")


def _event_name(value: str) -> str:
    return _rules.event_name(value, field="event_name")


def _dict(value: object, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    mapping = _rules.require_mapping(value, field)
    # JSON encoders only take real dicts; other mappings are copied once here.
    return mapping if isinstance(mapping, dict) else dict(mapping)


def _properties(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return _dict(value, "properties")


def _data(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return _dict(value, "data")


def _metadata(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else _dict(value, "metadata")


def _idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    return _rules.idempotency_key(value, "idempotency_key", _LIMITS.max_idempotency_key_length)


def _tenant_id(value: str | None) -> str | None:
    if value is None:
        return None
    return _rules.optional_key(value, "tenant_id", _LIMITS.max_tenant_id_length)


def _brand_id(value: str | None) -> str | None:
    if value is None:
        return None
    return _rules.optional_key(value, "brand_id", _LIMITS.max_tenant_id_length)


def _cancellation_key(value: str | None) -> str | None:
    return _rules.optional_key(value, "cancellation_key", _LIMITS.max_cancellation_key_length)


# First characters of the names the reserved-name rule may refuse ("$...",
# "ss_..." in any case): other names skip that check.
_MAYBE_RESERVED = frozenset("$sS")


# Frozen instances are set up once, in __init__, through object.__setattr__.
_set_field = object.__setattr__


@attrs.frozen(init=False)
class Event:
    """An event that triggers the workflows listening for ``event_name``.

    ``Event(distinct_id, event_name, properties=None, idempotency_key=None,
    tenant_id=None, brand_id=None, *, attachments=())``, in the official
    SDK's order; checked when built (a ``SuprsendValidationError`` names the
    field and the rule).

    - ``distinct_id``: the user, as your app identifies them.
    - ``event_name``: names starting with ``$`` or ``ss_`` are reserved.
    - ``properties``: a JSON-serializable mapping, kept by reference (not
      copied): do not mutate it while a send is in flight.
    - ``idempotency_key``: the hub processes a key once in 24 hours; an event
      with one is safe to retry, and is retried.
    - ``tenant_id``, ``brand_id``: which tenant's (brand's) settings to use.
    - ``attachments``: :class:`Attachment` values (or use :meth:`with_attachment`).

    ``distinct_id`` and ``event_name`` are stripped of surrounding
    whitespace, as the official SDKs do.
    """

    distinct_id: str
    event_name: str
    properties: dict[str, Any]
    idempotency_key: str | None = None
    tenant_id: str | None = None
    brand_id: str | None = None
    attachments: tuple[Attachment, ...] = attrs.field(default=(), kw_only=True)

    def __init__(
        self,
        distinct_id: str,
        event_name: str,
        properties: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        tenant_id: str | None = None,
        brand_id: str | None = None,
        *,
        attachments: Attachment | Iterable[Attachment] = (),
    ) -> None:
        # Written out rather than generated by attrs from converters: one
        # Event is built per record of a bulk upload, so each field takes a
        # short path for the usual value (a plain str, a dict with str keys,
        # an unset option) and calls the general check, which gives the same
        # answer and the same errors, for everything else (a property test
        # holds this to the general checks alone).
        name = distinct_id.strip() if type(distinct_id) is str else ""
        _set_distinct_id(self, name or _distinct_id(distinct_id))
        name = event_name.strip() if type(event_name) is str else ""
        if not name or len(name) < _MIN_EVENT_NAME or name[0] in _MAYBE_RESERVED:
            name = _event_name(event_name)
        _set_event_name(self, name)
        if type(properties) is dict:
            for key in properties:
                if type(key) is not str:
                    properties = _properties(properties)
                    break
        else:
            properties = _properties(properties)
        _set_properties(self, properties)
        _set_idempotency_key(
            self, None if idempotency_key is None else _idempotency_key(idempotency_key)
        )
        _set_tenant_id(self, None if tenant_id is None else _tenant_id(tenant_id))
        _set_brand_id(self, None if brand_id is None else _brand_id(brand_id))
        if type(attachments) is not tuple or attachments:
            attachments = attachment_tuple(attachments)
        _set_attachments(self, attachments)
        if "$attachments" in properties:
            _rules.attachments(properties["$attachments"], "properties.$attachments", _LIMITS)

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
        # Untyped values, checked by the converters like any other.
        return cls(
            body.get("distinct_id"),  # type: ignore[arg-type]
            body.get("event"),  # type: ignore[arg-type]
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
        """A copy of this event with ``key`` as its idempotency key."""
        # Field by field, the key alone checked: the rest was checked when this
        # event was built (attrs.evolve would check it all again).
        copy = object.__new__(Event)
        _set_field(copy, "distinct_id", self.distinct_id)
        _set_field(copy, "event_name", self.event_name)
        _set_field(copy, "properties", self.properties)
        _set_field(copy, "idempotency_key", None if key is None else _idempotency_key(key))
        _set_field(copy, "tenant_id", self.tenant_id)
        _set_field(copy, "brand_id", self.brand_id)
        _set_field(copy, "attachments", self.attachments)
        return copy


def _recipients(value: Recipients) -> tuple[RecipientLike, ...]:
    if isinstance(
        value, (str, bytes, bytearray, Mapping, Recipient, ObjectRecipient)
    ) or not isinstance(value, Iterable):
        raise SuprsendValidationError(
            "recipients", f"must be a list of recipients, got {type(value).__name__}"
        )
    return _bounded_tuple(value, _LIMITS.max_recipients)


# Event's fields, each set through its slot's own descriptor: half the cost of
# object.__setattr__, which finds that descriptor by name first (one Event is built per
# record of a bulk upload).
_EventSetter = Callable[[Event, Any], None]
_set_distinct_id: _EventSetter = Event.__dict__["distinct_id"].__set__
_set_event_name: _EventSetter = Event.__dict__["event_name"].__set__
_set_properties: _EventSetter = Event.__dict__["properties"].__set__
_set_idempotency_key: _EventSetter = Event.__dict__["idempotency_key"].__set__
_set_tenant_id: _EventSetter = Event.__dict__["tenant_id"].__set__
_set_brand_id: _EventSetter = Event.__dict__["brand_id"].__set__
_set_attachments: _EventSetter = Event.__dict__["attachments"].__set__
_MIN_EVENT_NAME = _LIMITS.min_event_name_length


@attrs.frozen(kw_only=True, init=False)
class WorkflowTriggerRequest:
    """One run of the workflow ``workflow`` for up to 100 ``recipients``.

    Keyword arguments; checked when built (a ``SuprsendValidationError``
    names the field and the rule). The official SDK's form,
    ``WorkflowTriggerRequest(body, idempotency_key=..., tenant_id=...,
    cancellation_key=...)`` with the body as a dict, works too (it is
    :meth:`from_body`).

    - ``workflow``: the workflow's slug.
    - ``recipients``: a list of recipients, each a distinct_id string, a
      mapping in the hub's JSON form (``{"distinct_id": ..., "$email":
      [...]}``), a :class:`Recipient` or an :class:`ObjectRecipient`.
    - ``data``: a JSON-serializable mapping for the templates.
    - ``actor``: who caused the notification, as a recipient.
    - ``metadata``, ``tenant_id``, ``cancellation_key``: as in the hub's API.
    - ``idempotency_key``: the hub processes a key once in 24 hours; a
      request with one is safe to retry, and is retried.
    - ``attachments``: :class:`Attachment` values (or use :meth:`with_attachment`).
    """

    workflow: str
    recipients: tuple[RecipientLike, ...] = attrs.field(converter=_recipients)
    data: dict[str, Any] = attrs.field(default=None, converter=_data)
    actor: RecipientLike | None = None
    metadata: dict[str, Any] | None = attrs.field(default=None, converter=_metadata)
    tenant_id: str | None = attrs.field(default=None, converter=_tenant_id)
    idempotency_key: str | None = attrs.field(default=None, converter=_idempotency_key)
    cancellation_key: str | None = attrs.field(default=None, converter=_cancellation_key)
    attachments: tuple[Attachment, ...] = attrs.field(default=(), converter=attachment_tuple)

    def __init__(
        self,
        body: Mapping[str, Any] | None = None,
        /,
        *,
        workflow: str | None = None,
        recipients: Recipients | None = None,
        data: Mapping[str, Any] | None = None,
        actor: RecipientLike | None = None,
        metadata: Mapping[str, Any] | None = None,
        tenant_id: str | None = None,
        idempotency_key: str | None = None,
        cancellation_key: str | None = None,
        attachments: Iterable[Attachment] = (),
    ) -> None:
        if body is not None:
            # The official SDK's WorkflowTriggerRequest(body, idempotency_key=..., ...),
            # ported verbatim: the body dict, and only the options that SDK takes beside it.
            given = {
                "workflow": workflow,
                "recipients": recipients,
                "data": data,
                "actor": actor,
                "metadata": metadata,
                "attachments": attachments or None,
            }
            extra = sorted(name for name, value in given.items() if value is not None)
            if extra:
                raise SuprsendValidationError(
                    "body",
                    f"give the body dict or keyword fields, not both (also got {', '.join(extra)})",
                )
            built = type(self).from_body(
                body,
                idempotency_key=idempotency_key,
                tenant_id=tenant_id,
                cancellation_key=cancellation_key,
            )
            fields: dict[str, Any] = {
                field.name: getattr(built, field.name) for field in attrs.fields(type(self))
            }
        else:
            # (None where a value is required: the fields' own checks refuse it, typed.)
            fields = {
                "workflow": workflow,
                "recipients": recipients,
                "data": data,
                "actor": actor,
                "metadata": metadata,
                "tenant_id": tenant_id,
                "idempotency_key": idempotency_key,
                "cancellation_key": cancellation_key,
                "attachments": attachments,
            }
        self.__attrs_init__(**fields)

    def __attrs_post_init__(self) -> None:
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
            workflow=body.get("workflow"),
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
        return _evolved(self, attachments=(*self.attachments, attachment))

    def with_idempotency_key(self, key: str | None) -> WorkflowTriggerRequest:
        """A copy of this request with ``key`` as its idempotency key."""
        return _evolved(self, idempotency_key=key)


def _evolved(request: WorkflowTriggerRequest, **changes: Any) -> WorkflowTriggerRequest:
    # attrs.evolve, out of sight of mypy's attrs plugin, which crashes on a class
    # with an __init__ of its own.
    evolve: Any = attrs.evolve
    result: WorkflowTriggerRequest = evolve(request, **changes)
    return result


def _trigger_signature() -> inspect.Signature:
    """What ``help(WorkflowTriggerRequest)`` shows: the fields, and the official SDK's body."""
    fields = inspect.signature(WorkflowTriggerRequest.__attrs_init__)
    self_, *rest = fields.parameters.values()
    body = inspect.Parameter(
        "body",
        inspect.Parameter.POSITIONAL_ONLY,
        default=None,
        annotation="Mapping[str, Any] | None",
    )
    self_ = self_.replace(kind=inspect.Parameter.POSITIONAL_ONLY)
    return fields.replace(parameters=[self_, body, *rest])


WorkflowTriggerRequest.__init__.__signature__ = _trigger_signature()  # type: ignore[attr-defined]
