"""Body rules for the calls only the emulator receives: identity events as the
official SDKs send them.

The client never sends these, so their rules live here rather than in ``_values.rules``;
they follow the hub's OpenAPI document and what the official SDKs send. Each
failure is a ``SuprsendValidationError`` naming the field and the rule, like the
client's own checks. (Dynamic workflow triggers and list broadcasts, which the
client sends too, are checked by ``_values.rules``.)
"""

from __future__ import annotations

from collections.abc import Mapping

from .._values.errors import SuprsendValidationError
from .._values.limits import Limits
from .._values.rules import optional_key, require_id, require_mapping

__all__ = [
    "IDENTITY_OPERATIONS",
    "MAX_IDENTITY_EVENTS_PER_REQUEST",
    "MAX_IDENTITY_EVENT_BYTES",
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
