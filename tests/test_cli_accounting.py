"""The command line's accounting: every input line ends as sent, failed (safe to send
again), unknown (keyless, may have been processed: never re-sent) or unread, whatever
happens, a second Ctrl-C included."""

from __future__ import annotations

import json
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

from suprsend_async.testing import Fault, HubEmulator, serve
from tests._doubles import PATIENCE
from tests.test_cli_subprocess import cli_env, event, read_jsonl, run_cli, write_lines

pytestmark = pytest.mark.anyio


def processed(hub: HubEmulator) -> Counter[int]:
    """How many times the hub processed each input record (by its ``i``)."""
    return Counter(int(e.properties["i"]) for e in hub.events)


async def test_a_replay_never_sends_a_keyless_record_twice(tmp_path: Path) -> None:
    hub = HubEmulator()
    # One request at a time, so each scripted fault hits one known chunk of 100 lines.
    hub.script(Fault.drop_after())  # lines 1-100: processed, then the answer was lost
    hub.script(Fault.error(503))  # lines 101-200: refused, nothing processed
    hub.script(Fault.drop_before())  # lines 201-300: lost before processing (unknowable)
    source = write_lines(tmp_path / "e.jsonl", [event(i) for i in range(500)])
    failed_out, unknown_out = tmp_path / "failed.jsonl", tmp_path / "failed.unknown.jsonl"
    async with serve(hub) as base_url:
        env = cli_env(hub, base_url)
        first = await run_cli(
            [
                "bulk",
                "events",
                str(source),
                "--concurrency",
                "1",
                "--failed-out",
                str(failed_out),
                "--no-auto-idempotency-keys",
            ],
            env,
        )
        assert first.code == 1
        summary = first.summary()
        assert (summary["success"], summary["failure"], summary["unknown"]) == (200, 300, 200)
        assert summary["unknown_out"] == str(unknown_out)
        assert "may have been processed" in first.stderr
        failed, unknown = read_jsonl(failed_out), read_jsonl(unknown_out)
        assert [f["line"] for f in failed] == list(range(101, 201))  # only the refused ones
        assert [u["line"] for u in unknown] == list(range(1, 101)) + list(range(201, 301))
        assert all(u["outcome"] == "unknown" for u in unknown)

        # The README's replay: send --failed-out again. Then a careless one: the
        # unknown file too, even pasted into one file with the failed records.
        replay = await run_cli(
            ["bulk", "events", str(failed_out), "--failed-out", str(tmp_path / "again.jsonl")],
            env,
        )
        pasted = write_lines(tmp_path / "pasted.jsonl", [*unknown, event(500)])
        careless = await run_cli(
            ["bulk", "events", str(pasted), "--unknown-out", str(tmp_path / "held.jsonl")], env
        )
    assert replay.code == 0
    assert replay.summary()["success"] == 100
    assert careless.code == 1
    assert (careless.summary()["success"], careless.summary()["unknown"]) == (1, 200)
    assert len(read_jsonl(tmp_path / "held.jsonl")) == 200
    counts = processed(hub)
    assert max(counts.values()) == 1  # nothing processed twice
    # Lines 201-300 never reached the hub: they are listed as unknown, not lost.
    assert set(counts) == set(range(501)) - set(range(200, 300))


def sigint_app(hub: HubEmulator, in_flight: int) -> tuple[Any, anyio.Event]:
    """The hub, holding every request forever; the event is set when ``in_flight`` wait."""
    waiting = anyio.Event()
    count = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal count
        if scope["type"] != "http":
            return
        count += 1
        if count == in_flight:
            waiting.set()
        await anyio.sleep_forever()

    return app, waiting


@pytest.mark.parametrize("keys", [False, True], ids=["keyless", "keyed"])
async def test_a_second_ctrl_c_still_accounts_for_every_line(tmp_path: Path, keys: bool) -> None:
    hub = HubEmulator()
    lines = [event(i, **({"$idempotency_key": f"k{i}"} if keys else {})) for i in range(3_000)]
    source = write_lines(tmp_path / "e.jsonl", lines)
    failed_out, unknown_out = tmp_path / "failed.jsonl", tmp_path / "failed.unknown.jsonl"
    app, two_waiting = sigint_app(hub, 2)
    async with serve(app) as base_url:
        process = await anyio.open_process(
            [sys.executable, "-m", "suprsend_async", "bulk", "events", str(source),
             "--concurrency", "2", "--failed-out", str(failed_out),
             "--no-auto-idempotency-keys"],
            env=cli_env(hub, base_url),
        )  # fmt: skip
        async with process:
            assert process.stdout is not None
            assert process.stderr is not None
            with anyio.fail_after(PATIENCE):  # guards against a hang, nothing is timed
                await two_waiting.wait()
                process.send_signal(signal.SIGINT)
                err = b""
                while b"interrupted" not in err:  # seen: the second is a second signal
                    err += await process.stderr.receive()
                process.send_signal(signal.SIGINT)
                out = b"".join([chunk async for chunk in process.stdout])
                err += b"".join([chunk async for chunk in process.stderr])
                code = await process.wait()
    assert code == 1, err.decode()
    assert b"Traceback" not in err
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["aborted"] is True
    assert summary["success"] == 0  # the hub never answered
    failed = read_jsonl(failed_out)
    unknown = read_jsonl(unknown_out) if unknown_out.exists() else []
    # The two requests in flight: keyless ones may have been processed, keyed ones are
    # safe to send again.
    in_flight = set(range(1, 201))
    unknown_lines = {u["line"] for u in unknown}
    assert unknown_lines == (set() if keys else in_flight)
    assert summary["unknown"] == len(unknown_lines)
    failed_lines = [f["line"] for f in failed]
    assert len(failed_lines) == len(set(failed_lines))
    # Every line once: in flight, read but not sent, or never read.
    assert set(failed_lines) | unknown_lines == set(range(1, 3_001))
    assert not set(failed_lines) & unknown_lines
    assert summary["success"] + summary["failure"] + summary["not_sent"] == 3_000
    unread = [f for f in failed if f["error"] == "not sent: the upload was interrupted"]
    assert len(unread) == summary["not_sent"] > 0


async def test_a_credential_with_a_newline_is_refused_and_never_printed() -> None:
    hub = HubEmulator()
    async with serve(hub) as base_url:
        env = cli_env(hub, base_url, credentials=False)
        env["SUPRSEND_API_KEY"] = "live-key\nSECRET-PART"
        result = await run_cli(
            ["track", "--distinct-id", "u1", "--event", "order_paid", "--json"],
            env,
            secret="SECRET-PART",
        )
    assert result.code == 2
    assert "invalid api_key" in result.stderr
    assert "live-key" not in result.stdout + result.stderr
    assert hub.stats.requests == 0
