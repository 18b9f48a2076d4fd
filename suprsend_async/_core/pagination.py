"""Paginated lists: await the first page, or iterate every item lazily.

The hub pages lists two ways. Cursor lists (users, objects, subscriptions):
each page's ``meta`` says ``has_next`` and gives ``after``, which the next
request passes back. Offset lists (tenants, brands, preference categories):
each request names an ``offset`` and a ``limit``, and ``meta.count`` says how
many items there are in all. Either way ``await`` gives the first page's JSON,
exactly what the official SDK's call returns, so ported code only gains an
``await``; ``async for`` walks every item, fetching the next page only when
the last one is used up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from typing import Any, Generic, TypeVar, cast

from .._values.answers import CursorPage, OffsetPage
from .._values.errors import SuprsendAPIError

__all__ = ["CursorPaginator", "FetchPage", "OffsetPaginator"]

Item = TypeVar("Item")
Page = TypeVar("Page", bound=Mapping[str, Any])

FetchPage = Callable[[Mapping[str, Any]], Awaitable[Page]]


class _Paginator(Generic[Page, Item]):
    """What both kinds share: the first page on ``await``, items on ``async for``."""

    def __init__(self, fetch: FetchPage[Page], options: Mapping[str, Any]) -> None:
        self._fetch = fetch
        self._options = dict(options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(options={self._options!r})"

    def __await__(self) -> Generator[Any, None, Page]:
        return self._fetch(self._options).__await__()

    def __aiter__(self) -> AsyncIterator[Item]:
        return self._items()

    async def _items(self) -> AsyncIterator[Item]:
        async for page in self.pages():
            for item in cast("list[Item]", page["results"]):
                yield item

    async def pages(self) -> AsyncIterator[Page]:
        """Every page's JSON in turn."""
        options: Mapping[str, Any] | None = self._options
        followed: set[str] = set()
        while options is not None:
            page = await self._fetch(options)
            if not isinstance(page.get("results"), list):
                raise _malformed(page, "no 'results' list")
            yield page
            options = self._next(options, page, followed)

    def _next(
        self, options: Mapping[str, Any], page: Page, followed: set[str]
    ) -> Mapping[str, Any] | None:
        """The options of the page after ``page``, or None if it was the last.

        ``followed`` is this walk's own record of where it has been.
        """
        raise NotImplementedError


class CursorPaginator(_Paginator[CursorPage[Item], Item]):
    """A cursor list. ``await`` it for the first page; ``async for`` it for every item.

    ``options`` go into every page's query; ``limit`` among them is the page
    size. :meth:`pages` iterates whole pages instead of items, following
    ``meta.after`` until ``has_next`` is false.
    """

    def _next(
        self, options: Mapping[str, Any], page: CursorPage[Item], followed: set[str]
    ) -> Mapping[str, Any] | None:
        meta = page.get("meta")
        if not isinstance(meta, Mapping) or not meta.get("has_next"):
            return None
        after = meta.get("after")
        if not isinstance(after, str) or not after:
            raise _malformed(page, "has_next is true but 'after' gives no cursor")
        if after in followed:
            # Following it again would loop forever.
            raise _malformed(page, f"cursor {after!r} was already followed")
        followed.add(after)
        return {**{k: v for k, v in self._options.items() if k != "before"}, "after": after}


class OffsetPaginator(_Paginator[OffsetPage[Item], Item]):
    """An offset list. ``await`` it for the first page; ``async for`` it for every item.

    ``options`` hold ``limit`` (the page size) and ``offset`` (where the first
    page starts); :meth:`pages` iterates whole pages, each from where the last
    one ended, until ``meta.count`` items are passed or a page comes back empty.
    """

    def _next(
        self, options: Mapping[str, Any], page: OffsetPage[Item], followed: set[str]
    ) -> Mapping[str, Any] | None:
        got = len(page["results"])
        offset = _int(options.get("offset"), 0) + got
        meta = page.get("meta")
        count = meta.get("count") if isinstance(meta, Mapping) else None
        if got == 0 or (isinstance(count, int) and offset >= count):
            return None
        if not isinstance(count, int) and got < _int(options.get("limit"), got + 1):
            return None  # no count to go by: a short page is the last one
        return {**options, "offset": offset}


def _int(value: object, default: int) -> int:
    """An option's number as sent: an int, or a string of digits (options can hold either)."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _malformed(page: Mapping[str, Any], why: str) -> SuprsendAPIError:
    return SuprsendAPIError(
        f"cannot follow the list's pages: {why}",
        status_code=200,
        error_type="unexpected_answer",
        body=page,
    )
