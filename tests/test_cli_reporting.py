"""What the command line tool tells a person: its version, which lines failed and why, and
whether an answer came at all. Run as a subprocess against the emulator on a real socket."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from suprsend_async import __version__
from suprsend_async.testing import HubEmulator, serve
from tests.test_cli_subprocess import cli_env, event, hub_at, run_cli, write_lines

pytestmark = pytest.mark.anyio


def test_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "suprsend_async", "--version"],
        env=cli_env(HubEmulator(), "http://unused/"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == f"suprsend-async {__version__}"


@pytest.mark.parametrize("failed_out", [False, True])
async def test_failed_lines_are_listed_on_stderr_with_their_reason(
    tmp_path: Path, failed_out: bool
) -> None:
    hub = HubEmulator()
    lines = [event(i) for i in range(1, 21)]
    for bad in (2, 5, 6, 9, 12, 15, 18):  # line numbers
        lines[bad - 1] = event(bad, event="$reserved")
    source = write_lines(tmp_path / "events.jsonl", [*lines[:10], "{oops", *lines[10:]])
    out = tmp_path / "failed.jsonl"
    args = ["bulk", "events", str(source), *(["--failed-out", str(out)] if failed_out else [])]
    async with hub_at(hub) as (_, env):
        result = await run_cli(args, env)
    assert result.code == 1
    assert result.summary()["failure"] == 8
    report = result.stderr.splitlines()
    reserved = "event_name: names starting with '$' or 'ss_' are reserved by SuprSend"
    assert report[:4] == [f"line {n}: {reserved}" for n in (2, 5, 6, 9)]
    assert report[4].startswith("line 11: invalid JSON:")
    assert report[5] == "... and 3 more failed lines"
    if failed_out:
        assert report[6] == f"The failed 8 lines were written to {out}, to fix and send again."
    else:
        # Without --failed-out the failed lines are saved all the same, where it says.
        [saved] = [p async for p in anyio.Path(tmp_path).glob("events.failed-*.jsonl")]
        assert report[6] == (
            f"The failed 8 lines were written to {saved}, to fix and send again;"
            " --failed-out PATH chooses the file."
        )
        assert len((await saved.read_text()).splitlines()) == 8
    assert len(report) == 7


async def test_a_dry_run_lists_the_invalid_lines_too(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "e.jsonl", [event(1), event(2, distinct_id=" "), event(3)])
    async with hub_at(HubEmulator()) as (_, env):
        result = await run_cli(["bulk", "events", str(source), "--dry-run"], env)
    assert result.code == 1
    assert result.stderr.splitlines()[0].startswith("line 2: distinct_id:")


async def test_a_dry_run_reports_failed_lines_in_line_order(tmp_path: Path) -> None:
    # A line of invalid JSON among invalid records: the first few shown are the first
    # few lines, as in a real run, and the failed output is in line order too.
    lines = [event(1), "{oops", *(event(n, event="$reserved") for n in range(3, 9))]
    source = write_lines(tmp_path / "e.jsonl", lines)
    out = tmp_path / "failed.jsonl"
    args = ["bulk", "events", str(source), "--dry-run", "--failed-out", str(out)]
    async with hub_at(HubEmulator()) as (_, env):
        result = await run_cli(args, env)
    assert result.code == 1
    report = result.stderr.splitlines()
    assert report[0].startswith("line 2: invalid JSON:")
    assert [line.split(":")[0] for line in report[1:5]] == ["line 3", "line 4", "line 5", "line 6"]
    assert report[5] == "... and 2 more failed lines"
    written = [json.loads(line)["line"] for line in out.read_text().splitlines()]
    assert written == [2, 3, 4, 5, 6, 7, 8]


async def test_a_single_call_prints_the_message_id_and_an_unanswered_one_says_so() -> None:
    hub = HubEmulator()
    async with hub_at(hub) as (_, env):
        sent = await run_cli(["track", "--distinct-id", "u1", "--event", "signed_up"], env)
    async with serve(HubEmulator()) as closed_url:
        pass  # nothing listens there any more
    unanswered = await run_cli(
        ["track", "--distinct-id", "u1", "--event", "signed_up"], cli_env(hub, closed_url)
    )
    answer = json.loads(sent.stdout)
    assert sent.code == 0
    assert answer["message_id"] == hub.events[0].message_id
    assert answer["status_code"] == 202
    assert unanswered.code == 1
    no_answer = json.loads(unanswered.stdout)
    assert no_answer["status_code"] is None  # not the official SDK's made-up 500
    assert no_answer["error_type"] == "transport"
    # Nothing listens: the request was never sent, and the host tried is named.
    assert unanswered.stderr.startswith(
        f"suprsend-async: POST /v2/event/ not sent: could not connect to {closed_url.rstrip('/')}:"
    )
    assert unanswered.stderr.rstrip().endswith("(safe to send again)")


async def test_a_line_nested_too_deep_for_json_is_a_bad_line_not_a_crash(tmp_path: Path) -> None:
    deep = '{"event": "x", "distinct_id": "u", "properties": ' + "[" * 100_000 + "]" * 100_000 + "}"
    source = write_lines(tmp_path / "e.jsonl", [event(1), deep, event(3)])
    async with hub_at(HubEmulator()) as (_, env):
        result = await run_cli(["bulk", "events", str(source), "--dry-run"], env)
    assert result.code == 1
    assert result.stderr.splitlines()[0].startswith("line 2: invalid JSON:")
    assert "Traceback" not in result.stderr


async def test_an_output_file_that_cannot_be_written_is_a_usage_error(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "e.jsonl", [event(1)])
    unwritable = tmp_path / "no-such-dir" / "failed.jsonl"
    args = ["bulk", "events", str(source), "--dry-run", "--failed-out", str(unwritable)]
    async with hub_at(HubEmulator()) as (_, env):
        result = await run_cli(args, env)
    assert result.code == 2
    assert "Traceback" not in result.stderr
    assert str(unwritable) in result.stderr


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the CLI runs in its own process
async def test_against_a_dead_hub_every_line_ends_not_sent_and_safe_to_resend(
    tmp_path: Path,
) -> None:
    """Nothing listens at the port: the upload stops once the hub is found unreachable
    (rather than each chunk retrying to its 60 s deadline), and every line is written
    to --failed-out as not sent, none to the unknown-outcome file."""
    async with serve(HubEmulator()) as closed_url:
        pass  # nothing listens there any more
    lines = [event(i) for i in range(2_000)]
    source = write_lines(tmp_path / "events.jsonl", lines)
    out = tmp_path / "failed.jsonl"
    with anyio.fail_after(120):  # only a guard against a hang, not a timing assertion
        result = await run_cli(
            ["bulk", "events", str(source), "--failed-out", str(out), "--json"],
            cli_env(HubEmulator(), closed_url),
        )
    assert result.code == 1
    summary = result.summary()
    assert (summary["total"], summary["success"], summary["failure"]) == (2_000, 0, 2_000)
    assert (summary["status"], summary["unknown"]) == ("fail", 0)
    failed = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(failed) == 2_000
    assert all("not sent" in f["error"] for f in failed)
    assert not (tmp_path / "failed.unknown.jsonl").exists()
    # Far fewer requests than 20 chunks each retried to the deadline; the host is
    # named on screen, never a path or an id.
    assert summary["retried_requests"] < 20 * 20
    host = closed_url.rstrip("/")
    assert f"{host} could not be reached" in result.stderr
    assert "u1" not in result.stderr


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the CLI runs in its own process
async def test_the_status_follows_the_counts_and_the_dry_run_counts_and_sizes_alike(
    tmp_path: Path,
) -> None:
    source = write_lines(tmp_path / "e.jsonl", [event(1), "{oops", event(3)])
    async with hub_at(HubEmulator()) as (_, env):
        real = await run_cli(["bulk", "events", str(source), "--json"], env)
        dry = await run_cli(["bulk", "events", str(source), "--dry-run"], env)
        keyless = await run_cli(
            ["bulk", "events", str(source), "--dry-run", "--no-auto-idempotency-keys"], env
        )
    # Every record was sent, but a line was bad: not "success".
    summary = real.summary()
    assert (summary["status"], summary["success"], summary["failure"]) == ("partial", 2, 1)
    assert real.code == 1
    planned = json.loads(dry.stdout)
    assert (planned["total"], planned["valid"], planned["invalid_lines"]) == (3, 2, 1)
    assert dry.code == 1
    # The dry run sizes chunks with the key each record will be given.
    key_bytes = len(',"$idempotency_key":""') + 36
    assert planned["body_bytes"] - json.loads(keyless.stdout)["body_bytes"] == 2 * key_bytes
