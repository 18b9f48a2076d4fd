"""Project tasks. `nox` runs lint, typecheck, tests, httpx2, core and floors, as CI does."""

from __future__ import annotations

import nox
from packaging.requirements import Requirement

nox.options.sessions = ["lint", "typecheck", "tests", "httpx2", "core", "floors"]
nox.options.reuse_venv = "yes"

PYPROJECT = nox.project.load_toml("pyproject.toml")


def install_group(session: nox.Session, *groups: str) -> None:
    session.install(*nox.project.dependency_groups(PYPROJECT, *groups))


# Compiled: an old release has wheels only for the Pythons of its day, and building one
# needs a Rust toolchain. Its floor is not pinned (its API we call is old and small).
# typing_extensions: its floor (4.12.2, raised from the typed answers' 4.5 because the
# postgres extra's pgqueuer needs that through pydantic) is left to pip, which picks the
# lowest every extra's floor accepts, instead of pinning it against pydantic's own floor.
NOT_PINNED = {"orjson", "typing_extensions"}


def lowest_allowed(requirements: list[str]) -> list[str]:
    """``name>=X`` pinned to ``name==X``: the oldest release each requirement lets a user have."""
    pins = []
    for line in requirements:
        requirement = Requirement(line)
        if requirement.name in NOT_PINNED:
            continue
        floors = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        marker = f"; {requirement.marker}" if requirement.marker else ""
        pins.extend(f"{requirement.name}{extras}=={floor}{marker}" for floor in floors)
    return pins


# Enough of the suite to exercise every dependency's API we call, on asyncio and trio.
FLOOR_TESTS = [
    "tests/test_client.py",
    "tests/test_client_options.py",
    "tests/test_retry_integration.py",
    "tests/test_bulk_engine.py",
    "tests/test_users_integration.py",
    "tests/test_validation.py",
    "tests/test_logging.py",
    "tests/test_telemetry.py",
    "tests/test_cli_reporting.py",
    "tests/test_bulk_responsiveness.py",
    "tests/test_tokens.py",
    # The pool's streams wrap httpcore's network backend where httpx keeps it: checked on
    # the oldest httpcore too.
    "tests/test_network.py",
]


@nox.session
def lint(session: nox.Session) -> None:
    install_group(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # The layering (pyproject's [tool.importlinter]): import-linter reads the
    # package's imports, so the package goes in first.
    session.install("-e", ".", "--no-deps")
    session.run("lint-imports")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".")
    install_group(session, "typecheck")
    session.run("mypy")


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[fast,aiohttp,cli,testing,tokens,httpx2,postgres]")
    install_group(session, "test")
    # Two workers: most of the suite's wall time is spent waiting (subprocesses, a
    # PostgreSQL server, hubs that hold answers), not computing: 7.4 -> 3.8 min here.
    session.run("pytest", "-n", "2", *session.posargs)


# The integration slice that runs again on httpx2 (single calls, bulk, REST, errors,
# caps, redirects, retries under faults, cancellation, both pools), on asyncio and trio.
# (test_retry_integration is left to the httpx run: 25 s more, for what test_hardening's
# keyed uploads under 30 % faults already send through httpx2.)
HTTPX2_TESTS = [
    "tests/test_httpx2.py",
    "tests/test_bulk_integration.py",
    "tests/test_users_integration.py",
    "tests/test_rest_core.py",
    "tests/test_hardening.py",
    "tests/test_pool.py",
    "tests/test_network.py",
    "tests/test_aiohttp_pool.py",
    "tests/test_rest_hardening.py",
]


@nox.session
def httpx2(session: nox.Session) -> None:
    """The integration slice with every client the tests build on httpx2.

    ``SUPRSEND_HTTP_STACK=httpx2`` makes the clients build their pools on httpx2, and
    the tests that hand in a client, a transport or a stream build them with httpx2.
    """
    session.install(
        "-e",
        ".[fast,aiohttp,testing,httpx2]",
        "pytest>=8",
        "hypothesis>=6.100",
        "trio>=0.31",
        "pytest-xdist>=3.5",
        "trustme>=1.1",
    )
    # Two workers, as the tests session: this slice is mostly waiting too.
    session.run(
        "pytest",
        "-q",
        "-n",
        "2",
        *(session.posargs or HTTPX2_TESTS),
        env={"SUPRSEND_HTTP_STACK": "httpx2"},
    )


# The record path, the engine, the REST core and the background sender, as a plain
# `pip install suprsend-async` has them (every other session installs the fast extra).
CORE_TESTS = [
    "tests/test_bulk_engine.py",
    "tests/test_event_wire.py",
    "tests/test_bulk_integration.py",
    "tests/test_bulk_responsiveness.py",
    "tests/test_retry_integration.py",
    "tests/test_validation.py",
    "tests/test_client.py",
    "tests/test_rest_core.py",
    "tests/test_network.py",
    "tests/test_users_integration.py",
    "tests/test_background.py",
    "tests/test_background_pipeline.py",
]


@nox.session
def core(session: nox.Session) -> None:
    """The client without any extra: the standard library's JSON encoder (no orjson) and
    httpcore's pool (no aiohttp), on asyncio and trio."""
    session.install(
        "-e",
        ".[testing,trio]",
        "pytest>=8",
        "hypothesis>=6.100",
        "pytest-xdist>=3.5",
        "trustme>=1.1",
    )
    session.run("pytest", "-q", "-n", "2", *(session.posargs or CORE_TESTS))


@nox.session
def floors(session: nox.Session) -> None:
    """The client's tests against the oldest dependencies pyproject.toml allows.

    A floor lower than what the code needs (anyio's event loop token came in
    4.11) would let a user's lock file keep a release on which every call fails.
    """
    project = PYPROJECT["project"]
    # httpx2's floor needs h11 0.16 (through httpcore2), above the testing extra's floor:
    # the two cannot share this environment. `nox -s httpx2` covers httpx2.
    extras = {k: v for k, v in project["optional-dependencies"].items() if k != "httpx2"}
    pins = lowest_allowed([*project["dependencies"], *(r for e in extras.values() for r in e)])
    # The SDK of the API's floor, to read the spans back.
    [otel_api] = [pin for pin in pins if pin.startswith("opentelemetry-api==")]
    otel_sdk = otel_api.replace("-api", "-sdk")
    session.install(
        "-e",
        f".[{','.join(extras)}]",
        *pins,
        otel_sdk,
        "pytest>=8",
        "hypothesis>=6.100",
        "trustme>=1.1",
    )
    session.run("pytest", "-q", *(session.posargs or FLOOR_TESTS))


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: bulk upload to the embedded emulator, with a progress bar."""
    session.install("-e", ".[fast,cli,testing]")
    session.run("suprsend-async", "demo", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against the official SDK; writes benchmarks/results/.

    ``nox -s bench -- ab`` runs the levers' A/B (``python -m benchmarks.ab``), and
    ``nox -s bench -- profile`` where an upload's CPU goes (``python -m benchmarks.profile``),
    ``nox -s bench -- rest`` the REST calls alone (``python -m benchmarks.rest``),
    ``nox -s bench -- lag`` the event-loop lag cases alone (``python -m benchmarks.lag``),
    ``nox -s bench -- loop`` what an asyncio loop iteration holds during an upload
    (``python -m benchmarks.loop``),
    ``nox -s bench -- instructions`` bulk instructions per record under callgrind, steady
    on a loaded machine (``python -m benchmarks.instructions``),
    ``nox -s bench -- lists`` list membership throughput (``python -m benchmarks.lists``),
    ``nox -s bench -- outbox`` the PostgreSQL outbox (``python -m benchmarks.outbox``),
    ``nox -s bench -- background`` the background sender's targets
    (``python -m benchmarks.background``); what follows is theirs
    (``nox -s bench -- ab --records 100000``).
    """
    # Every extra, as an application that installed them all has them: OpenTelemetry's API
    # (no SDK: the spans are non-recording), trio, the command line's rich, and so on.
    session.install("-e", ".[fast,aiohttp,cli,testing,trio,otel,tokens,httpx2,postgres]")
    install_group(session, "bench")
    module, args = "benchmarks", list(session.posargs)
    if args and args[0] in (
        "ab",
        "profile",
        "rest",
        "lag",
        "loop",
        "instructions",
        "lists",
        "outbox",
        "background",
    ):
        module = f"benchmarks.{args.pop(0)}"
    session.run("python", "-m", module, *args)
