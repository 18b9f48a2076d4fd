"""Where a bulk upload's CPU goes, and what one request costs at each layer.

``python -m benchmarks.profile``. Two measurements against one emulator process:

- CPU-time sampling of ours (asyncio, aiohttp transport) streaming events:
  ``setitimer(ITIMER_PROF)`` interrupts the process every millisecond of its
  own CPU time (not wall time: time the OS gives to the emulator or anything
  else is not counted, which a wall-clock sampler such as py-spy would count
  against whatever call was waiting). Each sample's stack is put in one
  bucket. Interrupts land between bytecodes, so the cost of C code (a
  socket send, freeing a chunk's objects) is charged to the Python frame
  that runs next: the buckets are right to a few percent, not exactly.
- The same signed 100-record bodies posted 16 at a time by raw aiohttp, by
  our pool called directly with a signed ``httpx.Request``, by
  ``httpx.AsyncClient.post`` on our pool, and by our transport: CPU per
  request, which splits the per-request overhead by layer.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import signal
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from types import FrameType
from typing import Any

from . import _worker
from ._emulator import emulator, reset
from ._suite import CONCURRENCY, _credentials

# (bucket, the first of these found in a sample's stack, innermost first)
_BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "request: aiohttp (its client, connector, parser)",
        ("AiohttpPool.handle_async_request", "AiohttpPool.send_signed"),
    ),
    ("request: signing (MD5 of the body, HMAC)", ("WorkspaceSignatureAuth",)),
    ("request: httpx building the request", ("build_request",)),
    ("request: httpx reading answers' cookies", ("extract_cookies",)),
    ("request: httpx client, other", ("AsyncClient.send",)),
    ("request: our transport, other", ("request_once",)),
    ("engine: parsing and settling 207s", ("_settle_records", "_parse_answer")),
    ("engine: upload workers, other", ("_BulkRun.upload",)),
    ("records: building Events (the caller's)", ("Event.__init__",)),
    ("records: the caller's async generator (its own work)", ("main.<locals>.events",)),
    ("records: wire dict, insert id", ("event_body",)),
    ("records: JSON encoding", ("json_codec.py:dumps",)),
    ("records: producer (check, item, chunking)", ("_BulkRun.produce",)),
    ("event loop: socket reads", ("_read_ready", "data_received")),
    ("event loop: select and scheduling", ("",)),
)


def _bucket(stack: tuple[str, ...]) -> str:
    joined = ";".join(stack)
    for name, markers in _BUCKETS:
        if any(marker in joined for marker in markers):
            return name
    return "other"


def sample_bulk(info: dict[str, Any], records: int) -> tuple[collections.Counter[str], float]:
    """Sample ours uploading ``records`` streamed events; (samples per bucket, CPU s)."""
    spec = {
        "run": "bulk",
        "impl": "ours",
        "backend": "asyncio",
        "transport": "aiohttp",
        "records": records,
        "concurrency": CONCURRENCY,
        "stream": True,
        **_credentials(info),
    }
    _worker._import_ours(spec)
    buckets: collections.Counter[str] = collections.Counter()

    def on_tick(signum: int, frame: FrameType | None) -> None:
        stack = []
        while frame is not None:
            code = frame.f_code
            stack.append(f"{code.co_filename}:{getattr(code, 'co_qualname', code.co_name)}")
            frame = frame.f_back
        buckets[_bucket(tuple(stack))] += 1

    reset(info)
    previous = signal.signal(signal.SIGPROF, on_tick)
    signal.setitimer(signal.ITIMER_PROF, 0.001, 0.001)
    try:
        result = _worker.bulk(spec)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, previous)
    return buckets, float(result["cpu_s"])


def request_costs(info: dict[str, Any], requests: int, reps: int) -> dict[str, float]:
    """Median CPU µs per 100-record request at each layer, 16 in flight."""
    spec = {"impl": "ours", "backend": "asyncio", "transport": "aiohttp", **_credentials(info)}
    _worker._import_ours(spec)
    _worker._import_raw("aiohttp")
    wire = _worker._Wire(spec)
    bodies = list(wire.bodies(100 * CONCURRENCY))
    path = "v2/bulk/event/"

    async def timed(post: Callable[[bytes], Awaitable[int]]) -> float:
        async def worker(body: bytes) -> None:
            for _ in range(requests // CONCURRENCY):
                assert await post(body) == 207

        await worker(bodies[0])  # connections opened, caches warm
        start = time.process_time()
        await asyncio.gather(*(worker(body) for body in bodies))
        return (time.process_time() - start) / requests * 1e6

    async def raw_aiohttp() -> float:
        post, close = await _worker._aiohttp_session(wire, CONCURRENCY)

        async def one(body: bytes) -> int:
            return (await post("/" + path, body, wire.signed("/" + path, body)))[0]

        try:
            return await timed(one)
        finally:
            await close()

    async def ours(layer: str) -> float:
        import httpx

        async with _worker._client(spec, max_concurrency=CONCURRENCY) as client:
            transport = client._transport
            http = transport.client()
            pool = http._transport
            url = transport.base_url.join(path)

            async def pool_direct(body: bytes) -> int:
                request = httpx.Request("POST", url, content=body, headers=http.headers)
                next(transport.auth.auth_flow(request))
                response = await pool.handle_async_request(request)
                await response.aread()
                status: int = response.status_code
                return status

            async def client_post(body: bytes) -> int:
                headers = transport.headers
                response = await http.post(url, content=body, headers=headers, auth=transport.auth)
                status: int = response.status_code
                return status

            async def transport_post(body: bytes) -> int:
                status: int = (await transport.post_once(path, body)).status_code
                return status

            layers = {"pool": pool_direct, "client": client_post, "transport": transport_post}
            return await timed(layers[layer])

    runs: dict[str, Callable[[], Coroutine[Any, Any, float]]] = {
        "raw aiohttp": raw_aiohttp,
        "our pool, called directly (a signed httpx.Request)": lambda: ours("pool"),
        "httpx.AsyncClient.post on our pool": lambda: ours("client"),
        "our transport (post_once)": lambda: ours("transport"),
    }
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(reps):
        for name, run in runs.items():
            reset(info)
            samples[name].append(asyncio.run(run()))
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=4_800)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    with emulator(0.0) as info:
        buckets, cpu = sample_bulk(info, args.records)
        costs = request_costs(info, args.requests, args.reps)
    total = sum(buckets.values())
    per_record = cpu / args.records * 1e6
    print(
        f"ours (asyncio, aiohttp transport), {args.records:,} events streamed, c={CONCURRENCY}: "
        f"{per_record:.2f} µs of CPU per record, {total:,} samples\n"
    )
    print("| share | µs/record | where |\n|---|---|---|")
    for name, count in buckets.most_common():
        share = count / total
        print(f"| {share:.0%} | {share * per_record:.2f} | {name} |")
    print(f"\nCPU per 100-record request, {CONCURRENCY} in flight, medians of {args.reps}:\n")
    print("| path | µs/request |\n|---|---|")
    for name, cost in costs.items():
        print(f"| {name} | {cost:.0f} |")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
