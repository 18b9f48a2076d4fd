"""The emulator's users: profiles, channel identities, tenant links, preferences.

Pure state and the hub's rules for changing it; no HTTP here (the routes
are in ``users``). Every change made by a request is counted in
:attr:`UserStore.applications`, so a test can prove that an operation the
client must never repeat was applied once, however the connection failed.
"""

from __future__ import annotations

import bisect
import datetime
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs

from ..._values.idempotency import IDENTITY_KEYS
from ..._values.limits import CHANNEL_KEYS
from .._codec import dumps

__all__ = [
    "CHANNELS",
    "DEFAULT_CATEGORIES",
    "StoredUser",
    "UserError",
    "UserStore",
    "UserStores",
]

CHANNELS = tuple(key.removeprefix("$") for key in CHANNEL_KEYS)
_CHANNEL_KEYS = frozenset(f"${c}" for c in CHANNELS)
_QUALIFIERS = {"$id_provider": "id_provider", "$bundle_id": "bundle_id"}
DEFAULT_CATEGORIES: Mapping[str, str] = {
    "newsletter": "opt_in",
    "product-updates": "opt_in",
    "promotions": "opt_out",
}


class UserError(Exception):
    """A request the hub refuses: its status and message (``{"code", "message"}``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def _not_found(distinct_id: str) -> UserError:
    return UserError(404, f"user [distinct_id: '{distinct_id}'] not found")


@attrs.define
class Profile:
    """Properties and channel identities: a user's, or a user's within one tenant."""

    properties: dict[str, Any] = attrs.field(factory=dict)
    channels: dict[str, list[dict[str, Any]]] = attrs.field(factory=dict)
    created_at: str = attrs.field(factory=_now)
    updated_at: str = attrs.field(factory=_now)

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
        for wire, name in _QUALIFIERS.items():
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
        self.updated_at = _now()

    def staged(self, operations: Any) -> Profile:
        """A copy with edit operations (``$set``, ``$add``, ``$append``...) applied;
        UserError, and nothing changed, if any is refused."""
        if not isinstance(operations, list):
            raise UserError(400, "operations must be a list")
        staged = Profile(
            dict(self.properties),
            {k: [dict(e) for e in v] for k, v in self.channels.items()},
            self.created_at,
        )
        for index, operation in enumerate(operations):
            if not isinstance(operation, Mapping):
                raise UserError(400, f"operations[{index}] must be an object")
            for name, values in operation.items():
                staged._apply_one(f"operations[{index}].{name}", name, values)
        return staged

    def adopt(self, staged: Profile) -> None:
        self.properties, self.channels, self.updated_at = staged.properties, staged.channels, _now()

    def _apply_one(self, where: str, name: str, values: Any) -> None:
        if name == "$unset":
            if not isinstance(values, list) or not all(isinstance(k, str) for k in values):
                raise UserError(400, f"{where} must be a list of keys")
            for key in values:
                if key in _CHANNEL_KEYS:
                    self.channels.pop(key, None)
                else:
                    self.properties.pop(key, None)
            return
        if not isinstance(values, Mapping):
            raise UserError(400, f"{where} must be an object")
        for key, value in values.items():
            if key in _QUALIFIERS:
                continue  # read beside the identity it qualifies
            if name in ("$set", "$set_once") and key not in IDENTITY_KEYS:
                if name == "$set" or key not in self.properties:
                    self.properties[key] = value
            elif name in ("$add", "$increment"):
                current = self.properties.get(key, 0)
                if not _is_number(value) or not _is_number(current):
                    raise UserError(400, f"{where}.{key}: only numbers can be incremented")
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
                raise UserError(400, f"{where}: unknown operation")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@attrs.define
class Preferences:
    """One user's preferences, for the workspace or for one tenant."""

    restricted_channels: dict[str, bool] = attrs.field(factory=dict)
    # category -> (preference, channels opted out of)
    categories: dict[str, tuple[str, frozenset[str]]] = attrs.field(factory=dict)

    def copy(self) -> Preferences:
        """A copy to change; :meth:`adopt` it once the whole request was accepted."""
        return Preferences(dict(self.restricted_channels), dict(self.categories))

    def adopt(self, staged: Preferences) -> None:
        self.restricted_channels, self.categories = staged.restricted_channels, staged.categories


@attrs.define
class StoredUser(Profile):
    distinct_id: str = ""
    seq: int = 0
    tenants: dict[str, Profile] = attrs.field(factory=dict)
    preferences: dict[str | None, Preferences] = attrs.field(factory=dict)
    lists: list[str] = attrs.field(factory=list)
    objects: list[dict[str, Any]] = attrs.field(factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"distinct_id": self.distinct_id, **super().to_json()}


class UserStore:
    """The users of one workspace. ``hub.users`` is the first workspace's store.

    - ``store["u1"]`` / ``store.get("u1")``: a :class:`StoredUser` (``properties``,
      ``identities("$email")``, ``tenants``, ``preferences``).
    - ``applications``: how many times each kind of change was applied per
      user, e.g. ``applications[("edit", "u1")]``.
    - ``categories``: the preference categories that exist, with their defaults.
    - ``limit``: keep at most this many users, forgetting the least recently
      changed first (``on_evict`` is told each time); ``None`` keeps them all.
    - ``byte_limit``: likewise, keep users of at most about this many bytes in
      all (their properties, channels and tenant profiles, as JSON); ``None``
      does not weigh them.
    - ``count_applications``: off, ``applications`` stays empty (per-user
      counters, like per-key ones, are not kept for multi-million-record runs).

    Every request is all or nothing: one that is refused changes nothing (and
    makes no user), and reads never change anything.
    """

    def __init__(
        self,
        categories: Mapping[str, str] = DEFAULT_CATEGORIES,
        *,
        limit: int | None = None,
        byte_limit: int | None = None,
        count_applications: bool = True,
        on_evict: Callable[[], None] | None = None,
    ) -> None:
        self.users: dict[str, StoredUser] = {}
        self.categories = dict(categories)
        self.applications: Counter[tuple[str, str]] = Counter()
        self.limit = limit
        self.byte_limit = byte_limit
        self.count_applications = count_applications
        self._on_evict = on_evict
        self._seq = itertools.count(1)
        # The users' sequence numbers in order, and whose each is: a page of the
        # list is found by bisection, in O(page) rather than O(all users).
        self._seqs: list[int] = []
        self._by_seq: dict[int, str] = {}
        # Each user's weight in bytes, and their sum (with byte_limit only).
        self._weights: dict[str, int] = {}
        self.bytes = 0

    def __len__(self) -> int:
        return len(self.users)

    def __contains__(self, distinct_id: object) -> bool:
        return distinct_id in self.users

    def __iter__(self) -> Iterator[str]:
        """The distinct ids, oldest first (``list(hub.users)``)."""
        return iter(self.users)

    def __getitem__(self, distinct_id: str) -> StoredUser:
        return self.users[distinct_id]

    def get(self, distinct_id: str) -> StoredUser | None:
        return self.users.get(distinct_id)

    def _applied(self, kind: str, distinct_id: str) -> None:
        if self.count_applications:
            self.applications[(kind, distinct_id)] += 1

    # -- profiles -------------------------------------------------------------------

    def require(self, distinct_id: str) -> StoredUser:
        user = self.users.get(distinct_id)
        if user is None:
            raise _not_found(distinct_id)
        return user

    def _get_or_create(self, distinct_id: str) -> StoredUser:
        """The user, made if new: each caller is about to change it (and then calls
        :meth:`_changed`)."""
        user = self.users.get(distinct_id)
        if user is not None:
            if self.limit is not None or self.byte_limit is not None:
                # The most recently changed go last, and last out.
                self.users[distinct_id] = self.users.pop(distinct_id)
            return user
        if self.limit is not None and len(self.users) >= self.limit:
            self._evict_oldest()
        seq = next(self._seq)
        user = self.users[distinct_id] = StoredUser(distinct_id=distinct_id, seq=seq)
        self._seqs.append(seq)  # always the largest yet: the list stays sorted
        self._by_seq[seq] = distinct_id
        return user

    def _changed(self, user: StoredUser) -> None:
        """Weigh a user after a change, and forget the oldest while over ``byte_limit``."""
        if self.byte_limit is None:
            return
        weight = _weight(user)
        self.bytes += weight - self._weights.get(user.distinct_id, 0)
        self._weights[user.distinct_id] = weight
        while self.bytes > self.byte_limit and len(self.users) > 1:
            self._evict_oldest()

    def _evict_oldest(self) -> None:
        self._forget(next(iter(self.users)))
        if self._on_evict is not None:
            self._on_evict()

    def _forget(self, distinct_id: str) -> StoredUser:
        user = self.users.pop(distinct_id)
        index = bisect.bisect_left(self._seqs, user.seq)
        del self._seqs[index]
        del self._by_seq[user.seq]
        self.bytes -= self._weights.pop(distinct_id, 0)
        return user

    def list_page(self, params: Mapping[str, str]) -> dict[str, Any]:
        """One page of ``v1/user/``, in creation order."""
        limit, after = page_params(params)
        start = bisect.bisect_right(self._seqs, after)
        seqs = self._seqs[start : start + limit + 1]
        chunk = [(seq, self.users[self._by_seq[seq]].to_json()) for seq in seqs[:limit]]
        return page_json(chunk, len(self._seqs), after, limit, more=len(seqs) > limit)

    def upsert(self, distinct_id: str, payload: Any) -> StoredUser:
        if not isinstance(payload, Mapping):
            raise UserError(400, "the body must be a JSON object")
        user = self._get_or_create(distinct_id)
        user.upsert(payload)
        self._changed(user)
        self._applied("upsert", distinct_id)
        return user

    def edit(self, distinct_id: str, operations: Any, tenant_id: str | None = None) -> Profile:
        profile = self._edit(distinct_id, operations, tenant_id)
        self._applied("edit", distinct_id)
        return profile

    def _edit(self, distinct_id: str, operations: Any, tenant_id: str | None) -> Profile:
        """Apply edit operations, all or none: a refused edit makes no user or tenant."""
        user = self.users.get(distinct_id)
        current = None
        if user is not None:
            current = user if tenant_id is None else user.tenants.get(tenant_id)
        staged = (current or Profile()).staged(operations)  # raises before any change
        user = self._get_or_create(distinct_id)
        profile = user if tenant_id is None else user.tenants.setdefault(tenant_id, Profile())
        profile.adopt(staged)
        self._changed(user)
        return profile

    def apply_identity_event(self, record: Any) -> None:
        """Apply one identity event (``{"distinct_id", "$user_operations", ...}``) from event/."""
        if not isinstance(record, Mapping):
            raise UserError(400, "an identity event must be a JSON object")
        distinct_id = record.get("distinct_id")
        if not isinstance(distinct_id, str) or not distinct_id.strip():
            raise UserError(400, "distinct_id: must be a non-empty string")
        tenant_id = record.get("tenant_id")
        if tenant_id is not None and not isinstance(tenant_id, str):
            raise UserError(400, "tenant_id: must be a string")
        distinct_id = distinct_id.strip()
        self._edit(distinct_id, record.get("$user_operations"), tenant_id or None)
        self._applied("identity_event", distinct_id)

    def delete(self, distinct_id: str) -> None:
        self.require(distinct_id)
        self._forget(distinct_id)
        self._applied("delete", distinct_id)

    def bulk_delete(self, payload: Any) -> None:
        ids = payload.get("distinct_ids") if isinstance(payload, Mapping) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise UserError(400, "distinct_ids: must be a list of strings")
        for distinct_id in ids:
            if distinct_id in self.users:
                self._forget(distinct_id)
                self._applied("delete", distinct_id)

    def merge(self, distinct_id: str, payload: Any) -> StoredUser:
        from_id = payload.get("from_user_id") if isinstance(payload, Mapping) else None
        if not isinstance(from_id, str) or not from_id:
            raise UserError(400, "from_user_id: must be a non-empty string")
        if from_id == distinct_id:
            raise UserError(400, "from_user_id: a user cannot be merged into itself")
        if from_id not in self.users:
            raise UserError(404, f"from_user_id: [distinct_id: '{from_id}'] not found")
        primary = self.require(distinct_id)
        secondary = self._forget(from_id)
        for key, value in secondary.properties.items():
            primary.properties.setdefault(key, value)
        for key, entries in secondary.channels.items():
            for entry in entries:
                qualifiers = {w: entry.get(n) for w, n in _QUALIFIERS.items()}
                primary.add_identity(key, entry["value"], qualifiers)
        for tenant_id, profile in secondary.tenants.items():
            primary.tenants.setdefault(tenant_id, profile)
        primary.updated_at = _now()
        self._changed(primary)
        self._applied("merge", distinct_id)
        return primary

    # -- tenants ----------------------------------------------------------------------

    def tenant_profile(self, distinct_id: str, tenant_id: str) -> Profile:
        profile = self.require(distinct_id).tenants.get(tenant_id)
        if profile is None:
            raise UserError(
                404, f"user [distinct_id: '{distinct_id}'] is not linked to tenant '{tenant_id}'"
            )
        return profile

    def upsert_for_tenant(self, distinct_id: str, tenant_id: str, payload: Any) -> Profile:
        if not isinstance(payload, Mapping):
            raise UserError(400, "the body must be a JSON object")
        user = self._get_or_create(distinct_id)
        profile = user.tenants.setdefault(tenant_id, Profile())
        profile.upsert(payload)
        self._changed(user)
        self._applied("upsert_for_tenant", distinct_id)
        return profile

    def unlink_tenant(self, distinct_id: str, tenant_id: str) -> None:
        self.tenant_profile(distinct_id, tenant_id)
        user = self.users[distinct_id]
        del user.tenants[tenant_id]
        self._changed(user)
        self._applied("unlink_tenant", distinct_id)

    # -- subscriptions (seeded by tests: the users API only reads them) -------------------

    def subscribe_to_list(self, distinct_id: str, list_id: str) -> None:
        self._get_or_create(distinct_id).lists.append(list_id)

    def subscribe_to_object(self, distinct_id: str, object_type: str, object_id: str) -> None:
        self._get_or_create(distinct_id).objects.append(
            {"object_type": object_type, "id": object_id}
        )

    def list_json(self, list_id: str) -> dict[str, Any]:
        """A list as subscriptions show it (``subscribed_to/list/``)."""
        return {
            "list_id": list_id,
            "list_name": list_id,
            "list_description": "",
            "list_type": "static_list",
            "source": None,
            "subscribers_count": sum(list_id in u.lists for u in self.users.values()),
        }

    def object_json(self, ref: Mapping[str, Any]) -> dict[str, Any]:
        """An object as subscriptions show it (``subscribed_to/object/``)."""
        count = sum(ref in u.objects for u in self.users.values())
        return {**ref, "properties": {}, "subscriptions_count": count}

    # -- preferences ----------------------------------------------------------------------

    def preferences(self, distinct_id: str, tenant_id: str | None) -> Preferences:
        """A user's preferences to read: the defaults, not stored, if never set."""
        return self.require(distinct_id).preferences.get(tenant_id) or Preferences()

    def update_preferences(
        self, distinct_id: str, tenant_id: str | None, change: Callable[[Preferences], None]
    ) -> Preferences:
        """Apply ``change`` to a copy of a user's preferences, and keep it only if
        ``change`` raised nothing: a refused request changes nothing."""
        user = self.require(distinct_id)
        staged = (user.preferences.get(tenant_id) or Preferences()).copy()
        change(staged)
        user.preferences[tenant_id] = staged
        return staged

    def category_json(self, prefs: Preferences, category: str) -> dict[str, Any]:
        default = self.categories[category]
        preference, opted_out = prefs.categories.get(category, (default, frozenset()))
        return {
            "name": category.replace("-", " ").title(),
            "category": category,
            "description": f"{category} notifications",
            "original_preference": default,
            "preference": preference,
            "is_editable": True,
            "channels": [
                {
                    "channel": channel,
                    "preference": "opt_out" if channel in opted_out else "opt_in",
                    "is_editable": True,
                }
                for channel in CHANNELS
            ],
        }

    def channels_json(self, prefs: Preferences) -> list[dict[str, Any]]:
        return [
            {"channel": channel, "is_restricted": prefs.restricted_channels.get(channel, False)}
            for channel in CHANNELS
        ]

    def full_json(self, prefs: Preferences) -> dict[str, Any]:
        return {
            "sections": [
                {"subcategories": [self.category_json(prefs, c) for c in self.categories]}
            ],
            "channel_preferences": self.channels_json(prefs),
        }

    def require_category(self, category: str) -> None:
        if category not in self.categories:
            raise UserError(404, f"category '{category}' not found")

    def set_category(self, prefs: Preferences, category: str, body: Any) -> None:
        self.require_category(category)
        if not isinstance(body, Mapping):
            raise UserError(400, "the body must be a JSON object")
        preference = body.get("preference", self.categories[category])
        if preference not in ("opt_in", "opt_out"):
            raise UserError(400, "preference: must be one of opt_in, opt_out")
        opt_out = _channel_set(body.get("opt_out_channels"), "opt_out_channels")
        opt_in = _channel_set(body.get("opt_in_channels"), "opt_in_channels")
        prefs.categories[category] = (preference, opt_out - opt_in)

    def set_channels(self, prefs: Preferences, items: Any) -> None:
        if not isinstance(items, list):
            raise UserError(400, "channel_preferences: must be a list")
        for i, item in enumerate(items):
            channel = item.get("channel") if isinstance(item, Mapping) else None
            if channel not in CHANNELS:
                raise UserError(400, f"channel_preferences[{i}].channel: must be one of {CHANNELS}")
            prefs.restricted_channels[channel] = bool(item.get("is_restricted", False))

    def update_full(self, prefs: Preferences, body: Any) -> None:
        if not isinstance(body, Mapping):
            raise UserError(400, "the body must be a JSON object")
        if "channel_preferences" in body:
            self.set_channels(prefs, body["channel_preferences"])
        categories = body.get("categories") or []
        if not isinstance(categories, list):
            raise UserError(400, "categories: must be a list")
        for i, item in enumerate(categories):
            category = item.get("category") if isinstance(item, Mapping) else None
            if not isinstance(category, str):
                raise UserError(400, f"categories[{i}].category: must be a string")
            self.set_category(prefs, category, item)

    def bulk_preferences(self, body: Any, tenant_id: str | None, *, reset: bool) -> None:
        ids = body.get("distinct_ids") if isinstance(body, Mapping) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise UserError(400, "distinct_ids: must be a list of strings")

        def change(prefs: Preferences) -> None:
            if not reset:
                self.update_full(prefs, body)
                return
            if body.get("reset_channel_preferences", True):
                prefs.restricted_channels.clear()
            if body.get("reset_categories", True):
                prefs.categories.clear()

        # Every user's change is staged before any is kept: all or nothing.
        staged = []
        for distinct_id in ids:
            user = self.users.get(distinct_id)
            if user is not None:
                prefs = (user.preferences.get(tenant_id) or Preferences()).copy()
                change(prefs)
                staged.append((user, prefs))
        for user, prefs in staged:
            user.preferences[tenant_id] = prefs


class UserStores(dict[str, UserStore]):
    """Each workspace's users, made on first use (the options are :class:`UserStore`'s)."""

    def __init__(
        self,
        *,
        limit: int | None = None,
        byte_limit: int | None = None,
        count_applications: bool = True,
        on_evict: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self._limit, self._byte_limit = limit, byte_limit
        self._count, self._on_evict = count_applications, on_evict

    def __missing__(self, workspace: str) -> UserStore:
        store = self[workspace] = UserStore(
            limit=self._limit,
            byte_limit=self._byte_limit,
            count_applications=self._count,
            on_evict=self._on_evict,
        )
        return store


def _channel_set(value: Any, field: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or any(c not in CHANNELS for c in value):
        raise UserError(400, f"{field}: must be a list of channels of {CHANNELS}")
    return frozenset(value)


def _weight(user: StoredUser) -> int:
    """About how many bytes a user holds: its profiles as JSON, and a fixed overhead."""
    profiles = [user, *user.tenants.values()]
    return 1024 + len(dumps([[p.properties, p.channels] for p in profiles]))


def page_params(params: Mapping[str, str], default_limit: int = 10) -> tuple[int, int]:
    """(limit, after) of a cursor page request."""
    try:
        limit = int(params.get("limit", default_limit))
        after = int(params["after"]) if params.get("after") else 0
    except ValueError:
        raise UserError(400, "limit and after must be integers") from None
    if not 1 <= limit <= 1000:
        raise UserError(400, "limit must be between 1 and 1000")
    return limit, after


def page(
    items: Iterable[tuple[int, Any]], params: Mapping[str, str], *, default_limit: int = 10
) -> dict[str, Any]:
    """One cursor page of ``(sequence number, item)`` pairs, in sequence order."""
    limit, after = page_params(params, default_limit)
    ordered = sorted(items, key=lambda pair: pair[0])
    rest = [pair for pair in ordered if pair[0] > after]
    return page_json(rest[:limit], len(ordered), after, limit, more=len(rest) > limit)


def page_json(
    chunk: list[tuple[int, Any]], count: int, after: int, limit: int, *, more: bool
) -> dict[str, Any]:
    """A page as the hub answers it: ``meta`` and ``results``."""
    return {
        "meta": {
            "count": count,
            "limit": limit,
            "has_prev": after > 0,
            "before": str(chunk[0][0]) if chunk and after > 0 else None,
            "has_next": more,
            "after": str(chunk[-1][0]) if more else None,
        },
        "results": [item for _, item in chunk],
    }
