"""The REST core under every kind of answer: the hub's errors, malformed answers, no answer.

Calls go through ``client.users`` (the first resource on the core) to an
``httpx.MockTransport`` that answers as a broken hub, a proxy or a network
would; the socket tests use the emulator over loopback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import httpx
import pytest

from suprsend_async import (
    AsyncSuprsend,
    CursorPaginator,
    OffsetPaginator,
    RetryEvent,
    RetryPolicy,
    SuprsendAPIError,
    SuprsendConfigError,
    SuprsendTimeoutError,
    SuprsendTransportError,
    Users,
)
from suprsend_async.testing import Fault, Faults, HubEmulator, serve
from suprsend_async.types import DeletedJSON

pytestmark = pytest.mark.anyio

KEY, SECRET = "WS_TEST_KEY_000000000001", "ws-secret-Zq8v1x"
API_KEY = "api-key-Kd93mf0"
RETRY = RetryPolicy.instant(attempts=3)

# An answer: a response (a fresh copy is sent each time), a function making one, or an
# exception the transport raises instead of answering.
Answer = httpx.Response | Callable[[], httpx.Response] | Exception


def _answer(answer: Answer) -> httpx.Response:
    if isinstance(answer, Exception):
        raise answer
    if isinstance(answer, httpx.Response):
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)
    return answer()


def client_answering(*answers: Answer, **options: Any) -> tuple[AsyncSuprsend, list[httpx.Request]]:
    """A client whose hub gives ``answers`` in turn (the last one repeats)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _answer(answers[min(len(seen), len(answers)) - 1])

    options.setdefault("retry", RETRY)
    return AsyncSuprsend(KEY, SECRET, transport=httpx.MockTransport(handler), **options), seen


def refused() -> httpx.ConnectError:
    return httpx.ConnectError("All connection attempts failed")


def lost() -> httpx.ReadError:
    """Sent, and the connection died before the answer: the hub may have applied it."""
    return httpx.ReadError("connection reset by peer")


# -- the hub's errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "message", "error_type"),
    [
        (httpx.Response(404, json={"code": 404, "message": "user nf"}), "user nf", None),
        (httpx.Response(400, json={"code": 400, "detail": "bad thing"}), "bad thing", None),
        # An empty or null message falls back to detail, as the official SDK's `message or detail`.
        (httpx.Response(400, json={"message": "", "detail": "the detail"}), "the detail", None),
        (httpx.Response(400, json={"message": None, "detail": "the detail"}), "the detail", None),
        (
            httpx.Response(422, json={"error": {"message": "bad x", "type": "validation"}}),
            "bad x",
            "validation",
        ),
        (
            httpx.Response(
                404,
                json={"code": 404, "type": "NotFound", "message": "nf", "detail": "nf"},
            ),
            "nf",
            "NotFound",
        ),
        (
            httpx.Response(400, json={"code": 400, "detail": {"channel": "must be one of"}}),
            '{"channel": "must be one of"}',
            None,
        ),
        (httpx.Response(500, text="<html>boom</html>"), "<html>boom</html>", None),
        (httpx.Response(404, content=b""), "HTTP 404 with an empty body", None),
    ],
)
async def test_an_error_status_raises_the_hubs_message_type_and_body(
    answer: httpx.Response, message: str, error_type: str | None
) -> None:
    client, _ = client_answering(answer)
    async with client:
        with pytest.raises(SuprsendAPIError) as caught:
            await client.users.get("u1")
    error = caught.value
    assert (error.status_code, error.message, error.error_type) == (
        answer.status_code,
        message,
        error_type,
    )
    assert error.body == (answer.json() if answer.content.startswith(b"{") else answer.text or None)


# -- malformed answers to a success status -------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>ok</html>"),
        httpx.Response(200, json=[1, 2]),
        httpx.Response(200, content=b""),
        httpx.Response(200, content=b"null"),
        httpx.Response(200, content=b"[" * 100_000 + b"]" * 100_000),
    ],
    ids=["html", "a list", "empty", "null", "too deep"],
)
async def test_a_read_answered_with_no_json_object_raises_a_typed_error(
    answer: httpx.Response,
) -> None:
    client, seen = client_answering(answer)
    async with client:
        with pytest.raises(SuprsendAPIError) as caught:
            await client.users.get("u1")
        assert caught.value.error_type == "unexpected_answer"
        assert caught.value.status_code == 200
        with pytest.raises(SuprsendAPIError):
            await client.users.list()
    assert len(seen) == 2  # an answer, even a useless one, is not retried


async def test_a_write_accepted_with_an_unreadable_answer_says_it_was_accepted() -> None:
    client, seen = client_answering(httpx.Response(201, text="Created"))
    async with client:
        with pytest.raises(SuprsendAPIError) as caught:
            await client.users.merge("u1", "u2")
    assert "accepted" in caught.value.message  # so nobody sends a merge again to be sure
    assert caught.value.status_code == 201
    assert len(seen) == 1


async def test_a_write_answered_with_no_content_returns_an_empty_dict() -> None:
    client, _ = client_answering(httpx.Response(204))
    async with client:
        answer = await client.users.update_category_preference("u1", "c", {})
        assert dict(answer) == {}  # not the typed shape: the hub sent nothing


async def test_an_answer_httpx_cannot_decode_is_a_transport_error_not_an_httpx_one() -> None:
    def bad_gzip() -> httpx.Response:
        # Decoded (and failing) only when the client reads it, as from a real socket.
        return httpx.Response(
            200, headers={"content-encoding": "gzip"}, stream=httpx.ByteStream(b"xxxx")
        )

    client, seen = client_answering(bad_gzip)
    async with client:
        with pytest.raises(SuprsendTransportError):
            await client.users.get("u1")
    assert len(seen) == RETRY.attempts  # a read is retried


# -- a delete that finds nothing ----------------------------------------------------------------

NOT_FOUND = httpx.Response(404, json={"code": 404, "message": "user [distinct_id: 'u1'] not found"})


@pytest.mark.parametrize(
    "first",
    [lost(), httpx.Response(502, text="bad gateway"), httpx.Response(504, text="gateway timeout")],
    ids=["no answer", "502", "504"],
)
async def test_a_retried_delete_that_finds_nothing_reports_the_earlier_attempts_success(
    first: Answer,
) -> None:
    deletes: list[Callable[[Users], Awaitable[DeletedJSON]]] = [
        lambda u: u.delete("u1"),
        lambda u: u.unlink_tenant("u1", "t1"),
    ]
    for delete in deletes:
        client, seen = client_answering(first, NOT_FOUND)
        async with client:
            assert await delete(client.users) == {"success": True, "status_code": 404}
        assert len(seen) == 2


async def test_a_delete_after_the_hubs_own_500_that_finds_nothing_is_an_error() -> None:
    # The hub answered 500 itself: by the one rule (AttemptEnd.may_have_applied) it
    # applied nothing, so nothing of ours deleted the user and the 404 is the answer.
    hub = HubEmulator()
    async with (
        serve(hub) as base_url,
        AsyncSuprsend(
            hub.workspace_key, hub.workspace_secret, base_url=base_url, retry=RETRY
        ) as client,
    ):
        hub.script(Fault.error(500))
        with pytest.raises(SuprsendAPIError) as caught:
            await client.users.delete("never-existed")
        hub.script(Fault.error(500))
        with pytest.raises(SuprsendAPIError) as unlinked:
            await client.users.unlink_tenant("never-existed", "t1")
    assert caught.value.status_code == unlinked.value.status_code == 404
    assert hub.stats.faults["error"] == 2


async def test_a_delete_after_a_rate_limit_that_finds_nothing_is_an_error() -> None:
    # A 429 was not processed: nothing of ours deleted the user, so its 404 is the answer.
    rate_limited = httpx.Response(429, headers={"retry-after": "0"}, json={"message": "slow down"})
    client, seen = client_answering(rate_limited, NOT_FOUND)
    async with client:
        with pytest.raises(SuprsendAPIError) as caught:
            await client.users.delete("u1")
    assert caught.value.status_code == 404
    assert len(seen) == 2


async def test_a_delete_after_an_attempt_never_sent_that_finds_nothing_is_an_error() -> None:
    # The first attempt never reached the hub (refused): the 404 is the answer.
    client, seen = client_answering(refused(), NOT_FOUND)
    async with client:
        with pytest.raises(SuprsendAPIError) as caught:
            await client.users.delete("u1")
    assert caught.value.status_code == 404
    assert len(seen) == 2


async def test_a_first_delete_that_finds_nothing_is_an_error() -> None:
    client, _ = client_answering(NOT_FOUND)
    async with client:
        with pytest.raises(SuprsendAPIError) as caught:
            await client.users.delete("u1")
    assert caught.value.status_code == 404


# -- what errors and logs show of a request --------------------------------------------------------

# Each id, and what of it must not show: ids are personal data (often an email), and a
# control character in one would forge log lines.
ODD_IDS = {
    "ann@example.com\nFORGED LOG LINE": ["ann@example.com", "FORGED", "\n"],
    "a/../b": ["/a/../b/", "a%2F..%2Fb"],
    "é ü\x00": ["é", "\x00", "%C3%A9"],
    "x%2Fy": ["x%2Fy", "x%252Fy"],
}


@pytest.mark.parametrize(("distinct_id", "hidden"), list(ODD_IDS.items()))
async def test_errors_retry_events_and_logs_name_the_route_not_the_id(
    distinct_id: str, hidden: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="suprsend_async")
    events: list[RetryEvent] = []
    client, _ = client_answering(lost(), on_retry=events.append)
    async with client:
        with pytest.raises(SuprsendTransportError) as caught:
            await client.users.get(distinct_id)
        with pytest.raises(SuprsendTransportError) as single_shot:
            await client.users.merge(distinct_id, "u2")
    assert len(events) == RETRY.attempts - 1
    # The host is shown: it is no secret, and a mistyped URL is found by it.
    assert "https://hub.suprsend.com" in str(caught.value)
    assert "GET /v1/user/{distinct_id}/" in str(caught.value)
    assert "POST /v1/user/{distinct_id}/merge/" in str(single_shot.value)
    texts = [str(caught.value), str(single_shot.value)]
    texts += [f"{e.path} {e.reason}" for e in events]
    texts += [record.getMessage() for record in caplog.records]
    assert len(caplog.records) >= len(events)
    for text in texts:
        for shown in hidden:
            assert shown not in text


async def test_a_timeout_names_the_route() -> None:
    client, _ = client_answering(httpx.ReadTimeout("timed out"), retry=RetryPolicy.disabled())
    async with client:
        with pytest.raises(SuprsendTimeoutError, match=r"GET /v1/user/\{distinct_id\}/ timed out"):
            await client.users.get("ann@example.com")


async def test_no_secret_in_what_a_failing_users_call_shows(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    collected: list[object] = []
    unauthorized = httpx.Response(401, json={"status": "fail", "message": "signature mismatch"})
    makers: list[Callable[[httpx.MockTransport], AsyncSuprsend]] = [
        lambda transport: AsyncSuprsend(KEY, SECRET, transport=transport, retry=RETRY),
        lambda transport: AsyncSuprsend.from_api_key(API_KEY, transport=transport, retry=RETRY),
    ]
    calls: list[Callable[[Users], Awaitable[Any]]] = [
        lambda u: u.get("ann/..\n"),
        lambda u: u.edit(u.get_edit_instance("é").increment("n", 1)),
        lambda u: u.bulk_delete({"distinct_ids": ["a"]}),
    ]
    for make in makers:
        for answer in (unauthorized, refused()):
            transport = httpx.MockTransport(lambda _, a=answer: _answer(a))
            async with make(transport) as client:
                for call in calls:
                    with pytest.raises((SuprsendAPIError, SuprsendTransportError)) as caught:
                        await call(client.users)
                    collected += [repr(caught.value), str(caught.value), caught.value.args]
                    collected.append(getattr(caught.value, "body", None))
                collected.append(repr(client))
    collected += [record.getMessage() for record in caplog.records]
    joined = "\n".join(map(str, collected))
    assert SECRET not in joined
    assert API_KEY not in joined


# -- cancellation ---------------------------------------------------------------------------------


async def test_cancelling_a_call_mid_request_leaves_the_client_usable() -> None:
    hub = HubEmulator(faults=Faults(latency=30.0))  # an answer would take 30 s
    arrived = anyio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            arrived.set()
        await hub(scope, receive, send)

    async with (
        serve(app) as base_url,
        AsyncSuprsend(
            hub.workspace_key, hub.workspace_secret, base_url=base_url, max_connections=1
        ) as client,
    ):
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:

                async def cancel_once_the_hub_has_it() -> None:
                    await arrived.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(cancel_once_the_hub_has_it)
                await client.users.upsert("u1", {"name": "A"})
                pytest.fail("the call was not cancelled")  # pragma: no cover
            hub.faults = Faults()
            # The one connection slot came back: the same client makes the next call.
            assert (await client.users.upsert("u2", {"name": "B"}))["distinct_id"] == "u2"
            assert (await client.users.get("u2"))["properties"] == {"name": "B"}


# -- the paginator, on its own ------------------------------------------------------------------


def pages_of(*pages: Mapping[str, Any]) -> tuple[Callable[..., Any], list[dict[str, Any]]]:
    asked: list[dict[str, Any]] = []

    async def fetch(options: Mapping[str, Any]) -> dict[str, Any]:
        asked.append(dict(options))
        return dict(pages[len(asked) - 1])

    return fetch, asked


def page(results: list[int], after: str | None) -> dict[str, Any]:
    """A page of items ``{"n": ...}``."""
    items = [{"n": n} for n in results]
    return {"meta": {"has_next": after is not None, "after": after}, "results": items}


async def test_the_paginator_serves_any_cursor_list() -> None:
    fetch, asked = pages_of(page([1, 2], "c1"), page([3], "c2"), page([4], None))
    paginator = CursorPaginator(fetch, {"limit": 2, "before": "x", "status": "sent"})
    assert [item["n"] async for item in paginator] == [1, 2, 3, 4]
    assert asked == [
        {"limit": 2, "before": "x", "status": "sent"},
        {"limit": 2, "status": "sent", "after": "c1"},
        {"limit": 2, "status": "sent", "after": "c2"},
    ]


@pytest.mark.parametrize(
    ("pages", "why"),
    [
        ((page([1], "c1"), page([2], "c1")), "already followed"),
        (({"meta": {"has_next": True}, "results": [{}]},), "gives no cursor"),
        (({"meta": {"has_next": False}},), "no 'results' list"),
        (({"meta": {"has_next": False}, "results": [1]},), "not a JSON object"),
        (({"meta": {"has_next": "false"}, "results": []},), "not true or false"),
        ((page([1], "c" * 1025),), "longer than 1024"),
        (tuple(page([], f"c{i}") for i in range(10)), "10 pages in a row were empty"),
    ],
    ids=[
        "a cursor that repeats",
        "no cursor",
        "no results",
        "an item that is not an object",
        "has_next a string",
        "a cursor that keeps growing",
        "endless empty pages",
    ],
)
async def test_the_paginator_stops_with_an_error_instead_of_looping(
    pages: tuple[dict[str, Any], ...], why: str
) -> None:
    fetch, _ = pages_of(*pages)
    with pytest.raises(SuprsendAPIError, match=why):
        [item async for item in CursorPaginator(fetch, {})]


def offset_page(results: list[Any], count: int | None, offset: int = 0) -> dict[str, Any]:
    meta: dict[str, Any] = {"limit": 2, "offset": offset}
    if count is not None:
        meta["count"] = count
    # Items are JSON objects, as the hub's are (the paginators refuse anything else).
    return {"meta": meta, "results": [{"n": n} for n in results]}


async def test_the_offset_paginator_awaits_to_the_first_page_as_answered() -> None:
    first = offset_page([1, 2], 5)
    fetch, asked = pages_of(first)
    assert await OffsetPaginator(fetch, {"limit": 2, "offset": 0}) == first
    assert asked == [{"limit": 2, "offset": 0}]


async def test_the_offset_paginator_walks_every_page_from_the_given_offset() -> None:
    fetch, asked = pages_of(offset_page([3, 4], 7), offset_page([5, 6], 7), offset_page([7], 7))
    paginator = OffsetPaginator(fetch, {"limit": 2, "offset": 2, "locale": "fr"})
    assert [item["n"] async for item in paginator] == [3, 4, 5, 6, 7]
    assert asked == [
        {"limit": 2, "offset": 2, "locale": "fr"},
        {"limit": 2, "offset": 4, "locale": "fr"},
        {"limit": 2, "offset": 6, "locale": "fr"},
    ]


@pytest.mark.parametrize(
    ("pages", "items"),
    [
        ((offset_page([1, 2], 9), offset_page([], 9)), [1, 2]),
        ((offset_page([1, 2], None), offset_page([3], None)), [1, 2, 3]),
        ((offset_page([1, 2], None), offset_page([], None)), [1, 2]),
    ],
    ids=["an empty page before the count", "a short page without a count", "an empty one"],
)
async def test_the_offset_paginator_stops_where_the_hub_has_no_more(
    pages: tuple[dict[str, Any], ...], items: list[int]
) -> None:
    fetch, asked = pages_of(*pages)
    assert [item["n"] async for item in OffsetPaginator(fetch, {"limit": 2})] == items
    assert len(asked) == len(pages)  # and asked for nothing past them


async def test_the_offset_paginator_refuses_an_answer_without_results() -> None:
    fetch, _ = pages_of({"meta": {"count": 3}})
    with pytest.raises(SuprsendAPIError, match="no 'results' list"):
        [item async for item in OffsetPaginator(fetch, {})]


async def test_max_pages_bounds_the_walk_and_a_run_of_empty_pages_ends_it() -> None:
    fetch, asked = pages_of(page([1], "c1"), page([2], "c2"), page([3], None))
    paginator = CursorPaginator(fetch, {})
    assert [item["n"] async for item in paginator.items(max_pages=2)] == [1, 2]
    assert len(asked) == 2
    # Empty pages between full ones are fine: only an unbroken run ends the walk.
    gaps = [page([], f"e{i}") for i in range(9)]
    fetch, _ = pages_of(
        *gaps, page([1], "x"), *[page([], f"f{i}") for i in range(9)], page([], None)
    )
    assert [item["n"] async for item in CursorPaginator(fetch, {})] == [1]
    with pytest.raises(SuprsendConfigError, match="max_pages"):
        [item async for item in paginator.items(max_pages=0)]
