"""The `suprsend-async` command, run as a subprocess against the emulator on a real socket."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from suprsend_async.testing import Faults, HubEmulator, serve
from tests._doubles import PATIENCE

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parent.parent


@attrs.frozen
class Result:
    code: int
    stdout: str
    stderr: str

    def summary(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.stdout.strip().splitlines()[-1])
        return result


def cli_env(hub: HubEmulator, base_url: str, *, credentials: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPRSEND_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["SUPRSEND_BASE_URL"] = base_url
    if credentials:
        env["SUPRSEND_WORKSPACE_KEY"] = hub.workspace_key
        env["SUPRSEND_WORKSPACE_SECRET"] = hub.workspace_secret
    return env


async def run_cli(
    args: Sequence[str], env: dict[str, str], *, stdin: bytes | None = None, secret: str = ""
) -> Result:
    done = await anyio.run_process(
        [sys.executable, "-m", "suprsend_async", *args], input=stdin, env=env, check=False
    )
    result = Result(done.returncode, done.stdout.decode(), done.stderr.decode())
    assert "Traceback" not in result.stderr, result.stderr
    if secret:  # whatever happened, the secret was never printed
        assert secret not in result.stdout + result.stderr
    return result


@asynccontextmanager
async def hub_at(hub: HubEmulator) -> AsyncIterator[tuple[str, dict[str, str]]]:
    async with serve(hub) as base_url:
        yield base_url, cli_env(hub, base_url)


def write_lines(path: Path, lines: Sequence[Any]) -> Path:
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    return path


def event(i: int, **extra: Any) -> dict[str, Any]:
    return {"distinct_id": f"u{i}", "event": "order_paid", "properties": {"i": i}, **extra}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_bad_lines_are_reported_by_line_and_the_rest_is_sent(tmp_path: Path) -> None:
    hub = HubEmulator()
    source = write_lines(
        tmp_path / "events.jsonl",
        [event(1), event(2), "{not json", event(4), event(5, event="$reserved"), event(6), "[1, 2]",
         event(8)],
    )  # fmt: skip
    failed_out = tmp_path / "failed.jsonl"
    async with hub_at(hub) as (_, env):
        result = await run_cli(
            ["bulk", "events", str(source), "--failed-out", str(failed_out)],
            env,
            secret=hub.workspace_secret,
        )
    assert result.code == 1
    summary = result.summary()  # not a terminal: a JSON summary without --json
    assert (summary["total"], summary["success"], summary["failure"]) == (8, 5, 3)
    assert summary["invalid_lines"] == 1
    assert summary["status"] == "partial"
    failures = read_jsonl(failed_out)
    assert [f["line"] for f in failures] == [3, 5, 7]
    assert "invalid JSON" in failures[0]["error"]
    assert "reserved" in failures[1]["error"]
    assert failures[1]["record"]["event"] == "$reserved"
    assert "must be an Event or a dict" in failures[2]["error"]
    assert sorted(e.properties["i"] for e in hub.events) == [1, 2, 4, 6, 8]


async def test_failed_out_can_be_fixed_and_replayed_to_complete_the_job(tmp_path: Path) -> None:
    hub = HubEmulator(workflows={"welcome"})
    triggers: list[dict[str, Any]] = [
        {"workflow": "welcom" if i % 3 == 0 else "welcome", "recipients": [f"u{i}"]}
        for i in range(9)
    ]
    for i, trigger in enumerate(triggers):
        trigger["data"] = {"i": i}
    source = write_lines(tmp_path / "triggers.jsonl", triggers)
    failed_out = tmp_path / "failed.jsonl"
    async with hub_at(hub) as (_, env):
        first = await run_cli(
            ["bulk", "workflows", str(source), "--failed-out", str(failed_out), "--json"], env
        )
        assert first.code == 1
        failures = read_jsonl(failed_out)
        assert [(f["line"], f["code"]) for f in failures] == [(1, 404), (4, 404), (7, 404)]
        fixed = tmp_path / "fixed.jsonl"
        fixed.write_text(failed_out.read_text().replace('"welcom"', '"welcome"'))
        second = await run_cli(
            ["bulk", "workflows", str(fixed), "--failed-out", str(tmp_path / "again.jsonl")], env
        )
    assert second.code == 0
    assert second.summary()["success"] == 3
    assert read_jsonl(tmp_path / "again.jsonl") == []
    assert sorted(t.data["i"] for t in hub.triggers) == list(range(9))


async def test_dry_run_validates_and_chunks_but_sends_nothing(tmp_path: Path) -> None:
    hub = HubEmulator()
    source = write_lines(tmp_path / "e.jsonl", [event(i) for i in range(250)] + ["oops"])
    async with hub_at(hub) as (_, env):
        result = await run_cli(["bulk", "events", str(source), "--dry-run"], env)
    assert result.code == 1
    summary = result.summary()
    assert (summary["dry_run"], summary["valid"], summary["invalid"]) == (True, 250, 1)
    assert summary["requests"] == 3
    assert hub.stats.requests == 0


async def test_standard_input(tmp_path: Path) -> None:
    hub = HubEmulator()
    lines = "\n".join(json.dumps(event(i)) for i in range(120)).encode()
    async with hub_at(hub) as (_, env):
        result = await run_cli(["bulk", "events", "-", "--json"], env, stdin=lines)
    assert result.code == 0
    assert result.summary()["success"] == 120
    assert hub.stats.processed_events == 120


async def test_single_track_and_trigger_commands() -> None:
    hub = HubEmulator(workflows={"welcome"})
    async with hub_at(hub) as (_, env):
        tracked = await run_cli(
            ["track", "--distinct-id", "u1", "--event", "order_paid", "--prop", "amount=10",
             "--prop", "note=hi", "--idempotency-key", "k1"],
            env,
        )  # fmt: skip
        triggered = await run_cli(
            ["trigger", "--workflow", "welcome", "--recipient", "u1", "--recipient", "u2",
             "--data", '{"plan": "pro"}'],
            env,
        )  # fmt: skip
        unknown = await run_cli(["trigger", "--workflow", "nope", "--recipient", "u1"], env)
    assert (tracked.code, triggered.code, unknown.code) == (0, 0, 1)
    assert json.loads(tracked.stdout)["success"] is True
    assert json.loads(unknown.stdout)["status_code"] == 404
    [e] = hub.events
    assert (e.properties["amount"], e.properties["note"], e.idempotency_key) == (10, "hi", "k1")
    [t] = hub.triggers
    assert (t.recipients, t.data) == (["u1", "u2"], {"plan": "pro"})


async def test_api_key_from_the_environment() -> None:
    hub = HubEmulator()
    async with hub_at(hub) as (base_url, _):
        env = cli_env(hub, base_url, credentials=False)
        env["SUPRSEND_API_KEY"] = hub.api_key
        result = await run_cli(["track", "--distinct-id", "u1", "--event", "signed_up"], env)
    assert result.code == 0
    assert hub.events[0].workspace == hub.workspace_key


async def test_an_api_key_flag_wins_over_workspace_credentials_in_the_environment(
    tmp_path: Path,
) -> None:
    hub = HubEmulator()
    source = write_lines(tmp_path / "e.jsonl", [event(1)])
    flag = ["--api-key", hub.api_key]
    async with hub_at(hub) as (_, env):  # env names the workspace key and secret
        tracked = await run_cli(
            ["track", "--distinct-id", "u1", "--event", "signed_up", *flag], env, secret=hub.api_key
        )
        bulk = await run_cli(["bulk", "events", str(source), *flag], env, secret=hub.api_key)
    assert tracked.code == 0
    e = hub.events[0]
    assert "env" not in e.body  # sent with the API key to event/, not signed to v2/event/
    assert bulk.code == 0, bulk.stderr  # Bearer on v2/bulk/event/, as the official SDK sends it
    assert hub.stats.requests == 2
    assert hub.stats.processed_events == 2


async def test_usage_errors_exit_2_with_a_clear_message(tmp_path: Path) -> None:
    hub = HubEmulator()
    source = write_lines(tmp_path / "e.jsonl", [event(1)])
    async with hub_at(hub) as (base_url, env):
        no_creds = await run_cli(
            ["bulk", "events", str(source)], cli_env(hub, base_url, credentials=False)
        )
        missing_file = await run_cli(["bulk", "events", str(tmp_path / "nope.jsonl")], env)
        bad_event = await run_cli(["track", "--distinct-id", " ", "--event", "x_event"], env)
        bad_flag = await run_cli(["bulk", "events", str(source), "--concurrency", "0"], env)
    assert no_creds.code == 2
    assert "no credentials" in no_creds.stderr
    assert missing_file.code == 2
    assert "no such file" in missing_file.stderr
    assert bad_event.code == 2
    assert "distinct_id" in bad_event.stderr
    assert bad_flag.code == 2
    assert hub.stats.requests == 0


async def test_auto_idempotency_keys_deliver_exactly_once_through_lost_answers(
    tmp_path: Path,
) -> None:
    hub = HubEmulator(faults=Faults(drop_after_rate=0.3, seed=5))
    source = write_lines(tmp_path / "e.jsonl", [event(i) for i in range(1_000)])
    async with hub_at(hub) as (_, env):
        result = await run_cli(
            ["bulk", "events", str(source), "--auto-idempotency-keys", "--concurrency", "4"], env
        )
    assert result.code == 0
    summary = result.summary()
    assert summary["success"] == 1_000
    assert summary["retried_requests"] > 0
    assert hub.stats.processed_events == 1_000
    assert set(hub.processed_keys.values()) == {1}


async def test_demo_runs_the_main_job_and_checks_exactly_once() -> None:
    result = await run_cli(
        ["demo", "--events", "2000", "--triggers", "200", "--latency-ms", "5", "--json"],
        cli_env(HubEmulator(), "http://unused/"),
    )
    assert result.code == 0
    summary = result.summary()
    assert summary["exactly_once"] is True
    assert summary["lost"] == 0
    assert summary["events"]["success"] == 2000
    assert summary["workflow_triggers"]["success"] == 200
    assert sum(summary["emulator"]["faults"].values()) > 0


async def test_ctrl_c_stops_cleanly_and_nothing_is_lost(tmp_path: Path) -> None:
    hub = HubEmulator(faults=Faults(latency=0.2))
    first_request = anyio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            first_request.set()
        await hub(scope, receive, send)

    source = write_lines(tmp_path / "e.jsonl", [event(i) for i in range(3_000)])
    failed_out = tmp_path / "failed.jsonl"
    async with serve(app) as base_url:
        process = await anyio.open_process(
            [sys.executable, "-m", "suprsend_async", "bulk", "events", str(source),
             "--concurrency", "2", "--failed-out", str(failed_out)],
            env=cli_env(hub, base_url),
        )  # fmt: skip
        async with process:
            with anyio.fail_after(PATIENCE):  # a guard against a hang, nothing is timed
                await first_request.wait()
                process.send_signal(signal.SIGINT)
                assert process.stdout is not None
                out = b""
                async for chunk in process.stdout:
                    out += chunk
                code = await process.wait()
    assert code == 1
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["status"] == "interrupted"
    assert summary["success"] == hub.stats.processed_events
    not_sent = read_jsonl(failed_out)
    assert len(not_sent) == summary["not_sent"] > 0
    assert all(f["error"] == "not sent: the upload was interrupted" for f in not_sent)
    sent = {e.properties["i"] for e in hub.events}
    unsent = {f["record"]["properties"]["i"] for f in not_sent}
    assert sent.isdisjoint(unsent)
    assert sent | unsent == set(range(3_000))  # every line accounted for


async def test_emulator_subcommand_starts_and_stops() -> None:
    process = await anyio.open_process(
        [sys.executable, "-m", "suprsend_async", "emulator", "--json-status", "--latency-ms", "1"],
        env=cli_env(HubEmulator(), "http://unused/"),
    )
    async with process:
        assert process.stdout is not None
        line = b""
        with anyio.fail_after(PATIENCE):  # a guard against a hang, nothing is timed
            while not line.endswith(b"\n"):
                line += await process.stdout.receive()
        info = json.loads(line)
        assert info["base_url"].startswith("http://127.0.0.1:")
        process.send_signal(signal.SIGINT)
        code = None
        with anyio.move_on_after(PATIENCE):  # a hang is a failure here, not a stuck suite
            code = await process.wait()
        if code is None:
            process.kill()
        assert code == 0, "the emulator did not stop on Ctrl-C"


def test_help_lists_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "suprsend_async", "--help"],
        env=cli_env(HubEmulator(), "http://unused/"),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    for command in ("track", "trigger", "bulk", "emulator", "demo"):
        assert command in result.stdout
