"""Every body form the hub is known to send becomes a typed response, never a raw exception."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from suprsend_async import (
    AsyncSuprsend,
    Event,
    RetryPolicy,
    SuprsendAPIError,
    SuprsendTimeoutError,
    SuprsendTransportError,
    TriggerResponse,
)

pytestmark = pytest.mark.anyio


def response(status: int, body: Any) -> TriggerResponse:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return TriggerResponse.from_http(status, content)


def test_success_with_message_id() -> None:
    r = response(202, {"status": "success", "message_id": "m-1"})
    assert (r.success, r.status, r.status_code, r.message_id, r.message) == (
        True,
        "success",
        202,
        "m-1",
        "m-1",
    )
    assert r.raise_for_status() is r
    assert r.to_dict() == {
        "success": True,
        "status": "success",
        "status_code": 202,
        "message": "m-1",
        "raw_response": {"status": "success", "message_id": "m-1"},
    }


def test_plain_ok_message_body() -> None:
    r = response(202, {"message": "OK"})
    assert r.success
    assert r.message_id is None


@pytest.mark.parametrize(
    ("status", "body", "message", "error_type"),
    [
        (400, {"status": "error", "error": {"message": "bad event", "type": "validation"}},
         "bad event", "validation"),
        (401, {"status": "fail", "message": "signature mismatch"}, "signature mismatch", None),
        (502, b"<html><body>Bad gateway</body></html>", "<html><body>Bad gateway</body></html>",
         None),
        (503, b"upstream overloaded\n", "upstream overloaded", None),
        (500, b"", "HTTP 500 with an empty body", None),
        (404, {"unexpected": ["shape"]}, '{"unexpected": ["shape"]}', None),
        (400, b"\xff\xfe not utf-8", None, None),
    ],
)  # fmt: skip
def test_error_forms_become_failed_responses_and_api_errors(
    status: int, body: Any, message: str | None, error_type: str | None
) -> None:
    r = response(status, body)
    assert (r.success, r.status, r.status_code) == (False, "fail", status)
    if message is not None:
        assert r.message == message
    assert r.error_type == error_type
    with pytest.raises(SuprsendAPIError) as info:
        r.raise_for_status()
    assert (info.value.status_code, info.value.message, info.value.error_type) == (
        status,
        r.message,
        error_type,
    )
    assert r.to_dict()["success"] is False
    assert r.to_dict()["status_code"] == status


async def test_a_transport_failure_is_a_failed_response_and_a_typed_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = AsyncSuprsend(
        "k" * 20, "s", transport=httpx.MockTransport(handler), retry=RetryPolicy.disabled()
    )
    async with client:
        r = await client.track_event(Event("u1", "paid"))
    assert (r.success, r.status_code, r.attempts) == (False, None, 1)  # no answer, no status
    assert "ConnectError" in (r.message or "")
    with pytest.raises(SuprsendTransportError):
        r.raise_for_status()


async def test_a_timeout_is_reported_as_a_timeout() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client = AsyncSuprsend(
        "k" * 20, "s", transport=httpx.MockTransport(handler), retry=RetryPolicy.disabled()
    )
    async with client:
        r = await client.track_event(Event("u1", "paid"))
    assert not r.success
    assert "timed out" in (r.message or "")
    with pytest.raises(SuprsendTimeoutError):
        r.raise_for_status()


def test_api_errors_pickle_for_process_pools() -> None:
    import pickle

    error = SuprsendAPIError("nope", status_code=404, error_type="not_found")
    again = pickle.loads(pickle.dumps(error))
    assert (again.message, again.status_code, again.error_type) == ("nope", 404, "not_found")
