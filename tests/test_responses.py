"""Every answer the hub is known to give becomes a typed response; nothing leaks as a raw error.

``to_dict()`` is compared with what the official SDK returns for the very same HTTP answer
(its network replaced by a recorder that hands back a real ``requests.Response``).
"""

from __future__ import annotations

import json
import pickle
from typing import Any

import httpx
import pytest
import requests
import suprsend
from hypothesis import given
from hypothesis import strategies as st

from suprsend_async import (
    AsyncSuprsend,
    Event,
    RetryPolicy,
    SuprsendAPIError,
    SuprsendError,
    SuprsendTimeoutError,
    SuprsendTransportError,
    TriggerResponse,
    WorkflowTriggerRequest,
)

KEY, SECRET = "WS_TEST_KEY_000000000001", "test-secret"
HTML_502 = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


def body_bytes(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def official_answer(monkeypatch: pytest.MonkeyPatch, status: int, body: Any) -> dict[str, Any]:
    """What the official SDK's workflows.trigger returns for this HTTP answer."""

    def answer(method: str, url: str, **kwargs: Any) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        response._content = body_bytes(body)
        response.encoding = "utf-8"
        return response

    monkeypatch.setattr(requests, "request", answer)
    sdk = suprsend.Suprsend(KEY, SECRET)
    request = suprsend.WorkflowTriggerRequest({"workflow": "w", "recipients": ["u1"]})
    result: dict[str, Any] = sdk.workflows.trigger(request)
    return result


async def our_answer(status: int, body: Any) -> TriggerResponse:
    """What our client returns for this HTTP answer, through the real client."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body_bytes(body))

    client = AsyncSuprsend(KEY, SECRET, transport=httpx.MockTransport(answer))
    async with client:
        return await client.workflows.trigger(
            WorkflowTriggerRequest(workflow="w", recipients=["u1"])
        )


# -- success ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_202_with_a_message_id() -> None:
    r = await our_answer(202, {"status": "success", "message_id": "m-1"})
    assert (r.success, r.status, r.status_code, r.message_id, r.message, r.error_type) == (
        True,
        "success",
        202,
        "m-1",
        "m-1",
        None,
    )
    assert r.raw_response == {"status": "success", "message_id": "m-1"}
    assert r.attempts == 1
    assert r.raise_for_status() is r


@pytest.mark.anyio
async def test_the_rest_documents_plain_ok_body() -> None:
    r = await our_answer(202, {"message": "OK"})
    assert (r.success, r.message_id, r.message) == (True, None, "OK")
    assert r.raise_for_status() is r


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "message"),
    [(b"", None), (b"accepted\n", "accepted"), ({"status": "success"}, None)],
    ids=["empty", "text", "no message id"],
)
async def test_other_2xx_answers_are_successes(body: Any, message: str | None) -> None:
    r = await our_answer(202, body)
    assert (r.success, r.status, r.message_id, r.message) == (True, "success", None, message)


# -- failures ---------------------------------------------------------------------------------

ERROR_FORMS = [
    pytest.param(
        400,
        {"status": "error", "error": {"message": "bad event", "type": "validation_error"}},
        "bad event",
        "validation_error",
        id="status error with message and type",
    ),
    pytest.param(
        404,
        {"status": "error", "error": {"message": "workflow not found", "type": "not_found"}},
        "workflow not found",
        "not_found",
        id="404 not found",
    ),
    pytest.param(
        401,
        {"status": "fail", "message": "signature mismatch"},
        "signature mismatch",
        None,
        id="status fail with message",
    ),
    pytest.param(502, HTML_502, HTML_502.decode(), None, id="HTML 502 from a proxy"),
    pytest.param(503, b"upstream overloaded\n", "upstream overloaded", None, id="plain text"),
    pytest.param(500, b"", "HTTP 500 with an empty body", None, id="empty body"),
    pytest.param(
        400, {"unexpected": ["shape"]}, '{"unexpected": ["shape"]}', None, id="unknown JSON shape"
    ),
    pytest.param(400, {"error": "just a string"}, "just a string", None, id="error as a string"),
    pytest.param(
        400,
        {"status": "error", "error": {"message": " ", "type": ""}},
        "HTTP 400",
        None,
        id="blank message and type",
    ),
    pytest.param(422, [1, 2], "[1, 2]", None, id="JSON array"),
    pytest.param(400, b"\xff\xfe not utf-8", "\ufffd\ufffd not utf-8", None, id="not UTF-8"),
    pytest.param(502, b"[" * 100_000, "[" * 100_000, None, id="JSON nested too deep"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "body", "message", "error_type"), ERROR_FORMS)
async def test_every_error_form_is_a_failed_response_and_an_api_error(
    status: int, body: Any, message: str, error_type: str | None
) -> None:
    r = await our_answer(status, body)
    assert (r.success, r.status, r.status_code, r.message_id) == (False, "fail", status, None)
    assert (r.message, r.error_type) == (message, error_type)
    with pytest.raises(SuprsendAPIError) as info:
        r.raise_for_status()
    error = info.value
    assert (error.status_code, error.message, error.error_type) == (status, message, error_type)
    assert str(error) == f"{status} {error_type or 'error'}: {message}"
    assert error.body == r.raw_response  # the parsed answer, as REST calls' errors carry it


# -- the official dict shape ------------------------------------------------------------------

# (status, body, what the official SDK puts in "message" when ours says more)
OFFICIAL_FORMS = [
    pytest.param(202, {"status": "success", "message_id": "m-1"}, None, id="202 message id"),
    pytest.param(202, {"message": "OK"}, "OK", id="202 plain OK"),
    pytest.param(202, b"accepted", None, id="202 text"),
    pytest.param(
        400,
        {"status": "error", "error": {"message": "bad", "type": "validation_error"}},
        None,
        id="error form",
    ),
    pytest.param(
        401,
        {"status": "fail", "message": "signature mismatch"},
        "signature mismatch",
        id="fail form",
    ),
    pytest.param(502, HTML_502, None, id="HTML 502"),
    pytest.param(500, b"", "HTTP 500 with an empty body", id="empty body"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "body", "where_we_say_more"), OFFICIAL_FORMS)
async def test_to_dict_equals_the_official_sdks_dict_for_the_same_answer(
    monkeypatch: pytest.MonkeyPatch, status: int, body: Any, where_we_say_more: str | None
) -> None:
    theirs = official_answer(monkeypatch, status, body)
    ours = (await our_answer(status, body)).to_dict()
    assert (
        list(ours)
        == list(theirs)
        == [
            "success",
            "status",
            "status_code",
            "message",
            "raw_response",
        ]
    )
    for key in ("success", "status", "status_code", "raw_response"):
        assert ours[key] == theirs[key], key
    if where_we_say_more is None:
        assert ours["message"] == theirs["message"]
    else:
        # The official SDK drops these messages (None or ""); ours keeps them.
        assert not theirs["message"]
        assert ours["message"] == where_we_say_more


@pytest.mark.anyio
async def test_no_answer_has_the_official_shape_too(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(method: str, url: str, **kwargs: Any) -> requests.Response:
        raise requests.ConnectionError("connection refused")

    monkeypatch.setattr(requests, "request", refuse)
    theirs = suprsend.Suprsend(KEY, SECRET).workflows.trigger(
        suprsend.WorkflowTriggerRequest({"workflow": "w", "recipients": ["u1"]})
    )

    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with AsyncSuprsend(KEY, SECRET, transport=httpx.MockTransport(drop)) as client:
        r = await client.workflows.trigger(WorkflowTriggerRequest(workflow="w", recipients=["u"]))
    ours = r.to_dict()
    assert list(ours) == list(theirs)
    assert (ours["success"], ours["status"], ours["status_code"], ours["raw_response"]) == (
        theirs["success"],
        theirs["status"],
        theirs["status_code"],  # 500, as the official SDK reports no answer
        theirs["raw_response"],
    )
    assert "connection refused" in ours["message"]
    assert r.status_code is None  # while the typed response says plainly: no HTTP answer


# -- no answer at all ---------------------------------------------------------------------------


TRANSPORT = SuprsendTransportError, "transport"
TIMEOUT = SuprsendTimeoutError, "timeout"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("failure", "kind", "says"),
    [
        (httpx.ConnectError("connection refused"), TRANSPORT, "ConnectError"),
        (httpx.RemoteProtocolError("peer closed"), TRANSPORT, "peer closed"),
        (httpx.ReadError("reset by peer"), TRANSPORT, "ReadError"),
        (httpx.ReadTimeout("slow"), TIMEOUT, "timed out"),
        (httpx.ConnectTimeout("slow"), TIMEOUT, "timed out"),
        (httpx.PoolTimeout("busy"), TIMEOUT, "timed out"),
    ],
    ids=["connect error", "dropped", "read error", "read timeout", "connect timeout", "pool"],
)
async def test_a_transport_failure_is_a_failed_response_and_a_typed_error(
    failure: Exception, kind: tuple[type[SuprsendTransportError], str], says: str
) -> None:
    error_class, error_type = kind

    def fail(request: httpx.Request) -> httpx.Response:
        raise failure

    client = AsyncSuprsend(
        KEY, SECRET, transport=httpx.MockTransport(fail), retry=RetryPolicy.instant(attempts=2)
    )
    async with client:
        r = await client.track_event(Event("u1", "paid", idempotency_key="k"))
    assert (r.success, r.status, r.status_code, r.raw_response) == (False, "fail", None, None)
    assert (r.error_type, r.attempts) == (error_type, 2)
    assert says in (r.message or "")
    with pytest.raises(error_class) as info:
        r.raise_for_status()
    assert info.value.attempts == 2
    assert not isinstance(info.value, SuprsendAPIError)


@pytest.mark.anyio
async def test_an_answer_that_cannot_be_decoded_is_a_failure_not_an_escaped_httpx_error() -> None:
    # A proxy's error page labelled gzip but not gzipped: httpx raises
    # DecodingError while reading it, which is not an httpx.TransportError.
    def garbled(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, headers={"Content-Encoding": "gzip"}, content=b"<h1>502</h1>")

    client = AsyncSuprsend(KEY, SECRET, transport=httpx.MockTransport(garbled))
    async with client:
        single = await client.track_event(Event("u1", "paid"))
        bulk = await client.bulk_events.send([Event("u1", "paid"), Event("u2", "paid")])
    assert (single.success, single.error_type) == (False, "transport")
    assert "DecodingError" in (single.message or "")
    with pytest.raises(SuprsendTransportError):
        single.raise_for_status()
    # The bulk call still accounts for every record rather than raising.
    assert (bulk.total, bulk.success, bulk.failure) == (2, 0, 2)
    assert all("DecodingError" in f.error for f in bulk.failed_records)


def test_a_failed_response_without_its_exception_still_raises_a_transport_error() -> None:
    r = TriggerResponse(success=False, status="fail", status_code=None, message=None)
    with pytest.raises(SuprsendTransportError, match="no answer"):
        r.raise_for_status()


# -- any answer at all ----------------------------------------------------------------------------

json_bodies = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
).map(lambda value: json.dumps(value).encode())
hub_like = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(["success", "error", "fail"]) | st.integers(),
        "message_id": st.text() | st.integers() | st.none(),
        "message": st.text() | st.integers() | st.none() | st.lists(st.text(), max_size=2),
        "error": st.text()
        | st.none()
        | st.fixed_dictionaries(
            {}, optional={"message": st.text() | st.none(), "type": st.text() | st.none()}
        ),
    },
).map(lambda value: json.dumps(value).encode())


@given(
    status=st.integers(min_value=100, max_value=599),
    content=st.binary(max_size=64) | json_bodies | hub_like,
)
def test_any_answer_gives_a_response_never_a_raw_exception(status: int, content: bytes) -> None:
    r = TriggerResponse.from_http(status, content)
    assert r.success is (200 <= status < 300)
    assert r.status == ("success" if r.success else "fail")
    assert r.status_code == status
    assert r.message is None or isinstance(r.message, str)
    assert r.message_id is None or isinstance(r.message_id, str)
    assert r.error_type is None or isinstance(r.error_type, str)
    official = r.to_dict()
    assert not isinstance(official["raw_response"], str)  # parsed JSON or None, never text
    if r.success:
        assert r.raise_for_status() is r
    else:
        assert r.message  # a failure always says something
        with pytest.raises(SuprsendAPIError):
            r.raise_for_status()


def test_errors_survive_pickling_for_process_pools() -> None:
    api = pickle.loads(
        pickle.dumps(SuprsendAPIError("nope", status_code=404, error_type="not_found"))
    )
    assert (api.message, api.status_code, api.error_type) == ("nope", 404, "not_found")
    assert isinstance(api, SuprsendError)
