"""``python -m benchmarks.lists`` (``nox -s bench -- lists``): list membership throughput.

A 100,000-member replacement of a subscriber list (start a sync, add every id
to the draft, finish it), against the emulator in its own process, at 0 and
50 ms of emulated latency, side by side in one run:

- ``sdk``: the official SDK, one request after another: its ``add_to_version``
  sends the ids it is given in one request, so a caller loops over chunks of
  1,000 (the most the emulator takes in one request).
- ``ours``: ``async with client.subscriber_lists.replace(...) as draft:
  await draft.add(ids)``: the bulk engine's chunks of 1,000, 8 requests in
  flight (the client's default concurrency).
- ``floor``: raw ``httpx`` posting the same pre-built bodies, 8 at a time
  (API-key auth, no validation, no retries): what the wire allows.

Reported: ids per second (median of ``--reps``) and ours against each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ._emulator import emulator, reset

RESULTS = Path(__file__).parent / "results"
CHUNK = 1_000
CONCURRENCY = 8
LIST_ID = "bench-list"


def _ids(n: int) -> list[str]:
    return [f"user-{i:07d}" for i in range(n)]


def _sdk(emu: dict[str, Any], ids: list[str]) -> None:
    import suprsend

    sdk = suprsend.Suprsend(emu["workspace_key"], emu["workspace_secret"], base_url=emu["base_url"])
    lists = sdk.subscriber_lists
    lists.create({"list_id": LIST_ID})
    version = lists.start_sync(LIST_ID)["version_id"]
    for start in range(0, len(ids), CHUNK):
        lists.add_to_version(LIST_ID, version, ids[start : start + CHUNK])
    lists.finish_sync(LIST_ID, version)


async def _ours(emu: dict[str, Any], ids: list[str]) -> None:
    from suprsend_async import AsyncSuprsend

    async with AsyncSuprsend(
        emu["workspace_key"], emu["workspace_secret"], base_url=emu["base_url"]
    ) as client:
        lists = client.subscriber_lists
        await lists.create({"list_id": LIST_ID})
        async with lists.replace(LIST_ID, max_concurrency=CONCURRENCY) as draft:
            await draft.add(ids)


async def _floor(emu: dict[str, Any], ids: list[str]) -> None:
    headers = {"Authorization": f"Bearer {emu['api_key']}", "Content-Type": "application/json"}
    base = emu["base_url"] + f"v1/subscriber_list/{LIST_ID}/"
    bodies = [
        json.dumps({"distinct_ids": ids[s : s + CHUNK]}).encode() for s in range(0, len(ids), CHUNK)
    ]
    async with httpx.AsyncClient(headers=headers, timeout=60) as http:
        (await http.post(emu["base_url"] + "v1/subscriber_list/", json={"list_id": LIST_ID}))
        started = await http.post(base + "start_sync/", content=b"{}")
        version = started.json()["version_id"]
        gate = asyncio.Semaphore(CONCURRENCY)

        async def post(body: bytes) -> None:
            async with gate:
                answer = await http.post(base + f"version/{version}/subscriber/add/", content=body)
                answer.raise_for_status()

        await asyncio.gather(*(post(body) for body in bodies))
        (await http.patch(base + f"version/{version}/finish_sync/", content=b"{}"))


def _timed(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lists", description=__doc__)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    ids = _ids(args.members)
    clients: dict[str, Callable[[dict[str, Any]], None]] = {
        "floor": lambda emu: asyncio.run(_floor(emu, ids)),
        "sdk": lambda emu: _sdk(emu, ids),
        "ours": lambda emu: asyncio.run(_ours(emu, ids)),
    }
    rows: list[dict[str, Any]] = []
    for latency in (0.0, 50.0):
        with emulator(latency) as emu:
            walls: dict[str, list[float]] = {name: [] for name in clients}
            for _ in range(args.reps):
                for name, run in clients.items():  # round-robin: load hits all alike
                    reset(emu)
                    walls[name].append(_timed(lambda run=run: run(emu)))  # type: ignore[misc]
            rate = {name: args.members / statistics.median(w) for name, w in walls.items()}
            rows.append({"latency_ms": latency, "ids_per_s": rate})
            print(
                f"latency {latency:g} ms: "
                + ", ".join(f"{n} {r:,.0f} ids/s" for n, r in rate.items())
            )
    lines = [
        f"# List membership: a {args.members:,}-member replace",
        "",
        "`nox -s bench -- lists` (median of "
        f"{args.reps}; chunks of {CHUNK:,} ids, {CONCURRENCY} in flight)",
        "",
        "| emulated latency | official SDK (sequential) | ours | floor (raw httpx) |"
        " ours / SDK | ours / floor |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        r = row["ids_per_s"]
        lines.append(
            f"| {row['latency_ms']:g} ms | {r['sdk']:,.0f} ids/s | {r['ours']:,.0f} ids/s"
            f" | {r['floor']:,.0f} ids/s | {r['ours'] / r['sdk']:.1f}x"
            f" | {r['ours'] / r['floor']:.2f}x |"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lists.md").write_text("\n".join(lines) + "\n")
    (args.out / "lists.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
