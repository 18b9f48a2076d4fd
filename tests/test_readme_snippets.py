"""Every ```python block of README.md runs, against the emulator, so a snippet that does not
run fails CI.

Each block runs in a fresh interpreter (tests/_readme_runner.py): a snippet may set process
globals (OpenTelemetry's providers, logging handlers) and makes its own event loops. The hub
is served on loopback from a thread of this process, and the snippet finds it through
SUPRSEND_WORKSPACE_KEY/SECRET and SUPRSEND_BASE_URL; the "WORKSPACE_KEY"/"WORKSPACE_SECRET"
placeholders are replaced by the hub's credentials. FastAPI and aiohttp apps are served and
sent a request; a ``print(...)  # <literal>`` comment must be what the line prints.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import anyio.from_thread
import attrs
import pytest

from suprsend_async.testing import HubEmulator, serve

REPO = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
_HEADING = re.compile(r"^#+ (.*)$", re.MULTILINE)


@attrs.frozen
class Snippet:
    heading: str
    code: str

    @property
    def kind(self) -> str:
        if "FastAPI(" in self.code:
            return "fastapi"
        if "web.Application()" in self.code:
            return "aiohttp"
        if "suprsend_hub" in self.code:
            return "pytest-plugin"
        if "PostgresOutbox(" in self.code:
            return "postgres"
        return "plain"

    def printed_literals(self) -> list[str]:
        """What each ``print(...)  # <Python literal>`` line says it prints."""
        claims = []
        for line in self.code.splitlines():
            head, _, comment = line.partition("  # ")
            if head.strip().startswith("print(") and comment:
                try:
                    claims.append(str(ast.literal_eval(comment.strip())))
                except (ValueError, SyntaxError):
                    continue  # a comment about the output, not the output
        return claims


def readme_snippets() -> list[Snippet]:
    text = (REPO / "README.md").read_text()
    snippets = []
    for match in _BLOCK.finditer(text):
        headings = _HEADING.findall(text, 0, match.start())
        snippets.append(Snippet(headings[-1] if headings else "top", match.group(1)))
    return snippets


SNIPPETS = readme_snippets()


def test_the_readme_has_the_snippets_this_file_expects() -> None:
    assert len(SNIPPETS) >= 9
    assert {s.kind for s in SNIPPETS} == {
        "plain",
        "fastapi",
        "aiohttp",
        "pytest-plugin",
        "postgres",
    }
    assert "Users" in {s.heading for s in SNIPPETS}


def test_the_install_table_lists_exactly_the_extras_pyproject_defines() -> None:
    """A row for an extra that does not exist sends a user to a pip warning, nothing installed."""
    readme = (REPO / "README.md").read_text()
    table = readme.split("| extra | installs | what it buys |", 1)[1].split("\n\n", 1)[0]
    listed = re.findall(r"^\| `(\w+)` \|", table, flags=re.MULTILINE)
    extras = metadata.metadata("suprsend-async").get_all("Provides-Extra") or []
    assert sorted(listed) == sorted(extras)


@pytest.fixture
def served_hub() -> Iterator[tuple[HubEmulator, str]]:
    hub = HubEmulator()
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve(hub)) as base_url,
    ):
        yield hub, base_url


@pytest.mark.parametrize(
    "snippet", SNIPPETS, ids=[f"{i}-{s.heading[:30]}" for i, s in enumerate(SNIPPETS)]
)
def test_readme_snippet_runs(
    snippet: Snippet,
    served_hub: tuple[HubEmulator, str],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    hub, _ = served_hub
    code = snippet.code
    if snippet.kind == "postgres":  # the outbox's example, on a database of its own
        code = code.replace(_README_DSN, request.getfixturevalue("postgres_dsn"))
    printed = run_snippet(snippet, code, served_hub, tmp_path)
    for claim in snippet.printed_literals():
        assert claim in printed, (claim, printed)
    if snippet.kind in ("fastapi", "aiohttp"):
        assert json.loads(printed[-1]) == {"status": 200, "body": {"notified": True}}
        [paid] = [e for e in hub.events if e.event == "order_paid"]
        assert (paid.distinct_id, paid.properties["order_id"], paid.idempotency_key) == (
            "user-7",
            "o-9",
            "paid-o-9",
        )
    if snippet.kind == "pytest-plugin":
        defined = re.findall(r"^async def (test_\w+)", snippet.code, flags=re.MULTILINE)
        assert json.loads(printed[-1])["ran"] == defined
    if snippet.heading == "Users":  # it did what it says, through the users API
        ann = hub.users["ann"]
        assert (ann.properties["plan"], ann.properties["name"]) == ("pro", "Ann")
        assert [hub.users[f"u{i}"].properties["plan"] for i in range(3)] == ["free"] * 3
    if snippet.heading == "Objects":  # and this through the objects API
        team = hub.objects[("teams", "frontend")]
        assert (team.properties["plan"], team.identities("$email")) == ("pro", ["fe@example.com"])
        assert [who[1] for who in team.subscribers] == ["ann", "bob"]
    if snippet.heading == "Tenants and brands":  # and this through the tenants and brands APIs
        acme = hub.tenants["acme"]
        assert (acme.name, acme.properties) == ("Acme Inc.", {"plan": "pro"})
        assert acme.categories["newsletter"]["blocked_channels"] == ["sms"]


_README_DSN = "postgresql://app@db/app"
_RUN_ON_TRIO = "anyio.run(main)  # or asyncio.run(main()), or trio.run(main)"


def test_the_quick_start_runs_under_trio_as_it_says(
    served_hub: tuple[HubEmulator, str], tmp_path: Path
) -> None:
    [quick_start] = [s for s in SNIPPETS if _RUN_ON_TRIO in s.code]
    hub, _ = served_hub
    code = quick_start.code.replace(_RUN_ON_TRIO, "import trio\n\ntrio.run(main)")
    run_snippet(quick_start, code, served_hub, tmp_path)
    assert {e.event for e in hub.events} == {"product_purchased", "nightly_digest"}
    assert len(hub.triggers) == 1


def run_snippet(
    snippet: Snippet, code: str, served_hub: tuple[HubEmulator, str], tmp_path: Path
) -> list[str]:
    """Run ``code`` (``snippet``'s, perhaps changed) in a fresh interpreter; its stdout lines."""
    hub, base_url = served_hub
    code = code.replace('"WORKSPACE_KEY"', repr(hub.workspace_key)).replace(
        '"WORKSPACE_SECRET"', repr(hub.workspace_secret)
    )
    source = tmp_path / "snippet.py"
    source.write_text(code)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPRSEND_", "OTEL_"))}
    env.update(
        SUPRSEND_WORKSPACE_KEY=hub.workspace_key,
        SUPRSEND_WORKSPACE_SECRET=hub.workspace_secret,
        SUPRSEND_BASE_URL=base_url,
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    )
    done = subprocess.run(
        [sys.executable, "-m", "tests._readme_runner", str(source), snippet.kind],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{snippet.heading}:\n{code}\n{done.stderr}"
    return done.stdout.splitlines()
