"""UserEdit and ObjectEdit: a profile edit built one operation at a time, as in the
official SDK.

Both are one builder (:class:`ProfileEdit`), differing only in their owner: a
user (of a tenant, optionally) or an object. Every method records one
operation (``{"$set": {...}}``, ``{"$append": {"$email": ...}}``...) in the
same form the official builder does, and returns the builder for chaining.
Where the official builder logs a bad operation and drops it, this one raises
:class:`SuprsendValidationError` naming the operation and the key, so ported
code can never lose an edit without noticing.
"""

from __future__ import annotations

import copy
import math
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from . import rules as _rules
from .errors import SuprsendValidationError
from .idempotency import IDENTITY_KEYS
from .json_codec import dumps
from .limits import DEFAULT_LIMITS

__all__ = ["ObjectEdit", "ProfileEdit", "UserEdit", "edit_tenant_id", "identity_event"]

_PROVIDER = "$id_provider"
_BUNDLE_ID = "$bundle_id"
# The official SDKs' schema version of identity events.
_IDENTITY_SCHEMA = "2"


def _type_name(value: object) -> str:
    return type(value).__name__


# What one edit may hold, encoded: the most a request body carries. (One value
# alone may take up to the hub's limit for a single event, as event properties.)
_MAX_EDIT_BYTES = DEFAULT_LIMITS.max_body_bytes
_MAX_VALUE_BYTES = DEFAULT_LIMITS.max_single_event_bytes
# A property's name: generous for a name, and small beside the edit's budget.
_MAX_KEY_LENGTH = 1024


def _json_value(value: Any, field: str) -> int:
    """Check a value as event properties are checked (nesting, JSON, size); its size.

    The nesting is walked without recursion first, so that neither the encoder
    nor a later copy of the edit can overflow the stack; every value takes at
    least two bytes encoded, so the walk stops long before a huge value is
    visited whole.
    """
    _rules.json_value(value, field, max_nodes=_MAX_VALUE_BYTES // 2)
    try:
        size = len(dumps(value))
    except (TypeError, ValueError, RecursionError) as exc:
        raise SuprsendValidationError(field, f"must be JSON-serializable: {exc}") from None
    if size > _MAX_VALUE_BYTES:
        raise SuprsendValidationError(
            field, f"is {size} bytes as JSON, more than the {_MAX_VALUE_BYTES} allowed"
        )
    return size


def _key(key: object, operation: str) -> str:
    if not isinstance(key, str):
        raise SuprsendValidationError(operation, f"keys must be strings, got {_type_name(key)}")
    stripped = key.strip()
    if not stripped:
        raise SuprsendValidationError(operation, "keys must not be empty or only whitespace")
    if len(stripped) > _MAX_KEY_LENGTH:
        raise SuprsendValidationError(
            operation, f"keys must be at most {_MAX_KEY_LENGTH} characters, got {len(stripped)}"
        )
    return _rules.valid_text(stripped, operation)


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise SuprsendValidationError(field, f"must be a non-empty string, got {_type_name(value)}")
    if not value.strip():
        raise SuprsendValidationError(field, "must be a non-empty string, got only whitespace")
    return value


def _optional_text(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise SuprsendValidationError(field, f"must be a string or None, got {_type_name(value)}")
    return value


def _mapping_value(value: object, field: str) -> Mapping[str, Any]:
    mapping = _rules.require_mapping(value, field)
    if not mapping:
        raise SuprsendValidationError(field, "must not be empty")
    _json_value(mapping, field)
    return mapping


def edit_tenant_id(value: object) -> str | None:
    """None (the user itself), or a tenant id within the hub's length for it.

    An empty string is refused rather than read as "no tenant": an edit meant
    for a tenant would otherwise land on the user's own profile.
    """
    if value is None:
        return None
    if value == "":
        raise SuprsendValidationError(
            "tenant_id", "must not be empty: pass None to edit the user's own profile"
        )
    tenant_id = _rules.rest_id(value, "tenant_id")
    limit = DEFAULT_LIMITS.max_tenant_id_length
    if len(tenant_id) > limit:
        raise SuprsendValidationError(
            "tenant_id", f"must be at most {limit} characters, got {len(tenant_id)}"
        )
    return tenant_id


def _number(value: object, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SuprsendValidationError(field, f"must be a number, got {_type_name(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise SuprsendValidationError(field, "must be a finite number")


_E = TypeVar("_E", bound="ProfileEdit")


class ProfileEdit:
    """The operations of a profile edit, whoever owns the profile.

    A subclass names its owner: its ids, how it copies, and how a failed
    record shows it.
    """

    def __init__(self) -> None:
        self._operations: list[dict[str, Any]] = []
        self._size = 0  # the operations' values, encoded

    @property
    def operations(self) -> list[dict[str, Any]]:
        """The operations recorded so far, in order (a copy)."""
        return copy.deepcopy(self._operations)

    @property
    def errors(self) -> list[str]:
        """Always empty: the official builder collects bad operations here; this one raises.

        Kept so that ported code which checks ``edit.errors`` still runs.
        """
        return []

    @property
    def warnings(self) -> list[str]:
        """Always empty, as :attr:`errors` (the official builder's skipped keys)."""
        return []

    def _twin(self: _E) -> _E:
        raise NotImplementedError

    def copy(self: _E) -> _E:
        """An independent copy: later calls on either do not change the other."""
        twin = self._twin()
        twin._operations = copy.deepcopy(self._operations)
        twin._size = self._size
        return twin

    def get_payload(self) -> dict[str, Any]:
        """The body of the owner's ``PATCH`` (``v1/user/{distinct_id}/``...)."""
        return {"operations": self.operations}

    def _record(self: _E, name: str, values: dict[str, Any] | list[str], size: int = 0) -> _E:
        if values:  # as there, a call with nothing in it records nothing
            if self._size + size > _MAX_EDIT_BYTES:
                raise SuprsendValidationError(
                    name, f"would make the edit larger than {_MAX_EDIT_BYTES} bytes as JSON"
                )
            # A copy (its nesting is bounded, checked above): what is sent is what
            # was given at this call, whatever the caller does with it afterwards.
            self._operations.append({name: copy.deepcopy(values)})
            self._size += size
        return self

    # -- key/value operations ---------------------------------------------------------

    def _pairs(self, operation: str, arg1: object, arg2: object) -> list[tuple[str, Any]]:
        if isinstance(arg1, str):
            key = _key(arg1, operation)
            if arg2 is None:
                raise SuprsendValidationError(
                    f"{operation}.{_rules.short_key(key)}",
                    f"needs a value: {operation}(key, value) or {operation}({{key: value}})",
                )
            return [(key, arg2)]
        if isinstance(arg1, Mapping):
            return [(_key(key, operation), value) for key, value in arg1.items()]
        raise SuprsendValidationError(
            operation, f"takes a key and a value, or a dict; got {_type_name(arg1)}"
        )

    def _simple(self: _E, operation: str, wire: str, arg1: object, arg2: object) -> _E:
        values: dict[str, Any] = {}
        size = 0
        for key, value in self._pairs(operation, arg1, arg2):
            field = f"{operation}.{_rules.short_key(key)}"
            if operation == "increment":
                _number(value, field)
            size += _json_value(value, field)
            values[key] = value
        return self._record(wire, values, size)

    def set(self: _E, arg1: str | Mapping[str, Any], arg2: Any = None) -> _E:
        """Set properties: ``set(key, value)`` or ``set({key: value, ...})``."""
        return self._simple("set", "$set", arg1, arg2)

    def set_once(self: _E, arg1: str | Mapping[str, Any], arg2: Any = None) -> _E:
        """Set properties only where they are not set yet."""
        return self._simple("set_once", "$set_once", arg1, arg2)

    def increment(
        self: _E, arg1: str | Mapping[str, int | float], arg2: int | float | None = None
    ) -> _E:
        """Add to numeric properties (a negative number decrements). Never retried."""
        return self._simple("increment", "$add", arg1, arg2)

    def _list_operation(self: _E, operation: str, arg1: object, arg2: object) -> _E:
        values: dict[str, Any] = {}
        size = 0
        qualifiers = arg1 if isinstance(arg1, Mapping) else {}
        for key, value in self._pairs(operation, arg1, arg2):
            if key in IDENTITY_KEYS:
                values.update(self._identity(operation, key, value, qualifiers))
            else:
                size += _json_value(value, f"{operation}.{_rules.short_key(key)}")
                values[key] = value
        return self._record("$append" if operation == "append" else "$remove", values, size)

    def append(self: _E, arg1: str | Mapping[str, Any], arg2: Any = None) -> _E:
        """Append to list properties, or add channel identities (``$email``...)."""
        return self._list_operation("append", arg1, arg2)

    def remove(self: _E, arg1: str | Mapping[str, Any], arg2: Any = None) -> _E:
        """Remove values from list properties, or remove channel identities."""
        return self._list_operation("remove", arg1, arg2)

    def unset(self: _E, key: str | Iterable[str]) -> _E:
        """Delete properties or whole channels: ``unset(key)`` or ``unset([k1, k2])``."""
        if isinstance(key, str):
            keys = [_key(key, "unset")]
        elif isinstance(key, (list, tuple, set, frozenset)):
            keys = [_key(k, "unset") for k in key]
        else:
            raise SuprsendValidationError(
                "unset", f"takes a key or a list of keys, got {_type_name(key)}"
            )
        return self._record("$unset", keys)

    # -- reserved properties ------------------------------------------------------------

    def set_preferred_language(self: _E, lang_code: str) -> _E:
        return self._record(
            "$set", {"$preferred_language": _text(lang_code, "set_preferred_language")}
        )

    def set_locale(self: _E, locale_code: str) -> _E:
        return self._record("$set", {"$locale": _text(locale_code, "set_locale")})

    def set_timezone(self: _E, timezone: str) -> _E:
        return self._record("$set", {"$timezone": _text(timezone, "set_timezone")})

    # -- channel identities ---------------------------------------------------------------

    def _identity(
        self, operation: str, key: str, value: object, qualifiers: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The wire keys of one identity, checked; ``qualifiers`` may hold its provider."""
        field = f"{operation}.{_rules.short_key(key)}"
        channel: dict[str, Any] = {}
        if key in ("$webpush", "$slack", "$ms_teams"):
            channel[key] = dict(_mapping_value(value, field))
        else:
            channel[key] = _text(value, field)
        if key in ("$androidpush", "$iospush", "$webpush"):
            # Sent even when None, as the official builder does.
            channel[_PROVIDER] = _optional_text(qualifiers.get(_PROVIDER), f"{field}.provider")
        if key in ("$androidpush", "$iospush"):
            bundle_id = _optional_text(qualifiers.get(_BUNDLE_ID), f"{field}.bundle_id")
            if bundle_id:
                channel[_BUNDLE_ID] = bundle_id
        return channel

    def _channel(self: _E, operation: str, key: str, value: object, **qualifiers: Any) -> _E:
        identity = self._identity(operation, key, value, qualifiers)
        return self._record("$append" if operation.startswith("add") else "$remove", identity)

    def add_email(self: _E, value: str) -> _E:
        return self._channel("add_email", "$email", value)

    def remove_email(self: _E, value: str) -> _E:
        return self._channel("remove_email", "$email", value)

    def add_sms(self: _E, value: str) -> _E:
        return self._channel("add_sms", "$sms", value)

    def remove_sms(self: _E, value: str) -> _E:
        return self._channel("remove_sms", "$sms", value)

    def add_whatsapp(self: _E, value: str) -> _E:
        return self._channel("add_whatsapp", "$whatsapp", value)

    def remove_whatsapp(self: _E, value: str) -> _E:
        return self._channel("remove_whatsapp", "$whatsapp", value)

    def add_androidpush(
        self: _E, value: str, provider: str | None = None, bundle_id: str | None = None
    ) -> _E:
        return self._channel(
            "add_androidpush", "$androidpush", value, **{_PROVIDER: provider, _BUNDLE_ID: bundle_id}
        )

    def remove_androidpush(
        self: _E, value: str, provider: str | None = None, bundle_id: str | None = None
    ) -> _E:
        return self._channel(
            "remove_androidpush",
            "$androidpush",
            value,
            **{_PROVIDER: provider, _BUNDLE_ID: bundle_id},
        )

    def add_iospush(
        self: _E, value: str, provider: str | None = None, bundle_id: str | None = None
    ) -> _E:
        return self._channel(
            "add_iospush", "$iospush", value, **{_PROVIDER: provider, _BUNDLE_ID: bundle_id}
        )

    def remove_iospush(
        self: _E, value: str, provider: str | None = None, bundle_id: str | None = None
    ) -> _E:
        return self._channel(
            "remove_iospush", "$iospush", value, **{_PROVIDER: provider, _BUNDLE_ID: bundle_id}
        )

    def add_webpush(self: _E, value: Mapping[str, Any], provider: str | None = None) -> _E:
        return self._channel("add_webpush", "$webpush", value, **{_PROVIDER: provider})

    def remove_webpush(self: _E, value: Mapping[str, Any], provider: str | None = None) -> _E:
        return self._channel("remove_webpush", "$webpush", value, **{_PROVIDER: provider})

    def add_slack(self: _E, value: Mapping[str, Any]) -> _E:
        return self._channel("add_slack", "$slack", value)

    def remove_slack(self: _E, value: Mapping[str, Any]) -> _E:
        return self._channel("remove_slack", "$slack", value)

    def add_ms_teams(self: _E, value: Mapping[str, Any]) -> _E:
        return self._channel("add_ms_teams", "$ms_teams", value)

    def remove_ms_teams(self: _E, value: Mapping[str, Any]) -> _E:
        return self._channel("remove_ms_teams", "$ms_teams", value)


def identity_event(
    edit: UserEdit, *, env: str | None, sdk_version: str, clock: Callable[[], float] = time.time
) -> dict[str, Any]:
    """The edit as an identity event for ``event/``, as the official SDK sends it."""
    event: dict[str, Any] = {
        "$schema": _IDENTITY_SCHEMA,
        "$insert_id": str(uuid.uuid4()),
        "$time": int(clock() * 1000),
        "distinct_id": edit.distinct_id,
        "$user_operations": edit._operations,
        "properties": {"$ss_sdk_version": sdk_version},
    }
    if env is not None:  # an API-key client without a workspace_uid names none
        event["env"] = env
    if edit.tenant_id:
        event["tenant_id"] = edit.tenant_id
    return event


class UserEdit(ProfileEdit):
    """The edits to make to one user (of one tenant, if ``tenant_id`` is given).

    Get one from ``client.users.get_edit_instance(distinct_id)``, call its
    methods, then ``await client.users.edit(edit)`` (or ``async_edit``, or
    append it to a bulk edit).
    """

    def __init__(self, distinct_id: str, tenant_id: str | None = None) -> None:
        super().__init__()
        self._distinct_id = _rules.rest_id(distinct_id, "distinct_id")
        self._tenant_id = edit_tenant_id(tenant_id)

    @property
    def distinct_id(self) -> str:
        return self._distinct_id

    @property
    def tenant_id(self) -> str | None:
        return self._tenant_id

    def __repr__(self) -> str:
        # No ids: a distinct id is often an email address, and reprs end up in logs.
        tenant = ", of a tenant" if self._tenant_id else ""
        return f"UserEdit(operations={len(self._operations)}{tenant})"

    def _twin(self) -> UserEdit:
        return UserEdit(self._distinct_id, self._tenant_id)

    def to_dict(self) -> dict[str, Any]:
        """The edit as the official SDK reports a failed bulk record."""
        data: dict[str, Any] = {
            "distinct_id": self.distinct_id,
            "$user_operations": self.operations,
        }
        if self.tenant_id:
            data["tenant_id"] = self.tenant_id
        return data


class ObjectEdit(ProfileEdit):
    """The edits to make to one object (``object_type``, ``object_id``).

    Get one from ``client.objects.get_edit_instance(object_type, object_id)``,
    call its methods, then ``await client.objects.edit(edit)``.
    """

    def __init__(self, object_type: str, object_id: str) -> None:
        super().__init__()
        self._object_type = _rules.rest_id(object_type, "object_type")
        self._object_id = _rules.rest_id(object_id, "object_id")

    @property
    def object_type(self) -> str:
        return self._object_type

    @property
    def object_id(self) -> str:
        return self._object_id

    def __repr__(self) -> str:
        # No ids, as for a UserEdit: reprs end up in logs.
        return f"ObjectEdit(operations={len(self._operations)})"

    def _twin(self) -> ObjectEdit:
        return ObjectEdit(self.object_type, self.object_id)
