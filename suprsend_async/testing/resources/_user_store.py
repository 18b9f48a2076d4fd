"""The emulator's users: profiles, channel identities, tenant links, preferences.

Pure state and the hub's rules for changing it; no HTTP here (the routes
are in ``users``). Every change made by a request is counted in
:attr:`UserStore.applications`, so a test can prove that an operation the
client must never repeat was applied once, however the connection failed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .._codec import dumps
from ._collection import Collection, CollectionView, StoreError
from ._preferences import PreferenceRules, Preferences, read, update
from ._profile import QUALIFIERS, Profile, now

__all__ = ["StoredUser", "UserError", "UserStore"]

# The users API's refusals are any store's (kept by this name for the event routes).
UserError = StoreError


@attrs.define
class StoredUser(Profile):
    distinct_id: str = ""
    tenants: dict[str, Profile] = attrs.field(factory=dict)
    preferences: dict[str | None, Preferences] = attrs.field(factory=dict)
    lists: list[str] = attrs.field(factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"distinct_id": self.distinct_id, **super().to_json()}


class UserStore(CollectionView[str, StoredUser]):
    """The users of one workspace. ``hub.users`` is the first workspace's store.

    - ``store["u1"]`` / ``store.get("u1")``: a :class:`StoredUser` (``properties``,
      ``identities("$email")``, ``tenants``, ``preferences``); ``store.users`` is
      the :class:`Collection` of them.
    - ``applications``: how many times each kind of change was applied per
      user, e.g. ``applications[("edit", "u1")]``.
    - ``preference_rules``: the workspace's preference categories, with their defaults.
    - ``limit``: keep at most this many users, forgetting the least recently
      changed first (``on_evict`` is told each time); ``None`` keeps them all.
    - ``byte_limit``: likewise, keep users of at most about this many bytes in
      all (their properties, channels and tenant profiles, as JSON); ``None``
      does not weigh them.
    - ``count_applications``: off, ``applications`` stays empty (per-user
      counters, like per-key ones, are not kept for multi-million-record runs).
    """

    def __init__(
        self,
        preference_rules: PreferenceRules | None = None,
        *,
        limit: int | None = None,
        byte_limit: int | None = None,
        count_applications: bool = True,
        on_evict: Callable[[], None] | None = None,
    ) -> None:
        self.users: Collection[str, StoredUser] = Collection(
            lambda distinct_id: StoredUser(distinct_id=distinct_id),
            lambda distinct_id: f"user [distinct_id: '{distinct_id}']",
            limit=limit,
            byte_limit=byte_limit,
            weigh=_weight,
            on_evict=on_evict,
        )
        self.preference_rules = preference_rules or PreferenceRules()
        self.applications: Counter[tuple[str, str]] = Counter()
        self.count_applications = count_applications

    @property
    def bytes(self) -> int:
        """The users' weight in all, with ``byte_limit`` (0 without)."""
        return self.users.bytes

    @property
    def categories(self) -> dict[str, str]:
        return self.preference_rules.categories

    def _collection(self) -> Collection[str, StoredUser]:
        return self.users

    def _applied(self, kind: str, distinct_id: str) -> None:
        if self.count_applications:
            self.applications[(kind, distinct_id)] += 1

    # -- profiles -------------------------------------------------------------------

    def require(self, distinct_id: str) -> StoredUser:
        return self.users.require(distinct_id)

    def _get_or_create(self, distinct_id: str) -> StoredUser:
        return self.users.get_or_create(distinct_id)

    def upsert(self, distinct_id: str, payload: Any) -> StoredUser:
        if not isinstance(payload, Mapping):
            raise StoreError(400, "the body must be a JSON object")
        user = self._get_or_create(distinct_id)
        user.upsert(payload)
        self.users.changed(distinct_id)
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
        self.users.changed(distinct_id)
        return profile

    def apply_identity_event(self, record: Any) -> None:
        """Apply one identity event (``{"distinct_id", "$user_operations", ...}``) from event/."""
        if not isinstance(record, Mapping):
            raise StoreError(400, "an identity event must be a JSON object")
        distinct_id = record.get("distinct_id")
        if not isinstance(distinct_id, str) or not distinct_id.strip():
            raise StoreError(400, "distinct_id: must be a non-empty string")
        tenant_id = record.get("tenant_id")
        if tenant_id is not None and not isinstance(tenant_id, str):
            raise StoreError(400, "tenant_id: must be a string")
        distinct_id = distinct_id.strip()
        self._edit(distinct_id, record.get("$user_operations"), tenant_id or None)
        self._applied("identity_event", distinct_id)

    def delete(self, distinct_id: str) -> None:
        self.users.delete(distinct_id)
        self._applied("delete", distinct_id)

    def bulk_delete(self, payload: Any) -> list[str]:
        """Delete the users listed that exist; the ids deleted."""
        ids = payload.get("distinct_ids") if isinstance(payload, Mapping) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise StoreError(400, "distinct_ids: must be a list of strings")
        deleted = [distinct_id for distinct_id in ids if self.users.discard(distinct_id)]
        for distinct_id in deleted:
            self._applied("delete", distinct_id)
        return deleted

    def merge(self, distinct_id: str, payload: Any) -> StoredUser:
        from_id = payload.get("from_user_id") if isinstance(payload, Mapping) else None
        if not isinstance(from_id, str) or not from_id:
            raise StoreError(400, "from_user_id: must be a non-empty string")
        if from_id == distinct_id:
            raise StoreError(400, "from_user_id: a user cannot be merged into itself")
        if from_id not in self.users:
            raise StoreError(404, f"from_user_id: [distinct_id: '{from_id}'] not found")
        primary = self.require(distinct_id)
        secondary = self.users.delete(from_id)
        for key, value in secondary.properties.items():
            primary.properties.setdefault(key, value)
        for key, entries in secondary.channels.items():
            for entry in entries:
                qualifiers = {w: entry.get(n) for w, n in QUALIFIERS.items()}
                primary.add_identity(key, entry["value"], qualifiers)
        for tenant_id, profile in secondary.tenants.items():
            primary.tenants.setdefault(tenant_id, profile)
        primary.updated_at = now()
        self.users.changed(distinct_id)
        self._applied("merge", distinct_id)
        return primary

    # -- tenants ----------------------------------------------------------------------

    def tenant_profile(self, distinct_id: str, tenant_id: str) -> Profile:
        profile = self.require(distinct_id).tenants.get(tenant_id)
        if profile is None:
            raise StoreError(
                404, f"user [distinct_id: '{distinct_id}'] is not linked to tenant '{tenant_id}'"
            )
        return profile

    def upsert_for_tenant(self, distinct_id: str, tenant_id: str, payload: Any) -> Profile:
        if not isinstance(payload, Mapping):
            raise StoreError(400, "the body must be a JSON object")
        profile = self._get_or_create(distinct_id).tenants.setdefault(tenant_id, Profile())
        profile.upsert(payload)
        self.users.changed(distinct_id)
        self._applied("upsert_for_tenant", distinct_id)
        return profile

    def unlink_tenant(self, distinct_id: str, tenant_id: str) -> None:
        self.tenant_profile(distinct_id, tenant_id)
        del self.users[distinct_id].tenants[tenant_id]
        self.users.changed(distinct_id)
        self._applied("unlink_tenant", distinct_id)

    # -- list subscriptions (seeded by tests: the users API only reads them) ---------------
    # (Object subscriptions are kept on the objects: ``hub.objects``.)

    def subscribe_to_list(self, distinct_id: str, list_id: str) -> None:
        self._get_or_create(distinct_id).lists.append(list_id)

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

    # -- preferences ----------------------------------------------------------------------

    def preferences(self, distinct_id: str, tenant_id: str | None) -> Preferences:
        """A user's preferences to read: the defaults, not stored, if never set."""
        return read(self.require(distinct_id).preferences, tenant_id)

    def bulk_preferences(self, body: Any, tenant_id: str | None, *, reset: bool) -> None:
        ids = body.get("distinct_ids") if isinstance(body, Mapping) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise StoreError(400, "distinct_ids: must be a list of strings")

        def change(prefs: Preferences) -> None:
            if not reset:
                self.preference_rules.update_full(prefs, body)
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
                book = dict(user.preferences)
                update(book, tenant_id, change)
                staged.append((user, book))
        for user, book in staged:
            user.preferences = book


def _weight(user: StoredUser) -> int:
    """About how many bytes a user holds: its profiles as JSON, and a fixed overhead."""
    profiles = [user, *user.tenants.values()]
    return 1024 + len(dumps([[p.properties, p.channels] for p in profiles]))
