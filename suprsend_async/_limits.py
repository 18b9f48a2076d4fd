"""Every number and name the hub enforces, in one place.

The client's validation, the bulk chunker and the emulator all read these, so
a limit changed here changes everywhere at once.
"""

from __future__ import annotations

import attrs

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


@attrs.frozen(kw_only=True)
class Limits:
    """Size and count limits of the hub.

    Defaults are the documented values; tests and the emulator may tighten
    them to exercise edge cases without building megabyte payloads.
    """

    max_records_per_request: int = 100
    max_body_bytes: int = 800 * 1024
    max_single_event_bytes: int = 100 * 1024
    max_attachment_base64_bytes: int = 50 * 1024
    max_idempotency_key_length: int = 255
    max_cancellation_key_length: int = 255
    max_tenant_id_length: int = 64
    min_event_name_length: int = 2
    max_recipients: int = 100
    max_channel_entries: int = 10
    # Keys the hub adds to each workflow record after receipt; the official
    # SDKs reserve room for them when packing a bulk request.
    workflow_record_overhead_bytes: int = 200
    # Identity (user edit) events sent in bulk on event/, as the official SDK chunks them.
    max_identity_records_per_request: int = 400
    max_identity_event_bytes: int = 10 * 1024


DEFAULT_LIMITS = Limits()
