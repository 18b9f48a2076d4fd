"""``python -m benchmarks.outbox`` (``nox -s bench -- outbox``): the PostgreSQL outbox.

- What enqueueing costs inside the caller's transaction, per record, beside the
  floor: a bare ``INSERT`` of the same payload bytes into a table of its own.
- Records per second from enqueue to the hub with 1, 2 and 4 worker processes
  (``suprsend-async outbox-worker --exit-when-empty``), against the emulator in
  a process of its own.

A PostgreSQL 16 from pgserver, started here, with its default durability
(every commit flushed): the enqueue figures are what an application pays.
Writes benchmarks/results/outbox.md and outbox.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import anyio

from suprsend_async import Event
from suprsend_async._values.json_codec import dumps
from suprsend_async._wire.serialization import event_json
from suprsend_async.outbox import PostgresOutbox

from ._emulator import cpu_seconds, emulator, stats

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset
    from pgserver.postgres_server import get_server

RESULTS = Path(__file__).parent / "results"


def events(n: int, start: int = 0) -> list[Event]:
    return [
        Event(f"user-{i}", "order_placed", {"order": i, "total": 42.5, "items": ["a", "b"]})
        for i in range(start, start + n)
    ]


async def enqueue_costs(dsn: str, n: int) -> dict[str, float]:
    """µs per record: the outbox call alone inside an open transaction, the floor's
    INSERT alone, one record per committed transaction (commit included), and 100 per
    ``enqueue`` call."""
    results: dict[str, float] = {}
    async with PostgresOutbox(dsn) as outbox:
        await outbox.install()
        pool = await outbox.pool()
        async with pool.acquire() as conn:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS floor_outbox (id bigserial PRIMARY KEY, payload bytea)"
            )
            batch = events(n)
            payloads = [dumps(event_json(e)) for e in batch]

            async with conn.transaction():
                started = time.perf_counter()
                for payload in payloads:
                    await conn.execute("INSERT INTO floor_outbox (payload) VALUES ($1)", payload)
                results["floor: bare INSERT, in a transaction"] = _us(started, n)
            async with conn.transaction():
                started = time.perf_counter()
                for event in batch:
                    await outbox.track_event(conn, event)
                results["outbox.track_event, in a transaction"] = _us(started, n)
            await conn.execute("TRUNCATE floor_outbox")
            await _clear(conn)

            started = time.perf_counter()
            for payload in payloads:
                async with conn.transaction():
                    await conn.execute("INSERT INTO floor_outbox (payload) VALUES ($1)", payload)
            results["floor: bare INSERT + its own commit"] = _us(started, n)
            started = time.perf_counter()
            for event in batch:
                async with conn.transaction():
                    await outbox.track_event(conn, event)
            results["outbox.track_event + its own commit"] = _us(started, n)
            await _clear(conn)

            started = time.perf_counter()
            async with conn.transaction():
                for i in range(0, n, 100):
                    await outbox.enqueue(conn, batch[i : i + 100])
            results["outbox.enqueue of 100, in a transaction"] = _us(started, n)
            await _clear(conn)
    return results


async def _clear(conn: Any) -> None:
    await conn.execute("DELETE FROM pgqueuer")


def _us(started: float, n: int) -> float:
    return (time.perf_counter() - started) / n * 1e6


async def fill(dsn: str, n: int) -> None:
    """Enqueue ``n`` events in committed transactions of 100."""
    async with PostgresOutbox(dsn) as outbox:
        pool = await outbox.pool()
        async with pool.acquire() as conn:
            for i in range(0, n, 100):
                async with conn.transaction():
                    await outbox.enqueue(conn, events(100, i))


def end_to_end(
    dsn: str, workers: int, n: int, info: dict[str, Any], logs: Path
) -> tuple[float, float, float]:
    """Seconds from the first enqueue until the hub has processed all ``n`` records, with
    ``workers`` worker processes already started and listening; and the CPU µs per
    record the workers, and the emulator, spent meanwhile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPRSEND_")}
    env.update(
        SUPRSEND_WORKSPACE_KEY=info["workspace_key"],
        SUPRSEND_WORKSPACE_SECRET=info["workspace_secret"],
        SUPRSEND_BASE_URL=info["base_url"],
        SUPRSEND_LOG="info",  # the "listening" line says a worker is ready
    )
    command = [sys.executable, "-m", "suprsend_async", "outbox-worker", "--dsn", dsn]
    processes, files = [], []
    for w in range(workers):
        log = logs / f"worker-{w}.log"
        files.append(log)
        with log.open("w") as out:
            processes.append(
                subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=out)
            )
    try:
        while not all("listening" in f.read_text() for f in files):
            if any(p.poll() is not None for p in processes):
                raise SystemExit(f"a worker exited at start; see {logs}")
            time.sleep(0.05)
        before = stats(info)["processed_events"]
        cpu_before = [cpu_seconds(p.pid) for p in processes]
        hub_before = cpu_seconds(info["pid"])
        started = time.perf_counter()
        anyio.run(fill, dsn, n)
        while stats(info)["processed_events"] - before < n:
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        worker_cpu = sum(cpu_seconds(p.pid) for p in processes) - sum(cpu_before)
        hub_cpu = cpu_seconds(info["pid"]) - hub_before
        if stats(info)["processed_events"] - before != n:
            raise SystemExit("the hub processed more records than were enqueued")
    finally:
        for p in processes:
            p.terminate()
        codes = [p.wait(timeout=120) for p in processes]
    if any(codes):
        raise SystemExit(f"a worker failed: exit codes {codes}; see {logs}")
    return elapsed, worker_cpu / n * 1e6, hub_cpu / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.outbox")
    parser.add_argument("--records", type=int, default=20_000, help="records per run")
    parser.add_argument("--enqueue-records", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3, help="runs per worker count")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="emulated hub latency")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="suprsend-bench-postgres-"))
    server = get_server(root / "data", cleanup_mode="delete")
    try:
        dsn = server.get_uri()
        costs = anyio.run(enqueue_costs, dsn, args.enqueue_records)
        throughput: dict[int, dict[str, float]] = {}
        with emulator(args.latency_ms) as info:
            for workers in (1, 2, 4):
                runs = [
                    end_to_end(dsn, workers, args.records, info, root) for _ in range(args.runs)
                ]
                seconds = statistics.median(r[0] for r in runs)
                throughput[workers] = {
                    "records_per_s": args.records / seconds,
                    "seconds": seconds,
                    "worker_cpu_us_per_record": statistics.median(r[1] for r in runs),
                    "emulator_cpu_us_per_record": statistics.median(r[2] for r in runs),
                }
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)
    report(args, costs, throughput)
    return 0


def report(
    args: argparse.Namespace, costs: dict[str, float], throughput: dict[int, dict[str, float]]
) -> None:
    floor_tx = costs["floor: bare INSERT, in a transaction"]
    floor_commit = costs["floor: bare INSERT + its own commit"]
    lines = [
        "# The PostgreSQL outbox",
        "",
        f"`nox -s bench -- outbox`: PostgreSQL 16 (pgserver, default durability), "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; the emulator in its own "
        f"process, {args.latency_ms:g} ms latency.",
        "",
        f"Enqueue cost per record ({args.enqueue_records:,} records):",
        "",
        "| what | µs per record | vs the floor |",
        "|---|---|---|",
    ]
    for name, us in costs.items():
        floor = floor_commit if "commit" in name else floor_tx
        lines.append(f"| {name} | {us:.0f} | {us / floor:.2f}x |")
    lines += [
        "",
        f"From enqueue to the hub, {args.records:,} events (median of {args.runs} runs): "
        "the clock starts at the first enqueue (committed transactions of 100, one "
        "connection) and stops when the hub has processed the last record; the workers "
        "were started before and are listening.",
        "",
        "| workers | records/s | seconds | workers' CPU µs per record | emulator's |",
        "|---|---|---|---|---|",
    ]
    for workers, row in throughput.items():
        lines.append(
            f"| {workers} | {row['records_per_s']:,.0f} | {row['seconds']:.2f} "
            f"| {row['worker_cpu_us_per_record']:.0f} | {row['emulator_cpu_us_per_record']:.0f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "outbox.md").write_text(text)
    (RESULTS / "outbox.json").write_text(
        json.dumps({"enqueue_us": costs, "throughput": throughput, "args": vars(args)}, indent=2)
    )


if __name__ == "__main__":
    sys.exit(main())
