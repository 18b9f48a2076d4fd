"""Which REST operations may be sent again: the one place that decides it.

A request is retried only when a repeat cannot change data twice. Reads,
deletes and writes of absolute values repeat harmlessly. A profile edit is
safe only when every operation in it is: setting, unsetting or removing a
value, or adding or removing a channel identity (a set: adding it twice
leaves one). Incrementing a number or appending to a custom list property
changes the result each time it is applied, so one such operation makes the
whole request single-shot; so is a merge, which cannot be applied twice.

Lists, broadcasts, messages and runs (the audience calls) follow the same
rule. A list's members are a set: adding an id twice, or removing it twice,
leaves the same members (and the hub reports a user entering or leaving a list
only when membership changes, so a repeat triggers nothing). Starting a sync
makes a new draft version each time; finishing one or cancelling runs is
answered with what that attempt did, which a repeat cannot report. Message
actions (``seen``, ``read``, ``archived``...) set a state or a flag.
A broadcast or a trigger is a record: retried only with an idempotency key
(``_core.single``), like events.

The README's retry-safety table is this module in prose; keep them in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "ABSOLUTE_WRITE",
    "CANCEL",
    "DELETE",
    "FINISH_SYNC",
    "IDENTITY_KEYS",
    "MEMBERSHIP",
    "MERGE",
    "MESSAGE_ACTIONS",
    "READ",
    "START_SYNC",
    "RetrySafety",
    "body_edit_safety",
    "edit_safety",
    "single_shot",
]

# Channel identities: appending one the profile has is a no-op, so it repeats harmlessly.
IDENTITY_KEYS = frozenset(
    {"$email", "$sms", "$whatsapp", "$androidpush", "$iospush", "$webpush", "$slack", "$ms_teams"}
)
# Sent beside a push identity in the same $append / $remove (which provider, which app).
IDENTITY_QUALIFIERS = frozenset({"$id_provider", "$bundle_id"})

_IDEMPOTENT_OPERATIONS = frozenset({"$set", "$set_once", "$unset", "$remove"})
_NOT_IDEMPOTENT = {
    "$add": "increments",
    "$increment": "increments",
}


@attrs.frozen
class RetrySafety:
    """Whether a request may be sent again after a failure that may have applied it."""

    retry: bool
    # Why not, when it may not: said in the error of a failure that was not retried.
    reason: str | None = None

    def not_retried_note(self) -> str:
        return f"not retried: {self.reason}"


READ = RetrySafety(True)
# Both repeat harmlessly on their own, but a repeat re-applies its value over
# whatever another writer did since the first attempt (a retried delete can
# delete a user re-created meanwhile). The hub has no conditional requests to
# prevent it; retries stay within the call's RetryPolicy, and the README's
# retry-safety table states the race and the per-call way out
# (retry=RetryPolicy.disabled()).
DELETE = RetrySafety(True)  # a second delete finds nothing to delete; see resources.users
ABSOLUTE_WRITE = RetrySafety(True)  # upserts, preferences, tenant links: same values, same state


def single_shot(reason: str) -> RetrySafety:
    return RetrySafety(False, reason)


MERGE = single_shot("a merge cannot be applied twice (the second finds the merged user gone)")

# Adding or removing list members (of a list or of a draft version): a set operation.
MEMBERSHIP = RetrySafety(True)
# seen, clicked, dismissed, read, unread, archived, unarchived: each sets a status or a flag.
MESSAGE_ACTIONS = RetrySafety(True)
START_SYNC = single_shot("a repeat would start a second draft version of the list")
FINISH_SYNC = single_shot(
    "a repeat finds the version already made live and fails, hiding that the first worked"
)
CANCEL = single_shot(
    "a repeat could cancel runs started since, and would not report the ones already cancelled"
)


def _named(key: object, quote: bool = True) -> str:
    """A key as a reason may quote it: a short string, or only its type (its repr
    may be huge, secret or raise)."""
    if isinstance(key, str):
        short = key if len(key) <= 40 else key[:40] + "..."
        return repr(short) if quote else short
    return type(key).__name__


def _operation_safety(index: int, operation: Any) -> RetrySafety:
    if not isinstance(operation, Mapping) or not operation:
        return single_shot(
            f"operation {index} is not an operation object, so its effect is unknown"
        )
    for name, values in operation.items():
        where = f"operation {index} ({_named(name, quote=False)})"
        if name in _NOT_IDEMPOTENT:
            keys = ", ".join(_named(k) for k in values) if isinstance(values, Mapping) else ""
            return single_shot(
                f"{where} {_NOT_IDEMPOTENT[name]} {keys or 'a value'}; "
                "a repeat could apply it twice"
            )
        if name == "$append":
            if not isinstance(values, Mapping):
                return single_shot(f"{where} is not a mapping, so its effect is unknown")
            custom = [k for k in values if k not in IDENTITY_KEYS | IDENTITY_QUALIFIERS]
            if custom:
                keys = ", ".join(_named(k) for k in custom)
                return single_shot(
                    f"{where} appends to {keys}, a list property; a repeat could append it twice"
                )
        elif name not in _IDEMPOTENT_OPERATIONS:
            return single_shot(f"{where} is not a known operation, so its effect is unknown")
    return READ


def edit_safety(operations: Any) -> RetrySafety:
    """The safety of a profile edit (``PATCH`` or an identity event) from its operations."""
    if not isinstance(operations, list):
        return single_shot("the edit has no list of operations, so its effect is unknown")
    for index, operation in enumerate(operations):
        safety = _operation_safety(index, operation)
        if not safety.retry:
            return safety
    return ABSOLUTE_WRITE


def body_edit_safety(body: Any) -> RetrySafety:
    """The safety of a ``PATCH`` edit from its body, ``{"operations": [...]}``."""
    return edit_safety(body.get("operations") if isinstance(body, Mapping) else None)
