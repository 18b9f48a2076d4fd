"""The plugin's fixtures work whatever async plugin a user's suite runs on.

Each case runs a small test file in a fresh pytest (``pytester``, in a
subprocess): under anyio's plugin, and under pytest-asyncio in strict and in
auto mode, where ``suprsend_hub_url`` used to hang on a server nobody drove.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent

ANYIO_TESTS = """
import pytest
from suprsend_async import AsyncSuprsend, Event

@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param

@pytest.mark.anyio
async def test_in_process(suprsend_hub, suprsend_client):
    async with suprsend_client:
        assert (await suprsend_client.track_event(Event("u1", "signed_up"))).success
    assert [e.event for e in suprsend_hub.events] == ["signed_up"]

@pytest.mark.anyio
async def test_socket(suprsend_hub, suprsend_hub_url):
    hub = suprsend_hub
    async with AsyncSuprsend(hub.workspace_key, hub.workspace_secret,
                             base_url=suprsend_hub_url, timeout=10) as client:
        assert (await client.track_event(Event("u1", "signed_up"))).success
    assert hub.stats.processed_events == 1

def test_fresh_hub_per_test(suprsend_hub):
    assert suprsend_hub.stats.requests == 0
"""

ASYNCIO_TESTS = """
import pytest
from suprsend_async import AsyncSuprsend, Event

{mark}
async def test_socket(suprsend_hub, suprsend_hub_url):
    hub = suprsend_hub
    async with AsyncSuprsend(hub.workspace_key, hub.workspace_secret,
                             base_url=suprsend_hub_url, timeout=10) as client:
        assert (await client.track_event(Event("u1", "signed_up"))).success
    assert hub.stats.processed_events == 1

{mark}
async def test_in_process(suprsend_hub, suprsend_client):
    async with suprsend_client:
        assert (await suprsend_client.track_event(Event("u1", "signed_up"))).success
    assert [e.event for e in suprsend_hub.events] == ["signed_up"]

def test_sync_code_can_use_the_url_too(suprsend_hub, suprsend_hub_url):
    import httpx
    assert httpx.get(suprsend_hub_url + "_emulator/stats", timeout=10).status_code == 200
"""


@pytest.fixture
def pytester_env(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    return pytester


def plugin_args() -> list[str]:
    # Installed, the plugin loads by its entry point; from a bare checkout, by name.
    loaded = "suprsend_async.testing.pytest_plugin" in sys.modules
    return [] if loaded else ["-p", "suprsend_async.testing.pytest_plugin"]


def test_fixtures_under_anyio(pytester_env: pytest.Pytester) -> None:
    pytester_env.makepyfile(ANYIO_TESTS)
    result = pytester_env.runpytest_subprocess("-p", "anyio", "-p", "no:asyncio", *plugin_args())
    result.assert_outcomes(passed=5)  # the two async tests on asyncio and on trio


@pytest.mark.parametrize(
    ("mode", "mark"),
    [("strict", "@pytest.mark.asyncio"), ("auto", "")],
)
def test_fixtures_under_pytest_asyncio(pytester_env: pytest.Pytester, mode: str, mark: str) -> None:
    pytest.importorskip("pytest_asyncio")
    pytester_env.makepyfile(ASYNCIO_TESTS.format(mark=mark))
    result = pytester_env.runpytest_subprocess(
        "-p", "asyncio", "-p", "no:anyio", f"--asyncio-mode={mode}", *plugin_args()
    )
    result.assert_outcomes(passed=3)
