"""A real PostgreSQL for the outbox tests: one server (pgserver: PostgreSQL 16 from
a wheel) started by the test session itself, and a fresh database per test.

As root (CI runs so) pgserver runs the server as an unprivileged ``pgserver``
user it creates, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():
    # platformdirs warns, on import, that XDG_RUNTIME_DIR is unset (CI, containers).
    warnings.simplefilter("ignore")
    from pgserver.postgres_server import PostgresServer, get_server

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    # Not under pytest's basetemp: that is shared by every pytest run of the user,
    # and a server's directory must be its own for as long as it runs.
    root = Path(tempfile.mkdtemp(prefix="suprsend-async-postgres-"))
    # cleanup_mode="delete": stopped and removed when the session ends.
    server = get_server(root / "data", cleanup_mode="delete")
    # A throwaway server: nothing here must survive a crash of the machine (a killed
    # worker is not one), and without the flushes the suite and the teardown's
    # checkpoint take seconds less.
    server.psql(
        "ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off;"
        " ALTER SYSTEM SET full_page_writes = off; SELECT pg_reload_conf();"
    )
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """The DSN of a new, empty database on the session's server."""
    name = f"outbox_test_{next(_databases)}"
    postgres_server.psql(f"CREATE DATABASE {name};")
    dsn: str = postgres_server.get_uri(name)
    return dsn
