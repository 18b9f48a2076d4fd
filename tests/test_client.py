"""AsyncSuprsend: configuration, timeouts, pool ownership, auth, headers, single-call retries.

The network is an httpx.MockTransport answering from a script; nothing of ours is replaced.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest

from suprsend_async import (
    AsyncSuprsend,
    Event,
    RetryEvent,
    RetryPolicy,
    SuprsendConfigError,
    SuprsendError,
    SuprsendTransportError,
    SuprsendValidationError,
    WorkflowTriggerRequest,
    __version__,
)
from tests._doubles import ScriptedHub

pytestmark = pytest.mark.anyio

KEY, SECRET, API_KEY = "WS_TEST_KEY_000000000001", "very-secret-value", "api-key-secret-value"
DEFAULT_TIMEOUT = {"connect": 5.0, "read": 30.0, "write": 30.0, "pool": 30.0}


Hub = ScriptedHub


def keyless_client(hub: ScriptedHub, attempts: int = 4) -> AsyncSuprsend:
    """A client that sends records without keys, as the official SDK does."""
    return AsyncSuprsend(
        KEY,
        SECRET,
        transport=hub.transport(),
        retry=RetryPolicy.instant(attempts),
        auto_idempotency_keys=False,
    )


def trigger(**options: Any) -> WorkflowTriggerRequest:
    return WorkflowTriggerRequest(workflow="w", recipients=["u1"], **options)


# -- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("", SECRET), {}, "missing workspace_key"),
        (("  ", SECRET), {}, "missing workspace_key"),
        ((None, SECRET), {}, "missing workspace_key"),
        ((KEY, ""), {}, "missing workspace_secret"),
        ((KEY, "  "), {}, "missing workspace_secret"),
        ((KEY, 42), {}, "missing workspace_secret"),
        ((KEY, SECRET), {"base_url": "ftp://hub.example/"}, "base_url"),
        ((KEY, SECRET), {"base_url": "hub.suprsend.com"}, "base_url"),
        ((KEY, SECRET), {"base_url": "not a url"}, "base_url"),
        ((KEY, SECRET), {"base_url": "https://"}, "base_url"),
        ((KEY, SECRET), {"base_url": "https://user:pw@hub.example/"}, "credentials"),
        ((KEY, SECRET), {"timeout": None}, "forever"),
        ((KEY, SECRET), {"timeout": httpx.Timeout(None)}, "None means forever"),
        ((KEY, SECRET), {"timeout": httpx.Timeout(5.0, read=None)}, "None means forever"),
        ((KEY, SECRET), {"timeout": httpx.Timeout(5.0, pool=None)}, "None means forever"),
        ((KEY, SECRET), {"timeout": 0}, "more than 0 seconds"),
        ((KEY, SECRET), {"timeout": httpx.Timeout(5.0, connect=-1)}, "more than 0 seconds"),
        ((KEY, SECRET), {"max_concurrency": 0}, "max_concurrency"),
        ((KEY, SECRET), {"http_client": object()}, "http_client"),
    ],
)
def test_config_errors_are_raised_at_construction(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(SuprsendConfigError, match=message):
        AsyncSuprsend(*args, **kwargs)


@pytest.mark.parametrize(
    ("api_key", "kwargs", "message"),
    [
        (" ", {}, "missing api_key"),
        (None, {}, "missing api_key"),
        (API_KEY, {"timeout": None}, "forever"),
        (API_KEY, {"base_url": "ftp://hub.example/"}, "base_url"),
    ],
)
def test_the_api_key_client_checks_its_config_too(
    api_key: Any, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(SuprsendConfigError, match=message):
        AsyncSuprsend.from_api_key(api_key, **kwargs)


def test_config_errors_are_suprsend_errors() -> None:
    with pytest.raises(SuprsendError):
        AsyncSuprsend("", "")


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        (None, "https://hub.suprsend.com/"),
        ("", "https://hub.suprsend.com/"),
        ("  https://eu.hub.example  ", "https://eu.hub.example/"),
        ("http://127.0.0.1:8787", "http://127.0.0.1:8787/"),
        ("http://h:1/prefix", "http://h:1/prefix/"),
    ],
)
async def test_base_url_is_normalised_and_paths_are_joined_to_it(
    base_url: str | None, expected: str
) -> None:
    hub = Hub()
    async with AsyncSuprsend(KEY, SECRET, base_url=base_url, transport=hub.transport()) as client:
        assert str(client.base_url) == expected
        await client.track_event(Event("u1", "paid"))
    assert str(hub.requests[0].url) == expected + "v2/event/"


# -- timeouts -------------------------------------------------------------------------------------


async def test_every_request_carries_the_default_timeout_retries_included() -> None:
    hub = Hub(503, 202)
    client = AsyncSuprsend(KEY, SECRET, transport=hub.transport(), retry=RetryPolicy.instant())
    async with client:
        await client.track_event(Event("u1", "paid", idempotency_key="k"))  # two attempts
        await client.workflows.trigger(trigger())
        await client.bulk_events.send([Event("u1", "paid")])
        await client.workflows.bulk_trigger([trigger()])
    assert len(hub.requests) == 5
    for request in hub.requests:
        assert request.extensions["timeout"] == DEFAULT_TIMEOUT


async def test_a_custom_timeout_applies_to_every_request() -> None:
    hub = Hub()
    timeout = httpx.Timeout(2.5, connect=1.0)
    async with AsyncSuprsend(KEY, SECRET, transport=hub.transport(), timeout=timeout) as client:
        await client.track_event(Event("u1", "paid"))
        await client.workflows.trigger(trigger())
    for request in hub.requests:
        assert request.extensions["timeout"] == {
            "connect": 1.0,
            "read": 2.5,
            "write": 2.5,
            "pool": 2.5,
        }


async def test_a_user_supplied_client_without_timeouts_still_gets_ours() -> None:
    hub = Hub()
    http = httpx.AsyncClient(transport=hub.transport(), timeout=None)
    async with AsyncSuprsend(KEY, SECRET, http_client=http) as client:
        await client.track_event(Event("u1", "paid"))
    assert hub.requests[0].extensions["timeout"] == DEFAULT_TIMEOUT
    await http.aclose()


# -- ownership of the connection pool -------------------------------------------------------------


async def test_a_user_supplied_http_client_is_never_closed() -> None:
    hub = Hub()
    http = httpx.AsyncClient(transport=hub.transport())
    async with AsyncSuprsend(KEY, SECRET, http_client=http) as client:
        await client.track_event(Event("u1", "paid"))
    other = AsyncSuprsend(KEY, SECRET, http_client=http)
    await other.track_event(Event("u1", "paid"))
    await other.aclose()
    assert not http.is_closed
    assert (await http.get("http://elsewhere.test/")).status_code == 202  # still its owner's
    assert len(hub.requests) == 3
    await http.aclose()


async def test_an_owned_pool_is_closed_by_async_with_and_the_client_refuses_further_use() -> None:
    client = AsyncSuprsend(KEY, SECRET, transport=Hub().transport())
    async with client:
        await client.track_event(Event("u1", "paid"))
        pool = client._transport.http_client
    assert pool is not None
    assert pool.is_closed
    with pytest.raises(SuprsendError, match="closed"):
        await client.track_event(Event("u1", "paid"))


async def test_an_owned_pool_is_created_lazily_and_closed_by_aclose() -> None:
    client = AsyncSuprsend(KEY, SECRET, transport=Hub().transport())
    assert client._transport.http_client is None  # nothing opened by construction
    assert (await client.track_event(Event("u1", "paid"))).success
    pool = client._transport.http_client
    assert pool is not None
    assert not pool.is_closed
    await client.aclose()
    assert pool.is_closed
    await client.aclose()  # closing twice is harmless


def test_http_client_and_transport_are_exclusive() -> None:
    with pytest.raises(SuprsendConfigError, match="not both"):
        AsyncSuprsend(KEY, SECRET, http_client=httpx.AsyncClient(), transport=Hub().transport())


async def test_async_hooks_are_refused_before_anything_is_sent() -> None:
    # Hooks are called, never awaited: an async one would lose every report.
    async def on_retry(event: object) -> None: ...

    class Meter:
        async def __call__(self, event: object) -> None: ...

    for hook in (on_retry, Meter()):
        with pytest.raises(SuprsendConfigError, match="on_retry must be a plain function"):
            AsyncSuprsend(KEY, SECRET, on_retry=hook)
    with pytest.raises(SuprsendConfigError, match="on_retry must be callable"):
        AsyncSuprsend(KEY, SECRET, on_retry="metrics")  # type: ignore[arg-type]

    hub = Hub()
    async with AsyncSuprsend(KEY, SECRET, transport=hub.transport()) as client:
        with pytest.raises(SuprsendConfigError, match="on_progress must be a plain function"):
            await client.bulk_events.send([Event("u1", "paid")], on_progress=on_retry)
        bulk = client.workflows.bulk_trigger_instance()
        bulk.append(trigger())
        with pytest.raises(SuprsendConfigError, match="on_progress"):
            await bulk.trigger(on_progress=Meter())
        progress: list[object] = []
        assert (await bulk.trigger(on_progress=progress.append)).success == 1
    assert progress
    assert len(hub.requests) == 1


# -- auth schemes and headers -------------------------------------------------------------------


async def test_the_workspace_client_signs_requests_to_the_sdk_paths() -> None:
    hub = Hub()
    async with AsyncSuprsend(KEY, SECRET, transport=hub.transport()) as client:
        await client.track_event(Event("u1", "paid"))
        await client.workflows.trigger(trigger())
        await client.bulk_events.send([Event("u1", "paid")])
    assert [r.url.path for r in hub.requests] == ["/v2/event/", "/trigger/", "/v2/bulk/event/"]
    for request in hub.requests:
        assert request.method == "POST"
        assert request.headers["Authorization"].startswith(f"{KEY}:")
        assert request.headers["Date"].endswith(" GMT")
    assert hub.bodies()[0]["env"] == KEY


async def test_from_api_key_sends_bearer_to_the_rest_paths() -> None:
    hub = Hub()
    async with AsyncSuprsend.from_api_key(API_KEY, transport=hub.transport()) as client:
        await client.track_event(Event("u1", "paid"))
        await client.workflows.trigger(trigger())
    assert [r.url.path for r in hub.requests] == ["/event/", "/trigger/"]
    for request in hub.requests:
        assert request.headers["Authorization"] == f"Bearer {API_KEY}"
        assert "Date" not in request.headers
    assert "env" not in hub.bodies()[0]  # no workspace named: no "env": null either


async def test_an_api_key_client_sends_bulk_events_with_its_key() -> None:
    # As the official SDK 0.20.0 does in API-key mode: Bearer on v2/bulk/event/.
    hub = Hub()
    async with AsyncSuprsend.from_api_key(API_KEY, transport=hub.transport()) as client:
        instance = client.bulk_events.new_instance()
        instance.append(Event("u1", "paid"))
        bulk = await instance.trigger()
        streamed = await client.bulk_events.send([Event("u2", "paid")])
    assert (bulk.success, streamed.success) == (1, 1)
    assert [r.url.path for r in hub.requests] == ["/v2/bulk/event/", "/v2/bulk/event/"]
    for request in hub.requests:
        assert request.headers["Authorization"] == f"Bearer {API_KEY}"


async def test_from_api_key_with_a_workspace_uid_sends_it_as_env() -> None:
    hub = Hub()
    client = AsyncSuprsend.from_api_key(
        API_KEY, workspace_uid=" ws-uid ", transport=hub.transport()
    )
    async with client:
        await client.track_event(Event("u1", "paid"))
    assert hub.bodies()[0]["env"] == "ws-uid"


async def test_our_user_agent_headers_name_this_library_honestly() -> None:
    hub = Hub()
    client = AsyncSuprsend(KEY, SECRET, transport=hub.transport(), app_info="billing/2.1")
    async with client:
        await client.track_event(Event("u1", "paid"))
        await client.workflows.trigger(trigger())
    python = platform.python_version()
    for request in hub.requests:
        assert request.headers["User-Agent"] == (
            f"suprsend-async/{__version__} (python/{python}; {sys.platform})"
        )
        assert request.headers["Content-Type"] == "application/json; charset=utf-8"
        described = json.loads(request.headers["X-Suprsend-Client-User-Agent"])
        assert described["sdk"] == "suprsend-async"
        assert described["sdk_version"] == __version__
        assert (described["lang"], described["lang_version"]) == ("python", python)
        assert described["app_info"] == "billing/2.1"


async def test_an_event_of_the_wrong_type_is_a_type_error_and_nothing_is_sent() -> None:
    hub = Hub()
    async with AsyncSuprsend(KEY, SECRET, transport=hub.transport()) as client:
        with pytest.raises(SuprsendValidationError, match="takes an Event"):
            await client.track_event({"event": "paid", "distinct_id": "u1"})  # type: ignore[arg-type]
        with pytest.raises(SuprsendValidationError, match="WorkflowTriggerRequest"):
            await client.workflows.trigger({"workflow": "w"})  # type: ignore[arg-type]
    assert hub.requests == []


# -- single-call retries ---------------------------------------------------------------------

TRANSIENT = [
    pytest.param(503, id="503"),
    pytest.param(429, id="429"),
    pytest.param(500, id="500"),
    pytest.param(502, id="502"),
    pytest.param(504, id="504"),
    pytest.param(408, id="408"),
    pytest.param(httpx.ConnectError("refused"), id="connection refused"),
    pytest.param(httpx.RemoteProtocolError("peer closed"), id="connection dropped"),
    pytest.param(httpx.ReadTimeout("slow"), id="read timeout"),
]


@pytest.mark.parametrize("failure", TRANSIENT)
async def test_a_keyed_event_is_retried_on_transient_failures(failure: int | Exception) -> None:
    hub = Hub(failure, failure, 202)
    retries: list[RetryEvent] = []
    client = AsyncSuprsend(
        KEY, SECRET, transport=hub.transport(), retry=RetryPolicy.instant(), on_retry=retries.append
    )
    async with client:
        r = await client.track_event(Event("u1", "paid", idempotency_key="order-42"))
    assert (r.success, r.status_code, r.attempts, len(hub.requests)) == (True, 202, 3, 3)
    assert [body["$idempotency_key"] for body in hub.bodies()] == ["order-42"] * 3
    assert len({body["$insert_id"] for body in hub.bodies()}) == 1  # the same record, resent
    assert [(e.path, e.attempt) for e in retries] == [("v2/event/", 1), ("v2/event/", 2)]


async def test_a_keyed_trigger_is_retried_too() -> None:
    hub = Hub(503, 202)
    client = AsyncSuprsend(KEY, SECRET, transport=hub.transport(), retry=RetryPolicy.instant())
    async with client:
        r = await client.workflows.trigger(trigger(idempotency_key="wf-1"))
    assert (r.success, r.attempts, len(hub.requests)) == (True, 2, 2)


async def test_retries_stop_after_the_policys_attempts_with_the_last_answer() -> None:
    hub = Hub(503)
    client = AsyncSuprsend(
        KEY, SECRET, transport=hub.transport(), retry=RetryPolicy.instant(attempts=3)
    )
    async with client:
        r = await client.track_event(Event("u1", "paid", idempotency_key="k"))
    assert (r.success, r.status_code, r.attempts, len(hub.requests)) == (False, 503, 3, 3)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422])
async def test_other_4xx_are_never_retried(status: int) -> None:
    hub = Hub(status, 202)
    client = AsyncSuprsend(KEY, SECRET, transport=hub.transport(), retry=RetryPolicy.instant())
    async with client:
        r = await client.track_event(Event("u1", "paid", idempotency_key="k"))
    assert (r.success, r.status_code, r.attempts, len(hub.requests)) == (False, status, 1, 1)


# What may hide a delivery (no answer, a server error): never repeated without a key.
MAYBE_APPLIED = [
    pytest.param(503, id="503"),
    pytest.param(500, id="500"),
    pytest.param(502, id="502"),
    pytest.param(504, id="504"),
    pytest.param(httpx.RemoteProtocolError("peer closed"), id="connection dropped"),
    pytest.param(httpx.ReadTimeout("slow"), id="read timeout"),
]
# What proves nothing was applied: repeated with or without a key.
NOT_APPLIED = [
    pytest.param(429, id="429"),
    pytest.param(408, id="408"),
    pytest.param(httpx.ConnectError("refused"), id="connection refused"),
    pytest.param(httpx.ConnectError("[Errno -2] Name or service not known"), id="dns"),
    pytest.param(httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]"), id="tls"),
    pytest.param(httpx.ConnectTimeout("connect"), id="connect timeout"),
]


@pytest.mark.parametrize("failure", NOT_APPLIED)
async def test_an_unkeyed_call_is_retried_when_nothing_was_applied(
    failure: int | Exception,
) -> None:
    for kind in ("event", "trigger"):
        hub = Hub(failure, failure, 202)
        client = keyless_client(hub)
        async with client:
            if kind == "event":
                response = await client.track_event(Event("u1", "paid"))
            else:
                response = await client.workflows.trigger(trigger())
        assert (response.success, response.attempts, len(hub.requests)) == (True, 3, 3)
        assert "$idempotency_key" not in hub.bodies()[0]


@pytest.mark.parametrize("failure", NOT_APPLIED[2:])
async def test_an_unkeyed_call_never_sent_says_so_and_not_that_it_may_be_delivered(
    failure: Exception,
) -> None:
    hub = Hub(failure)
    client = keyless_client(hub, 3)
    async with client:
        r = await client.track_event(Event("u1", "paid"))
    assert (r.success, r.status_code, r.attempts, len(hub.requests)) == (False, None, 3, 3)
    assert "not sent:" in (r.message or "")
    assert "https://hub.suprsend.com" in (r.message or "")  # the host tried, shown
    assert "no idempotency key" not in (r.message or "")
    assert isinstance(r.error, SuprsendTransportError)
    assert r.error.sent is False


@pytest.mark.parametrize("failure", MAYBE_APPLIED)
async def test_an_unkeyed_call_is_sent_exactly_once(failure: int | Exception) -> None:
    hub = Hub(failure, 202)
    client = keyless_client(hub)
    async with client:
        event_response = await client.track_event(Event("u1", "paid"))
    assert (event_response.success, event_response.attempts, len(hub.requests)) == (False, 1, 1)
    assert "$idempotency_key" not in hub.bodies()[0]

    hub = Hub(failure, 202)
    client = keyless_client(hub)
    async with client:
        trigger_response = await client.workflows.trigger(trigger())
    assert (trigger_response.success, trigger_response.attempts, len(hub.requests)) == (False, 1, 1)


@pytest.mark.parametrize(
    ("failure", "says_why"),
    [
        (httpx.RemoteProtocolError("peer closed"), True),
        (httpx.ReadTimeout("slow"), True),
        (503, False),  # the hub's answer says it was not taken: its own message stands
    ],
    ids=["answer lost", "timed out", "503"],
)
async def test_an_unkeyed_call_with_no_answer_says_why_it_was_not_retried(
    failure: int | Exception, says_why: bool
) -> None:
    hub = Hub(failure, failure)
    client = keyless_client(hub)
    async with client:
        event_response = await client.track_event(Event("u1", "paid"))
        trigger_response = await client.workflows.trigger(trigger())
    for r in (event_response, trigger_response):
        assert r.success is False
        assert ("not retried: the request has no idempotency key" in (r.message or "")) is says_why
    assert len(hub.requests) == 2


async def test_by_default_a_call_gets_a_key_of_its_own_and_is_retried_after_a_lost_answer() -> None:
    hub = Hub(httpx.RemoteProtocolError("peer closed"), 202)
    async with AsyncSuprsend(
        KEY, SECRET, transport=hub.transport(), retry=RetryPolicy.instant()
    ) as client:
        r = await client.track_event(Event("u1", "paid"))
    assert (r.success, r.attempts) == (True, 2)
    first, second = hub.bodies()
    assert first["$idempotency_key"] == second["$idempotency_key"]
    assert uuid.UUID(first["$idempotency_key"]).version == 4


async def test_generated_keys_make_calls_retryable_with_one_key_across_attempts() -> None:
    hub = Hub(503, 503, 202, 503, 202, 202)
    client = AsyncSuprsend(
        KEY,
        SECRET,
        transport=hub.transport(),
        retry=RetryPolicy.instant(),
        auto_idempotency_keys=True,
    )
    async with client:
        r = await client.track_event(Event("u1", "paid"))
        t = await client.workflows.trigger(trigger())
        own = await client.track_event(Event("u1", "paid", idempotency_key="mine"))
    assert (r.success, r.attempts, t.success, t.attempts, own.attempts) == (True, 3, True, 2, 1)
    bodies = hub.bodies()
    event_keys = {body["$idempotency_key"] for body in bodies[:3]}
    trigger_keys = {body["$idempotency_key"] for body in bodies[3:5]}
    assert len(event_keys) == len(trigger_keys) == 1  # one key reused across the retries
    assert event_keys != trigger_keys  # a fresh key per call
    for key in event_keys | trigger_keys:
        assert uuid.UUID(key).version == 4
    assert bodies[-1]["$idempotency_key"] == "mine"  # a key of the caller's is kept


async def test_a_per_call_policy_overrides_the_clients() -> None:
    hub = Hub(503, 503, 202)
    client = AsyncSuprsend(KEY, SECRET, transport=hub.transport(), retry=RetryPolicy.instant())
    async with client:
        once = await client.track_event(
            Event("u1", "paid", idempotency_key="k"), retry=RetryPolicy.disabled()
        )
        hub.requests.clear()
        twice = await client.workflows.trigger(
            trigger(idempotency_key="k"), retry=RetryPolicy.instant(attempts=2)
        )
    assert (once.success, once.attempts) == (False, 1)
    assert (twice.success, twice.attempts) == (False, 2)


async def test_attempts_are_counted_when_no_answer_ever_comes() -> None:
    hub = Hub(httpx.ConnectError("refused"))
    client = AsyncSuprsend(
        KEY, SECRET, transport=hub.transport(), retry=RetryPolicy.instant(attempts=4)
    )
    async with client:
        r = await client.track_event(Event("u1", "paid", idempotency_key="k"))
    assert (r.success, r.status_code, r.attempts, len(hub.requests)) == (False, None, 4, 4)


def test_the_aiohttp_pool_is_imported_when_the_client_is_built_not_on_the_loop() -> None:
    # In a fresh interpreter: importing aiohttp takes a few hundred ms, which the
    # first call would otherwise spend blocking the event loop.
    pytest.importorskip("httpx_aiohttp")  # (installed with the aiohttp or fast extra)
    code = (
        "import sys\n"
        "from suprsend_async import AsyncSuprsend\n"
        "assert 'aiohttp' not in sys.modules\n"
        "AsyncSuprsend('WS_KEY_0001', 'secret')\n"
        "print('suprsend_async._core.aiohttp_pool' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "True"
