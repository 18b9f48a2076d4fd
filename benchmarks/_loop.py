"""Where an asyncio loop iteration's time goes during a bulk upload.

``python -m benchmarks.loop``. Ours (asyncio, aiohttp transport) uploads the
lag cases' records (keyed, nested properties) to the emulator in another
process, with every iteration of the loop timed: its CPU time (the thread's,
so time the OS gave other processes is not counted), how many sockets the
selector returned for it, the CPU of each callback it ran (a task step is
named by its coroutine), and the garbage collector's time inside it. An
application's 1 ms sleeper waits some two iterations, so their length is its
lag: this shows what an iteration is made of, and what the long ones held.

It patches asyncio's internals (``BaseEventLoop._run_once``,
``Handle._run``) of this process only: a diagnostic, not a measurement to
compare with other clients (the timing costs some CPU of its own).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

from . import _worker
from ._emulator import emulator, reset
from ._suite import CONCURRENCY, OURS, _credentials


class _Iterations:
    """Each iteration's CPU, sockets, callbacks and collector time."""

    def __init__(self, slow_ms: float) -> None:
        self.slow = slow_ms / 1000
        self.cpu: list[float] = []
        self.sockets: list[int] = []
        self.by_kind: collections.defaultdict[str, list[float]] = collections.defaultdict(list)
        self.longest: list[tuple[float, float, int, list[tuple[str, float]]]] = []
        self.running: list[tuple[str, float]] = []
        self.gc_time = 0.0
        self._gc_start = 0.0

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.thread_time()
        else:
            self.gc_time += time.thread_time() - self._gc_start

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        run_once = type(loop)._run_once  # type: ignore[attr-defined]
        selector = loop._selector  # type: ignore[attr-defined]
        select = selector.select
        ready = [0]

        def counting_select(timeout: float | None = None) -> Any:
            events = select(timeout)
            ready[0] = len(events)
            return events

        def timed_run_once(self_: Any) -> None:
            self.running = []
            cpu, collected = time.thread_time(), self.gc_time
            run_once(self_)
            took = time.thread_time() - cpu
            self.cpu.append(took)
            self.sockets.append(ready[0])
            for name, spent in self.running:
                self.by_kind[name].append(spent)
            if took >= self.slow:
                self.longest.append((took, self.gc_time - collected, ready[0], self.running))

        selector.select = counting_select
        loop._run_once = timed_run_once.__get__(loop)  # type: ignore[attr-defined]
        handle_run = asyncio.events.Handle._run
        iterations = self

        def timed_run(handle: asyncio.Handle) -> None:
            cpu = time.thread_time()
            handle_run(handle)
            iterations.running.append((_name(handle), time.thread_time() - cpu))

        setattr(asyncio.events.Handle, "_run", timed_run)  # noqa: B010 - out of mypy's sight


def _name(handle: asyncio.Handle) -> str:
    # Names only: a repr would read the objects (an aiohttp response's repr caches
    # its headers before they have arrived).
    callback = handle._callback  # type: ignore[attr-defined]
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        name = getattr(owner.get_coro(), "__qualname__", "?")
        # anyio's task groups run each task in this wrapper: here, the upload workers.
        return "task " + (
            "(an anyio task: an upload worker)" if name.startswith("TaskHandle.") else name
        )
    return getattr(callback, "__qualname__", None) or type(callback).__name__


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(int(len(ordered) * q), len(ordered) - 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loop", description=__doc__)
    parser.add_argument("--records", type=int, default=30_000)
    parser.add_argument("--producer", choices=("list", "gen", "agen"), default="gen")
    parser.add_argument("--slow-ms", type=float, default=1.5, help="list iterations this long")
    args = parser.parse_args(argv)
    iterations = _Iterations(args.slow_ms)
    with emulator(0.0) as info:
        reset(info)
        spec = {**OURS["ours"], **_credentials(info)}
        _worker._import_ours(spec)
        from suprsend_async import Event

        def event(i: int) -> Event:
            distinct_id, name, properties, key = _worker._lag_fields(i)
            return Event(distinct_id, name, properties, idempotency_key=key)

        async def upload() -> Any:
            iterations.install(asyncio.get_running_loop())
            async with _worker._client(spec, max_concurrency=CONCURRENCY) as client:
                records: Any
                if args.producer == "list":
                    records = [event(i) for i in range(args.records)]
                elif args.producer == "gen":
                    records = (event(i) for i in range(args.records))
                else:

                    async def events() -> AsyncIterator[Event]:
                        for i in range(args.records):
                            yield event(i)

                    records = events()
                iterations.cpu.clear()
                iterations.sockets.clear()
                iterations.by_kind.clear()
                iterations.longest.clear()
                gc.callbacks.append(iterations.on_gc)
                try:
                    return await client.bulk_events.send(records)
                finally:
                    gc.callbacks.remove(iterations.on_gc)

        response = asyncio.run(upload())
    assert response.failure == 0, response.failed_records[:3]
    cpu = sorted(iterations.cpu)
    ms = [f"{x * 1000:.2f}" for x in (_quantile(cpu, q) for q in (0.5, 0.9, 0.99))]
    print(
        f"ours (asyncio, aiohttp transport), {args.records:,} keyed events with nested "
        f"properties from {args.producer}, c={CONCURRENCY}: {len(cpu):,} iterations, "
        f"{sum(cpu) * 1000:.0f} ms of CPU; per iteration p50 {ms[0]}, p90 {ms[1]}, "
        f"p99 {ms[2]}, max {cpu[-1] * 1000:.2f} ms"
    )
    sockets = collections.Counter(iterations.sockets)
    print(
        "sockets ready per iteration:", ", ".join(f"{n}: {c}" for n, c in sorted(sockets.items()))
    )
    print("\n| callback | runs | CPU ms | mean µs | max ms |\n|---|---|---|---|---|")
    for name, spent in sorted(iterations.by_kind.items(), key=lambda kv: -sum(kv[1]))[:10]:
        print(
            f"| {name} | {len(spent):,} | {sum(spent) * 1000:.1f} | "
            f"{sum(spent) / len(spent) * 1e6:.0f} | {max(spent) * 1000:.2f} |"
        )
    print(
        f"\niterations of {args.slow_ms:g} ms or more ({len(iterations.longest)}), longest first:"
    )
    for took, collected, ready, running in sorted(iterations.longest, reverse=True)[:12]:
        steps = ", ".join(f"{name} {spent * 1000:.2f}" for name, spent in running if spent > 5e-5)
        print(f"- {took * 1000:.2f} ms (collector {collected * 1000:.2f} ms, {ready} sockets):")
        print(f"  {steps}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
