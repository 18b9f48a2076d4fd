"""Query strings and path segments are the official SDK's, byte for byte, and signed as sent.

The reference is the official SDK's own encoders (``suprsend.utils``); the
last properties check the whole way: what our client puts on the wire, and
that its signature is the one the official SDK computes for that URL.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import anyio
import httpx
import pytest
import requests
import suprsend
from hypothesis import given, settings
from hypothesis import strategies as st
from suprsend.signature import get_request_signature
from suprsend.utils import urlencode_path_param, urlencode_query

from suprsend_async import AsyncSuprsend, SuprsendValidationError
from suprsend_async._wire.query import bracket_keys, encode_query, path_segment

KEY, SECRET = "WS_TEST_KEY_000000000001", "test-secret"

scalars = st.none() | st.booleans() | st.integers() | st.text()
values = scalars | st.lists(scalars, max_size=4)
options = st.dictionaries(st.text(min_size=1, max_size=8), values, max_size=5)
ids = st.text(min_size=1, max_size=20).filter(lambda s: s.strip() not in ("", ".", ".."))


@given(params=options, doseq=st.booleans())
def test_query_is_the_official_sdks_for_any_options(params: dict[str, Any], doseq: bool) -> None:
    assert encode_query(params, doseq=doseq) == urlencode_query(params, doseq=doseq)


@given(params=options)
def test_query_writes_booleans_as_json_and_drops_none(params: dict[str, Any]) -> None:
    decoded = urllib.parse.parse_qs(encode_query(params), keep_blank_values=True)
    for key, value in params.items():
        if value is None or value == [] or (isinstance(value, list) and set(value) == {None}):
            assert key not in decoded
        elif isinstance(value, bool):
            assert decoded[key] == ["true" if value else "false"]


@given(value=ids)
def test_a_path_segment_is_the_official_sdks_and_stays_one_segment(value: str) -> None:
    segment = path_segment(value, "distinct_id")
    assert segment == urlencode_path_param(value.strip())
    assert not set("/?#") & set(segment)
    assert urllib.parse.unquote(segment) == value.strip()


@pytest.mark.parametrize("value", [".", " .. ", "", "   ", None, 7])
def test_ids_that_cannot_be_one_segment_are_refused_naming_the_field(value: Any) -> None:
    with pytest.raises(SuprsendValidationError) as caught:
        path_segment(value, "distinct_id")
    assert caught.value.field == "distinct_id"


def test_options_that_are_not_a_mapping_are_refused() -> None:
    with pytest.raises(SuprsendValidationError, match="options"):
        encode_query([("a", 1)])  # type: ignore[arg-type]


@settings(max_examples=30)
@given(params=st.dictionaries(st.text(min_size=1, max_size=8), values, max_size=4))
def test_multi_value_keys_match_the_official_messages_list(params: dict[str, Any]) -> None:
    multi = ("recipient_id", "status", "category")
    params = {**params, "status": ["sent", "seen"], "category": "billing"}
    with pytest.MonkeyPatch.context() as patch:
        sent: list[str] = []

        def record(method: str, url: str, **kwargs: Any) -> requests.Response:
            sent.append(url)
            response = requests.Response()
            response.status_code, response._content = 200, b"{}"
            return response

        patch.setattr(requests, "request", record)
        suprsend.Suprsend(KEY, SECRET).messages.list(params)
    [url] = sent
    assert urllib.parse.urlsplit(url).query == encode_query(bracket_keys(params, multi), doseq=True)


# -- on the wire ----------------------------------------------------------------------------


def _send_get(distinct_id: str, params: dict[str, Any]) -> httpx.Request:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"distinct_id": distinct_id})

    async def main() -> None:
        transport = httpx.MockTransport(answer)
        async with AsyncSuprsend(KEY, SECRET, transport=transport) as client:
            await client.users.get(distinct_id, params)

    anyio.run(main)
    [request] = seen
    return request


@settings(max_examples=40, deadline=None)
@given(distinct_id=ids, params=options)
def test_the_url_sent_and_signed_is_the_official_sdks(
    distinct_id: str, params: dict[str, Any]
) -> None:
    request = _send_get(distinct_id, params)
    query = urlencode_query(params)
    expected = f"/v1/user/{urlencode_path_param(distinct_id.strip())}/" + (
        f"?{query}" if query else ""
    )
    assert request.url.raw_path.decode("ascii") == expected
    headers = {"Content-Type": request.headers["Content-Type"], "Date": request.headers["Date"]}
    _, theirs = get_request_signature(str(request.url), "GET", None, headers, SECRET)
    assert request.headers["Authorization"] == f"{KEY}:{theirs}"


def test_an_id_with_a_slash_spaces_and_non_ascii_is_one_escaped_segment() -> None:
    request = _send_get("team/a b é", {"x": True})
    assert request.url.raw_path == b"/v1/user/team%2Fa%20b%20%C3%A9/?x=true"


@settings(max_examples=300)
@given(
    base=st.sampled_from(
        ["http://127.0.0.1:8787/", "https://hub.example.com/api/v9/", "http://h:1/a%20b/c d/"]
    ),
    segments=st.lists(ids, min_size=1, max_size=3),
    params=options,
)
def test_a_url_is_built_as_joining_it_would_build_it(
    base: str, segments: list[str], params: dict[str, Any]
) -> None:
    """The client appends an escaped relative path to its base URL's text instead of
    joining it (a third of the cost): the URL, and so the path signed, is the same."""
    client = AsyncSuprsend(KEY, SECRET, base_url=base)
    transport = client._transport
    path = "v1/object/" + "/".join(path_segment(s, "id") for s in segments) + "/"
    query = encode_query(params)
    joined = transport.base_url.join(path)
    if query:
        joined = joined.copy_with(query=query.encode("ascii"))
    built = transport._url(path, query)
    assert (str(built), built.raw_path) == (str(joined), joined.raw_path)
