"""Subscriber lists and their draft versions, as the emulator keeps them.

A list's members are a set (adding an id twice leaves one), kept in the order
they joined so that ``list_subscribers`` pages by a cursor. A sync
(``start_sync``) makes a draft version, empty and invisible: adds and removes
on it change only the draft, until ``finish_sync`` makes its members the
list's, all at once; a deleted draft leaves the list as it was. Answers have
the document's shapes (``v1/subscriber_list/...``).
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from ._collection import Collection, StoreError, page

__all__ = ["ListStore", "SubscriberList", "Version"]


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def _distinct_ids(body: Any, limit: int) -> list[str]:
    ids = body.get("distinct_ids") if isinstance(body, Mapping) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) and i.strip() for i in ids):
        raise StoreError(400, "distinct_ids: must be a list of non-empty strings")
    if len(ids) > limit:
        raise StoreError(400, f"distinct_ids: at most {limit} ids a request, got {len(ids)}")
    return ids


@attrs.define(eq=False)
class _Members:
    """A set of distinct ids in the order they joined (each with its sequence number)."""

    seqs: dict[str, int] = attrs.field(factory=dict)
    _next: Iterator[int] = attrs.field(factory=lambda: itertools.count(1))

    def add(self, ids: Iterable[str]) -> int:
        added = 0
        for distinct_id in ids:
            if distinct_id not in self.seqs:
                self.seqs[distinct_id] = next(self._next)
                added += 1
        return added

    def remove(self, ids: Iterable[str]) -> int:
        return sum(self.seqs.pop(distinct_id, None) is not None for distinct_id in ids)

    def __contains__(self, distinct_id: object) -> bool:
        return distinct_id in self.seqs

    def __len__(self) -> int:
        return len(self.seqs)

    def __iter__(self) -> Iterator[str]:
        return iter(self.seqs)


@attrs.define(eq=False)
class Version:
    """A draft of a list's members, built between ``start_sync`` and ``finish_sync``."""

    version_id: str
    members: _Members = attrs.field(factory=_Members)
    created_at: str = attrs.field(factory=_now)


@attrs.define(eq=False)
class SubscriberList:
    """One list: ``hub.lists["beta"].members`` (a set-like of distinct ids), its drafts."""

    list_id: str
    list_name: str = ""
    list_description: str = ""
    members: _Members = attrs.field(factory=_Members)
    versions: dict[str, Version] = attrs.field(factory=dict)
    created_at: str = attrs.field(factory=_now)
    updated_at: str = attrs.field(factory=_now)
    # Times a whole replacement (finish_sync) was applied: what a test of retries reads.
    syncs_finished: int = 0

    def to_json(self, version: Version | None = None) -> dict[str, Any]:
        members = self.members if version is None else version.members
        return {
            "list_id": self.list_id,
            "list_name": self.list_name or self.list_id,
            "list_description": self.list_description,
            "list_type": "static_list",
            "subscribers_count": len(members),
            "source": None,
            "is_readonly": False,
            "status": "active" if version is None else "draft",
            "track_user_entry": False,
            "track_user_exit": False,
            "requested_for_delete": False,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "drafts": [v.version_id for v in self.versions.values()] or None,
            "version_id": None if version is None else version.version_id,
        }


class ListStore:
    """The subscriber lists of one workspace (``hub.lists`` is the first workspace's).

    ``store["beta"]`` is a :class:`SubscriberList`; ``store.lists_of("ann")``
    the ids of the lists a user is in.
    """

    def __init__(self, max_ids_per_request: int = 1000) -> None:
        self.max_ids_per_request = max_ids_per_request
        self.lists: Collection[str, SubscriberList] = Collection(
            SubscriberList, lambda list_id: f"list_id: {list_id}"
        )
        self._versions = itertools.count(1)

    def __getitem__(self, list_id: str) -> SubscriberList:
        return self.lists[list_id]

    def __contains__(self, list_id: object) -> bool:
        return list_id in self.lists

    def __len__(self) -> int:
        return len(self.lists)

    def __iter__(self) -> Iterator[str]:
        return iter(self.lists)

    def require(self, list_id: str) -> SubscriberList:
        return self.lists.require(list_id)

    # -- lists -------------------------------------------------------------------------

    def create(self, body: Any) -> SubscriberList:
        """``POST v1/subscriber_list/``: create the list, or update its name and description."""
        if not isinstance(body, Mapping):
            raise StoreError(400, "the body must be a JSON object")
        list_id = body.get("list_id")
        if not isinstance(list_id, str) or not list_id.strip():
            raise StoreError(400, "list_id: This field may not be blank.")
        found = self.lists.get_or_create(list_id.strip())
        for field in ("list_name", "list_description"):
            value = body.get(field)
            if isinstance(value, str):
                setattr(found, field, value)
        found.updated_at = _now()
        return found

    def all_page(self, params: Mapping[str, str]) -> dict[str, Any]:
        return self.lists.offset_page(params, SubscriberList.to_json)

    def delete(self, list_id: str) -> None:
        self.lists.delete(list_id)

    def change(self, list_id: str, body: Any, *, add: bool) -> dict[str, Any]:
        """Add or remove members of the live list."""
        ids = _distinct_ids(body, self.max_ids_per_request)
        found = self.require(list_id)
        count = found.members.add(ids) if add else found.members.remove(ids)
        found.updated_at = _now()
        return {"success": True, "affected_count": count}

    def members_page(self, list_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """``GET .../subscriber/``: members in the order they joined, by cursor."""
        members = self.require(list_id).members.seqs
        rows = ((seq, {"id": str(seq), "distinct_id": d}) for d, seq in members.items())
        return page(rows, params, default_limit=20)

    def lists_of(self, distinct_id: str) -> list[SubscriberList]:
        """The lists ``distinct_id`` is a member of (drafts do not count)."""
        return [found for found in self.lists.values() if distinct_id in found.members]

    # -- versions ------------------------------------------------------------------------

    def start_sync(self, list_id: str) -> dict[str, Any]:
        found = self.require(list_id)
        version = Version(f"emu-version-{next(self._versions):06d}")
        found.versions[version.version_id] = version
        return found.to_json(version)

    def version(self, list_id: str, version_id: str) -> tuple[SubscriberList, Version]:
        found = self.require(list_id)
        version = found.versions.get(version_id)
        if version is None:
            raise StoreError(404, f"version_id {version_id} not found for list_id {list_id}")
        return found, version

    def change_version(
        self, list_id: str, version_id: str, body: Any, *, add: bool
    ) -> dict[str, Any]:
        ids = _distinct_ids(body, self.max_ids_per_request)
        _, version = self.version(list_id, version_id)
        members = version.members
        count = members.add(ids) if add else members.remove(ids)
        return {"success": True, "affected_count": count}

    def finish_sync(self, list_id: str, version_id: str) -> dict[str, Any]:
        """The draft's members become the list's, at once; the draft is gone."""
        found, version = self.version(list_id, version_id)
        del found.versions[version_id]
        found.members = version.members
        found.updated_at = _now()
        found.syncs_finished += 1
        return found.to_json()

    def delete_version(self, list_id: str, version_id: str) -> None:
        found, _ = self.version(list_id, version_id)
        del found.versions[version_id]
