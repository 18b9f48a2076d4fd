"""Packing encoded records into bulk request bodies. Pure: no I/O, no clocks.

Greedy, in input order: a chunk closes when one more record would pass the
record-count limit or the body-size limit. Sizes are measured on the exact
bytes that will be sent (plus a per-record allowance for keys the hub adds
to workflow records), so a chunk that fits here fits on the wire.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Generic, TypeVar

import attrs

__all__ = ["Chunk", "ChunkBuilder", "TooLarge", "chunk_records"]

R = TypeVar("R")


@attrs.frozen
class TooLarge(Generic[R]):
    """A record that cannot be sent in any request: alone it passes the body limit."""

    item: R
    size: int
    limit: int

    @property
    def reason(self) -> str:
        return f"record is {self.size} bytes; a bulk request body may not exceed {self.limit} bytes"


@attrs.frozen
class Chunk(Generic[R]):
    """Records for one request, with the bytes of each record in ``bodies``, or the
    whole JSON array in ``encoded`` when the records were encoded in one call (the
    bodies are then empty: whoever needs a record's bytes splits the array)."""

    items: Sequence[R]
    bodies: tuple[bytes, ...]
    encoded: bytes | None = None

    def __len__(self) -> int:
        return len(self.items)

    def body(self) -> bytes:
        """The JSON array body, joined from the already-encoded records."""
        if self.encoded is not None:
            return self.encoded
        return b"[" + b",".join(self.bodies) + b"]"


@attrs.define
class ChunkBuilder(Generic[R]):
    """Feeds records one at a time; hands back each chunk as soon as it is closed."""

    max_records: int
    max_body_bytes: int
    record_overhead: int = 0
    _items: list[R] = attrs.field(factory=list, init=False)
    _bodies: list[bytes] = attrs.field(factory=list, init=False)
    _size: int = attrs.field(default=2, init=False)  # the enclosing brackets

    def __attrs_post_init__(self) -> None:
        if self.max_records < 1:
            raise ValueError("max_records must be at least 1")

    def add(self, item: R, body: bytes) -> Chunk[R] | TooLarge[R] | None:
        """Add a record; returns what is ready to send: usually nothing, else the
        chunk it closed or its refusal.

        Never two at once: a chunk is closed as soon as it is full, so only
        the size can close one when a record comes in, and the record then
        starts a chunk of its own, full at once only if ``max_records`` is 1,
        when nothing was left open to close.
        """
        size = len(body) + self.record_overhead
        if 2 + size > self.max_body_bytes:
            return TooLarge(item, size, self.max_body_bytes)
        ready = None
        if self._items:
            if self._size + 1 + size > self.max_body_bytes:
                ready = self._close()
            else:
                size += 1  # the comma before it
        self._size += size
        self._items.append(item)
        self._bodies.append(body)
        if len(self._items) >= self.max_records:
            assert ready is None  # see above
            ready = self._close()
        return ready

    def __len__(self) -> int:
        """Records in the chunk being built."""
        return len(self._items)

    def flush(self) -> Chunk[R] | None:
        """The last, partly filled chunk, if any."""
        return self._close() if self._items else None

    def _close(self) -> Chunk[R]:
        chunk = Chunk(tuple(self._items), tuple(self._bodies))
        self._items, self._bodies, self._size = [], [], 2
        return chunk


def chunk_records(
    records: Iterable[tuple[R, bytes]],
    *,
    max_records: int,
    max_body_bytes: int,
    record_overhead: int = 0,
) -> Iterator[Chunk[R] | TooLarge[R]]:
    """Lazily pack ``(item, encoded bytes)`` pairs into chunks, in order."""
    builder: ChunkBuilder[R] = ChunkBuilder(max_records, max_body_bytes, record_overhead)
    for item, body in records:
        ready = builder.add(item, body)
        if ready is not None:
            yield ready
    last = builder.flush()
    if last is not None:
        yield last
