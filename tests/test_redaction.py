"""Secrets (the workspace secret, an API key) never show in a repr, a message or a log record.

Everything a user may print or log is collected while calls fail in every way (no answer,
a refused signature, retries), and searched for the secrets. The DEBUG logs come from a
real loopback socket too, so that httpx's and httpcore's own logging is included.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import httpx
import pytest
import sniffio

from suprsend_async import (
    AsyncSuprsend,
    BearerAuth,
    Event,
    RetryEvent,
    RetryPolicy,
    SuprsendConfigError,
    SuprsendError,
    TriggerResponse,
    WorkflowTriggerRequest,
    WorkspaceSignatureAuth,
)
from tests._doubles import PATIENCE, raw_http_server

KEY = "WS_TEST_KEY_000000000001"
SECRET = "ws-secret-Zq8v1x"
API_KEY = "api-key-Kd93mf0"
SECRETS = (SECRET, API_KEY)


def assert_no_secret(*texts: object) -> None:
    joined = "\n".join(str(text) for text in texts)
    assert joined  # something was collected
    for secret in SECRETS:
        assert secret not in joined


def log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    assert caplog.records, "nothing was logged: the check would prove nothing"
    texts = []
    for record in caplog.records:
        texts.append(record.getMessage())
        texts.append(repr(record.args))
        if record.exc_info and record.exc_info[1] is not None:
            texts.append(repr(record.exc_info[1]))
    return texts


class Hub:
    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.seen = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        answer = self.answers[min(self.seen, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer, json={"status": "fail", "message": "signature mismatch"})


def test_auth_objects_and_clients_hide_their_secrets() -> None:
    signed = AsyncSuprsend(KEY, SECRET)
    bearer = AsyncSuprsend.from_api_key(API_KEY)
    texts: list[object] = [
        repr(signed),
        str(signed),
        repr(bearer),
        str(bearer),
        repr(WorkspaceSignatureAuth(KEY, SECRET)),
        repr(BearerAuth(API_KEY)),
        # what a debugger or a careless log line would show of the clients' insides
        repr(vars(signed)),
        repr(vars(bearer)),
    ]
    assert_no_secret(*texts)
    assert "secret=<redacted>" in repr(signed)
    assert "api_key=<redacted>" in repr(bearer)


def test_config_errors_do_not_echo_the_secrets() -> None:
    messages: list[str] = []
    builds: list[Callable[[], object]] = [
        lambda: AsyncSuprsend(KEY, SECRET, timeout=None),  # type: ignore[arg-type]
        lambda: AsyncSuprsend(KEY, SECRET, base_url=f"https://user:{SECRET}@hub.example/"),
        lambda: AsyncSuprsend.from_api_key(API_KEY, max_concurrency=0),
        lambda: AsyncSuprsend(KEY, SECRET, http_client="nope"),  # type: ignore[arg-type]
    ]
    for build in builds:
        with pytest.raises(SuprsendConfigError) as info:
            build()
        messages += [str(info.value), repr(info.value)]
    assert_no_secret(*messages)


@pytest.mark.parametrize(
    "base_url",
    [
        f"ftp://user:{SECRET}@hub.example/",
        f"https://user:{SECRET}@",
        f"https://user:{SECRET}@hub.example:port/",
        f"user:{SECRET}@hub.example",
    ],
    ids=["bad scheme", "no host", "bad port", "no scheme"],
)
def test_a_malformed_base_url_with_credentials_is_not_echoed(base_url: str) -> None:
    with pytest.raises(SuprsendConfigError) as info:
        AsyncSuprsend(KEY, SECRET, base_url=base_url)
    assert_no_secret(str(info.value), repr(info.value))


@pytest.mark.anyio
async def test_failing_calls_leak_no_secret_in_responses_errors_or_debug_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    retries: list[RetryEvent] = []
    signed = AsyncSuprsend(
        KEY,
        SECRET,
        transport=httpx.MockTransport(Hub(httpx.ConnectError("refused"), 503, 401)),
        retry=RetryPolicy.instant(attempts=3),
        on_retry=retries.append,
    )
    bearer = AsyncSuprsend.from_api_key(
        API_KEY,
        transport=httpx.MockTransport(Hub(httpx.ReadTimeout("slow"))),
        retry=RetryPolicy.instant(attempts=2),
        on_retry=retries.append,
    )
    texts: list[object] = []
    async with signed, bearer:
        responses: list[TriggerResponse] = [
            await signed.track_event(Event("u1", "paid", idempotency_key="k")),
            await bearer.track_event(Event("u1", "paid", idempotency_key="k")),
            await bearer.workflows.trigger(
                WorkflowTriggerRequest(workflow="w", recipients=["u1"], idempotency_key="k")
            ),
        ]
        bulk = await bearer.workflows.bulk_trigger(
            [WorkflowTriggerRequest(workflow="w", recipients=["u1"], idempotency_key="k")]
        )
    for response in responses:
        assert not response.success
        texts += [repr(response), str(response), response.to_dict(), repr(response.error)]
        with pytest.raises(SuprsendError) as info:
            response.raise_for_status()
        texts += [str(info.value), repr(info.value), repr(info.value.__cause__)]
    assert bulk.failure == 1
    texts += [repr(bulk), bulk.to_dict()]
    assert len(retries) == 2 + 1 + 1 + 1
    texts += [repr(event) for event in retries]
    assert_no_secret(*texts, *log_texts(caplog))
    assert any("retrying" in record.getMessage() for record in caplog.records)


# -- over a real socket, with httpcore's DEBUG logging ------------------------------------------


@asynccontextmanager
async def loopback_hub(status: int) -> AsyncIterator[str]:
    """A minimal HTTP/1.1 server on 127.0.0.1 answering every request with ``status``."""
    body = b'{"status": "fail", "message": "signature mismatch"}'
    answer = (
        f"HTTP/1.1 {status} Answer\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    async with raw_http_server(lambda _, __: (answer, False)) as (base_url, _):
        yield base_url


async def closed_port() -> int:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port: int = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    return port


@pytest.mark.anyio
async def test_no_secret_in_httpx_and_httpcore_debug_logs_over_a_real_socket(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[object] = []
    with anyio.fail_after(PATIENCE):  # a guard against a hang, nothing is timed
        async with loopback_hub(401) as base_url:
            for client in (
                AsyncSuprsend(KEY, SECRET, base_url=base_url),
                AsyncSuprsend.from_api_key(API_KEY, base_url=base_url),
            ):
                async with client:
                    r = await client.track_event(Event("u1", "paid"))
                assert (r.success, r.status_code) == (False, 401)
                texts += [repr(r), r.to_dict()]
        refused = AsyncSuprsend.from_api_key(
            API_KEY,
            base_url=f"http://127.0.0.1:{await closed_port()}/",
            retry=RetryPolicy.instant(attempts=2),
        )
        async with refused:
            r = await refused.track_event(Event("u1", "paid", idempotency_key="k"))
        assert (r.success, r.status_code, r.attempts) == (False, None, 2)
        texts += [repr(r), r.message, repr(r.error), repr(r.error.__cause__ if r.error else None)]
    # Debug logs were on and captured: httpcore's on trio; on asyncio the client
    # calls the aiohttp pool it made directly (no httpx request log), and ours.
    logged = ("httpcore",) if sniffio.current_async_library() == "trio" else ("suprsend_async",)
    assert any(record.name.startswith(logged) for record in caplog.records)
    assert_no_secret(*texts, *log_texts(caplog))
