"""The client probed as an attacker and a careless user would: nothing sent twice,
nothing leaked, nothing unbounded."""

from __future__ import annotations

import gzip
import logging
import os
import traceback
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from suprsend_async import (
    AsyncSuprsend,
    Attachment,
    Event,
    RetryEvent,
    RetryPolicy,
    SuprsendConfigError,
    SuprsendTimeoutError,
    SuprsendTransportError,
    SuprsendValidationError,
)
from suprsend_async._values.errors import (
    SuprsendClientClosedError,
    SuprsendResponseTooLargeError,
)
from suprsend_async._values.limits import MAX_RESPONSE_BYTES
from suprsend_async.testing import Faults, HubEmulator, serve
from tests._doubles import LIBRARY, served, wait_for

pytestmark = pytest.mark.anyio


def keyed(i: int) -> Event:
    return Event(f"u{i}", "order_paid", {"i": i}, idempotency_key=f"order-{i}")


# -- 3. answers are read with a cap ------------------------------------------------------


def gzip_bomb(decoded: int) -> bytes:
    return gzip.compress(b"\0" * decoded, compresslevel=9)


async def bomb_app(scope: Any, receive: Any, send: Any) -> None:
    """Answers every request 202 with a small gzip body that decodes to 64 MiB."""
    if scope["type"] != "http":
        return
    body = BOMB
    await send(
        {
            "type": "http.response.start",
            "status": 202,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-encoding", b"gzip"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


BOMB = gzip_bomb(64 * 1024 * 1024)  # about 64 KB on the wire


async def test_a_gzip_bomb_is_not_decompressed_past_the_cap() -> None:
    assert len(BOMB) < MAX_RESPONSE_BYTES // 16
    async with (
        serve(bomb_app) as base_url,
        AsyncSuprsend(
            "key",
            "secret",
            base_url=base_url,
            retry=RetryPolicy.disabled(),
            auto_idempotency_keys=False,
        ) as client,
    ):
        single = await client.track_event(Event("u1", "order_paid"))
        bulk = await client.bulk_events.send([Event(f"u{i}", "order_paid") for i in range(3)])
    assert (single.success, single.status_code, single.error_type) == (False, None, "transport")
    assert f"larger than {MAX_RESPONSE_BYTES} bytes" in (single.message or "")
    with pytest.raises(SuprsendResponseTooLargeError) as info:
        single.raise_for_status()
    assert info.value.max_bytes == MAX_RESPONSE_BYTES
    # The hub did answer: the records may have been processed.
    assert bulk.failure == 3
    assert all(f.maybe_delivered and not f.safe_to_resend for f in bulk.failed_records)


class EndlessBody(LIBRARY.AsyncByteStream):  # type: ignore[misc]
    """A body of ``total`` bytes in 64 KiB parts, counting how much was pulled."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        part = b"x" * 65536
        while self.pulled < self.total:
            self.pulled += len(part)
            yield part


async def test_an_endless_body_is_read_only_up_to_the_cap() -> None:
    bodies: list[EndlessBody] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(EndlessBody(64 * MAX_RESPONSE_BYTES))  # 256 MiB, if read whole
        return LIBRARY.Response(503, stream=bodies[-1])  # type: ignore[no-any-return]

    client = AsyncSuprsend(
        "key", "secret", transport=LIBRARY.MockTransport(handler), retry=RetryPolicy.instant(3)
    )
    async with client:
        resp = await client.track_event(keyed(1))
    assert (resp.success, resp.attempts) == (False, 3)  # keyed: retried, each read capped
    for body in bodies:
        assert body.pulled <= MAX_RESPONSE_BYTES + 2 * 65536


# -- 4. credentials that cannot be a header value ---------------------------------------


@pytest.mark.parametrize(
    "credential",
    ["abc\ndef-ghi", "abc\r\nX-Injected: 1", "abc\x00def", "abc\x7fdef", "kéy-ghi", "ab cd"],
)
def test_a_credential_no_header_can_carry_is_refused_without_being_echoed(
    credential: str,
) -> None:
    attempts: list[Any] = [
        lambda: AsyncSuprsend.from_api_key(credential),
        lambda: AsyncSuprsend(credential, "secret"),
        lambda: AsyncSuprsend("key", credential),
    ]
    for build in attempts:
        with pytest.raises(SuprsendConfigError) as info:
            build()
        text = "".join(traceback.format_exception(info.value))
        for part in ("abc", "def", "ghi", "ab cd", "Injected"):
            assert part not in text


async def test_an_http_error_quoting_a_header_value_never_reaches_our_messages(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A user's http_client with a default header h11 refuses: its error quotes the
    # header value whole. None of it may reach a message, a log line or a traceback.
    hub = HubEmulator()
    secret = "tok\nSECRET-VALUE-42"
    retries: list[RetryEvent] = []
    caplog.set_level(logging.DEBUG, logger="suprsend_async")
    async with serve(hub) as base_url, LIBRARY.AsyncClient(headers={"X-Trace": secret}) as http:
        client = AsyncSuprsend(
            hub.workspace_key,
            hub.workspace_secret,
            base_url=base_url,
            http_client=http,
            retry=RetryPolicy.instant(2),
            on_retry=retries.append,
        )
        resp = await client.track_event(keyed(1))
    assert (resp.success, resp.error_type) == (False, "transport")
    assert resp.error is not None
    seen = [
        resp.message or "",
        "".join(traceback.format_exception(resp.error)),
        caplog.text,
        *(r.reason for r in retries),
    ]
    for text in seen:
        assert "SECRET-VALUE-42" not in text
    assert "LocalProtocolError" in (resp.message or "")
    assert hub.stats.requests == 0


# -- 5. keyed bulk chunks are bounded by the deadline, not a count of attempts -----------

# Waits small enough for a fast test; the deadline, not the attempt count, is the bound.
QUICK = RetryPolicy(deadline=60.0, wait_initial=0.001, wait_max=0.004, wait_jitter=0.001)


async def test_a_keyed_upload_at_30_percent_faults_retries_past_four_attempts() -> None:
    # One request at a time, so the n-th request gets the seed's n-th fault: seed 44
    # fails one chunk 6 times in a row, which four attempts lost (two whole chunks).
    hub = HubEmulator(faults=Faults.mix(0.3, seed=44, retry_after=0.001))
    retries: list[RetryEvent] = []
    async with served(hub, retry=QUICK, max_concurrency=1, on_retry=retries.append) as client:
        resp = await client.bulk_events.send([keyed(i) for i in range(3_000)])
    assert (resp.success, resp.failure) == (3_000, 0)
    assert max(r.attempt for r in retries) >= 5
    assert len(hub.processed_keys) == 3_000
    assert set(hub.processed_keys.values()) == {1}


@pytest.mark.parametrize("seed", range(5))
async def test_a_keyed_upload_at_30_percent_faults_delivers_everything(seed: int) -> None:
    hub = HubEmulator(faults=Faults.mix(0.3, seed=seed, retry_after=0.001))
    async with served(hub, retry=QUICK, max_concurrency=8) as client:
        resp = await client.bulk_events.send([keyed(i) for i in range(3_000)])
    assert (resp.success, resp.failure) == (3_000, 0)
    assert len(hub.processed_keys) == 3_000
    assert set(hub.processed_keys.values()) == {1}


def test_single_calls_keep_a_short_attempts_budget() -> None:
    policy = RetryPolicy()
    assert (policy.attempts, policy.bulk_attempts) == (4, 100)
    assert RetryPolicy.instant(3).bulk_attempts == 3
    assert RetryPolicy.disabled().bulk_attempts == 1


# -- 7. cancellation edges -----------------------------------------------------------------


async def test_closing_the_client_mid_upload_is_a_typed_error() -> None:
    hub = HubEmulator(faults=Faults(latency=600.0))
    async with serve(hub) as base_url:
        client = AsyncSuprsend(hub.workspace_key, hub.workspace_secret, base_url=base_url)
        errors: list[BaseException] = []

        async def upload() -> None:
            try:
                await client.bulk_events.send([keyed(i) for i in range(2_000)])
            except Exception as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(upload)
            await wait_for(lambda: hub.stats.in_flight == client.max_concurrency)
            await client.aclose()
    [error] = errors
    assert isinstance(error, SuprsendClientClosedError)
    assert isinstance(error, RuntimeError)  # what httpx raises for a closed client
    with pytest.raises(SuprsendClientClosedError):
        await client.track_event(keyed(1))


async def test_an_async_generator_is_closed_when_the_call_ends_early() -> None:
    closed: list[str] = []

    async def records(name: str) -> AsyncGenerator[Event, None]:
        try:
            for i in range(1_000_000):
                yield keyed(i)
        finally:
            closed.append(name)

    def boom(_: object) -> None:
        raise RuntimeError("progress hook failed")

    hub = HubEmulator()
    async with hub.client() as client:
        cancelled = records("cancelled")
        with anyio.move_on_after(0):  # cancelled at its first checkpoint
            await client.bulk_events.send(cancelled)
        failing = records("hook error")
        with pytest.raises(RuntimeError, match="progress hook failed"):
            await client.bulk_events.send(failing, on_progress=boom)
        # (The generators are still referenced here: only the call could have closed them.)
        assert closed == ["cancelled", "hook error"]


# -- 8. redirects ------------------------------------------------------------------------


async def test_redirects_are_never_followed_even_by_a_users_client() -> None:
    posts: list[httpx.Request] = []

    def loop(request: httpx.Request) -> httpx.Response:
        posts.append(request)
        return LIBRARY.Response(307, headers={"Location": str(request.url)})  # type: ignore[no-any-return]

    http = LIBRARY.AsyncClient(transport=LIBRARY.MockTransport(loop), follow_redirects=True)
    async with http:
        client = AsyncSuprsend("key", "secret", http_client=http)
        single = await client.track_event(Event("u1", "order_paid"))
        bulk = await client.bulk_events.send([Event("u2", "order_paid")])
    assert len(posts) == 2  # one each: a keyless body is never sent again
    assert (single.success, single.status_code) == (False, 307)
    assert [f.code for f in bulk.failed_records] == [307]


async def test_a_transport_error_is_still_a_transport_error() -> None:
    async with serve(HubEmulator()) as base_url:
        pass  # closed: connections are refused
    async with AsyncSuprsend("key", "secret", base_url=base_url) as client:
        resp = await client.track_event(Event("u1", "order_paid"))
    assert isinstance(resp.error, SuprsendTransportError)
    assert "ConnectError" in (resp.message or "")


class _TimingOutTransport(LIBRARY.AsyncBaseTransport):  # type: ignore[misc]
    """A caller's transport that reports a timeout as the builtin TimeoutError."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise TimeoutError("socket timed out")


async def test_a_builtin_timeout_from_a_callers_transport_is_our_timeout_error() -> None:
    # Not every transport maps its timeouts to httpx's: a single call still
    # answers, and a bulk upload still accounts for every record.
    async with AsyncSuprsend("key", "secret", transport=_TimingOutTransport()) as client:
        single = await client.track_event(Event("u1", "order_paid"))
        bulk = await client.bulk_events.send([Event("u1", "order_paid"), Event("u2", "paid")])
    assert isinstance(single.error, SuprsendTimeoutError)
    assert "timed out (TimeoutError)" in (single.message or "")
    assert (bulk.success, bulk.failure) == (0, 2)
    assert all(f.maybe_delivered for f in bulk.failed_records)


# -- 6. attachments from files that never end ---------------------------------------------


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
async def test_from_path_on_an_endless_device_reads_only_up_to_the_cap() -> None:
    for ignore_if_error in (False, True):  # too large is a bug to fix, not a skipped file
        with pytest.raises(SuprsendValidationError) as info:
            await Attachment.from_path("/dev/zero", ignore_if_error=ignore_if_error)
        assert info.value.field == "attachment.data"
        assert "at least" in info.value.rule


async def test_from_path_refuses_what_is_not_a_path() -> None:
    with pytest.raises(SuprsendValidationError, match=r"attachment\.path"):
        await Attachment.from_path(5)  # type: ignore[arg-type]
    with pytest.raises(SuprsendValidationError, match=r"attachment\.file_name"):
        await Attachment.from_path("/dev/null", file_name=5)  # type: ignore[arg-type]
