"""Every number and name the hub enforces, in one place.

The client's validation, the bulk chunker and the emulator all read these, so
a limit changed here changes everywhere at once.
"""

from __future__ import annotations

from typing import Any

import attrs

from .errors import SuprsendConfigError

DEFAULT_BASE_URL = "https://hub.suprsend.com/"

# The hub reserves event names starting with these prefixes, except the
# handful of system events SDKs are allowed to send.
RESERVED_EVENT_PREFIXES = ("$", "ss_")
ALLOWED_RESERVED_EVENT_NAMES = frozenset(
    {
        "$identify",
        "$notification_delivered",
        "$notification_dismiss",
        "$notification_clicked",
        "$app_launched",
        "$user_login",
        "$user_logout",
    }
)

TRIGGER_KEYS = frozenset(
    {
        "workflow",
        "recipients",
        "actor",
        "data",
        "metadata",
        "tenant_id",
        "$idempotency_key",
        "cancellation_key",
    }
)

CHANNEL_KEYS = (
    "$email",
    "$sms",
    "$whatsapp",
    "$inbox",
    "$androidpush",
    "$iospush",
    "$webpush",
    "$slack",
    "$ms_teams",
)
CHANNEL_NAMES = frozenset(
    {
        "email",
        "sms",
        "whatsapp",
        "inbox",
        "androidpush",
        "iospush",
        "webpush",
        "slack",
        "ms_teams",
        "messenger",
    }
)


# The most of a hub answer the client reads, decompressed. The largest real
# answer (a 207 for 100 bulk records) is a few KB; anything near this is a
# proxy's page or a hostile server, and reading it whole could exhaust memory.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


# The longest id (a distinct_id, tenant_id, category...) a REST call puts in a
# path. The hub documents none; an email address is at most 254 characters,
# and a path escapes each character to as many as 12, so three ids and a query
# stay far inside what a URL may hold (httpx refuses one over 64 KB).
MAX_ID_LENGTH = 512
# The most a call's options may take up in the query string, once escaped.
MAX_QUERY_BYTES = 16 * 1024


def shown(value: object) -> str:
    """A number as itself, anything else by its type: a repr may be huge, recursive or secret."""
    if isinstance(value, float) or (isinstance(value, int) and abs(value) < 10**15):
        return repr(value)
    return type(value).__name__


def _count(minimum: int) -> Any:
    def check(_: object, attribute: attrs.Attribute[int], value: object) -> None:
        # bool is an int, but True records per request is a mistake.
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise SuprsendConfigError(
                f"Limits.{attribute.name} must be an integer of at least {minimum},"
                f" got {shown(value)}"
            )

    return check


@attrs.frozen(kw_only=True)
class Limits:
    """Size and count limits of the hub.

    Defaults are the documented values; tests and the emulator may tighten
    them to exercise edge cases without building megabyte payloads. Every
    value is an integer, checked when built (SuprsendConfigError).
    """

    max_records_per_request: int = attrs.field(default=100, validator=_count(1))
    max_body_bytes: int = attrs.field(default=800 * 1024, validator=_count(1))
    max_single_event_bytes: int = attrs.field(default=100 * 1024, validator=_count(1))
    max_attachment_base64_bytes: int = attrs.field(default=50 * 1024, validator=_count(1))
    max_idempotency_key_length: int = attrs.field(default=255, validator=_count(1))
    max_cancellation_key_length: int = attrs.field(default=255, validator=_count(1))
    max_tenant_id_length: int = attrs.field(default=64, validator=_count(1))
    min_event_name_length: int = attrs.field(default=2, validator=_count(0))
    max_recipients: int = attrs.field(default=100, validator=_count(1))
    max_channel_entries: int = attrs.field(default=10, validator=_count(0))
    # Keys the hub adds to each workflow record after receipt; the official
    # SDKs reserve room for them when packing a bulk request.
    workflow_record_overhead_bytes: int = attrs.field(default=200, validator=_count(0))
    # Identity (user edit) events sent in bulk on event/, as the official SDK chunks them.
    max_identity_records_per_request: int = attrs.field(default=400, validator=_count(1))
    max_identity_event_bytes: int = attrs.field(default=10 * 1024, validator=_count(1))
    # Distinct ids in one request adding to or removing from a subscriber list. The hub's
    # reference gives no limit; 1,000 is its largest page size and its message batch size.
    max_list_ids_per_request: int = attrs.field(default=1000, validator=_count(1))


DEFAULT_LIMITS = Limits()
