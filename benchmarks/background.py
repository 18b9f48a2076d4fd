"""``python -m benchmarks.background`` (``nox -s bench -- background``): the background
sender's targets, side by side in one run, as ratios.

- accept CPU: ``await sender.track_event(event)`` without a spool, against the floor of an
  async accept (awaiting a coroutine that appends to a deque); target 10 µs per record;
- a FastAPI route (served by the emulator's own ASGI server, loaded from another process)
  that sends an event through the sender, against the same route sending nothing and
  against ``await client.track_event`` on the request path, with the hub at 50 ms; target
  at least 80 % of the requests per second of the route sending nothing;
- spool: records accepted per second by concurrent callers, and the file's size after it
  was drained; target 20,000 per second;
- throughput to the hub: the same events through ``bulk_events.send`` and through the
  sender, accepted, then drained: without a spool, accepted (which never yields, so
  nothing is sent meanwhile) and then sent; with one, accepted while the hub could not be
  reached and sent by a sender started once it is back (the file's backlog). The time of
  the sending is measured: target at least ``bulk_events.send``'s records per second.
  Beside it, end to end (accepting timed too; with a spool, by 100 concurrent callers
  while the sender sends, so the spool's commit rate bounds it) and the client's CPU per
  record, which a shared machine's load swings less than a rate.

Every measurement is a fresh process; the emulators run in their own processes; the
variants take turns, ``--reps`` times each, and medians are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from ._emulator import emulator
from ._suite import run_worker

RESULTS = Path(__file__).parent / "results"
_SECTIONS = ("accept", "spool", "throughput", "fastapi")


# -- the orchestrator -------------------------------------------------------------------------


def _run(spec: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = run_worker(spec, ("benchmarks.background", "--worker"))
    return result


def _turns(
    specs: dict[str, dict[str, Any]], base: dict[str, Any], reps: int, figure: str
) -> dict[str, float]:
    """Each variant ``reps`` times, round-robin; the median of ``figure`` for each."""
    return {name: runs[figure] for name, runs in _medians(specs, base, reps).items()}


def _medians(
    specs: dict[str, dict[str, Any]], base: dict[str, Any], reps: int
) -> dict[str, dict[str, float]]:
    """Each variant ``reps`` times, round-robin; the median of every figure for each."""
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in specs}
    for _ in range(reps):
        for name, spec in specs.items():
            samples[name].append(_run({**base, **spec}))
            print(f"    {name}: {samples[name][-1]}", flush=True)
    return {
        name: {key: statistics.median(float(r[key]) for r in runs) for key in runs[0]}
        for name, runs in samples.items()
    }


def _credentials(emu: dict[str, Any]) -> dict[str, Any]:
    return {
        "base_url": emu["base_url"],
        "key": emu["workspace_key"],
        "secret": emu["workspace_secret"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.background", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 repetition")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--only",
        choices=_SECTIONS,
        action="append",
        help="run this section alone (repeatable); the results files are then not written",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))), flush=True)
        return 0
    if args.load:
        print(json.dumps(_load(json.loads(args.load))), flush=True)
        return 0
    reps = 1 if args.quick else args.reps
    web_reps = 1 if args.quick else args.reps + 2  # the noisiest figure on a shared machine
    accepts, records, requests = (20_000, 5_000, 600) if args.quick else (200_000, 20_000, 3_000)
    results: dict[str, Any] = {
        "command": "nox -s bench -- background" + (" --quick" if args.quick else ""),
        "repetitions": reps,
        "load_average_at_start": os.getloadavg(),
    }
    sections = set(args.only or _SECTIONS)
    with emulator(0.0) as fast, emulator(50.0) as slow:
        if "accept" in sections:
            print(f"accept CPU, {accepts:,} events, no spool", flush=True)
            cpu = _turns(
                {"sender": {"variant": "sender"}, "floor": {"variant": "floor"}},
                {"run": "accept_cpu", "records": accepts, **_credentials(fast)},
                reps,
                "cpu_us_per_record",
            )
            results["accept_cpu_us_per_record"] = cpu

        if "spool" in sections:
            print(f"spool: {records:,} events accepted by concurrent callers", flush=True)
            spool: dict[str, dict[str, float]] = {}
            for callers in (100, 1_000):
                base = {"run": "spool_accept", "records": records, "callers": callers}
                variants = {
                    f"{callers} callers, fsync": {"fsync": True},
                    f"{callers} callers, no fsync": {"fsync": False},
                }
                spool.update(_medians(variants, {**base, **_credentials(fast)}, reps))
            results["spool_records_per_s"] = spool
            sizes = _run({"run": "spool_size", "records": records, **_credentials(fast)})
            results["spool_bytes"] = sizes

        if "throughput" in sections:
            print(f"throughput to the hub, {records:,} events", flush=True)
            through = _medians(
                {
                    "bulk_events.send": {"variant": "bulk"},
                    "sender": {"variant": "memory"},
                    "sender with spool": {"variant": "spool"},
                    "sender, end to end": {"variant": "memory", "end_to_end": True},
                    "sender with spool, end to end": {"variant": "spool", "end_to_end": True},
                },
                {"run": "throughput", "records": records, **_credentials(fast)},
                reps,
            )
            results["throughput_records_per_s"] = {
                name: figures["records_per_s"] for name, figures in through.items()
            }
            results["throughput_cpu_us_per_record"] = {
                name: figures["cpu_us_per_record"] for name, figures in through.items()
            }

        if "fastapi" in sections:
            print(f"FastAPI route, {requests:,} requests, 50 concurrent, hub at 50 ms", flush=True)
            results["fastapi"] = _medians(
                {
                    "no event": {"variant": "none"},
                    "sender": {"variant": "sender"},
                    "await client.track_event": {"variant": "direct"},
                },
                {"run": "fastapi", "requests": requests, "concurrency": 50, **_credentials(slow)},
                web_reps,
            )
    if args.only:
        # A partial run: its figures printed, the full run's files left as they are.
        print(json.dumps(results, indent=2))
        rates: dict[str, float] = results.get("throughput_records_per_s", {})
        for name, rate in rates.items():
            bulk = rates["bulk_events.send"]
            print(f"{name}: {rate / bulk:.2f}x bulk_events.send ({bulk:,.0f}/s)")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "background.json").write_text(json.dumps(results, indent=2) + "\n")
    report = _report(results)
    (args.out / "background.md").write_text(report)
    print(report)
    return 0


def _report(r: dict[str, Any]) -> str:
    cpu = r["accept_cpu_us_per_record"]
    spool = r["spool_records_per_s"]
    through = r["throughput_records_per_s"]
    web = {name: figures["requests_per_s"] for name, figures in r["fastapi"].items()}
    web_cpu = {name: figures["cpu_us_per_request"] for name, figures in r["fastapi"].items()}
    bulk = through["bulk_events.send"]

    def verdict(ok: bool) -> str:
        return "pass" if ok else "miss"

    lines = [
        "# Background sender",
        "",
        f"`{r['command']}`; medians of {r['repetitions']} runs each, taking turns; load average"
        f" at start {', '.join(f'{x:.1f}' for x in r['load_average_at_start'])}.",
        "",
        "| figure | value | against | ratio | target |",
        "|---|---|---|---|---|",
        f"| accept CPU, no spool | {cpu['sender']:.2f} µs/record | floor (encoding the record)"
        f" {cpu['floor']:.2f} µs | {cpu['sender'] / cpu['floor']:.1f}x |"
        f" ≤ 10 µs: {verdict(cpu['sender'] <= 10)} |",
    ]
    for name, figures in spool.items():
        rate, cpu_each = figures["records_per_s"], figures["cpu_us_per_record"]
        lines.append(
            f"| spool accepts, {name} | {rate:,.0f} records/s ({cpu_each:.1f} µs CPU each,"
            f" uploads included: {1e6 / cpu_each:,.0f}/s per CPU-second) | | |"
            f" ≥ 20,000/s: {verdict(rate >= 20_000)} |"
        )
    sizes = r["spool_bytes"]
    drained = ", ".join(f"{b / 1e6:.1f}" for b in sizes["drained_bytes"])
    lines.append(
        f"| spool file, 5 rounds of {sizes['records']:,} records | at most"
        f" {sizes['accepted_bytes'] / 1e6:.1f} MB full; {drained} MB after each drain"
        " | | | bounded |"
    )
    through_cpu = r["throughput_cpu_us_per_record"]
    for name in ("sender", "sender with spool"):
        lines.append(
            f"| throughput to the hub, {name} (accepted, then drained) |"
            f" {through[name]:,.0f} records/s ({through_cpu[name]:.1f} µs CPU each) |"
            f" bulk_events.send {bulk:,.0f}/s ({through_cpu['bulk_events.send']:.1f} µs) |"
            f" {through[name] / bulk:.2f}x | ≥ 1x: {verdict(through[name] >= bulk)} |"
        )
    for name in ("sender, end to end", "sender with spool, end to end"):
        lines.append(
            f"| throughput, {name} (accepting timed too) | {through[name]:,.0f} records/s"
            f" ({through_cpu[name]:.1f} µs CPU each) | bulk_events.send {bulk:,.0f}/s |"
            f" {through[name] / bulk:.2f}x | |"
        )
    for name in ("sender", "await client.track_event"):
        ratio = web[name] / web["no event"]
        target = f" ≥ 0.8x: {verdict(ratio >= 0.8)} |" if name == "sender" else " |"
        lines.append(
            f"| FastAPI route, {name} | {web[name]:,.0f} requests/s | no event"
            f" {web['no event']:,.0f}/s | {ratio:.2f}x |{target}"
        )
    capacity = web_cpu["no event"] / web_cpu["sender"]
    lines.append(
        f"| FastAPI route's CPU per request, sender | {web_cpu['sender']:,.0f} µs | no event"
        f" {web_cpu['no event']:,.0f} µs | {capacity:.2f}x the requests per CPU-second |"
        f" ≥ 0.8x: {verdict(capacity >= 0.8)} |"
    )
    return "\n".join(lines) + "\n"


# -- the measured processes --------------------------------------------------------------------


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    import anyio

    runs = {
        "accept_cpu": _accept_cpu,
        "spool_accept": _spool_accept,
        "spool_size": _spool_size,
        "throughput": _throughput,
        "fastapi": _fastapi,
    }
    result: dict[str, Any] = anyio.run(runs[spec["run"]], spec)
    return result


def _client(spec: dict[str, Any], **options: Any) -> Any:
    from suprsend_async import AsyncSuprsend

    return AsyncSuprsend(spec["key"], spec["secret"], base_url=spec["base_url"], **options)


def _events(n: int, *, keyed: bool = False) -> list[Any]:
    from suprsend_async import Event

    run = uuid.uuid4().hex  # keys unique to this run: the emulator would drop repeats
    return [
        Event(
            f"user-{i}",
            "order_placed",
            {"order_id": i, "total": 42.5},
            idempotency_key=f"{run}-{i}" if keyed else None,
        )
        for i in range(n)
    ]


async def _accept_cpu(spec: dict[str, Any]) -> dict[str, Any]:
    """CPU of accepting, in rounds of 500 records each sent before the next (untimed),
    so the queue stays the size it has in an application, not every record at once."""
    n, chunk = spec["records"], 500
    events = _events(n)
    cpu = 0.0
    async with _client(spec) as client:
        if spec["variant"] == "floor":
            # What any accept must do: encode the record; and the await of a coroutine.
            encode = client._serializer.event_bytes

            async def accept(event: Any) -> None:
                encode(event, idempotency_key="k")

        async with client.background(max_queue=n + 1, exit_timeout=0) as sender:
            if spec["variant"] != "floor":
                accept = sender.track_event
            for first in range(0, n, chunk):
                # Accepting never waits: the uploader does not run inside the timing.
                started = time.process_time()
                for event in events[first : first + chunk]:
                    await accept(event)
                cpu += time.process_time() - started
                await sender.drain()  # untimed: the queue stays small, as in an application
    return {"cpu_us_per_record": cpu / n * 1e6}


async def _accept_concurrently(sender: Any, events: list[Any], callers: int) -> float:
    import anyio

    async def accept(first: int) -> None:
        for i in range(first, len(events), callers):
            await sender.track_event(events[i])

    started = time.perf_counter()
    async with anyio.create_task_group() as tasks:
        for first in range(callers):
            tasks.start_soon(accept, first)
    return time.perf_counter() - started


async def _spool_accept(spec: dict[str, Any]) -> dict[str, Any]:
    n = spec["records"]
    events = _events(n)
    with tempfile.TemporaryDirectory() as directory:
        spool = Path(directory) / "outbox.sqlite3"
        async with (
            _client(spec) as client,
            client.background(spool=spool, fsync=spec["fsync"]) as sender,
        ):
            cpu = time.process_time()
            wall = await _accept_concurrently(sender, events, spec["callers"])
            cpu = time.process_time() - cpu  # the uploader's included: it runs meanwhile
            await sender.drain()
    return {"records_per_s": n / wall, "cpu_us_per_record": cpu / n * 1e6}


async def _spool_size(spec: dict[str, Any]) -> dict[str, Any]:
    """The file's size after each of five rounds of ``records`` accepted and drained: sent
    records are deleted and their pages given back, the WAL is capped."""
    n = spec["records"]
    sizes = []
    with tempfile.TemporaryDirectory() as directory:
        async with (
            _client(spec) as client,
            client.background(spool=Path(directory) / "outbox.sqlite3") as sender,
        ):
            for _ in range(5):
                await _accept_concurrently(sender, _events(n), 100)
                accepted = sender.stats().spool_bytes
                await sender.drain()
                sizes.append((accepted, sender.stats().spool_bytes))
    return {
        "records": n,
        "accepted_bytes": max(a for a, _ in sizes),
        "drained_bytes": [d for _, d in sizes],
    }


async def _throughput(spec: dict[str, Any]) -> dict[str, Any]:
    # The same records for all: keyed, as the sender sends every record (a keyed record
    # costs the hub a deduplication lookup that a keyless one does not).
    n = spec["records"]
    variant, end_to_end = spec["variant"], spec.get("end_to_end", False)
    with tempfile.TemporaryDirectory() as directory:
        spool = Path(directory) / "outbox.sqlite3"
        if variant == "spool" and not end_to_end:
            # (The events are made there and gone after, as in a process that starts
            # on a spool's backlog: the collector has not got them to walk through.)
            await _spool_backlog(spec, spool, n)
        else:
            events = _events(n, keyed=True)
        async with _client(spec) as client:
            started, cpu = time.perf_counter(), time.process_time()
            if variant == "bulk":
                response = await client.bulk_events.send(events)
                assert response.success == n, response
            elif variant == "memory":
                async with client.background(max_queue=n + 1) as sender:
                    for event in events:
                        await sender.track_event(event)
                    if not end_to_end:  # accepted: the sending starts now
                        started, cpu = time.perf_counter(), time.process_time()
                    assert await sender.drain()
                    assert sender.stats().sent == n
            else:
                async with client.background(spool=spool) as sender:
                    if end_to_end:
                        await _accept_concurrently(sender, events, 100)
                    else:  # open (its uploader not yet started): the sending starts now
                        started, cpu = time.perf_counter(), time.process_time()
                    assert await sender.drain()
                    assert sender.stats().sent == n
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"records_per_s": n / wall, "cpu_us_per_record": cpu / n * 1e6}


async def _spool_backlog(spec: dict[str, Any], spool: Path, n: int) -> None:
    """``n`` events accepted into ``spool`` by a sender whose hub could not be reached (it
    stops at once, leaving every one of them pending in the file)."""
    import anyio

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()  # nothing listens there: connections are refused
    async with (
        _client({**spec, "base_url": f"http://127.0.0.1:{port}/"}) as offline,
        offline.background(spool=spool, exit_timeout=0) as sender,
    ):
        await _accept_concurrently(sender, _events(n, keyed=True), 100)


async def _fastapi(spec: dict[str, Any]) -> dict[str, Any]:
    from fastapi import FastAPI

    from suprsend_async import Event
    from suprsend_async.testing import serve

    variant = spec["variant"]
    async with (
        _client(spec, max_connections=200) as client,
        client.background(max_queue=100_000) as sender,
    ):
        app = FastAPI()

        @app.post("/orders/{order_id}/paid")
        async def paid(order_id: str) -> dict[str, bool]:
            event = Event(f"user-{order_id}", "order_paid", {"order_id": order_id})
            if variant == "sender":
                await sender.track_event(event)
            elif variant == "direct":
                await client.track_event(event)
            return {"ok": True}

        async with serve(app) as url:
            load = {"url": url, "requests": spec["requests"], "concurrency": spec["concurrency"]}
            cpu = time.process_time()
            done = await _run_load(load)
            # This process's CPU per request (the sender's uploads included): what
            # the route costs, whatever share of the machine the process got.
            cpu = time.process_time() - cpu
        await sender.drain(timeout=60)
    return {**done, "cpu_us_per_request": cpu / spec["requests"] * 1e6}


async def _run_load(load: dict[str, Any]) -> dict[str, Any]:
    import anyio

    done = await anyio.run_process(
        [sys.executable, "-m", "benchmarks.background", "--load", json.dumps(load)], check=True
    )
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


def _load(load: dict[str, Any]) -> dict[str, Any]:
    """The load generator, in its own process: ``requests`` POSTs, ``concurrency`` at a time."""
    import asyncio

    import aiohttp

    async def main() -> float:
        counter = iter(range(load["requests"]))
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=load["concurrency"])
        ) as session:

            async def worker() -> None:
                for i in counter:
                    async with session.post(f"{load['url']}orders/{i}/paid") as answer:
                        assert answer.status == 200, answer.status
                        await answer.read()

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(load["concurrency"])))
            return time.perf_counter() - started

    wall = asyncio.run(main())
    return {"requests_per_s": load["requests"] / wall}


if __name__ == "__main__":
    sys.exit(main())
