"""Workflow and broadcast runs, and the messages they send, on the emulator's clock.

Every processed trigger (``trigger/``, a dynamic workflow) and broadcast
starts a :class:`Run`. A run is due at once, unless its workflow was declared
with a delay (``HubEmulator(workflow_delays={"digest": 3600})``) or its body
asks for one (``"delay": "1h30m"`` or seconds): then it stays pending until
the emulator's clock passes that time (``hub.advance(seconds)``), and can be
cancelled until then. When a run completes it records one :class:`Message`
per recipient (for a broadcast: per member of the list at that moment), so a
test can assert "ann got a message from workflow X" through ``messages.list``.
"""

from __future__ import annotations

import datetime
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import attrs

from ._collection import StoreError, page

__all__ = ["Message", "Run", "RunStore", "parse_delay"]

RunKind = Literal["workflow", "broadcast"]
RunStatus = Literal["pending", "completed", "cancelled"]

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
# What each action sets: a status (one way: a later status is never moved back) or a flag.
_STATUS_ORDER = ("triggered", "sent_by_vendor", "delivered", "seen", "read", "clicked", "dismissed")
_FLAGS = {
    "read": ("is_read", True),
    "unread": ("is_read", False),
    "archived": ("is_archived", True),
    "unarchived": ("is_archived", False),
}
ACTIONS = frozenset({"seen", "clicked", "dismissed", *_FLAGS})
# The filters messages.list takes as repeated ``key[]`` values.
MULTI_VALUE_FILTERS = ("recipient_id", "status", "category")
# Above any sequence number: a message's cursor is this minus its sequence, so newer is first.
_NEWEST = 10**12
_CHANNEL_KEYS = ("$email", "$sms", "$whatsapp", "$inbox", "$androidpush", "$iospush", "$slack")


def parse_delay(value: object) -> float:
    """A delay as the hub takes it: seconds, or ``"1d2h30m10s"`` (each part optional)."""
    if value is None or value == "":
        return 0.0
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return float(text)
        match = _DURATION.match(text)
        if match and any(match.groups()):
            days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
            return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)
    raise StoreError(400, f"delay: {value!r} is not seconds or a duration like '1d2h30m10s'")


def _iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat()


def _recipient_ref(recipient: Any) -> dict[str, Any]:
    """A recipient as a message names it: a user's distinct id, or an object's type and id."""
    if isinstance(recipient, str):
        return {"$type": "user", "distinct_id": recipient, "object_type": None, "id": None}
    if isinstance(recipient, Mapping) and recipient.get("object_type") is not None:
        return {
            "$type": "object",
            "distinct_id": None,
            "object_type": recipient.get("object_type"),
            "id": recipient.get("id"),
        }
    distinct_id = recipient.get("distinct_id") if isinstance(recipient, Mapping) else None
    return {"$type": "user", "distinct_id": distinct_id, "object_type": None, "id": None}


def _channel(recipient: Any) -> str:
    if isinstance(recipient, Mapping):
        for key in _CHANNEL_KEYS:
            if recipient.get(key):
                return key[1:]
    return "inbox"


@attrs.define(eq=False)
class Message:
    """One message a completed run sent: ``hub.messages`` lists them, oldest first."""

    message_id: str
    seq: int
    created_at: float
    execution_id: str
    recipient: dict[str, Any]
    channel: str
    workflow: str | None  # the workflow's slug (a dynamic one's name); None for a broadcast
    template: str | None
    category: str | None
    tenant_id: str | None
    idempotency_key: str | None
    is_campaign: bool
    status: str = "delivered"
    is_read: bool = False
    is_archived: bool = False
    # Each action's time, by name ("seen" -> "seen_at"), as the document lists them.
    stamps: dict[str, float] = attrs.field(factory=dict)

    @property
    def distinct_id(self) -> str | None:
        return self.recipient.get("distinct_id")

    def apply(self, action: str, now: float) -> None:
        if action in _FLAGS:
            flag, value = _FLAGS[action]
            setattr(self, flag, value)
        elif _STATUS_ORDER.index(action) > _STATUS_ORDER.index(self.status):
            self.status = action
        self.stamps[action] = now

    def to_json(self) -> dict[str, Any]:
        stamps = {
            f"{name}_at": _iso(self.stamps[name]) if name in self.stamps else None
            for name in ("seen", "clicked", "dismissed", "read", "unread", "archived", "unarchived")
        }
        return {
            "message_id": self.message_id,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(max([self.created_at, *self.stamps.values()])),
            "triggered_at": _iso(self.created_at),
            "delivered_at": _iso(self.created_at),
            **stamps,
            "is_read": self.is_read,
            "is_archived": self.is_archived,
            "status": self.status,
            "channel": self.channel,
            "idempotency_key": self.idempotency_key,
            "failure_reason": None,
            "recipient": self.recipient,
            "parent_entity_id": None,
            "parent_entity_type": None,
            "vendor": {"name": "emulator", "nickname": "Emulator"},
            "execution_id": self.execution_id,
            "parent_execution_id": None,
            "is_campaign": self.is_campaign,
            "tenant_id": self.tenant_id,
            "workflow": None if self.workflow is None else {"slug": self.workflow},
            "template": None if self.template is None else {"slug": self.template},
            "channel_identity": None,
            "category": self.category,
        }

    def matches(self, filters: Mapping[str, Sequence[str]]) -> bool:
        """Whether the message passes every filter of ``messages.list`` given."""
        for name, wanted in filters.items():
            if not wanted:
                continue
            if name == "recipient_id":
                have: Any = self.distinct_id
            elif name == "status":
                if not any(self._has_status(s) for s in wanted):
                    return False
                continue
            elif name == "workflow_slug":
                have = self.workflow
            elif name == "is_campaign":
                have = "true" if self.is_campaign else "false"
            elif name in ("category", "channel", "execution_id", "idempotency_key", "tenant_id"):
                have = getattr(self, name)
            elif name == "message_id":
                have = self.message_id
            else:
                continue  # a filter the emulator does not model narrows nothing
            if have not in wanted:
                return False
        return True

    def _has_status(self, status: str) -> bool:
        if status in ("read", "unread"):
            return self.is_read == (status == "read")
        if status == "archived":
            return self.is_archived
        return self.status == status


@attrs.define(eq=False)
class Run:
    """A workflow or broadcast run: ``hub.runs`` lists them, oldest first."""

    execution_id: str
    kind: RunKind
    name: str  # the workflow's slug (a dynamic one's name), or the broadcast's list id
    recipients: list[Any]  # for a broadcast: the list's members, read when it completes
    due: float
    idempotency_key: str | None
    tenant_id: str | None
    template: str | None
    category: str | None
    status: RunStatus = "pending"


class RunStore:
    """The runs and messages of one workspace, on ``clock`` (the emulator's).

    ``members(list_id)`` gives a list's members when a broadcast to it runs.
    ``keep=False`` (the emulator's ``keep_records=False``, for multi-million
    record runs) keeps only the pending runs: none completed, no message.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        members: Callable[[str], Iterable[str]],
        workflow_delays: Mapping[str, float] | None = None,
        *,
        keep: bool = True,
    ) -> None:
        self.clock = clock
        self.keep = keep
        self._members = members
        self.workflow_delays = dict(workflow_delays or {})
        self.runs: list[Run] = []
        self.messages: list[Message] = []
        self._by_id: dict[str, Message] = {}
        self._pending: list[Run] = []
        self._ids = itertools.count(1)

    def start(
        self,
        kind: RunKind,
        name: str,
        recipients: list[Any],
        *,
        body: Mapping[str, Any],
        template: str | None = None,
        category: str | None = None,
    ) -> Run:
        """Start a run of a processed trigger or broadcast; it completes now unless delayed."""
        delay = self.workflow_delays.get(name, 0.0) if kind == "workflow" else 0.0
        delay = max(delay, parse_delay(body.get("delay")))
        key = body.get("$idempotency_key")
        run = Run(
            execution_id=f"emu-{kind}-run-{next(self._ids):08d}",
            kind=kind,
            name=name,
            recipients=recipients,
            due=self.clock() + delay,
            idempotency_key=key.strip() if isinstance(key, str) else None,
            tenant_id=body.get("tenant_id"),
            template=template,
            category=category,
        )
        if self.keep:
            self.runs.append(run)
        if delay or self._pending or self.keep:
            self._pending.append(run)
            self.complete_due()
        else:  # nothing to wait for nor to keep: the hot path of a bulk upload
            run.status = "completed"
        return run

    def complete_due(self) -> None:
        """Complete every pending run whose time has come (called before each answer)."""
        now = self.clock()
        due = [run for run in self._pending if run.due <= now]
        if not due:
            return
        self._pending = [run for run in self._pending if run.due > now]
        for run in sorted(due, key=lambda r: r.due):
            run.status = "completed"
            if not self.keep:
                continue
            recipients = run.recipients if run.kind == "workflow" else self._members(run.name)
            for recipient in recipients:
                self._record(run, recipient, now)

    def _record(self, run: Run, recipient: Any, now: float) -> None:
        seq = next(self._ids)
        message = Message(
            message_id=f"emu-msg-{seq:08d}",
            seq=seq,
            created_at=now,
            execution_id=run.execution_id,
            recipient=_recipient_ref(recipient),
            channel=_channel(recipient),
            workflow=run.name if run.kind == "workflow" else None,
            template=run.template,
            category=run.category,
            tenant_id=run.tenant_id,
            idempotency_key=run.idempotency_key,
            is_campaign=run.kind == "broadcast",
        )
        self.messages.append(message)
        self._by_id[message.message_id] = message

    # -- cancellation ---------------------------------------------------------------------

    def cancel(self, kind: RunKind, filters: Mapping[str, Any]) -> list[str]:
        """Cancel the pending runs of ``kind`` matching every filter; their execution ids.

        A run already completed is not cancelled (and not listed).
        """
        self.complete_due()
        cancelled = []
        for run in self._pending:
            if run.kind == kind and _run_matches(run, filters):
                run.status = "cancelled"
                cancelled.append(run)
        self._pending = [run for run in self._pending if run.status == "pending"]
        return [run.execution_id for run in cancelled]

    # -- messages ---------------------------------------------------------------------------

    def messages_page(self, filters: Mapping[str, Sequence[str]]) -> dict[str, Any]:
        """``GET v1/message/``: newest first, by cursor."""
        self.complete_due()
        paging = {k: v[-1] for k, v in filters.items() if k in ("limit", "after") and v}
        # Newest first, by a cursor that stays put as messages arrive: it counts down.
        rows = ((_NEWEST - m.seq, m.to_json()) for m in self.messages if m.matches(filters))
        return page(rows, paging, default_limit=10)

    def bulk_update(self, body: Any) -> dict[str, Any]:
        """``PATCH v1/bulk/message/``: one result per message, in order."""
        items = body.get("messages") if isinstance(body, Mapping) else None
        if not isinstance(items, list) or not 1 <= len(items) <= 1000:
            raise StoreError(400, "messages: must be a list of 1 to 1000 items")
        now = self.clock()
        records = []
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise StoreError(400, f"messages[{i}]: must be an object")
            message_id, action = item.get("message_id"), item.get("action")
            if action not in ACTIONS:
                raise StoreError(400, f"messages[{i}].action: must be one of {sorted(ACTIONS)}")
            message = self._by_id.get(message_id) if isinstance(message_id, str) else None
            if message is None:
                error = {"type": "not_found", "message": "not found"}
                records.append({"message_id": message_id, "status_code": 404, "error": error})
                continue
            message.apply(action, now)
            records.append({"message_id": message_id, "status_code": 202, "error": None})
        return {"records": records}


def _run_matches(run: Run, filters: Mapping[str, Any]) -> bool:
    for name, wanted in filters.items():
        if wanted is None:
            continue
        if name == "execution_id":
            ok = run.execution_id == wanted
        elif name == "idempotency_key":
            ok = run.idempotency_key == wanted
        elif name in ("workflow_slug", "list_id"):
            ok = run.name == wanted
        elif name == "recipients":
            ids = {_recipient_ref(r).get("distinct_id") for r in run.recipients}
            ok = isinstance(wanted, list) and bool(ids & set(wanted))
        else:
            raise StoreError(400, f"{name}: not a filter of this cancel")
        if not ok:
            return False
    return True
