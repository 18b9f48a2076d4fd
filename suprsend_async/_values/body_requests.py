"""Requests given as the hub's own JSON body, in the official SDK's shape:
``Workflow`` (a dynamic, single-step workflow: ``trigger_workflow``,
``bulk_workflows``) and ``SubscriberListBroadcast`` (``subscriber_lists.broadcast``).

``Workflow(body, idempotency_key=None, tenant_id=None, brand_id=None)`` as
there, but a frozen value checked when built (the SDK checks its JSON schema
when it sends): a ``SuprsendValidationError`` names the field and the rule.
The keyword arguments win over the same keys in ``body``, as in the SDK.
Files are attached with ``with_attachment(Attachment...)``, as on events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

import attrs

from . import rules as _rules
from .attachments import Attachment, attachment_tuple
from .errors import SuprsendValidationError
from .limits import DEFAULT_LIMITS, Limits

__all__ = ["SubscriberListBroadcast", "Workflow"]

_Self = TypeVar("_Self", bound="_BodyRequest")
# Keys given as keyword arguments (or found in the body), sent after the body's own.
_KEYS = (
    ("$idempotency_key", "idempotency_key"),
    ("tenant_id", "tenant_id"),
    ("brand_id", "brand_id"),
)


@attrs.frozen(init=False)
class _BodyRequest:
    """A body, its idempotency key, tenant and brand, and attachments; checked when built."""

    body: dict[str, Any] = attrs.field(repr=False)
    idempotency_key: str | None
    tenant_id: str | None
    brand_id: str | None
    attachments: tuple[Attachment, ...]

    # The rule the whole wire body must pass, and what the body is called in errors.
    _check: ClassVar[Callable[[object, Limits], None]]
    _what: ClassVar[str]

    def __init__(
        self,
        body: Mapping[str, Any],
        idempotency_key: str | None = None,
        tenant_id: str | None = None,
        brand_id: str | None = None,
        *,
        attachments: Attachment | Iterable[Attachment] = (),
    ) -> None:
        if not isinstance(body, Mapping):
            raise SuprsendValidationError(
                "body", f"{self._what} body must be a mapping (dict), got {type(body).__name__}"
            )
        given = {"idempotency_key": idempotency_key, "tenant_id": tenant_id, "brand_id": brand_id}
        own = dict(body)
        for wire, name in _KEYS:
            found = own.pop(wire, None)
            if given[name] is None:
                given[name] = found
        object.__setattr__(self, "body", own)
        for name, value in given.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "attachments", attachment_tuple(attachments))
        # The body as it will be sent: one check, by the rule the emulator applies too.
        type(self)._check(self.to_json(), DEFAULT_LIMITS)

    def to_json(self) -> dict[str, Any]:
        """The body as sent (the official SDK's ``as_json()`` with attachments and ``data``)."""
        wire = dict(self.body)
        data = wire.get("data")
        if data is None:
            data = {}
        if self.attachments and isinstance(data, Mapping):
            data = dict(data)
            existing = data.get("$attachments")
            data["$attachments"] = [
                *(existing if isinstance(existing, list) else ()),
                *(a.to_wire() for a in self.attachments),
            ]
        wire["data"] = data
        for key, name in _KEYS:
            value = getattr(self, name)
            if value:  # as the SDK: an empty key is not sent
                wire[key] = value
        return wire

    def as_json(self) -> dict[str, Any]:
        """The official SDK's name for :meth:`to_json`."""
        return self.to_json()

    def with_attachment(self: _Self, attachment: Attachment | None) -> _Self:
        """A copy with ``attachment`` added (unchanged if None, as ``Attachment.from_path``
        gives for an unreadable file with ``ignore_if_error=True``)."""
        if attachment is None:
            return self
        return attrs.evolve(self, attachments=(*self.attachments, attachment))

    def with_idempotency_key(self: _Self, key: str | None) -> _Self:
        return attrs.evolve(self, idempotency_key=key)


class Workflow(_BodyRequest):
    """A dynamic workflow: ``{"name", "template", "notification_category", "users", "data",
    "delivery", "delay", "trigger_at"}``, triggered with ``client.trigger_workflow`` or in
    bulk with ``client.bulk_workflows``; up to 100 ``users``."""

    _check = staticmethod(_rules.dynamic_trigger_body)
    _what = "workflow"


class SubscriberListBroadcast(_BodyRequest):
    """A broadcast to a subscriber list: ``{"list_id", "template", "notification_category",
    "channels", "data", "delay", "trigger_at"}``, sent with
    ``client.subscriber_lists.broadcast``."""

    _check = staticmethod(_rules.broadcast_body)
    _what = "broadcast"
