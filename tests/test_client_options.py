"""What a client is made from and shares: the environment, with_options, event loops, forks.

Over loopback to the emulator; a small ASGI wrapper records each request's
client port, so "the same connection" and "a new connection" are observed
from the server's side.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import httpx
import pytest

from suprsend_async import (
    AsyncSuprsend,
    Event,
    RetryPolicy,
    SuprsendConfigError,
    SuprsendError,
)
from suprsend_async.testing import HubEmulator, serve
from tests._doubles import ScriptedHub

REPO = Path(__file__).resolve().parent.parent
ENV_VARS = (
    "SUPRSEND_WORKSPACE_KEY",
    "SUPRSEND_WORKSPACE_SECRET",
    "SUPRSEND_API_KEY",
    "SUPRSEND_BASE_URL",
)


class PeerRecorder:
    """The hub, noting the client port of every request it is sent."""

    def __init__(self, hub: HubEmulator) -> None:
        self.hub = hub
        self.ports: list[int] = []
        self.headers: list[dict[bytes, bytes]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/_emulator"):
            self.ports.append(scope["client"][1])
            self.headers.append(dict(scope["headers"]))
        await self.hub(scope, receive, send)


@asynccontextmanager
async def recorded(hub: HubEmulator) -> AsyncIterator[tuple[PeerRecorder, str]]:
    recorder = PeerRecorder(hub)
    async with serve(recorder) as base_url:
        yield recorder, base_url


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# -- credentials and base URL from the environment -----------------------------------------


@pytest.mark.anyio
async def test_no_arguments_reads_workspace_credentials_and_base_url_from_the_environment(
    clean_env: pytest.MonkeyPatch,
) -> None:
    hub = HubEmulator()
    async with recorded(hub) as (_, base_url):
        clean_env.setenv("SUPRSEND_WORKSPACE_KEY", hub.workspace_key)
        clean_env.setenv("SUPRSEND_WORKSPACE_SECRET", hub.workspace_secret)
        clean_env.setenv("SUPRSEND_BASE_URL", base_url)
        async with AsyncSuprsend() as client:
            assert (await client.track_event(Event("u1", "signed_up"))).success
    [event] = hub.events
    assert event.workspace == hub.workspace_key  # signed with the environment's secret


@pytest.mark.anyio
async def test_no_arguments_falls_back_to_an_api_key_from_the_environment(
    clean_env: pytest.MonkeyPatch,
) -> None:
    hub = HubEmulator()
    async with recorded(hub) as (recorder, base_url):
        clean_env.setenv("SUPRSEND_API_KEY", hub.api_key)
        clean_env.setenv("SUPRSEND_BASE_URL", base_url)
        async with AsyncSuprsend() as client:
            assert (await client.track_event(Event("u1", "signed_up"))).success
    assert recorder.headers[0][b"authorization"] == f"Bearer {hub.api_key}".encode()


def test_arguments_win_over_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SUPRSEND_WORKSPACE_KEY", "from-env")
    clean_env.setenv("SUPRSEND_WORKSPACE_SECRET", "env-secret")
    client = AsyncSuprsend("from-args", "args-secret", base_url="https://hub.example/")
    assert "from-args" in repr(client)
    assert client.base_url == httpx.URL("https://hub.example/")


def test_a_bad_base_url_from_the_environment_says_where_it_came_from(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("SUPRSEND_BASE_URL", "hub.suprsend.com")  # no scheme
    with pytest.raises(SuprsendConfigError, match=r"^SUPRSEND_BASE_URL: invalid base_url"):
        AsyncSuprsend("k", "s")
    with pytest.raises(SuprsendConfigError, match=r"^invalid base_url"):
        AsyncSuprsend("k", "s", base_url="ftp://hub.example/")  # given: no need to say


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "no credentials: set SUPRSEND_WORKSPACE_KEY and SUPRSEND_WORKSPACE_SECRET"),
        ({"SUPRSEND_WORKSPACE_KEY": "WS-KEY-123"}, "give both the workspace key and the secret"),
        ({"SUPRSEND_WORKSPACE_SECRET": "secret-456"}, "give both the workspace key and the secret"),
        ({"SUPRSEND_API_KEY": " "}, "missing api_key"),
    ],
)
def test_missing_credentials_are_a_clear_config_error(
    clean_env: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        clean_env.setenv(name, value)
    with pytest.raises(SuprsendConfigError, match=message) as caught:
        AsyncSuprsend()
    for value in env.values():  # nothing found is echoed back
        assert not value.strip() or value not in str(caught.value)


# -- options of the wrong type ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retry": 3}, "retry must be a RetryPolicy, got int"),
        ({"timeout": "5"}, "timeout must be seconds or an httpx.Timeout, got str"),
        ({"timeout": True}, "timeout must be seconds or an httpx.Timeout, got bool"),
        ({"timeout": float("nan")}, "a finite number of seconds"),
        ({"timeout": float("inf")}, "a finite number of seconds"),
        ({"timeout": httpx.Timeout(5.0, read="30")}, "a finite number of seconds"),  # type: ignore[arg-type]
        ({"base_url": 5}, "base_url must be a string, got int"),
        ({"base_url": httpx.URL("https://hub.example/")}, "base_url must be a string, got URL"),
        ({"transport": object()}, "transport must be an httpx.AsyncBaseTransport"),
        ({"auto_idempotency_keys": "no"}, "auto_idempotency_keys must be True or False"),
        ({"debug": "false"}, "debug must be True or False"),
        ({"app_info": {"name": "app"}}, "app_info must be a string"),
        ({"max_connections": True}, "max_connections must be an integer from 1 to 10000"),
        ({"max_concurrency": True}, "max_concurrency must be a positive integer"),
        ({"limits": {"max_records": 5}}, "limits must be a Limits"),
    ],
)
def test_an_option_of_the_wrong_type_is_a_config_error_naming_it(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(SuprsendConfigError, match=re.escape(message)):
        AsyncSuprsend("k", "s", **options)
    with pytest.raises(SuprsendConfigError, match=re.escape(message)):
        AsyncSuprsend.from_api_key("api-key", **options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workspace_uid": 5}, "workspace_uid must be a string, got int"),
        ({"workspace_uid": ["ws"]}, "workspace_uid must be a string, got list"),
    ],
)
def test_from_api_key_checks_its_own_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(SuprsendConfigError, match=re.escape(message)):
        AsyncSuprsend.from_api_key("api-key", **options)


def test_with_options_checks_the_timeout_type_too() -> None:
    with pytest.raises(SuprsendConfigError, match="timeout must be seconds"):
        AsyncSuprsend("k", "s").with_options(timeout="2")  # type: ignore[arg-type]


# -- with_options ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_with_options_shares_the_pool_and_sends_its_own_timeout_and_headers() -> None:
    hub = HubEmulator()
    async with (
        recorded(hub) as (recorder, base_url),
        AsyncSuprsend(hub.workspace_key, hub.workspace_secret, base_url=base_url) as client,
    ):
        tagged = client.with_options(timeout=2.5, headers={"X-Request-Tag": "t1"})
        assert (await client.track_event(Event("u1", "ev_a"))).success
        assert (await tagged.track_event(Event("u1", "ev_b"))).success
        assert (await tagged.bulk_events.send([Event("u1", "ev_c")])).success == 1
        assert (await client.track_event(Event("u1", "ev_d"))).success
    # One connection, reused by both clients: the pool is shared.
    assert len(set(recorder.ports)) == 1
    tags = [h.get(b"x-request-tag") for h in recorder.headers]
    assert tags == [None, b"t1", b"t1", None]
    assert tagged.timeout == httpx.Timeout(2.5)
    assert client.timeout == httpx.Timeout(30.0, connect=5.0)


@pytest.mark.anyio
async def test_with_options_overrides_the_timeout_on_the_request() -> None:
    scripted = ScriptedHub(202)
    async with AsyncSuprsend("k", "s", transport=scripted.transport()) as client:
        await client.with_options(timeout=httpx.Timeout(1.0, connect=0.5)).track_event(
            Event("u1", "ev_e")
        )
        await client.track_event(Event("u1", "ev_e"))
    first, second = (r.extensions["timeout"] for r in scripted.requests)
    assert first == {"connect": 0.5, "read": 1.0, "write": 1.0, "pool": 1.0}
    assert second == {"connect": 5.0, "read": 30.0, "write": 30.0, "pool": 30.0}


@pytest.mark.anyio
async def test_with_options_retry_policy_applies_to_its_calls_only() -> None:
    scripted = ScriptedHub(503, 503, 202)
    async with AsyncSuprsend(
        "k", "s", transport=scripted.transport(), retry=RetryPolicy.instant()
    ) as client:
        once = await client.with_options(retry=RetryPolicy.disabled()).track_event(
            Event("u1", "ev_e", idempotency_key="k1")
        )
        retried = await client.track_event(Event("u1", "ev_e", idempotency_key="k2"))
    assert (once.status_code, once.attempts) == (503, 1)
    assert (retried.status_code, retried.attempts) == (202, 2)


@pytest.mark.anyio
async def test_closing_a_derived_client_leaves_the_pool_to_the_original() -> None:
    hub = HubEmulator()
    async with recorded(hub) as (recorder, base_url):
        client = AsyncSuprsend(hub.workspace_key, hub.workspace_secret, base_url=base_url)
        async with client.with_options(timeout=5.0) as derived:
            assert (await derived.track_event(Event("u1", "ev_a"))).success
        with pytest.raises(SuprsendError, match="closed"):
            await derived.track_event(Event("u1", "ev_b"))
        assert (await client.track_event(Event("u1", "ev_c"))).success  # same connection
        other = client.with_options(timeout=5.0)
        await client.aclose()
        with pytest.raises(SuprsendError, match="closed"):
            await other.track_event(Event("u1", "ev_d"))
    assert len(recorder.ports) == 2
    assert len(set(recorder.ports)) == 1


@pytest.mark.anyio
async def test_a_derived_clients_users_calls_use_its_options_and_its_lifecycle() -> None:
    hub = HubEmulator()
    async with recorded(hub) as (recorder, base_url):
        client = AsyncSuprsend(hub.workspace_key, hub.workspace_secret, base_url=base_url)
        async with client.with_options(timeout=5.0, headers={"X-Request-Tag": "t1"}) as tagged:
            await tagged.users.upsert("ann", {"plan": "pro"})
            assert [u["distinct_id"] async for u in tagged.users.list()] == ["ann"]
        with pytest.raises(SuprsendError, match="closed"):
            await tagged.users.get("ann")
        with pytest.raises(SuprsendError, match="closed"):
            await tagged.users.list()
        assert (await client.users.get("ann"))["properties"] == {"plan": "pro"}
        await client.aclose()
        with pytest.raises(SuprsendError, match="closed"):
            await client.users.get("ann")
    assert [h.get(b"x-request-tag") for h in recorder.headers] == [b"t1", b"t1", None]
    assert len(set(recorder.ports)) == 1  # one pool, one connection


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"headers": {"Authorization": "x"}}, "'Authorization' is set by the client"),
        ({"headers": {"date": "x"}}, "'date' is set by the client"),
        ({"headers": {"X-Tag": 1}}, "the value of 'X-Tag' must be a string"),
        ({"headers": {"X-Tag": "a\r\nB: c"}}, "line break"),
        ({"headers": {"X-Tag": "café"}}, "the value of 'X-Tag' must be printable ASCII"),
        ({"headers": {"X-Tag": "a\x00b"}}, "the value of 'X-Tag' must be printable ASCII"),
        ({"headers": {"X Tag": "a"}}, "'X Tag' is not a valid header name"),
        ({"headers": {"X-Tag:": "a"}}, "'X-Tag:' is not a valid header name"),
        ({"headers": {"Übersicht": "a"}}, "'Übersicht' is not a valid header name"),
        ({"headers": ["X-Tag"]}, "headers must be a mapping"),
        ({"timeout": 0}, "more than 0 seconds"),
        ({"retry": 3}, "retry must be a RetryPolicy"),
    ],
)
def test_with_options_checks_what_it_is_given(options: dict[str, Any], message: str) -> None:
    client = AsyncSuprsend("k", "s")
    with pytest.raises(SuprsendConfigError, match=message):
        client.with_options(**options)


@pytest.mark.anyio
async def test_a_response_carries_the_hubs_headers() -> None:
    hub = HubEmulator()
    async with (
        recorded(hub) as (_, base_url),
        AsyncSuprsend(hub.workspace_key, hub.workspace_secret, base_url=base_url) as client,
    ):
        response = await client.track_event(Event("u1", "ev_e"))
    assert response.headers["Content-Type"] == "application/json"
    assert "headers" not in repr(response)


# -- event loops and forks ------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_client_used_from_a_second_event_loop_says_to_create_one_per_loop(
    backend: str,
) -> None:
    hub = HubEmulator()
    client: AsyncSuprsend = hub.client()

    async def send() -> bool:
        return (await client.track_event(Event("u1", "ev_e"))).success

    async def send_bulk() -> int:
        return (await client.bulk_events.send([Event("u1", "ev_e")])).success

    assert anyio.run(send, backend=backend)
    for again in (send, send_bulk):
        with pytest.raises(SuprsendConfigError, match="create one client per event loop"):
            anyio.run(again, backend=backend)
    assert len(hub.events) == 1  # nothing was sent from the second loop


@contextmanager
def served_in_a_thread(app: Any) -> Iterator[tuple[anyio.from_thread.BlockingPortal, str]]:
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve(app)) as base_url,
    ):
        yield portal, base_url


@pytest.mark.parametrize(
    ("first", "then"),
    [("asyncio", "asyncio"), ("trio", "asyncio"), ("asyncio", "trio"), ("trio", "trio")],
)
def test_a_client_closed_from_a_later_event_loop_closes_without_an_error(
    first: str, then: str
) -> None:
    hub = HubEmulator()
    with served_in_a_thread(hub) as (_, base_url):
        client = AsyncSuprsend(hub.workspace_key, hub.workspace_secret, base_url=base_url)

        async def send() -> bool:
            return (await client.track_event(Event("u1", "ev_e"))).success

        assert anyio.run(send, backend=first)  # its pool's connections belong to that loop
        # Their loop has ended: closing them from this one cannot speak on them (asyncio
        # said "Event loop is closed"); the pool is let go instead.
        anyio.run(client.aclose, backend=then)
        with pytest.raises(SuprsendError, match="closed"):
            anyio.run(send, backend=then)
    assert len(hub.events) == 1


# Run in a process of its own, not forked from pytest's (whose threads and state the child
# would inherit): a preloaded app whose client has served requests in its loop (a thread's,
# here), forking a worker that sends from a loop of its own and closes the client on exit.
FORKING_APP = textwrap.dedent(
    """
    import os, sys
    import anyio, anyio.from_thread
    from suprsend_async import AsyncSuprsend, Event

    base_url, key, secret, child_backend = sys.argv[1:]
    client = AsyncSuprsend(key, secret, base_url=base_url)

    async def in_child():
        async with client:
            return (await client.track_event(Event("child", "after_fork"))).success

    with anyio.from_thread.start_blocking_portal() as portal:
        assert portal.call(client.track_event, Event("parent", "before_fork")).success
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = 0 if anyio.run(in_child, backend=child_backend) else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        print("child exit", os.waitstatus_to_exitcode(status))
        assert portal.call(client.track_event, Event("parent", "after_fork")).success
        portal.call(client.aclose)
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
@pytest.mark.parametrize("child_backend", ["asyncio", "trio"])
def test_a_forked_child_builds_its_own_pool(child_backend: str) -> None:
    hub = HubEmulator()
    recorder = PeerRecorder(hub)
    with served_in_a_thread(recorder) as (_, base_url):
        env = dict(os.environ, PYTHONPATH=str(REPO))
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                FORKING_APP,
                base_url,
                hub.workspace_key,
                hub.workspace_secret,
                child_backend,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["child exit 0"]
    assert [e.distinct_id for e in hub.events] == ["parent", "child", "parent"]
    parent_before, child, parent_after = recorder.ports
    assert child != parent_before  # the child opened its own connection
    assert parent_after == parent_before  # the parent's connection was left alone


def test_a_trailing_newline_of_a_credential_in_the_environment_is_stripped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As the README says: `export X=$(cat key.txt)` or a secrets file's newline is harmless.
    monkeypatch.setenv("SUPRSEND_WORKSPACE_KEY", "WS_KEY_0001\n")
    monkeypatch.setenv("SUPRSEND_WORKSPACE_SECRET", "the-secret\r\n")
    assert AsyncSuprsend()._env == "WS_KEY_0001"
