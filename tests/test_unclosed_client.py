"""A client dropped without being closed: one warning in our words, not aiohttp's noise.

Run in a subprocess, so that what is checked is what a user's terminal shows
(aiohttp reports an unclosed session through the event loop's error handler,
outside any warning filter the test session sets).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("httpx_aiohttp")

SCRIPT = textwrap.dedent(
    """
    import asyncio, gc, sys
    from suprsend_async import AsyncSuprsend, Event
    from suprsend_async.testing import HubEmulator, serve

    async def main(close):
        hub = HubEmulator(workspaces={"key": "secret"})
        async with serve(hub) as url:
            client = AsyncSuprsend("key", "secret", base_url=url)
            assert (await client.track_event(Event("u1", "ev"))).success
            if close:
                await client.aclose()
            del client
            gc.collect()
        print("delivered", hub.stats.processed_events)

    asyncio.run(main(sys.argv[1] == "close"))
    gc.collect()
    """
)


def run(how: str, *warning_options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *warning_options, "-c", SCRIPT, how],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_an_unclosed_client_prints_nothing_of_aiohttp_under_default_settings() -> None:
    done = run("drop")
    assert done.stdout.strip() == "delivered 1"
    assert done.stderr == ""


def test_an_unclosed_client_is_one_resource_warning_in_our_words() -> None:
    done = run("drop", "-W", "always::ResourceWarning")
    assert "Unclosed" not in done.stderr
    assert done.stderr.count("ResourceWarning") == 1
    assert "an AsyncSuprsend client was never closed" in done.stderr
    assert "async with AsyncSuprsend" in done.stderr


def test_a_closed_client_warns_nothing() -> None:
    done = run("close", "-W", "always::ResourceWarning")
    assert done.stdout.strip() == "delivered 1"
    assert "ResourceWarning" not in done.stderr
