"""Body rules for the calls only the emulator receives: identity events, dynamic
workflow triggers (the legacy ``{workspace}/trigger/`` path) and list broadcasts.

The client never sends these, so their rules live here rather than in ``_values.rules``;
they follow the hub's OpenAPI document and what the official SDKs send. Each
failure is a ``SuprsendValidationError`` naming the field and the rule, like the
client's own checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._values.errors import SuprsendValidationError
from .._values.limits import Limits
from .._values.rules import optional_key, recipient, require_id, require_mapping

__all__ = [
    "IDENTITY_OPERATIONS",
    "MAX_IDENTITY_EVENTS_PER_REQUEST",
    "MAX_IDENTITY_EVENT_BYTES",
    "broadcast_body",
    "dynamic_trigger_body",
    "identity_event_body",
    "is_identity_event",
]

# What the official SDKs' user edits produce; "$unset" takes a list of keys.
IDENTITY_OPERATIONS = frozenset({"$set", "$set_once", "$add", "$append", "$remove", "$unset"})
# The official SDKs' limits for identity events (bulk_users chunks, one user edit).
MAX_IDENTITY_EVENTS_PER_REQUEST = 400
MAX_IDENTITY_EVENT_BYTES = 10 * 1024


def is_identity_event(record: object) -> bool:
    """An identity event carries ``$user_operations`` and no ``event`` name."""
    return isinstance(record, Mapping) and "event" not in record and "$user_operations" in record


def _schedule(obj: Mapping[str, Any]) -> None:
    delay = obj.get("delay")
    seconds = isinstance(delay, int) and not isinstance(delay, bool) and delay >= 0
    if delay is not None and not seconds and not isinstance(delay, str):
        raise SuprsendValidationError("delay", "must be a duration string or seconds (>= 0)")
    if obj.get("trigger_at") is not None and not isinstance(obj["trigger_at"], str):
        raise SuprsendValidationError("trigger_at", "must be an ISO-8601 date-time string")


def _common_keys(obj: Mapping[str, Any], limits: Limits) -> None:
    optional_key(obj.get("$idempotency_key"), "$idempotency_key", limits.max_idempotency_key_length)
    optional_key(obj.get("tenant_id"), "tenant_id", limits.max_tenant_id_length)
    optional_key(obj.get("brand_id"), "brand_id", limits.max_tenant_id_length)


def identity_event_body(body: object, limits: Limits) -> None:
    """One identity event (a user edit) as the official SDKs post it to ``event/``."""
    obj = require_mapping(body, "identity event body")
    require_id(obj.get("distinct_id"), "distinct_id")
    operations = obj.get("$user_operations")
    if not isinstance(operations, list):
        raise SuprsendValidationError(
            "$user_operations", f"must be a list, got {type(operations).__name__}"
        )
    for i, operation in enumerate(operations):
        field = f"$user_operations[{i}]"
        op = require_mapping(operation, field)
        for name, value in op.items():
            if name not in IDENTITY_OPERATIONS:
                raise SuprsendValidationError(
                    f"{field}.{name}",
                    f"is not an operation; allowed: {sorted(IDENTITY_OPERATIONS)}",
                )
            if name == "$unset":
                if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
                    raise SuprsendValidationError(f"{field}.$unset", "must be a list of keys")
            else:
                require_mapping(value, f"{field}.{name}")
    require_mapping(obj.get("properties", {}), "properties")
    optional_key(obj.get("tenant_id"), "tenant_id", limits.max_tenant_id_length)


def dynamic_trigger_body(body: object, limits: Limits) -> None:
    """One dynamic workflow trigger (``POST {workspace}/trigger/``, the official SDKs'
    ``trigger_workflow`` and ``bulk_workflows``)."""
    obj = require_mapping(body, "workflow body")
    for field in ("name", "template", "notification_category"):
        require_id(obj.get(field), field)
    users = obj.get("users")
    if not isinstance(users, list):
        raise SuprsendValidationError("users", f"must be a list, got {type(users).__name__}")
    if not 1 <= len(users) <= limits.max_recipients:
        raise SuprsendValidationError(
            "users", f"must have 1 to {limits.max_recipients} items, got {len(users)}"
        )
    for i, user in enumerate(users):
        require_mapping(user, f"users[{i}]")
        recipient(user, f"users[{i}]", limits)
    require_mapping(obj.get("data", {}), "data")
    if obj.get("delivery") is not None:
        require_mapping(obj["delivery"], "delivery")
    _schedule(obj)
    _common_keys(obj, limits)


def broadcast_body(body: object, limits: Limits) -> None:
    """One list broadcast (``POST {workspace}/broadcast/``)."""
    obj = require_mapping(body, "broadcast body")
    for field in ("list_id", "template", "notification_category"):
        require_id(obj.get(field), field)
    channels = obj.get("channels")
    if channels is not None and (
        not isinstance(channels, list) or not all(isinstance(c, str) for c in channels)
    ):
        raise SuprsendValidationError("channels", "must be a list of channel names")
    require_mapping(obj.get("data", {}), "data")
    _schedule(obj)
    _common_keys(obj, limits)
