"""The hub's validation rules as pure functions over wire values.

One source of truth: the client's value objects call the field checks when
they are built, and the emulator calls the body checks on what it receives.
Every failure is a SuprsendValidationError naming the field and the rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .errors import SuprsendValidationError
from .limits import (
    ALLOWED_RESERVED_EVENT_NAMES,
    CHANNEL_KEYS,
    CHANNEL_NAMES,
    DEFAULT_LIMITS,
    MAX_ID_LENGTH,
    RESERVED_EVENT_PREFIXES,
    TRIGGER_KEYS,
    Limits,
    shown,
)


def _type_name(value: object) -> str:
    return type(value).__name__


def require_id(value: object, field: str) -> str:
    """A string that is not empty once surrounding whitespace is stripped."""
    if not isinstance(value, str):
        raise SuprsendValidationError(field, f"must be a string, got {_type_name(value)}")
    stripped = value.strip()
    if not stripped:
        raise SuprsendValidationError(field, "must not be empty or only whitespace")
    return stripped


def short_key(key: str) -> str:
    """A key as an error's field may name it: whole when short and printable (keys
    are names, not data), else cut, so that an error never carries a huge value."""
    if len(key) <= 40 and key.isprintable():
        return key
    return "".join(c if c.isprintable() else "?" for c in key[:40]) + "..."


def valid_text(value: str, field: str) -> str:
    """``value`` if it can be sent as UTF-8 (a lone surrogate cannot: it is no character)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SuprsendValidationError(
            field, f"must be valid Unicode text: holds a lone surrogate at position {exc.start}"
        ) from None
    return value


def rest_id(value: object, field: str) -> str:
    """An id a REST call sends (in its path or body): as :func:`require_id`, valid
    Unicode, and at most MAX_ID_LENGTH characters."""
    stripped = require_id(value, field)
    if len(stripped) > MAX_ID_LENGTH:
        raise SuprsendValidationError(
            field, f"must be at most {MAX_ID_LENGTH} characters, got {len(stripped)}"
        )
    return valid_text(stripped, field)


def optional_key(value: object, field: str, max_length: int) -> str | None:
    """None, or a string of at most ``max_length`` characters.

    An empty string counts as unset, as in the official SDKs (they only send
    these keys when truthy).
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise SuprsendValidationError(field, f"must be a string or None, got {_type_name(value)}")
    if len(value) > max_length:
        raise SuprsendValidationError(
            field, f"must be at most {max_length} characters, got {len(value)}"
        )
    return value or None


def idempotency_key(value: object, field: str, max_length: int) -> str | None:
    """An optional idempotency key that, when given, really deduplicates.

    The hub trims surrounding whitespace, so a key of only whitespace arrives
    empty and deduplicates nothing, while its request would look keyed here,
    and so safe to retry: refused rather than sent.
    """
    key = optional_key(value, field, max_length)
    if key is not None and not key.strip():
        raise SuprsendValidationError(
            field,
            "must not be only whitespace: the hub trims it to an empty key, "
            "which deduplicates nothing",
        )
    return key


def require_mapping(value: object, field: str) -> Mapping[str, Any]:
    if type(value) is dict:
        # The usual case (every JSON object the emulator parses), without the
        # abstract-class check, which costs more than the rest of this.
        for key in value:
            if type(key) is not str:
                break
        else:
            return value
    if not isinstance(value, Mapping):
        raise SuprsendValidationError(field, f"must be a mapping (dict), got {_type_name(value)}")
    for key in value:
        if not isinstance(key, str):
            raise SuprsendValidationError(field, f"keys must be strings, got {_type_name(key)}")
    return value


# Deeper than any real channel identity or recipient object; deep enough nesting
# would overflow the stack of anything recursive (cattrs, repr, json).
MAX_NESTING = 64
# Values visited at most: shared sub-objects can make a small value enormous to walk.
MAX_NODES = 10_000


def json_object(value: Mapping[str, Any], field: str, max_depth: int = MAX_NESTING) -> None:
    """A small mapping with string keys, nested at most ``max_depth`` deep (so no cycles)."""
    json_value(value, field, max_depth)


def json_value(
    value: object, field: str, max_depth: int = MAX_NESTING, max_nodes: int = MAX_NODES
) -> None:
    """A value with string keys, nested at most ``max_depth`` deep (so no cycles), of at
    most ``max_nodes`` values.

    Walked with an explicit stack: a hostile value cannot make this recurse.
    """
    stack: list[tuple[object, int]] = [(value, 1)]
    visited = 0
    while stack:
        item, depth = stack.pop()
        visited += 1
        if visited > max_nodes:
            raise SuprsendValidationError(field, f"holds more than {max_nodes} values")
        if depth > max_depth:
            raise SuprsendValidationError(
                field, f"is nested more than {max_depth} levels deep (or contains itself)"
            )
        if isinstance(item, Mapping):
            for key, inner in item.items():
                if not isinstance(key, str):
                    raise SuprsendValidationError(
                        field, f"keys must be strings, got {_type_name(key)}"
                    )
                stack.append((inner, depth + 1))
        elif isinstance(item, (list, tuple)):
            stack.extend((inner, depth + 1) for inner in item)


def event_name(value: object, limits: Limits = DEFAULT_LIMITS, field: str = "event") -> str:
    name = require_id(value, field)
    if len(name) < limits.min_event_name_length:
        raise SuprsendValidationError(
            field, f"must be at least {limits.min_event_name_length} characters"
        )
    if name not in ALLOWED_RESERVED_EVENT_NAMES and name[:3].lower().startswith(
        RESERVED_EVENT_PREFIXES
    ):
        raise SuprsendValidationError(
            field, "names starting with '$' or 'ss_' are reserved by SuprSend"
        )
    return name


def attachment(item: object, field: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """One attachment object: a URL, or base64 data under the size cap."""
    obj = require_mapping(item, field)
    if obj.get("url") is not None:
        url = require_id(obj["url"], f"{field}.url")
        if not url.startswith(("https://", "http://")):
            # The hub downloads it: a local path or another scheme cannot work.
            raise SuprsendValidationError(f"{field}.url", "must be an http(s) URL")
    elif obj.get("data") is not None:
        data = obj["data"]
        if not isinstance(data, str):
            raise SuprsendValidationError(f"{field}.data", "must be a base64 string")
        if len(data) >= limits.max_attachment_base64_bytes:
            raise SuprsendValidationError(
                f"{field}.data",
                f"base64 file data must be under {limits.max_attachment_base64_bytes} bytes,"
                f" got {len(data)}",
            )
    else:
        raise SuprsendValidationError(field, "must have either 'url' or 'data'")


def attachments(value: object, field: str, limits: Limits = DEFAULT_LIMITS) -> None:
    if not isinstance(value, list):
        raise SuprsendValidationError(field, f"must be a list, got {_type_name(value)}")
    for i, item in enumerate(value):
        attachment(item, f"{field}[{i}]", limits)


def recipient(value: object, field: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """A distinct_id string, a user object or an object reference."""
    if isinstance(value, str):
        require_id(value, field)
        return
    obj = require_mapping(value, field)
    if "object_type" in obj or "id" in obj:
        require_id(obj.get("object_type"), f"{field}.object_type")
        require_id(obj.get("id"), f"{field}.id")
    elif obj.get("is_transient") is True:
        if obj.get("distinct_id") is not None:
            require_id(obj["distinct_id"], f"{field}.distinct_id")
    else:
        require_id(obj.get("distinct_id"), f"{field}.distinct_id")
    for key in CHANNEL_KEYS:
        if key in obj:
            entries = obj[key]
            if not isinstance(entries, (list, tuple, str, Mapping)):
                raise SuprsendValidationError(
                    f"{field}.{key}", "must be a list of channel identities"
                )
            if isinstance(entries, (list, tuple)) and len(entries) > limits.max_channel_entries:
                raise SuprsendValidationError(
                    f"{field}.{key}",
                    f"must have at most {limits.max_channel_entries} entries, got {len(entries)}",
                )
    if "$channels" in obj:
        channels = obj["$channels"]
        if not isinstance(channels, (list, tuple)) or not all(isinstance(c, str) for c in channels):
            raise SuprsendValidationError(f"{field}.$channels", "must be a list of channel names")
        unknown = sorted(set(channels) - CHANNEL_NAMES)
        if unknown:
            raise SuprsendValidationError(
                f"{field}.$channels",
                f"unknown channels {unknown}; allowed: {sorted(CHANNEL_NAMES)}",
            )


def recipients(value: object, field: str, limits: Limits = DEFAULT_LIMITS) -> None:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise SuprsendValidationError(field, f"must be a list, got {_type_name(value)}")
    if not 1 <= len(value) <= limits.max_recipients:
        raise SuprsendValidationError(
            field, f"must have 1 to {limits.max_recipients} items, got {len(value)}"
        )
    for i, item in enumerate(value):
        recipient(item, f"{field}[{i}]", limits)


def record_size(size: int, limit: int, what: str) -> None:
    if size > limit:
        raise SuprsendValidationError(
            "body", f"{what} is {size} bytes, larger than the limit of {limit} bytes"
        )


# -- whole bodies, as the hub receives them ------------------------------------


def event_body(body: object, limits: Limits = DEFAULT_LIMITS, *, require_env: bool = True) -> None:
    """Check one event object as it arrives on the wire."""
    obj = require_mapping(body, "event body")
    event_name(obj.get("event"), limits)
    require_id(obj.get("distinct_id"), "distinct_id")
    properties = require_mapping(obj.get("properties", {}), "properties")
    if "$attachments" in properties:
        attachments(properties["$attachments"], "properties.$attachments", limits)
    if require_env:
        require_id(obj.get("env"), "env")
    optional_key(obj.get("$idempotency_key"), "$idempotency_key", limits.max_idempotency_key_length)
    optional_key(obj.get("tenant_id"), "tenant_id", limits.max_tenant_id_length)
    optional_key(obj.get("brand_id"), "brand_id", limits.max_tenant_id_length)


def trigger_keys(body: Mapping[str, Any]) -> None:
    unknown = sorted(set(body) - TRIGGER_KEYS)
    if unknown:
        raise SuprsendValidationError(
            unknown[0], f"is not an allowed top-level key; allowed: {sorted(TRIGGER_KEYS)}"
        )


def trigger_body(body: object, limits: Limits = DEFAULT_LIMITS) -> None:
    """Check one workflow trigger object as it arrives on the wire."""
    obj = require_mapping(body, "trigger body")
    trigger_keys(obj)
    require_id(obj.get("workflow"), "workflow")
    recipients(obj.get("recipients"), "recipients", limits)
    if obj.get("actor") is not None:
        recipient(obj["actor"], "actor", limits)
    data = require_mapping(obj.get("data", {}), "data")
    if "$attachments" in data:
        attachments(data["$attachments"], "data.$attachments", limits)
    if obj.get("metadata") is not None:
        require_mapping(obj["metadata"], "metadata")
    optional_key(obj.get("$idempotency_key"), "$idempotency_key", limits.max_idempotency_key_length)
    optional_key(obj.get("tenant_id"), "tenant_id", limits.max_tenant_id_length)
    optional_key(
        obj.get("cancellation_key"), "cancellation_key", limits.max_cancellation_key_length
    )


def _schedule(obj: Mapping[str, Any]) -> None:
    delay = obj.get("delay")
    seconds = isinstance(delay, int) and not isinstance(delay, bool) and delay >= 0
    if delay is not None and not seconds and not isinstance(delay, str):
        raise SuprsendValidationError("delay", "must be a duration string or seconds (>= 0)")
    if obj.get("trigger_at") is not None and not isinstance(obj["trigger_at"], str):
        raise SuprsendValidationError("trigger_at", "must be an ISO-8601 date-time string")


def _data(obj: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> None:
    data = require_mapping(obj.get("data", {}), "data")
    if "$attachments" in data:
        attachments(data["$attachments"], "data.$attachments", limits)


def _common_keys(obj: Mapping[str, Any], limits: Limits) -> None:
    optional_key(obj.get("$idempotency_key"), "$idempotency_key", limits.max_idempotency_key_length)
    optional_key(obj.get("tenant_id"), "tenant_id", limits.max_tenant_id_length)
    optional_key(obj.get("brand_id"), "brand_id", limits.max_tenant_id_length)


def dynamic_trigger_body(body: object, limits: Limits = DEFAULT_LIMITS) -> None:
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
    _data(obj, limits)
    if obj.get("delivery") is not None:
        require_mapping(obj["delivery"], "delivery")
    _schedule(obj)
    _common_keys(obj, limits)


def broadcast_body(body: object, limits: Limits = DEFAULT_LIMITS) -> None:
    """One list broadcast (``POST {workspace}/broadcast/``)."""
    obj = require_mapping(body, "broadcast body")
    for field in ("list_id", "template", "notification_category"):
        require_id(obj.get(field), field)
    channels = obj.get("channels")
    if channels is not None and (
        not isinstance(channels, list) or not all(isinstance(c, str) for c in channels)
    ):
        raise SuprsendValidationError("channels", "must be a list of channel names")
    _data(obj, limits)
    _schedule(obj)
    _common_keys(obj, limits)


# The most items the hub gives in one page of a list.
MAX_PAGE_SIZE = 1000


def _whole(value: object, field: str, low: int, high: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise SuprsendValidationError(field, f"must be an integer, got {_type_name(value)}")
    if value < low or (high is not None and value > high):
        rule = f"from {low} to {high}" if high is not None else f"{low} or more"
        # shown(): an int of thousands of digits cannot even be formatted.
        raise SuprsendValidationError(field, f"must be {rule}, got {shown(value)}")
    return value


def page_window(limit: object, offset: object) -> dict[str, int]:
    """An offset list's ``limit`` (1 to 1,000 items a page) and ``offset`` (0 or more).
    The official SDK replaces a value out of range with its default without a
    word; here it is an error naming it, so a wrong page size is found.
    """
    return {
        "limit": _whole(limit, "limit", 1, MAX_PAGE_SIZE),
        "offset": _whole(offset, "offset", 0),
    }
