"""Every async test runs twice: on asyncio and on trio (anyio's pytest plugin)."""

from __future__ import annotations

import pytest

# The PostgreSQL fixtures, defined here so that the whole session shares one server
# (imported into each test module, every module would start its own).
from tests._postgres import postgres_dsn, postgres_server

__all__ = ["postgres_dsn", "postgres_server"]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
