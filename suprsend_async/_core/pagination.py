"""Paginated lists: await the first page, or iterate every item lazily.

Most hub lists page with a cursor: each page's ``meta`` says ``has_next``
and gives ``after``, which the next request passes back. A few (tenants,
brands) page by ``limit`` and ``offset``, their ``meta`` giving ``count``.
``await`` gives the first page's JSON, exactly what the official SDK's call
returns, so ported code only gains an ``await``; ``async for`` walks every
item, fetching the next page only when the last one is used up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from typing import Any

from .._values.errors import SuprsendAPIError, SuprsendValidationError

__all__ = ["CursorPaginator", "FetchPage", "OffsetPaginator", "Paginator"]

FetchPage = Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]


class Paginator:
    """What both kinds of list share: ``await`` for the first page, ``async for``
    for every item, :meth:`pages` for every page."""

    def __init__(self, fetch: FetchPage, options: Mapping[str, Any]) -> None:
        self._fetch = fetch
        self._options = dict(options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(options={self._options!r})"

    def __await__(self) -> Generator[Any, None, dict[str, Any]]:
        return self._fetch(self._options).__await__()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._items()

    async def _items(self) -> AsyncIterator[Any]:
        async for page in self.pages():
            for item in page["results"]:
                yield item

    def pages(self) -> AsyncIterator[dict[str, Any]]:
        raise NotImplementedError


class CursorPaginator(Paginator):
    """A cursor-paged list. ``await`` it for the first page; ``async for`` it for every item.

    ``options`` go into every page's query; ``limit`` among them is the page
    size. :meth:`pages` iterates whole pages instead of items.
    """

    async def pages(self) -> AsyncIterator[dict[str, Any]]:
        """Every page's JSON in turn, following ``meta.after`` until ``has_next`` is false."""
        options = self._options
        seen: set[str] = set()
        while True:
            page = await self._fetch(options)
            results = page.get("results")
            if not isinstance(results, list):
                raise _malformed(page, "no 'results' list")
            yield page
            meta = page.get("meta")
            if not isinstance(meta, Mapping) or not meta.get("has_next"):
                return
            after = meta.get("after")
            if not isinstance(after, str) or not after:
                raise _malformed(page, "has_next is true but 'after' gives no cursor")
            if after in seen:
                # Following it again would loop forever.
                raise _malformed(page, f"cursor {after!r} was already followed")
            seen.add(after)
            options = {**{k: v for k, v in self._options.items() if k != "before"}, "after": after}


class OffsetPaginator(Paginator):
    """An offset-paged list. ``await`` it for the first page; ``async for`` it for every item.

    ``options`` go into every page's query (``limit`` is the page size,
    ``offset`` where to start); each next page asks from the offset after
    the items seen, until ``meta.count`` is reached or a page comes back empty.
    :meth:`pages` iterates whole pages instead of items.
    """

    async def pages(self) -> AsyncIterator[dict[str, Any]]:
        """Every page's JSON in turn, each asked from the offset after the last."""
        options = self._options
        start = options.get("offset") or 0
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise SuprsendValidationError("offset", f"must be an integer >= 0, got {start!r}")
        offset = start
        while True:
            page = await self._fetch(options)
            results = page.get("results")
            if not isinstance(results, list):
                raise _malformed(page, "no 'results' list")
            yield page
            meta = page.get("meta")
            count = meta.get("count") if isinstance(meta, Mapping) else None
            offset += len(results)
            if not results or (isinstance(count, int) and offset >= count):
                return
            limit = options.get("limit")
            if not isinstance(count, int) and isinstance(limit, int) and len(results) < limit:
                return  # no count given: a short page is the last
            options = {**self._options, "offset": offset}


def _malformed(page: dict[str, Any], why: str) -> SuprsendAPIError:
    return SuprsendAPIError(
        f"cannot follow the list's pages: {why}",
        status_code=200,
        error_type="unexpected_answer",
        body=page,
    )
