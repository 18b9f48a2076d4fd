"""The emulator's objects: profiles, their subscriptions (users and child objects), and
their preferences.

Pure state and the hub's rules for changing it; the routes are in ``objects``
(and ``users``, for the objects a user is subscribed to). Subscriptions are
kept on the object, and read from either side: an object's subscribers, or
the objects a user or an object is subscribed to. Every change a request makes
is counted in :attr:`ObjectStore.applications`, as for users.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping
from typing import Any

import attrs

from ._collection import Collection, CollectionView, StoreError, page
from ._preferences import Preferences
from ._profile import Profile, now
from ._user_store import UserStore

__all__ = ["ObjectKey", "ObjectStore", "StoredObject", "Subscription"]

ObjectKey = tuple[str, str]  # (object_type, object_id)
# Who subscribes: ("user", distinct_id) or ("object", object_type, object_id).
Subscriber = tuple[str, ...]


@attrs.define
class Subscription:
    seq: int  # when it was made: what cursors page by
    properties: dict[str, Any] = attrs.field(factory=dict)
    created_at: str = attrs.field(factory=now)
    updated_at: str = attrs.field(factory=now)


@attrs.define
class StoredObject(Profile):
    object_type: str = ""
    object_id: str = ""
    subscribers: dict[Subscriber, Subscription] = attrs.field(factory=dict)
    preferences: dict[str | None, Preferences] = attrs.field(factory=dict)

    def summary(self) -> dict[str, Any]:
        """The object as a subscription row names it."""
        return {
            "id": self.object_id,
            "object_type": self.object_type,
            "subscriptions_count": len(self.subscribers),
            "updated_at": self.updated_at,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "object_type": self.object_type,
            "id": self.object_id,
            "subscriptions_count": len(self.subscribers),
            **super().to_json(),
        }


def _subscriber(recipient: Any, index: int) -> Subscriber:
    """A recipient of a subscription call: a distinct id, or ``{"object_type", "id"}``
    (a user may also be given as ``{"distinct_id": ...}``)."""
    where = f"recipients[{index}]"
    if isinstance(recipient, str) and recipient.strip():
        return ("user", recipient.strip())
    if isinstance(recipient, Mapping):
        distinct_id = recipient.get("distinct_id")
        if isinstance(distinct_id, str) and distinct_id.strip():
            return ("user", distinct_id.strip())
        kind, ident = recipient.get("object_type"), recipient.get("id")
        if isinstance(kind, str) and kind and isinstance(ident, str) and ident:
            return ("object", kind, ident)
    raise StoreError(400, f"{where}: must be a distinct_id, or an object with object_type and id")


def _recipients(body: Any) -> list[Subscriber]:
    recipients = body.get("recipients") if isinstance(body, Mapping) else None
    if not isinstance(recipients, list) or not recipients:
        raise StoreError(400, "recipients: must be a non-empty list")
    return [_subscriber(r, i) for i, r in enumerate(recipients)]


class ObjectStore(CollectionView[ObjectKey, StoredObject]):
    """The objects of one workspace. ``hub.objects`` is the first workspace's store.

    - ``store[("teams", "devs")]``: a :class:`StoredObject` (``properties``,
      ``identities("$email")``, ``subscribers``, ``preferences``); ``store.objects``
      is the :class:`Collection` of them.
    - ``applications``: how many times each kind of change was applied per
      object, e.g. ``applications[("edit", "teams/devs")]``.
    """

    def __init__(self, users: UserStore, *, count_applications: bool = True) -> None:
        self.objects: Collection[ObjectKey, StoredObject] = Collection(
            lambda key: StoredObject(object_type=key[0], object_id=key[1]),
            lambda key: f"object '{key[0]}/{key[1]}'",
        )
        self._users = users
        self.applications: Counter[tuple[str, str]] = Counter()
        self.count_applications = count_applications
        self._seq = itertools.count(1)

    def _collection(self) -> Collection[ObjectKey, StoredObject]:
        return self.objects

    def _applied(self, kind: str, key: ObjectKey) -> None:
        if self.count_applications:
            self.applications[(kind, f"{key[0]}/{key[1]}")] += 1

    # -- profiles ---------------------------------------------------------------------

    def require(self, key: ObjectKey) -> StoredObject:
        return self.objects.require(key)

    def list_page(self, object_type: str, params: Mapping[str, str]) -> dict[str, Any]:
        """A cursor page of the objects of one type, oldest first."""
        return self.objects.page(params, StoredObject.to_json, lambda key: key[0] == object_type)

    def upsert(self, key: ObjectKey, payload: Any) -> StoredObject:
        if not isinstance(payload, Mapping):
            raise StoreError(400, "the body must be a JSON object")
        stored = self.objects.get_or_create(key)
        stored.upsert(payload)
        self._applied("upsert", key)
        return stored

    def edit(self, key: ObjectKey, operations: Any) -> StoredObject:
        current = self.objects.get(key)
        staged = (current or StoredObject()).staged(operations)  # raises before any change
        stored = self.objects.get_or_create(key)
        stored.adopt(staged)
        self._applied("edit", key)
        return stored

    def delete(self, key: ObjectKey) -> None:
        self.objects.delete(key)
        self.forget_subscriber(("object", *key))
        self._applied("delete", key)

    def bulk_delete(self, object_type: str, payload: Any) -> None:
        ids = payload.get("object_ids") if isinstance(payload, Mapping) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise StoreError(400, "object_ids: must be a list of strings")
        for object_id in ids:
            key = (object_type, object_id)
            if self.objects.discard(key):
                self.forget_subscriber(("object", *key))
                self._applied("delete", key)

    def forget_subscriber(self, subscriber: Subscriber) -> None:
        """Drop every subscription of ``subscriber`` (a deleted user or object)."""
        for stored in self.objects.values():
            stored.subscribers.pop(subscriber, None)

    # -- subscriptions ------------------------------------------------------------------

    def subscribe(self, key: ObjectKey, body: Any) -> list[dict[str, Any]]:
        """Subscribe the body's recipients (again: their properties are replaced)."""
        stored = self.require(key)
        recipients = _recipients(body)
        properties = body.get("properties") or {}
        if not isinstance(properties, Mapping):
            raise StoreError(400, "properties: must be an object")
        for subscriber in recipients:
            if subscriber == ("object", *key):
                raise StoreError(400, "an object cannot subscribe to itself")
            if subscriber[0] == "user":
                self._users.users.get_or_create(subscriber[1])
            else:
                self.objects.get_or_create((subscriber[1], subscriber[2]))
            current = stored.subscribers.get(subscriber)
            if current is None:
                current = stored.subscribers[subscriber] = Subscription(next(self._seq))
            current.properties, current.updated_at = dict(properties), now()
        stored.updated_at = now()
        self._applied("subscribe", key)
        return [self.subscription_json(s, stored.subscribers[s]) for s in recipients]

    def subscribe_user(self, key: ObjectKey, distinct_id: str) -> None:
        """Seed a subscription (the object is made if new), as a test's setup."""
        self.objects.get_or_create(key)
        self.subscribe(key, {"recipients": [distinct_id]})

    def unsubscribe(self, key: ObjectKey, body: Any) -> None:
        stored = self.require(key)
        for subscriber in _recipients(body):
            stored.subscribers.pop(subscriber, None)
        self._applied("unsubscribe", key)

    def subscription_json(self, subscriber: Subscriber, subscription: Subscription) -> Any:
        if subscriber[0] == "user":
            user = self._users.users.get(subscriber[1])
            who: dict[str, Any] = {
                "user": {
                    "distinct_id": subscriber[1],
                    "updated_at": user.updated_at if user is not None else subscription.updated_at,
                },
                "object": None,
            }
        else:
            child = self.objects.get((subscriber[1], subscriber[2]))
            summary = child.summary() if child is not None else None
            who = {"user": None, "object": summary}
        return {
            "properties": dict(subscription.properties),
            **who,
            "created_at": subscription.created_at,
            "updated_at": subscription.updated_at,
        }

    def subscriptions_page(self, key: ObjectKey, params: Mapping[str, str]) -> dict[str, Any]:
        stored = self.require(key)
        rows = ((s.seq, self.subscription_json(who, s)) for who, s in stored.subscribers.items())
        return page(rows, params)

    def subscribed_to_page(self, subscriber: Subscriber, params: Mapping[str, str]) -> Any:
        """The objects ``subscriber`` is subscribed to, as ``subscribed_to/object/`` pages them."""
        rows = []
        for stored in self.objects.values():
            subscription = stored.subscribers.get(subscriber)
            if subscription is not None:
                row = {
                    "properties": dict(subscription.properties),
                    "object": {**stored.summary(), "properties": dict(stored.properties)},
                    "created_at": subscription.created_at,
                    "updated_at": subscription.updated_at,
                }
                rows.append((subscription.seq, row))
        return page(rows, params)
