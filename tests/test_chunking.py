"""The chunker: limits never exceeded, order kept, nothing lost or duplicated."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suprsend_async._wire.chunking import Chunk, ChunkBuilder, TooLarge, chunk_records

record_sizes = st.lists(st.integers(min_value=1, max_value=400), max_size=300)
limits = st.tuples(
    st.integers(min_value=1, max_value=120),  # max records
    st.integers(min_value=3, max_value=3000),  # max body bytes
    st.sampled_from([0, 7, 200]),  # per-record overhead
)


def records_of(sizes: list[int]) -> list[tuple[int, bytes]]:
    # A JSON string of the requested length stands in for an encoded record.
    return [(i, json.dumps("x" * max(0, n - 2)).encode()) for i, n in enumerate(sizes)]


@given(record_sizes, limits)
def test_chunks_respect_both_limits_and_keep_every_record_once_in_order(
    sizes: list[int], lim: tuple[int, int, int]
) -> None:
    max_records, max_body, overhead = lim
    records = records_of(sizes)
    out = list(
        chunk_records(
            records, max_records=max_records, max_body_bytes=max_body, record_overhead=overhead
        )
    )

    seen: list[int] = []
    for part in out:
        if isinstance(part, TooLarge):
            assert 2 + len(records[part.item][1]) + overhead > max_body
            seen.append(part.item)
            continue
        assert 1 <= len(part) <= max_records
        body = part.body()
        assert len(body) + overhead * len(part) <= max_body
        # The body is valid JSON made of exactly these records' bytes.
        assert json.loads(body) == [json.loads(b) for b in part.bodies]
        seen.extend(part.items)
    assert sorted(seen) == list(range(len(records)))
    # Greedy and in input order: records come out in the order they went in,
    # except that a refused record is reported as soon as it is seen.
    sent = [i for part in out if isinstance(part, Chunk) for i in part.items]
    assert sent == sorted(sent)


@given(record_sizes, limits)
def test_chunks_are_greedy(sizes: list[int], lim: tuple[int, int, int]) -> None:
    max_records, max_body, overhead = lim
    records = records_of(sizes)
    chunks = [
        c
        for c in chunk_records(
            records, max_records=max_records, max_body_bytes=max_body, record_overhead=overhead
        )
        if isinstance(c, Chunk)
    ]
    # Each closed chunk could not have taken the next sent record.
    for current, following in itertools.pairwise(chunks):
        nxt = following.bodies[0]
        grown = len(current.body()) + 1 + len(nxt) + overhead * (len(current) + 1)
        assert len(current) == max_records or grown > max_body


def test_documented_limits_100_records_and_800_kb() -> None:
    record = json.dumps({"event": "e", "pad": "x" * 1000}).encode()
    out = list(
        chunk_records(((i, record) for i in range(250)), max_records=100, max_body_bytes=800 * 1024)
    )
    assert [len(c) if isinstance(c, Chunk) else -1 for c in out] == [100, 100, 50]

    big = json.dumps({"pad": "x" * 100_000}).encode()
    out = list(
        chunk_records(((i, big) for i in range(20)), max_records=100, max_body_bytes=800 * 1024)
    )
    chunks = [c for c in out if isinstance(c, Chunk)]
    assert len(chunks) == len(out)
    assert [len(c) for c in chunks] == [8, 8, 4]
    assert all(len(c.body()) <= 800 * 1024 for c in chunks)


def test_a_record_too_large_alone_is_refused_with_a_reason_and_the_rest_is_sent() -> None:
    out = list(
        chunk_records(
            [("a", b'"1"'), ("huge", b'"' + b"x" * 100 + b'"'), ("b", b'"2"')],
            max_records=10,
            max_body_bytes=50,
        )
    )
    refused = [c for c in out if isinstance(c, TooLarge)]
    assert [r.item for r in refused] == ["huge"]
    assert "102 bytes" in refused[0].reason
    assert "50 bytes" in refused[0].reason
    assert [c.items for c in out if isinstance(c, Chunk)] == [("a", "b")]


def test_builder_refuses_a_zero_record_limit() -> None:
    with pytest.raises(ValueError, match="max_records"):
        ChunkBuilder(0, 100)
