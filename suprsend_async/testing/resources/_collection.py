"""What every emulator store repeats: lookup, 404, a size limit, cursor and offset pages.

A :class:`Collection` holds one kind of record of one workspace (users,
objects, tenants, brands, lists...), keyed as its path names it. It is a
read-only mapping for tests (``hub.users.users["ann"]``); stores change it
through :meth:`Collection.get_or_create` and :meth:`Collection.delete`.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

__all__ = ["Collection", "CollectionView", "StoreError", "offset_page", "page"]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class StoreError(Exception):
    """A request the hub refuses: its status and message (``{"code", "message"}``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Collection(Mapping[K, T], Generic[K, T]):
    """Records by key, in the order made (the most recently changed last, when bounded).

    - ``make(key)`` builds a new record; ``describe(key)`` names one in a 404
      (``user [distinct_id: 'ann']``).
    - ``limit``: keep at most this many, forgetting the least recently changed
      first (``on_evict`` is told each time); ``None`` keeps them all.
    - ``byte_limit`` and ``weigh``: likewise, keep records of at most about this
      many bytes in all, each weighed by ``weigh(record)`` when a caller says it
      :meth:`changed`; ``None`` does not weigh them.
    """

    def __init__(
        self,
        make: Callable[[K], T],
        describe: Callable[[K], str],
        *,
        limit: int | None = None,
        byte_limit: int | None = None,
        weigh: Callable[[T], int] | None = None,
        on_evict: Callable[[], None] | None = None,
    ) -> None:
        self._records: dict[K, T] = {}
        self._seqs: dict[K, int] = {}  # creation order: what cursors page by
        # The sequence numbers in order, and whose each is: a page is found by
        # bisection, in O(page) rather than O(all records).
        self._order: list[int] = []
        self._by_seq: dict[int, K] = {}
        self._make, self._describe = make, describe
        self.limit, self._on_evict = limit, on_evict
        self.byte_limit, self._weigh = byte_limit, weigh
        self._weights: dict[K, int] = {}
        self.bytes = 0  # the records' weight in all (with byte_limit only)
        self._next = itertools.count(1)

    def __getitem__(self, key: K) -> T:
        return self._records[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def __repr__(self) -> str:
        return f"Collection({list(self._records)!r})"

    def require(self, key: K) -> T:
        """The record, or a 404 naming it."""
        record = self._records.get(key)
        if record is None:
            raise StoreError(404, f"{self._describe(key)} not found")
        return record

    def get_or_create(self, key: K) -> T:
        """The record, made if new: each caller is about to change it."""
        record = self._records.get(key)
        if record is not None:
            if self.limit is not None or self.byte_limit is not None:
                # The most recently changed go last, and last out.
                self._records[key] = self._records.pop(key)
            return record
        if self.limit is not None and len(self._records) >= self.limit:
            self._evict_oldest()
        record = self._records[key] = self._make(key)
        seq = self._seqs[key] = next(self._next)
        self._order.append(seq)  # always the largest yet: the list stays sorted
        self._by_seq[seq] = key
        return record

    def changed(self, key: K) -> None:
        """Weigh a record after a change, and forget the oldest while over ``byte_limit``."""
        if self.byte_limit is None or self._weigh is None or key not in self._records:
            return
        weight = self._weigh(self._records[key])
        self.bytes += weight - self._weights.get(key, 0)
        self._weights[key] = weight
        while self.bytes > self.byte_limit and len(self._records) > 1:
            self._evict_oldest()

    def _evict_oldest(self) -> None:
        self.discard(next(iter(self._records)))
        if self._on_evict is not None:
            self._on_evict()

    def delete(self, key: K) -> T:
        """Remove the record, or a 404 naming it."""
        record = self.require(key)
        self.discard(key)
        return record

    def discard(self, key: K) -> bool:
        """Remove the record if there is one; whether there was."""
        seq = self._seqs.pop(key, None)
        if seq is not None:
            del self._order[bisect.bisect_left(self._order, seq)]
            del self._by_seq[seq]
        self.bytes -= self._weights.pop(key, 0)
        return self._records.pop(key, None) is not None

    def page(
        self,
        params: Mapping[str, str],
        row: Callable[[T], Any],
        where: Callable[[K], bool] | None = None,
    ) -> dict[str, Any]:
        """A cursor page of the records (those whose key passes ``where``), oldest first;
        ``row`` gives a record's JSON."""
        if where is None:  # every record: found by bisection
            limit, after = page_params(params)
            start = bisect.bisect_right(self._order, after)
            seqs = self._order[start : start + limit + 1]
            chunk = [(seq, row(self._records[self._by_seq[seq]])) for seq in seqs[:limit]]
            return page_json(chunk, len(self._order), after, limit, more=len(seqs) > limit)
        pairs = (
            (self._seqs[k], row(r)) for k, r in self._records.items() if where is None or where(k)
        )
        return page(pairs, params)

    def offset_page(self, params: Mapping[str, str], row: Callable[[T], Any]) -> dict[str, Any]:
        """An offset page of every record, oldest first."""
        ordered = sorted(self._records, key=self._seqs.__getitem__)
        return offset_page([row(self._records[k]) for k in ordered], params)


class CollectionView(Mapping[K, T], Generic[K, T]):
    """A store read as its main collection: ``store[key]``, ``key in store``, ``len``,
    iteration oldest first, ``store.get(key)``."""

    def _collection(self) -> Collection[K, T]:
        raise NotImplementedError

    def __getitem__(self, key: K) -> T:
        return self._collection()[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._collection())

    def __len__(self) -> int:
        return len(self._collection())


def _integer(params: Mapping[str, str], name: str, default: int) -> int:
    value = params.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise StoreError(400, f"{name} must be an integer") from None


def _limit(params: Mapping[str, str], default: int) -> int:
    limit = _integer(params, "limit", default)
    if not 1 <= limit <= 1000:
        raise StoreError(400, "limit must be between 1 and 1000")
    return limit


def page_params(params: Mapping[str, str], default_limit: int = 10) -> tuple[int, int]:
    """(limit, after) of a cursor page request."""
    return _limit(params, default_limit), _integer(params, "after", 0)


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


def offset_page(
    items: list[Any], params: Mapping[str, str], *, default_limit: int = 10
) -> dict[str, Any]:
    """One offset page (``limit``, ``offset``) of ``items``, as the hub's offset lists answer."""
    limit = _limit(params, default_limit)
    offset = _integer(params, "offset", 0)
    if offset < 0:
        raise StoreError(400, "offset must not be negative")
    return {
        "meta": {"count": len(items), "limit": limit, "offset": offset},
        "results": items[offset : offset + limit],
    }
