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
from .._values.errors import SuprsendAPIError, SuprsendConfigError
from .._values.limits import shown

__all__ = ["CursorPaginator", "FetchPage", "OffsetPaginator"]

Item = TypeVar("Item")
Page = TypeVar("Page", bound=Mapping[str, Any])

FetchPage = Callable[[Mapping[str, Any]], Awaitable[Page]]

# A hub that answers "more to come" with nothing in the page, again and
# again, would keep ``async for`` fetching forever without ever handing the
# caller an item (so without a chance to ``break``): a run this long of empty
# pages ends the walk with an error.
MAX_EMPTY_PAGES = 10
# The longest cursor followed: a real one is an id or a short token; a cursor
# that keeps growing would end in a URL too long to send.
MAX_CURSOR_LENGTH = 1024


def _max_pages(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SuprsendConfigError(
            f"max_pages must be None or an integer of at least 1, got {shown(value)}"
        )
    return value


class _Paginator(Generic[Page, Item]):
    """What both kinds share: the first page on ``await``, items on ``async for``,
    :meth:`items` with a ceiling on the pages fetched. A walk that cannot end (a
    cursor seen before, a long run of empty pages the hub says are not the last)
    stops with :class:`SuprsendAPIError`."""

    def __init__(self, fetch: FetchPage[Page], options: Mapping[str, Any]) -> None:
        self._fetch = fetch
        self._options = dict(options)

    def __repr__(self) -> str:
        # The options' names only: their values are often ids.
        return f"{type(self).__name__}(options={sorted(map(str, self._options))!r})"

    def __await__(self) -> Generator[Any, None, Page]:
        return self._fetch(self._options).__await__()

    def __aiter__(self) -> AsyncIterator[Item]:
        return self.items()

    async def items(self, *, max_pages: int | None = None) -> AsyncIterator[Item]:
        """Every item of every page, fetching at most ``max_pages`` pages (None: all)."""
        async for page in self.pages(max_pages=max_pages):
            for item in cast("list[Item]", page["results"]):
                yield item

    async def pages(self, *, max_pages: int | None = None) -> AsyncIterator[Page]:
        """Every page's JSON in turn, until the last or until ``max_pages`` were fetched."""
        most = _max_pages(max_pages)
        options: Mapping[str, Any] | None = self._options
        followed: set[str] = set()
        fetched = empty_run = 0
        while options is not None:
            page = await self._fetch(options)
            fetched += 1
            results = page.get("results")
            if not isinstance(results, list):
                raise _malformed(page, "no 'results' list")
            if not all(isinstance(item, dict) for item in results):
                raise _malformed(page, "an item of 'results' is not a JSON object")
            yield page
            if most is not None and fetched >= most:
                return
            options = self._next(options, page, followed)
            empty_run = 0 if results else empty_run + 1
            if options is not None and empty_run >= MAX_EMPTY_PAGES:
                raise _malformed(
                    page, f"{empty_run} pages in a row were empty, yet each said more would follow"
                )

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
        has_next = meta.get("has_next", False) if isinstance(meta, Mapping) else False
        if not isinstance(has_next, bool):
            raise _malformed(page, f"'has_next' is not true or false ({type(has_next).__name__})")
        if not has_next:
            return None
        assert isinstance(meta, Mapping)
        after = meta.get("after")
        if not isinstance(after, str) or not after:
            raise _malformed(page, "has_next is true but 'after' gives no cursor")
        if len(after) > MAX_CURSOR_LENGTH:
            raise _malformed(page, f"its cursor is longer than {MAX_CURSOR_LENGTH} characters")
        if after in followed:
            # Following it again would loop forever.
            raise _malformed(page, "a cursor was already followed")
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
