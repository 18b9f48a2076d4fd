"""Cursor-paginated lists: await the first page, or iterate every item lazily.

The hub pages lists with a cursor: each page's ``meta`` says ``has_next``
and gives ``after``, which the next request passes back. ``await`` gives the
first page's JSON, exactly what the official SDK's call returns, so ported
code only gains an ``await``; ``async for`` walks every item, fetching the
next page only when the last one is used up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from typing import Any

from .._values.errors import SuprsendAPIError, SuprsendConfigError
from .._values.limits import shown

__all__ = ["CursorPaginator", "FetchPage"]

FetchPage = Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]


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


class CursorPaginator:
    """A list call. ``await`` it for the first page; ``async for`` it for every item.

    ``options`` go into every page's query; ``limit`` among them is the page
    size. :meth:`pages` iterates whole pages instead of items, and
    :meth:`items` items with a ceiling on the pages fetched. A walk that
    cannot end (a cursor seen before, a long run of empty pages the hub says
    are not the last) stops with :class:`SuprsendAPIError`.
    """

    def __init__(self, fetch: FetchPage, options: Mapping[str, Any]) -> None:
        self._fetch = fetch
        self._options = dict(options)

    def __repr__(self) -> str:
        # The options' names only: their values are often ids.
        return f"CursorPaginator(options={sorted(map(str, self._options))!r})"

    def __await__(self) -> Generator[Any, None, dict[str, Any]]:
        return self._fetch(self._options).__await__()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self.items()

    async def items(self, *, max_pages: int | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every item of every page, fetching at most ``max_pages`` pages (None: all)."""
        async for page in self.pages(max_pages=max_pages):
            for item in page["results"]:
                yield item

    async def pages(self, *, max_pages: int | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every page's JSON in turn, following ``meta.after`` until ``has_next`` is false,
        or until ``max_pages`` pages were fetched."""
        most = _max_pages(max_pages)
        options = self._options
        seen: set[str] = set()
        fetched = empty_run = 0
        while True:
            page = await self._fetch(options)
            fetched += 1
            results = page.get("results")
            if not isinstance(results, list):
                raise _malformed(page, "no 'results' list")
            if not all(isinstance(item, dict) for item in results):
                raise _malformed(page, "an item of 'results' is not a JSON object")
            meta = page.get("meta")
            has_next = meta.get("has_next", False) if isinstance(meta, Mapping) else False
            if not isinstance(has_next, bool):
                raise _malformed(
                    page, f"'has_next' is not true or false ({type(has_next).__name__})"
                )
            yield page
            if not has_next or (most is not None and fetched >= most):
                return
            assert isinstance(meta, Mapping)
            empty_run = 0 if results else empty_run + 1
            if empty_run >= MAX_EMPTY_PAGES:
                raise _malformed(
                    page, f"{empty_run} pages in a row were empty, yet each said more would follow"
                )
            after = meta.get("after")
            if not isinstance(after, str) or not after:
                raise _malformed(page, "has_next is true but 'after' gives no cursor")
            if len(after) > MAX_CURSOR_LENGTH:
                raise _malformed(page, f"its cursor is longer than {MAX_CURSOR_LENGTH} characters")
            if after in seen:
                # Following it again would loop forever.
                raise _malformed(page, "a cursor was already followed")
            seen.add(after)
            options = {**{k: v for k, v in self._options.items() if k != "before"}, "after": after}


def _malformed(page: dict[str, Any], why: str) -> SuprsendAPIError:
    return SuprsendAPIError(
        f"cannot follow the list's pages: {why}",
        status_code=200,
        error_type="unexpected_answer",
        body=page,
    )
