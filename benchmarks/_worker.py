"""One measured run, in a fresh process: ``python -m benchmarks._worker '<json spec>'``.

A fresh process per run keeps peak RSS and CPU time per run honest: nothing
carries over from an earlier run or from another client. Timing starts
before the records are built, because the official SDK validates and copies
records as they are appended and ours validates them as they are built; the
minimal clients build their wire dicts inside the timing too.

The clients (``spec["impl"]``):

- ``floor``: the physical limit, a minimal client on raw asyncio streams. It
  sends what ours sends (orjson bodies of 100 records, the HMAC signature,
  the same headers) and reads and checks the hub's 207, and does nothing
  else: no validation, no retries, no pool. It lives here, never in the
  library.
- ``httpx``, ``httpx2`` and ``aiohttp``: the same signed bytes posted with a
  bare ``httpx.AsyncClient``, ``httpx2.AsyncClient`` or ``aiohttp.ClientSession``.
- ``sdk``: the official ``suprsend-py-sdk`` (synchronous, one request at a time).
- ``ours``: ``AsyncSuprsend``, on ``spec["backend"]`` (asyncio or trio) with
  ``spec["transport"]`` (``aiohttp``: the extra installed; ``httpcore``: as
  if it were not), on ``spec["stack"]`` (``httpx``, the default, or ``httpx2``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import importlib
import json
import os
import resource
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

RECORDS_PER_REQUEST = 100
SDK_VERSION = "suprsend-async/bench (python)"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _measure(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    # Each client starts as an application past its start-up does: what its imports
    # made already collected. Otherwise where the imports left the collector decides
    # whether a full collection falls inside the run (some 40 ms in ours' process,
    # with every extra imported, and a different point for each client): the REST
    # runs' ratio to raw aiohttp moved by some 0.1 with it. A full collection
    # still comes when the run's own allocations call for one. (The lag runs set the
    # collector's phase themselves, on top of this.)
    import gc

    gc.collect()
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


# The event-loop lag runs send what the application sent: nested properties and
# an idempotency key on every record (unique per run: the hub would drop a repeat).
_RUN = uuid.uuid4().hex[:8]


def _lag_fields(i: int) -> tuple[str, str, dict[str, Any], str]:
    return f"lag-{i}", "ev", {"i": i, "nested": {"a": [1, 2]}}, f"lag-{_RUN}-{i}"


# -- the wire, by hand (floor, raw httpx, raw aiohttp) --------------------------------------


class _Wire:
    """What the minimal clients send: the same bodies, headers and signature as ours."""

    def __init__(self, spec: dict[str, Any]) -> None:
        import orjson

        from suprsend_async._core.transport import CONTENT_TYPE, client_user_agent, user_agent

        self.dumps = orjson.dumps
        self.loads = orjson.loads
        self.key = spec["key"]
        self.secret = spec["secret"].encode()
        self.content_type = CONTENT_TYPE
        self.base_url = spec["base_url"]
        self.keyed = spec.get("run") == "lag"
        self.headers = {
            "Accept": "*/*",
            "Accept-Encoding": "gzip, deflate",
            "Connection": "keep-alive",
            "User-Agent": user_agent(),
            "Content-Type": CONTENT_TYPE,
            "X-Suprsend-Client-User-Agent": client_user_agent(None),
        }

    def record(self, i: int) -> dict[str, Any]:
        key = None
        if self.keyed:
            distinct_id, name, properties, key = _lag_fields(i)
        else:
            distinct_id, name, properties = _event_fields(i)
        record = {
            "$insert_id": str(uuid.uuid4()),
            "$time": int(time.time() * 1000),
            "event": name,
            "env": self.key,
            "distinct_id": distinct_id,
            "properties": {**properties, "$ss_sdk_version": SDK_VERSION},
        }
        if key is not None:
            record["$idempotency_key"] = key
        return record

    def signed(self, path: str, body: bytes, method: str = "POST") -> dict[str, str]:
        date = formatdate(usegmt=True)
        md5 = hashlib.md5(body, usedforsecurity=False).hexdigest() if body else ""
        message = f"{method}\n{md5}\n{self.content_type}\n{date}\n{path}".encode()
        signature = base64.b64encode(hmac.new(self.secret, message, hashlib.sha256).digest())
        return {**self.headers, "Date": date, "Authorization": f"{self.key}:{signature.decode()}"}

    def bodies(self, n: int, records: list[dict[str, Any]] | None = None) -> Iterator[bytes]:
        """Bodies of 100 records, built as they are taken (or from ``records``, built)."""
        for start in range(0, n, RECORDS_PER_REQUEST):
            stop = min(start + RECORDS_PER_REQUEST, n)
            if records is None:
                yield self.dumps([self.record(i) for i in range(start, stop)])
            else:
                yield self.dumps(records[start:stop])

    def delivered(self, status: int, content: bytes) -> int:
        assert status == 207, (status, content[:200])
        return sum(r.get("status") == "success" for r in self.loads(content)["records"])


Post = Callable[[str, bytes, dict[str, str]], Awaitable[tuple[int, bytes]]]
Send = Callable[[str, str, bytes, dict[str, str]], Awaitable[tuple[int, bytes]]]


async def _raw_bulk(
    wire: _Wire, n: int, concurrency: int, post: Post, bodies: Iterator[bytes] | None = None
) -> int:
    """``concurrency`` workers taking 100-record bodies from one iterator."""
    path = "/v2/bulk/event/"
    bodies = wire.bodies(n) if bodies is None else bodies
    delivered = 0

    async def worker() -> None:
        nonlocal delivered
        for body in bodies:
            answer = await post(path, body, wire.signed(path, body))
            delivered += wire.delivered(*answer)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return delivered


class _FloorConnection:
    """HTTP/1.1 keep-alive over asyncio streams, just enough for the emulator's answers."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{head}"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        answer = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in answer.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return int(answer[9:12]), await reader.readexactly(length)

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()


async def _floor_bulk(
    wire: _Wire, n: int, concurrency: int, bodies: Iterator[bytes] | None = None
) -> int:
    url = urlsplit(wire.base_url)
    assert url.hostname
    assert url.port
    connections = [_FloorConnection(url.hostname, url.port) for _ in range(concurrency)]
    free = list(connections)

    async def post(path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        connection = free.pop()  # one per worker: never empty
        try:
            return await connection.post(path, body, headers)
        finally:
            free.append(connection)

    try:
        return await _raw_bulk(wire, n, concurrency, post, bodies)
    finally:
        for connection in connections:
            connection.close()


async def _httpx_session(
    wire: _Wire, connections: int, module: str = "httpx"
) -> tuple[Post, Callable[[], Any]]:
    # httpx2 keeps httpx's API, name for name: the same code on either.
    httpx: Any = importlib.import_module(module)

    client = httpx.AsyncClient(
        base_url=wire.base_url,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        # 1,000 calls queued in httpcore's pool wait longer than its default 5 s.
        timeout=httpx.Timeout(60.0),
    )

    async def post(path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        response = await client.post(path, content=body, headers=headers)
        return response.status_code, response.content

    return post, client.aclose


async def _aiohttp_session(wire: _Wire, connections: int) -> tuple[Post, Callable[[], Any]]:
    send, close = await _aiohttp_sender(wire, connections)

    async def post(path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        return await send("POST", path, body, headers)

    return post, close


async def _aiohttp_sender(wire: _Wire, connections: int) -> tuple[Send, Callable[[], Any]]:
    import aiohttp

    session = aiohttp.ClientSession(
        base_url=wire.base_url, connector=aiohttp.TCPConnector(limit=connections)
    )

    async def send(
        method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        async with session.request(method, path, data=body or None, headers=headers) as response:
            return response.status, await response.read()

    return send, session.close


async def _httpx2_session(wire: _Wire, connections: int) -> tuple[Post, Callable[[], Any]]:
    return await _httpx_session(wire, connections, "httpx2")


_SESSIONS = {"httpx": _httpx_session, "httpx2": _httpx2_session, "aiohttp": _aiohttp_session}


def _import_raw(impl: str) -> None:
    """Import before timing what the minimal clients use, as ``_import_ours`` does for ours.

    ``_Wire`` takes the header values from our transport module, which
    imports the whole library: an import inside the timing would charge
    the floor some 100 ms it does not spend sending.
    """
    import anyio
    import orjson  # noqa: F401

    import suprsend_async._core.transport  # noqa: F401

    anyio.run(anyio.sleep, 0)  # anyio's asyncio backend loads on first use, as for ours

    if impl == "httpx":
        import httpcore  # noqa: F401
        import httpx  # noqa: F401
    elif impl == "httpx2":
        importlib.import_module("httpcore2")
        importlib.import_module("httpx2")
    elif impl == "aiohttp":
        import aiohttp  # noqa: F401


# -- ours ------------------------------------------------------------------------------------------


def _import_ours(spec: dict[str, Any]) -> None:
    """Import what our client uses before timing, as ``import suprsend`` does for the SDK.

    httpx imports httpcore (and trio, when installed) and aiohttp only when
    the first pool is made, and anyio imports its backends when first used:
    once-per-process costs that would otherwise land in every run's timing.
    With ``transport: httpcore`` the aiohttp extra is made unimportable,
    which is what a client without it installed sees.
    """
    stack = spec.get("stack", "httpx")
    if spec.get("transport") == "httpcore":
        sys.modules["httpx_aiohttp"] = None  # type: ignore[assignment]
    else:
        import httpx_aiohttp  # noqa: F401

        import suprsend_async._core.aiohttp_pool

        if stack == "httpx2":
            importlib.import_module("httpx_aiohttp.httpx2")
    import anyio
    import httpcore  # noqa: F401

    if stack == "httpx2":
        importlib.import_module("httpcore2")
        importlib.import_module("httpx2")

    import suprsend_async  # noqa: F401
    from suprsend_async._core.telemetry import telemetry

    # OpenTelemetry's API, when installed, is imported by the first client made.
    telemetry()
    anyio.run(anyio.sleep, 0, backend=spec.get("backend", "asyncio"))


def _client(spec: dict[str, Any], **options: Any) -> Any:
    from suprsend_async import AsyncSuprsend

    if spec.get("stack"):
        options["http_stack"] = spec["stack"]
    return AsyncSuprsend(spec["key"], spec["secret"], base_url=spec["base_url"], **options)


def _run_async(spec: dict[str, Any], main: Callable[[], Awaitable[dict[str, Any]]]) -> Any:
    import anyio

    return anyio.run(main, backend=spec.get("backend", "asyncio"))


class _LagProbe:
    """Tasks that sleep 1 ms at a time and record how late they wake up.

    Two measures of each wake-up: the wall-clock lag (what another request
    of the application would wait, including time the OS gave to other
    processes on a loaded machine), and the CPU time this process spent
    during the wait beyond the 1 ms asked for (the loop's own work that held
    the sleeper back, whatever the machine's load: during an upload the loop
    is busy throughout, so this is the part of the lag it spent running).
    ``sleepers`` of them, started a quarter of a millisecond apart: each is
    the application's 1 ms sleeper, and together they sample every phase of
    the loop, a long stall included (one sleeper caught in a 20 ms stall
    counts once, however long it is). Also, from ``gc.callbacks``, how many
    collections of each generation ran meanwhile and the longest one in CPU
    time: a full collection walks every live object in the process.
    """

    SLEEP = 0.001

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.busy: list[float] = []
        self.in_full_gc: list[bool] = []  # whether a full collection ran during the wait
        self.running = True
        self.collections = [0, 0, 0]
        self.longest_gc = [0.0, 0.0, 0.0]
        self._gc_start = 0.0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.thread_time()
        else:
            generation = info["generation"]
            self.collections[generation] += 1
            took = time.thread_time() - self._gc_start
            self.longest_gc[generation] = max(self.longest_gc[generation], took)

    def start(self, tg: Any, sleepers: int = 4) -> None:
        import gc

        gc.callbacks.append(self._on_gc)
        for i in range(sleepers):
            tg.start_soon(self.run, i * self.SLEEP / sleepers)

    def stop(self) -> None:
        import gc

        self.running = False
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    async def run(self, offset: float = 0.0) -> None:
        import anyio

        await anyio.sleep(offset)
        while self.running:
            start, cpu, full = time.perf_counter(), time.process_time(), self.collections[2]
            await anyio.sleep(self.SLEEP)
            if not self.running:
                break
            self.lags.append(time.perf_counter() - start - self.SLEEP)
            self.busy.append(max(0.0, time.process_time() - cpu - self.SLEEP))
            self.in_full_gc.append(self.collections[2] != full)

    def summary(self) -> dict[str, float]:
        lags, busy = sorted(self.lags), sorted(self.busy)
        p99 = int(len(lags) * 0.99)
        return {
            "lag_p99_ms": lags[p99] * 1000,
            "lag_max_ms": lags[-1] * 1000,
            "lag_cpu_p99_ms": busy[p99] * 1000,
            "lag_cpu_max_ms": busy[-1] * 1000,
            "lag_samples": len(lags),
        }

    def samples(self) -> dict[str, Any]:
        """Every sample (ms), for the suite to pool over runs, and the collections."""
        return {
            "lag_ms": [round(x * 1000, 4) for x in self.lags],
            "busy_ms": [round(x * 1000, 4) for x in self.busy],
            "in_full_gc": self.in_full_gc,
            "gc_collections": self.collections,
            "gc_longest_ms": [x * 1000 for x in self.longest_gc],
        }


# CPython collects generation 1 after 11 collections of generation 0, and the whole heap
# after 11 of generation 1 (if enough objects were promoted since the last one).
_GEN0_PER_FULL = 11 * 11


def _gc_phase(phase: float, *, freeze: bool = False) -> None:
    """Put the collector ``phase`` (0 to 1) of the way through its cycle to a full collection.

    A fresh process reaches the upload at whatever point its imports left the
    collector, the same in every run of a client and different from one client
    to the next: whether a full collection falls during the upload would be
    decided by the imports. Instead each run starts from a full collection and
    then as many collections of the younger generations as the phase says; the
    suite gives every client the same phases, spread over the cycle, as an
    application's uploads start anywhere in it.

    ``freeze``: as an application that calls ``gc.freeze()`` once started, so
    that a full collection no longer walks what its imports made.
    """
    import gc

    position = int(phase * _GEN0_PER_FULL)
    gc.collect()
    if freeze:
        gc.freeze()
    for _ in range(position // 11):
        gc.collect(1)
    for _ in range(position % 11):
        gc.collect(0)


def _full_collection_ms() -> float:
    """The CPU time of one full collection of this process's heap, as it is now."""
    import gc

    cpu = time.thread_time()
    gc.collect()
    return (time.thread_time() - cpu) * 1000


# -- runs -------------------------------------------------------------------------------------


async def _at_once(calls: int, one: Callable[[int], Coroutine[Any, Any, None]]) -> None:
    """``one(i)`` for every i below ``calls``, all started at once in one anyio task group
    (which trio needs): every client's calls go through the same harness."""
    import anyio

    async with anyio.create_task_group() as tg:
        for i in range(calls):
            tg.start_soon(one, i)


def bulk(spec: dict[str, Any]) -> dict[str, Any]:
    """``records`` events uploaded in bulk by ``impl`` with ``concurrency`` requests in flight."""
    impl, n, concurrency = spec["impl"], spec["records"], spec["concurrency"]
    if impl == "sdk":
        return _sdk_bulk(spec)
    if impl == "ours":
        return _ours_bulk(spec)
    _import_raw(impl)

    async def main() -> dict[str, Any]:
        wire = _Wire(spec)
        # Each body built as it is taken, or (producer "list") from a list of every
        # record's wire dict built first, as ours is given a list of events.
        built = [wire.record(i) for i in range(n)] if spec.get("producer") == "list" else None
        bodies = wire.bodies(n, built)
        if impl == "floor":
            delivered = await _floor_bulk(wire, n, concurrency, bodies)
        else:
            post, close = await _SESSIONS[impl](wire, concurrency)
            try:
                delivered = await _raw_bulk(wire, n, concurrency, post, bodies)
            finally:
                await close()
        return {"success": delivered}

    return _measure(lambda: asyncio.run(main()))


def _sdk_bulk(spec: dict[str, Any]) -> dict[str, Any]:
    import suprsend

    client = suprsend.Suprsend(spec["key"], spec["secret"], base_url=spec["base_url"])
    n = spec["records"]
    # The official SDK splits a bulk instance into chunks recursively, one
    # stack frame per chunk: 100,000 records (1,000 chunks) overflow Python's
    # default recursion limit with a RecursionError. Raise it, as a user would.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), n // 50 + 1000))

    def run() -> dict[str, Any]:
        instance = client.bulk_events.new_instance()
        instance.append(*[suprsend.Event(*_event_fields(i)) for i in range(n)])
        response = instance.trigger()
        return {"success": response.success}

    return _measure(run)


def _ours_bulk(spec: dict[str, Any]) -> dict[str, Any]:
    from suprsend_async import Event

    _import_ours(spec)
    n, concurrency = spec["records"], spec["concurrency"]

    async def main() -> dict[str, Any]:
        async with _client(spec, max_concurrency=concurrency) as client:
            producer = "agen" if spec.get("stream") else spec.get("producer", "list")
            if producer == "agen":

                async def events() -> AsyncIterator[Any]:
                    for i in range(n):
                        yield Event(*_event_fields(i))

                records: Any = events()
            elif producer == "gen":
                records = (Event(*_event_fields(i)) for i in range(n))
            else:
                records = [Event(*_event_fields(i)) for i in range(n)]
            response = await client.bulk_events.send(records)
        assert response.failure == 0, response.failed_records[:3]
        return {"success": response.success}

    return _measure(lambda: _run_async(spec, main))


def lag(spec: dict[str, Any]) -> dict[str, Any]:
    """The 1 ms probe during an upload of ``records`` keyed events with nested properties.

    ``producer``: ``list`` (built before the upload, outside the probe),
    ``gen`` (a generator expression, each record built as the upload takes
    it) or ``agen`` (an async generator, likewise; ours only). The minimal
    clients build their wire dicts, by the body, either beforehand
    (``list``) or as each body is taken (``gen``).
    """
    impl, n, concurrency, producer = (
        spec["impl"], spec["records"], spec["concurrency"], spec["producer"]
    )  # fmt: skip
    if impl == "ours":
        return _ours_lag(spec)
    _import_raw(impl)

    async def main() -> dict[str, Any]:
        import anyio

        wire = _Wire(spec)
        built = [wire.record(i) for i in range(n)] if producer == "list" else None
        probe = _LagProbe()
        _gc_phase(spec["gc_phase"], freeze=spec.get("freeze", False))
        async with anyio.create_task_group() as tg:
            probe.start(tg)
            bodies = wire.bodies(n, built)
            if impl == "floor":
                delivered = await _floor_bulk(wire, n, concurrency, bodies)
            else:
                post, close = await _SESSIONS[impl](wire, concurrency)
                try:
                    delivered = await _raw_bulk(wire, n, concurrency, post, bodies)
                finally:
                    await close()
            probe.stop()
        full = _full_collection_ms()  # (with the records still alive, for a list)
        del built
        return {
            "success": delivered,
            "full_gc_ms": full,
            **probe.summary(),
            **probe.samples(),
        }

    return _measure(lambda: asyncio.run(main()))


def _ours_lag(spec: dict[str, Any]) -> dict[str, Any]:
    from suprsend_async import Event
    from suprsend_async._core.telemetry import telemetry

    _import_ours(spec)
    n, concurrency, producer = spec["records"], spec["concurrency"], spec["producer"]

    def event(i: int) -> Event:
        distinct_id, name, properties, key = _lag_fields(i)
        return Event(distinct_id, name, properties, idempotency_key=key)

    async def main() -> dict[str, Any]:
        import anyio

        probe = _LagProbe()
        async with _client(spec, max_concurrency=concurrency) as client:
            records: Any
            if producer == "list":
                records = [event(i) for i in range(n)]
            elif producer == "gen":
                records = (event(i) for i in range(n))
            else:

                async def events() -> AsyncIterator[Event]:
                    for i in range(n):
                        yield event(i)

                records = events()
            _gc_phase(spec["gc_phase"], freeze=spec.get("freeze", False))
            async with anyio.create_task_group() as tg:
                probe.start(tg)
                response = await client.bulk_events.send(records)
                probe.stop()
            full = _full_collection_ms()  # (with the records still alive, for a list)
            del records
        assert response.failure == 0, response.failed_records[:3]
        return {
            "success": response.success,
            "full_gc_ms": full,
            # OpenTelemetry's API installed (with no SDK configured, as here): what
            # the client does about spans is part of what each request costs.
            "otel": telemetry().tracer is not None,
            **probe.summary(),
            **probe.samples(),
        }

    return _measure(lambda: _run_async(spec, main))


def concurrent_singles(spec: dict[str, Any]) -> dict[str, Any]:
    """``calls`` single events sent at once: ``track_event``, or a raw signed post."""
    impl, calls = spec["impl"], spec["calls"]
    if impl == "ours":
        return _ours_concurrent_singles(spec)
    _import_raw(impl)

    async def main() -> dict[str, Any]:

        wire = _Wire(spec)
        post, close = await _SESSIONS[impl](wire, 100)
        path = "/v2/event/"
        ok = 0

        async def one(i: int) -> None:
            nonlocal ok
            body = wire.dumps(wire.record(i))
            status, _ = await post(path, body, wire.signed(path, body))
            ok += status == 202

        # The same harness as ours, so the figures differ only by the client.
        try:
            await _at_once(calls, one)
        finally:
            await close()
        return {"success": ok}

    return _measure(lambda: asyncio.run(main()))


def _ours_concurrent_singles(spec: dict[str, Any]) -> dict[str, Any]:
    from suprsend_async import Event

    _import_ours(spec)
    calls = spec["calls"]

    async def main() -> dict[str, Any]:

        ok = 0

        async def one(i: int) -> None:
            nonlocal ok
            response = await client.track_event(Event(*_event_fields(i)))
            ok += response.success

        async with _client(spec) as client:
            await _at_once(calls, one)
        return {"success": ok}

    return _measure(lambda: _run_async(spec, main))


def sequential_singles(spec: dict[str, Any]) -> dict[str, Any]:
    """track_event vs a raw post of the same bytes through the same httpx client and pool."""
    from suprsend_async import Event

    _import_ours(spec)
    from suprsend_async._core.auth import auth_on
    from suprsend_async._core.transport import CONTENT_TYPE, client_user_agent, user_agent

    calls = spec["calls"]

    async def main() -> dict[str, Any]:
        ours: list[float] = []
        raw: list[float] = []
        headers = {
            "Content-Type": CONTENT_TYPE,
            "User-Agent": user_agent(),
            "X-Suprsend-Client-User-Agent": client_user_agent(None),
        }
        async with _client(spec) as client:
            http = client._transport.client()
            # The client's auth, as the library in use takes it.
            auth = auth_on(client._transport._library, client._transport.auth)
            body = client._serializer.encode_event(Event(*_event_fields(0))).body
            url = spec["base_url"] + "v2/event/"
            for i in range(calls + 50):  # interleaved, so noise hits both alike
                t = time.perf_counter()
                ok = (await client.track_event(Event(*_event_fields(i)))).success
                t1 = time.perf_counter()
                status = (
                    await http.post(url, content=body, headers=headers, auth=auth)
                ).status_code
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

    return _measure(lambda: _run_async(spec, main))


# -- REST calls ----------------------------------------------------------------------------------

Request = tuple[str, str, "dict[str, Any] | None"]  # method, path, JSON body

# Each REST operation measured: the request of call i (method, path, JSON body or None) as the
# raw client sends it, and the same call on our client and on the official SDK.
REST_OPS: dict[str, Callable[[int], Request]] = {
    "users.get": lambda i: ("GET", f"/v1/user/user-{i}/", None),
    "users.upsert": lambda i: ("POST", f"/v1/user/user-{i}/", {"name": f"User {i}", "n": i}),
    "objects.upsert": lambda i: ("POST", f"/v1/object/teams/team-{i}/", {"name": f"Team {i}"}),
    "tenants.upsert": lambda i: (
        "POST",
        f"/v1/tenant/tenant-{i}/",
        {"tenant_name": f"Tenant {i}", "properties": {"n": i}},
    ),
}


def _rest_call(api: Any, op: str, i: int) -> Any:
    """Call i of ``op`` on our client or the official SDK (the same names and arguments)."""
    _, _, body = REST_OPS[op](i)
    if op == "users.get":
        return api.users.get(f"user-{i}")
    if op == "users.upsert":
        return api.users.upsert(f"user-{i}", body)
    if op == "objects.upsert":
        return api.objects.upsert("teams", f"team-{i}", body)
    if op == "tenants.upsert":
        return api.tenants.upsert(f"tenant-{i}", body)
    raise ValueError(op)


async def _raw_rest(wire: _Wire, calls: int, request_of: Callable[[int], Request]) -> int:
    """``calls`` signed requests at once through raw aiohttp; how many got a 2xx."""
    send, close = await _aiohttp_sender(wire, 100)  # our client's pool size
    ok = 0

    async def one(i: int) -> None:
        nonlocal ok
        method, path, payload = request_of(i)
        body = b"" if payload is None else wire.dumps(payload)
        status, content = await send(method, path, body, wire.signed(path, body, method))
        wire.loads(content)  # as ours and the SDK parse the answer
        ok += status < 300

    try:
        await _at_once(calls, one)
    finally:
        await close()
    return ok


def _seed(spec: dict[str, Any]) -> None:
    """Before the timing: the users a users.get reads (upserted concurrently, raw)."""
    if spec["op"] != "users.get":
        return
    _import_raw("aiohttp")
    made = asyncio.run(_raw_rest(_Wire(spec), spec["calls"], REST_OPS["users.upsert"]))
    assert made == spec["calls"], made


def rest(spec: dict[str, Any]) -> dict[str, Any]:
    """``calls`` REST calls of ``spec["op"]``: at once on one client (ours, raw aiohttp sending
    the same signed bytes), or one after another (the official SDK, as it can only)."""
    impl, op, calls = spec["impl"], spec["op"], spec["calls"]
    _seed(spec)
    if impl == "sdk":
        import suprsend

        sdk = suprsend.Suprsend(spec["key"], spec["secret"], base_url=spec["base_url"])

        def sequential() -> dict[str, Any]:
            for i in range(calls):
                _rest_call(sdk, op, i)  # raises on a status >= 400
            return {"success": calls}

        return _measure(sequential)
    if impl == "ours":
        _import_ours(spec)

        async def ours() -> dict[str, Any]:
            ok = 0

            async def one(i: int) -> None:
                nonlocal ok
                await _rest_call(client, op, i)  # raises on a status >= 400
                ok += 1

            async with _client(spec) as client:
                await _at_once(calls, one)
            return {"success": ok}

        return _measure(lambda: _run_async(spec, ours))
    _import_raw(impl)

    async def raw() -> dict[str, Any]:
        return {"success": await _raw_rest(_Wire(spec), calls, REST_OPS[op])}

    return _measure(lambda: asyncio.run(raw()))


RUNS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    f.__name__: f for f in (bulk, lag, concurrent_singles, sequential_singles, rest)
}


class _SniffioNotInstalled:
    """An import finder making ``import sniffio`` fail as it does when it is not installed
    (after the same walk along sys.path): for the A/B of ``sniffio`` as a dependency."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "sniffio":
            from importlib.machinery import PathFinder

            PathFinder.find_spec("sniffio_is_not_installed")
            raise ModuleNotFoundError("No module named 'sniffio'", name="sniffio")


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    if spec.get("code"):  # an A/B run of another version of the library
        sys.path.insert(0, spec["code"])
    if spec.get("sniffio") is False:
        sys.meta_path.insert(0, _SniffioNotInstalled())
    if spec.get("otel") is False or os.environ.get("NO_OTEL"):  # as without the otel extra
        sys.modules["opentelemetry"] = None  # type: ignore[assignment]
    print(json.dumps(RUNS[spec["run"]](spec)))
