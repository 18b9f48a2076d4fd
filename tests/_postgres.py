"""A real PostgreSQL for the outbox tests: one server (pgserver: PostgreSQL 16 from
a wheel) started by the test session itself, and a fresh database per test.

As root (CI runs so) pgserver runs the server as an unprivileged ``pgserver``
user it creates, since PostgreSQL refuses to run as root. pgserver is imported
only when a test asks for a database: the floors session runs without it.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with warnings.catch_warnings():
        # platformdirs warns, on import, that XDG_RUNTIME_DIR is unset (CI, containers).
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH
        from pgserver.postgres_server import get_server

    # Not under pytest's basetemp: that is shared by every pytest run of the user,
    # and a server's directory must be its own for as long as it runs.
    root = Path(tempfile.mkdtemp(prefix="suprsend-async-postgres-"))
    server = get_server(root / "data", cleanup_mode="delete")
    # A throwaway server: nothing here must survive a crash of the machine (a killed
    # worker is not one), and without the flushes the suite takes seconds less.
    server.psql(
        "ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off;"
        " ALTER SYSTEM SET full_page_writes = off; SELECT pg_reload_conf();"
    )
    try:
        yield server
    finally:
        # Stopped at once, without the shutdown checkpoint (seconds on a loaded
        # machine) that pgserver's own stop waits for: the data is deleted next.
        subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(server.pgdata), "-m", "immediate",
             "-w", "stop"],
            user=server.system_user,
            capture_output=True,
            check=False,
        )  # fmt: skip
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """The DSN of a new, empty database on the session's server."""
    name = f"outbox_test_{next(_databases)}"
    postgres_server.psql(f"CREATE DATABASE {name};")
    dsn: str = postgres_server.get_uri(name)
    return dsn
