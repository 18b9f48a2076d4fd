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

How an attempt ended decides the rest (:class:`AttemptEnd`, :func:`may_retry`):
an attempt that was never sent, or that the hub answered in a way that proves
it applied nothing (429, 408), is sent again whatever the operation; one that
may have been applied (no answer, a server error) only when the operation is
repeatable. Every request path (single events and triggers, bulk chunks, REST
calls) asks :func:`may_retry`.

The README's retry-safety table is this module in prose; keep them in step.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs

from .errors import SuprsendTransportError

__all__ = [
    "ABSOLUTE_WRITE",
    "CANCEL",
    "DELETE",
    "FINISH_SYNC",
    "IDENTITY_KEYS",
    "MEMBERSHIP",
    "MERGE",
    "MESSAGE_ACTIONS",
    "NOT_APPLIED_STATUSES",
    "READ",
    "START_SYNC",
    "TRANSIENT_STATUSES",
    "AttemptEnd",
    "Ending",
    "RetrySafety",
    "body_edit_safety",
    "edit_safety",
    "may_retry",
    "refused_record",
    "single_shot",
]

# Answers that prove the hub applied nothing: it refused to process the request
# (rate limited) or never received all of it (a proxy's request timeout).
NOT_APPLIED_STATUSES = frozenset({408, 429})
# Answers worth another try that may hide a success (a gateway that gave up on
# a backend which finished, a hub that failed part way).
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
# Of those, the ones a gateway gives for a backend it lost track of.
_GATEWAY_STATUSES = frozenset({502, 504})


class Ending(enum.Enum):
    """How one attempt ended, as far as the transport knows."""

    NOT_SENT = "not sent"  # no connection: nothing was written
    NO_ANSWER = "no answer"  # written (maybe in part), no complete answer read
    ANSWERED = "answered"


@attrs.frozen
class AttemptEnd:
    """How one attempt ended; ``status`` is the hub's (or a record's) status when answered."""

    ending: Ending
    status: int | None = None

    @classmethod
    def answered(cls, status: int) -> AttemptEnd:
        # One value per status, made once: every answer asks several times.
        end = _ANSWERED.get(status)
        if end is None:
            end = cls(Ending.ANSWERED, status)
            if 100 <= status < 600:
                _ANSWERED[status] = end
        return end

    @classmethod
    def of_error(cls, exc: SuprsendTransportError) -> AttemptEnd:
        return _NOT_SENT if not exc.sent else _NO_ANSWER

    @property
    def not_applied(self) -> bool:
        """Proof that the hub applied nothing: never sent, or refused unprocessed."""
        return self.ending is Ending.NOT_SENT or self.status in NOT_APPLIED_STATUSES

    @property
    def transient(self) -> bool:
        """Worth another attempt if a repeat is harmless."""
        return self.ending is Ending.NO_ANSWER or self.status in TRANSIENT_STATUSES

    @property
    def may_have_applied(self) -> bool:
        """The hub may have processed it although it did not say so.

        No answer, or a gateway's 502/504 (the hub behind it may have
        finished). A rate limit, a client error or the hub's own error answer
        say it did not.
        """
        return self.ending is Ending.NO_ANSWER or self.status in _GATEWAY_STATUSES


_NOT_SENT = AttemptEnd(Ending.NOT_SENT)
_NO_ANSWER = AttemptEnd(Ending.NO_ANSWER)
_ANSWERED: dict[int, AttemptEnd] = {}


def refused_record(status: int | None) -> bool:
    """The hub's status for a record refuses that record itself: a 4xx other than 408
    and 429, which apply nothing and pass. Sending it again gets the same answer, so a
    sender keeps it as failed; any other status (a 5xx, a redirect not followed) or none
    may pass."""
    return status is not None and 400 <= status < 500 and status not in NOT_APPLIED_STATUSES


def may_retry(end: AttemptEnd, repeatable: bool) -> bool:
    """Whether an attempt that ended so may be followed by another.

    ``repeatable``: a repeat cannot notify anyone twice or change data twice
    (the request carries an idempotency key, or its operation is idempotent).
    What was not applied is always sent again; what may have been, only when
    repeatable. Any other answer is final.
    """
    if end.not_applied:
        return True
    return repeatable and end.transient


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
