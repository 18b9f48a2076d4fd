"""Making the library's log records visible: SUPRSEND_LOG for every client, debug=True for one.

SUPRSEND_LOG is read at import, so those tests run a fresh interpreter
against the emulator on a loopback socket and read its stderr.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from suprsend_async import (
    AsyncSuprsend,
    Event,
    RetryPolicy,
    SuprsendAPIError,
    SuprsendTransportError,
)
from suprsend_async.testing import Fault, HubEmulator, serve
from tests._doubles import served

REPO = Path(__file__).resolve().parent.parent

# One keyed event; the hub answers the first attempt 503, so it is retried once.
SCRIPT = textwrap.dedent(
    """
    import anyio
    from suprsend_async import AsyncSuprsend, Event, RetryPolicy
    from suprsend_async.testing import HubEmulator, serve

    async def main():
        hub = HubEmulator()
        hub.fail_next(1, status=503)
        async with serve(hub) as base_url, AsyncSuprsend(
            hub.workspace_key, hub.workspace_secret, base_url=base_url,
            retry=RetryPolicy.instant(),
        ) as client:
            response = await client.track_event(
                Event("user-secret-id", "order_paid", {"card": "4242-private"},
                      idempotency_key="order-42")
            )
        assert response.success and response.attempts == 2
        print(hub.workspace_secret)

    anyio.run(main)
    """
)


def run_script(level: str | None) -> tuple[list[str], str]:
    env = {k: v for k, v in os.environ.items() if k != "SUPRSEND_LOG"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    if level is not None:
        env["SUPRSEND_LOG"] = level
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stderr.splitlines(), done.stdout.strip()


def test_suprsend_log_info_shows_one_line_for_a_retried_request() -> None:
    lines, secret = run_script("info")
    [line] = lines
    assert "INFO suprsend_async: retrying v2/event/ in 0.00s after attempt 1/4" in line
    assert line.endswith("failed: HTTP 503")
    for private in ("user-secret-id", "4242-private", "order-42", secret):
        assert private not in line


def test_suprsend_log_debug_adds_a_line_per_request() -> None:
    lines, _ = run_script("1")
    assert [line.split(" ", 2)[2] for line in lines] == [
        "DEBUG suprsend_async: POST /v2/event/ -> 503",
        "INFO suprsend_async: retrying v2/event/ in 0.00s after attempt 1/4 failed: HTTP 503",
        "DEBUG suprsend_async: POST /v2/event/ -> 202",
    ]


@pytest.mark.parametrize("level", [None, "off", "warning"])
def test_without_suprsend_log_a_retried_request_prints_nothing(level: str | None) -> None:
    lines, _ = run_script(level)
    assert lines == []


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("debug", logging.DEBUG),
        (" DEBUG ", logging.DEBUG),
        ("1", logging.DEBUG),
        ("true", logging.DEBUG),
        ("Yes", logging.DEBUG),
        ("on", logging.DEBUG),
        ("info", logging.INFO),
        ("warn", logging.WARNING),
        ("WARNING", logging.WARNING),
        ("error", logging.ERROR),
        ("", None),
        ("0", None),
        ("false", None),
        ("off", None),
    ],
)
def test_suprsend_log_accepts_the_usual_spellings(
    value: str, level: int | None, capsys: pytest.CaptureFixture[str]
) -> None:
    from suprsend_async._core import logging as library_logging

    try:
        assert library_logging.configure_from_environment({"SUPRSEND_LOG": value}) == level
        assert capsys.readouterr().err == ""  # understood: nothing said
        # The logger's level is the application's: never changed.
        assert logging.getLogger("suprsend_async").level == logging.NOTSET
    finally:
        library_logging._HANDLER.level_from_env = None
        logging.getLogger("suprsend_async").removeHandler(library_logging._HANDLER)


def test_a_suprsend_log_value_not_understood_is_said_on_stderr() -> None:
    lines, _ = run_script("verbose\n")
    [line] = lines
    assert line.startswith("suprsend_async: SUPRSEND_LOG='verbose\\n' is not understood")
    assert "debug, info, warning or error" in line


# A call that fails for good: a wrong secret, so 401, under Python's default logging
# (the application configured none), and optionally an application that logs at DEBUG.
FAILING = textwrap.dedent(
    """
    import logging, sys
    import anyio
    from suprsend_async import AsyncSuprsend, Event
    from suprsend_async.testing import HubEmulator

    if sys.argv[1] == "app-debug":
        logging.basicConfig(level=logging.DEBUG, format="APP %(levelname)s %(message)s")

    async def main():
        hub = HubEmulator()
        async with AsyncSuprsend(
            hub.workspace_key, "not-the-secret", transport=hub.transport(),
            base_url="http://hub.emulator/",
        ) as client:
            response = await client.track_event(Event("user-secret-id", "paid", {"c": "4242"}))
        assert not response.success and response.status_code == 401

    anyio.run(main)
    """
)


def run_failing(mode: str, level: str | None = None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "SUPRSEND_LOG"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    if level is not None:
        env["SUPRSEND_LOG"] = level
    done = subprocess.run(
        [sys.executable, "-c", FAILING, mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stderr.splitlines()


def test_a_failed_call_shows_one_warning_line_under_default_logging() -> None:
    [line] = run_failing("no-logging-setup")
    assert line.startswith("track_event failed: POST /v2/event/ answered HTTP 401: ")
    for private in ("user-secret-id", "4242", "not-the-secret"):
        assert private not in line


def test_suprsend_log_does_not_hide_records_from_an_app_logging_at_debug() -> None:
    lines = run_failing("app-debug", level="warning")
    # The application asked for DEBUG: it still gets the library's debug line.
    assert "APP DEBUG POST /v2/event/ -> 401" in lines
    assert any(line.startswith("APP WARNING track_event failed") for line in lines)


@pytest.mark.anyio
async def test_debug_true_prints_that_clients_records_only(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    hub = HubEmulator()
    caplog.set_level(logging.INFO, logger="suprsend_async")
    async with serve(hub) as base_url:
        key, secret, retry = hub.workspace_key, hub.workspace_secret, RetryPolicy.instant()
        async with (
            AsyncSuprsend(key, secret, base_url=base_url, retry=retry, debug=True) as loud,
            AsyncSuprsend(key, secret, base_url=base_url, retry=retry) as quiet,
        ):
            hub.fail_next(1, status=503)
            await loud.track_event(Event("u1", "loud_event", idempotency_key="k-loud"))
            hub.fail_next(1, status=503)
            await quiet.track_event(Event("u2", "quiet_event", idempotency_key="k-quiet"))
            await loud.with_options(timeout=5.0).track_event(Event("u3", "loud_again"))
    printed = [line.split(" ", 2)[2] for line in capsys.readouterr().err.splitlines()]
    assert printed == [
        "DEBUG suprsend_async: POST /v2/event/ -> 503",
        "INFO suprsend_async: retrying v2/event/ in 0.00s after attempt 1/4 failed: HTTP 503",
        "DEBUG suprsend_async: POST /v2/event/ -> 202",
        "DEBUG suprsend_async: POST /v2/event/ -> 202",  # the derived client is debug too
    ]
    # The application's own logging still gets both clients' warnings, once each.
    retries = [r for r in caplog.records if r.getMessage().startswith("retrying")]
    assert len(retries) == 2


@pytest.mark.anyio
async def test_users_calls_are_logged_by_their_path_template_never_the_ids(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    hub = HubEmulator()
    caplog.set_level(logging.DEBUG, logger="suprsend_async")
    async with served(hub, retry=RetryPolicy.instant(attempts=2), debug=True) as client:
        hub.script(Fault.drop_before())  # the upsert's first attempt gets no answer
        await client.users.upsert("ann@private.example", {"plan": "pro"})
        hub.script(Fault.drop_before(), times=2)
        with pytest.raises(SuprsendTransportError) as unanswered:
            await client.users.get("bob@private.example")
        with pytest.raises(SuprsendAPIError):
            await client.users.get("carol@private.example")
    printed = [line.split(" ", 2)[2] for line in capsys.readouterr().err.splitlines()]
    # httpcore says "Server disconnected without sending a response.", aiohttp
    # "Server disconnected": the transport's own words after that are not ours.
    printed = [line.split(" without sending")[0].split(" (at http")[0] for line in printed]
    assert printed == [
        "INFO suprsend_async: retrying v1/user/{distinct_id}/ in 0.00s after attempt 1/2"
        " failed: SuprsendTransportError: POST /v1/user/{distinct_id}/ failed:"
        " RemoteProtocolError: Server disconnected",
        "DEBUG suprsend_async: POST /v1/user/{distinct_id}/ -> 201",
        "INFO suprsend_async: retrying v1/user/{distinct_id}/ in 0.00s after attempt 1/2"
        " failed: SuprsendTransportError: GET /v1/user/{distinct_id}/ failed:"
        " RemoteProtocolError: Server disconnected",
        "DEBUG suprsend_async: GET /v1/user/{distinct_id}/ -> 404",
    ]
    for record in caplog.records:  # what the application's own handlers receive
        assert "@private" not in record.getMessage()
    # The caller knows which user it asked for; the error names the call the same way.
    assert "GET /v1/user/{distinct_id}/ failed" in str(unanswered.value)
