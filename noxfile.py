"""Project tasks. `nox` runs lint, typecheck and tests, as CI does."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_venv = "yes"

PYPROJECT = nox.project.load_toml("pyproject.toml")


def install_group(session: nox.Session, *groups: str) -> None:
    session.install(*nox.project.dependency_groups(PYPROJECT, *groups))


@nox.session
def lint(session: nox.Session) -> None:
    install_group(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".")
    install_group(session, "typecheck")
    session.run("mypy")


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[fast,aiohttp,cli,testing]")
    install_group(session, "test")
    session.run("pytest", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: bulk upload to the embedded emulator, with a progress bar."""
    session.install("-e", ".[fast,cli,testing]")
    session.run("suprsend-async", "demo", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against the official SDK; writes benchmarks/results/."""
    session.install("-e", ".[fast,aiohttp,testing]")
    install_group(session, "bench")
    session.run("python", "-m", "benchmarks", *session.posargs)
