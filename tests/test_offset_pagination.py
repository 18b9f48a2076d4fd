"""Offset-paged lists (tenants, brands): ``await`` is the first page, ``async for`` every item.

The pages come from the emulator's own offset paging (``offset_page``), the
same the hub's offset lists follow, so the client walks what it will meet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from suprsend_async import OffsetPaginator, SuprsendAPIError, SuprsendValidationError
from suprsend_async.testing.resources._collection import offset_page

pytestmark = pytest.mark.anyio

ITEMS = [{"n": n} for n in range(25)]


def hub_pages(items: list[Any], asked: list[dict[str, Any]]) -> Any:
    async def fetch(params: Mapping[str, Any]) -> dict[str, Any]:
        asked.append(dict(params))
        return offset_page(items, {k: str(v) for k, v in params.items()})

    return fetch


async def test_await_is_the_first_page_and_iteration_walks_three_pages() -> None:
    asked: list[dict[str, Any]] = []
    listing = OffsetPaginator(hub_pages(ITEMS, asked), {"limit": 10})
    first = await listing
    assert first["results"] == ITEMS[:10]
    assert first["meta"] == {"count": 25, "limit": 10, "offset": 0}
    assert [item async for item in listing] == ITEMS
    assert [p.get("offset") for p in asked] == [None, None, 10, 20]  # as the SDK asks first


async def test_iteration_starts_at_the_offset_given_and_stops_at_the_count() -> None:
    asked: list[dict[str, Any]] = []
    pages = [
        p async for p in OffsetPaginator(hub_pages(ITEMS, asked), {"limit": 7, "offset": 5}).pages()
    ]
    assert [len(p["results"]) for p in pages] == [7, 7, 6]
    assert [p["offset"] for p in asked] == [5, 12, 19]


async def test_an_empty_list_is_one_empty_page() -> None:
    asked: list[dict[str, Any]] = []
    assert [item async for item in OffsetPaginator(hub_pages([], asked), {})] == []
    assert len(asked) == 1


async def test_without_a_count_a_short_page_is_the_last() -> None:
    asked: list[dict[str, Any]] = []

    async def fetch(params: Mapping[str, Any]) -> dict[str, Any]:
        asked.append(dict(params))
        offset = params.get("offset", 0)
        return {"results": ITEMS[offset : offset + params["limit"]]}

    assert [i async for i in OffsetPaginator(fetch, {"limit": 10})] == ITEMS
    assert len(asked) == 3


async def test_a_page_without_results_or_a_bad_offset_is_a_typed_error() -> None:
    async def broken(params: Mapping[str, Any]) -> dict[str, Any]:
        return {"meta": {"count": 3}}

    with pytest.raises(SuprsendAPIError, match="no 'results' list"):
        [i async for i in OffsetPaginator(broken, {})]
    with pytest.raises(SuprsendValidationError) as caught:
        [i async for i in OffsetPaginator(broken, {"offset": "ten"})]
    assert caught.value.field == "offset"
