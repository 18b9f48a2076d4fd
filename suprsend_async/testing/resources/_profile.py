"""A profile as the emulator keeps it: properties and channel identities, and the
edit operations that change them. Users, a user within a tenant, and objects
all have one (the hub applies the same operations to each).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import attrs

from ..._values.idempotency import IDENTITY_KEYS
from ..._values.limits import CHANNEL_KEYS
from ._collection import StoreError

__all__ = ["CHANNELS", "QUALIFIERS", "Profile", "now"]

CHANNELS = tuple(key.removeprefix("$") for key in CHANNEL_KEYS)
_CHANNEL_KEYS = frozenset(f"${c}" for c in CHANNELS)
QUALIFIERS = {"$id_provider": "id_provider", "$bundle_id": "bundle_id"}


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


@attrs.define
class Profile:
    """Properties and channel identities: a user's, or a user's within one tenant."""

    properties: dict[str, Any] = attrs.field(factory=dict)
    channels: dict[str, list[dict[str, Any]]] = attrs.field(factory=dict)
    created_at: str = attrs.field(factory=now)
    updated_at: str = attrs.field(factory=now)

    def timestamps(self) -> dict[str, str]:
        return {"created_at": self.created_at, "updated_at": self.updated_at}

    def identities(self, key: str) -> list[Any]:
        """The values of one channel (``"$email"``...), in the order added."""
        return [entry["value"] for entry in self.channels.get(key, [])]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"properties": dict(self.properties), **self.timestamps()}
        for key, entries in self.channels.items():
            if entries:
                data[key] = [dict(entry) for entry in entries]
        return data

    def add_identity(self, key: str, value: Any, qualifiers: Mapping[str, Any]) -> None:
        entries = self.channels.setdefault(key, [])
        if any(entry["value"] == value for entry in entries):
            return  # a channel holds each identity once
        entry = {"value": value, "status": "active", "perma_status": "active"}
        for wire, name in QUALIFIERS.items():
            if qualifiers.get(wire) is not None:
                entry[name] = qualifiers[wire]
        entries.append(entry)

    def remove_identity(self, key: str, value: Any) -> None:
        if key in self.channels:
            self.channels[key] = [e for e in self.channels[key] if e["value"] != value]

    def upsert(self, payload: Mapping[str, Any]) -> None:
        """Absolute values: each channel given replaces that channel; properties are set."""
        for key, value in payload.items():
            if key in _CHANNEL_KEYS:
                values = value if isinstance(value, list) else [value]
                self.channels[key] = []
                for item in values:
                    self.add_identity(key, item, {})
            else:
                self.properties[key] = value
        self.updated_at = now()

    def staged(self, operations: Any) -> Profile:
        """A copy with edit operations (``$set``, ``$add``, ``$append``...) applied;
        StoreError, and nothing changed, if any is refused."""
        if not isinstance(operations, list):
            raise StoreError(400, "operations must be a list")
        staged = Profile(
            dict(self.properties),
            {k: [dict(e) for e in v] for k, v in self.channels.items()},
            self.created_at,
        )
        for index, operation in enumerate(operations):
            if not isinstance(operation, Mapping):
                raise StoreError(400, f"operations[{index}] must be an object")
            for name, values in operation.items():
                staged._apply_one(f"operations[{index}].{name}", name, values)
        return staged

    def adopt(self, staged: Profile) -> None:
        self.properties, self.channels, self.updated_at = staged.properties, staged.channels, now()

    def _apply_one(self, where: str, name: str, values: Any) -> None:
        if name == "$unset":
            if not isinstance(values, list) or not all(isinstance(k, str) for k in values):
                raise StoreError(400, f"{where} must be a list of keys")
            for key in values:
                if key in _CHANNEL_KEYS:
                    self.channels.pop(key, None)
                else:
                    self.properties.pop(key, None)
            return
        if not isinstance(values, Mapping):
            raise StoreError(400, f"{where} must be an object")
        for key, value in values.items():
            if key in QUALIFIERS:
                continue  # read beside the identity it qualifies
            if name in ("$set", "$set_once") and key not in IDENTITY_KEYS:
                if name == "$set" or key not in self.properties:
                    self.properties[key] = value
            elif name in ("$add", "$increment"):
                current = self.properties.get(key, 0)
                if not _is_number(value) or not _is_number(current):
                    raise StoreError(400, f"{where}.{key}: only numbers can be incremented")
                self.properties[key] = current + value
            elif name in ("$append", "$set") and key in IDENTITY_KEYS:
                self.add_identity(key, value, values)
            elif name == "$append":
                current = self.properties.get(key)
                items = (
                    current if isinstance(current, list) else ([] if current is None else [current])
                )
                self.properties[key] = [*items, value]
            elif name == "$remove" and key in IDENTITY_KEYS:
                self.remove_identity(key, value)
            elif name == "$remove":
                current = self.properties.get(key)
                if isinstance(current, list):
                    self.properties[key] = [item for item in current if item != value]
            else:
                raise StoreError(400, f"{where}: unknown operation")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
