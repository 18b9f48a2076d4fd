"""Pytest fixtures for testing code that uses suprsend_async (registered as a pytest11 plugin).

- ``suprsend_hub``: a fresh :class:`HubEmulator` per test. Override it in your
  ``conftest.py`` to configure workflows or faults.
- ``suprsend_client``: an ``AsyncSuprsend`` wired to that hub in-process, with
  retries that do not wait.
- ``suprsend_hub_url``: the hub served on a free 127.0.0.1 port for the test;
  an async fixture, so the test needs ``@pytest.mark.anyio``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .._client import AsyncSuprsend
from .._retry import RetryPolicy
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
async def suprsend_hub_url(suprsend_hub: HubEmulator, anyio_backend: object) -> AsyncIterator[str]:
    async with serve(suprsend_hub) as base_url:
        yield base_url
