"""One measured run, in a fresh process: ``python -m benchmarks._worker '<json spec>'``.

A fresh process per run keeps peak RSS and CPU time per run honest: nothing
carries over from an earlier run or from the other client. Timing starts
before the records are built, because the official SDK validates and copies
records as they are appended and ours validates them as they are built.
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _measure(run: Callable[[], Any]) -> dict[str, Any]:
    cpu, wall = _cpu(), time.perf_counter()
    outcome = run()
    return {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": _cpu() - cpu,
        "peak_rss_mb": _peak_rss_mb(),
        **outcome,
    }


def _event_fields(i: int) -> tuple[str, str, dict[str, Any]]:
    return f"user-{i}", "order_placed", {"order_id": f"ord-{i}", "amount": i % 100, "n": i}


def _trigger_body(i: int) -> dict[str, Any]:
    return {
        "workflow": "order-shipped",
        "recipients": [f"user-{i}"],
        "data": {"order_id": f"ord-{i}", "amount": i % 100},
    }


# -- the official SDK ------------------------------------------------------------------------


def sdk_bulk(spec: dict[str, Any]) -> dict[str, Any]:
    import suprsend

    client = suprsend.Suprsend(spec["key"], spec["secret"], base_url=spec["base_url"])
    n = spec["records"]
    # The official SDK splits a bulk instance into chunks recursively, one
    # stack frame per chunk: 100,000 records (1,000 chunks) overflow Python's
    # default recursion limit with a RecursionError. Raise it, as a user would.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), n // 50 + 1000))

    def run() -> dict[str, Any]:
        if spec["kind"] == "events":
            bulk = client.bulk_events.new_instance()
            bulk.append(*[suprsend.Event(*_event_fields(i)) for i in range(n)])
        else:
            bulk = client.workflows.bulk_trigger_instance()
            bulk.append(*[suprsend.WorkflowTriggerRequest(_trigger_body(i)) for i in range(n)])
        response = bulk.trigger()
        return {"success": response.success, "failure": response.failure}

    return _measure(run)


# -- ours ---------------------------------------------------------------------------------------


def _client(spec: dict[str, Any], **options: Any) -> Any:
    from suprsend_async import AsyncSuprsend

    return AsyncSuprsend(spec["key"], spec["secret"], base_url=spec["base_url"], **options)


def _import_ours() -> None:
    """Import what our client uses before timing, as ``import suprsend`` does for the SDK.

    httpx imports httpcore (and httpcore imports trio, when installed) only when
    the first connection pool is made, and anyio imports its asyncio backend
    only when first used: once-per-process costs (some 25 ms each) that would
    otherwise land in the timing of every run.
    """
    import anyio
    import httpcore  # noqa: F401

    import suprsend_async  # noqa: F401

    anyio.run(anyio.sleep, 0)


def ours_bulk(spec: dict[str, Any]) -> dict[str, Any]:
    from suprsend_async import Event, WorkflowTriggerRequest

    _import_ours()

    n, concurrency = spec["records"], spec["concurrency"]

    async def main() -> dict[str, Any]:
        async with _client(spec, max_concurrency=concurrency) as client:
            if spec["kind"] == "events":
                events = [Event(*_event_fields(i)) for i in range(n)]
                response = await client.bulk_events.send(events)
            else:
                requests = [
                    WorkflowTriggerRequest(
                        workflow="order-shipped",
                        recipients=[f"user-{i}"],
                        data={"order_id": f"ord-{i}", "amount": i % 100},
                    )
                    for i in range(n)
                ]
                response = await client.workflows.bulk_trigger(requests)
        return {"success": response.success, "failure": response.failure}

    return _measure(lambda: asyncio.run(main()))


def ours_stream(spec: dict[str, Any]) -> dict[str, Any]:
    """A streamed upload from an async generator: memory bounded by the concurrency."""
    from suprsend_async import Event

    _import_ours()

    async def events() -> AsyncIterator[Any]:
        for i in range(spec["records"]):
            yield Event(*_event_fields(i))

    async def main() -> dict[str, Any]:
        async with _client(spec, max_concurrency=spec["concurrency"]) as client:
            response = await client.bulk_events.send(events())
        return {"success": response.success, "failure": response.failure}

    return _measure(lambda: asyncio.run(main()))


def encode_only(spec: dict[str, Any]) -> dict[str, Any]:
    """The floor for the CPU part: only JSON-encoding the same wire bodies."""
    from suprsend_async._serialization import dumps

    n = spec["records"]
    if spec["kind"] == "events":
        bodies = [
            {
                "$insert_id": "00000000-0000-4000-8000-000000000000",
                "$time": 1_800_000_000_000,
                "event": name,
                "env": spec["key"],
                "distinct_id": distinct_id,
                "properties": {**properties, "$ss_sdk_version": "suprsend-async/0 (python)"},
            }
            for distinct_id, name, properties in map(_event_fields, range(n))
        ]
    else:
        bodies = [_trigger_body(i) for i in range(n)]

    def run() -> dict[str, Any]:
        for body in bodies:
            dumps(body)
        return {}

    return _measure(run)


def single_overhead(spec: dict[str, Any]) -> dict[str, Any]:
    """track_event over a shared client vs a raw httpx post of the same bytes and headers."""
    import httpx

    from suprsend_async import Event, WorkspaceSignatureAuth

    _import_ours()
    from suprsend_async._serialization import Serializer
    from suprsend_async._transport import CONTENT_TYPE, client_user_agent, user_agent

    calls = spec["calls"]

    async def main() -> dict[str, Any]:
        serializer = Serializer(env=spec["key"], sdk_version=user_agent())
        body = serializer.encode_event(Event(*_event_fields(0))).body
        headers = {
            "Content-Type": CONTENT_TYPE,
            "User-Agent": user_agent(),
            "X-Suprsend-Client-User-Agent": client_user_agent(None),
        }
        auth = WorkspaceSignatureAuth(spec["key"], spec["secret"])
        url = spec["base_url"] + "v2/event/"
        ours: list[float] = []
        raw: list[float] = []
        async with (
            _client(spec) as client,
            httpx.AsyncClient(auth=auth, headers=headers, timeout=30) as http,
        ):
            for i in range(calls + 50):  # interleaved, so noise hits both alike
                t = time.perf_counter()
                ok = (await client.track_event(Event(*_event_fields(i)))).success
                t1 = time.perf_counter()
                status = (await http.post(url, content=body)).status_code
                t2 = time.perf_counter()
                assert ok, "track_event failed"
                assert status == 202, status
                if i >= 50:  # the first calls warm up connections and caches
                    ours.append(t1 - t)
                    raw.append(t2 - t1)
        return {
            "ours_median_ms": statistics.median(ours) * 1000,
            "raw_median_ms": statistics.median(raw) * 1000,
        }

    return _measure(lambda: asyncio.run(main()))


def concurrent_singles(spec: dict[str, Any]) -> dict[str, Any]:
    from suprsend_async import Event

    _import_ours()

    calls = spec["calls"]

    async def main() -> dict[str, Any]:
        async with _client(spec) as client:
            results = await asyncio.gather(
                *(client.track_event(Event(*_event_fields(i))) for i in range(calls))
            )
        return {"success": sum(r.success for r in results), "failure": 0}

    return _measure(lambda: asyncio.run(main()))


def idle(spec: dict[str, Any]) -> dict[str, Any]:
    """Peak RSS of an interpreter that imported both clients and did nothing."""
    import suprsend  # noqa: F401

    import suprsend_async  # noqa: F401

    return _measure(dict)


RUNS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    f.__name__: f
    for f in (
        sdk_bulk,
        ours_bulk,
        ours_stream,
        encode_only,
        single_overhead,
        concurrent_singles,
        idle,
    )
}

if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    print(json.dumps(RUNS[spec["run"]](spec)))
