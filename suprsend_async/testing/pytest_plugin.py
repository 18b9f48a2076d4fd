"""Pytest fixtures for testing code that uses suprsend_async (registered as a pytest11 plugin).

- ``suprsend_hub``: a fresh :class:`HubEmulator` per test. Override it in your
  ``conftest.py`` to configure workflows or faults.
- ``suprsend_client``: an ``AsyncSuprsend`` wired to that hub in-process, with
  retries that do not wait.
- ``suprsend_hub_url``: the hub served on a free 127.0.0.1 port for the test.
  A plain fixture: the server runs on an event loop of its own, in a thread,
  so it works in sync tests and under any async test plugin (anyio's,
  pytest-asyncio in strict or auto mode) whatever loop the test runs on.
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio.from_thread
import pytest

from .._client import AsyncSuprsend
from .._core.retry import RetryPolicy
from ._hub import HubEmulator
from ._server import serve


@pytest.fixture
def suprsend_hub() -> HubEmulator:
    return HubEmulator()


@pytest.fixture
def suprsend_client(suprsend_hub: HubEmulator) -> AsyncSuprsend:
    client: AsyncSuprsend = suprsend_hub.client(retry=RetryPolicy.instant())
    return client


@pytest.fixture
def suprsend_hub_url(suprsend_hub: HubEmulator) -> Iterator[str]:
    # Serving on the test's own loop would tie the fixture to one async plugin
    # (an anyio fixture never runs under pytest-asyncio, and the test then
    # waits on a server nobody drives).
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve(suprsend_hub)) as base_url,
    ):
        yield base_url
