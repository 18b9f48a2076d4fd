"""Stand-ins for the hub shared by several test modules."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import httpx

from suprsend_async import AsyncSuprsend
from suprsend_async._core.pool import sharded_pool_class
from suprsend_async._core.stack import chosen_stack, library
from suprsend_async.testing import HubEmulator, serve

# The HTTP library the clients under test build their pools on: httpx, or httpx2
# when SUPRSEND_HTTP_STACK=httpx2 (`nox -s httpx2` runs the integration slice so).
STACK = chosen_stack(None, None)
LIBRARY: Any = library(STACK)
# The pool class a client on that library builds, for tests that check which one it has.
ShardedPool: Any = sharded_pool_class(LIBRARY)


class PortCounter:
    """An ASGI wrapper counting requests per client port (one port = one connection)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.ports: Counter[int] = Counter()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.ports[scope["client"][1]] += 1
        await self.app(scope, receive, send)


# How long a held request waits for the others before giving up. Not a timing
# assumption: a test whose client never reaches the expected concurrency
# fails (``reached`` unset) after this long instead of hanging.
PATIENCE = 60.0


class ScriptedHub:
    """A MockTransport handler answering a script of statuses (the last one repeats).

    An exception in the script is raised instead of answering, as a transport would.
    """

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers) or [202]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        if request.url.path.startswith("/v2/bulk/"):
            records = [{"status": "success", "status_code": 202}] * len(json.loads(request.content))
            return httpx.Response(answer, json={"status": "success", "records": records})
        return httpx.Response(answer, json={"status": "success", "message_id": "m"})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def bodies(self) -> list[Any]:
        return [json.loads(request.content) for request in self.requests]

    def only(self) -> httpx.Request:
        [request] = self.requests
        return request


@asynccontextmanager
async def served(hub: HubEmulator, **options: Any) -> AsyncIterator[AsyncSuprsend]:
    """A client talking to ``hub`` over a loopback socket."""
    async with (
        serve(hub) as base_url,
        AsyncSuprsend(
            hub.workspace_key, hub.workspace_secret, base_url=base_url, **options
        ) as client,
    ):
        yield client


class HoldUntil:
    """An ASGI app in front of ``app`` that holds hub requests until ``count`` are in flight.

    Then every request passes. Whether a client reaches a concurrency then
    depends on the client alone, not on how fast a loaded machine answers:
    ``reached`` is set once ``count`` requests were held at the same time,
    and ``max_in_flight`` is the most ever in flight here (a client sending
    more than it should shows up there). Control paths pass straight through.
    """

    def __init__(self, app: Any, count: int, *, patience: float = PATIENCE) -> None:
        self.app = app
        self.count = count
        self.patience = patience
        self.in_flight = 0
        self.max_in_flight = 0
        self.reached = anyio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator/"):
            await self.app(scope, receive, send)
            return
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.in_flight >= self.count:
                self.reached.set()
            with anyio.move_on_after(self.patience):
                await self.reached.wait()
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


@asynccontextmanager
async def served_through(
    app: Any, hub: HubEmulator, **options: Any
) -> AsyncIterator[AsyncSuprsend]:
    """A client signed for ``hub``, talking over a loopback socket to ``app`` (which wraps it)."""
    async with (
        serve(app) as base_url,
        AsyncSuprsend(
            hub.workspace_key, hub.workspace_secret, base_url=base_url, **options
        ) as client,
    ):
        yield client


async def wait_for(condition: Callable[[], bool], *, patience: float = PATIENCE) -> None:
    """Wait until ``condition()`` holds (checked every 10 ms), at most ``patience`` seconds.

    For gauges that have no event to wait on (the emulator's ``in_flight``);
    the bound only turns a hang into a failure.
    """
    with anyio.fail_after(patience):
        while not condition():  # noqa: ASYNC110 - nothing to wait on but the gauge
            await anyio.sleep(0.01)


@asynccontextmanager
async def raw_http_server(
    respond: Callable[[int, bytes], tuple[bytes, bool]],
    received: list[tuple[bytes, bytes]] | None = None,
) -> AsyncIterator[tuple[str, list[int]]]:
    """A bare HTTP/1.1 server on 127.0.0.1, for answers no well-behaved server gives.

    It reads each request whole, then writes the raw bytes ``respond(n, head)``
    returns for the n-th request (counted from 1, across connections; ``head``
    is its request line and headers) and
    closes the connection if told to. Yields the base URL and a one-item list
    counting the connections accepted. Each request's head and body are added
    to ``received``, if given.
    """
    served = 0
    connections = [0]

    async def handle(stream: anyio.abc.SocketStream) -> None:
        nonlocal served
        connections[0] += 1
        buffer = b""
        try:
            async with stream:
                while True:
                    while b"\r\n\r\n" not in buffer:
                        buffer += await stream.receive()
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                    length = int(match.group(1)) if match else 0
                    while len(buffer) < length:
                        buffer += await stream.receive()
                    if received is not None:
                        received.append((head, buffer[:length]))
                    buffer = buffer[length:]
                    served += 1
                    answer, close = respond(served, head)
                    await stream.send(answer)
                    if close:
                        return
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, handle)
        yield f"http://127.0.0.1:{port}/", connections
        tasks.cancel_scope.cancel()


class Gate:
    """An ASGI app in front of ``app`` that lets the first ``let_through`` hub requests
    pass, then holds the others until :meth:`open`.

    ``answered_later``: a held request is processed by ``app`` at once and only its
    answer is held (the hub has the records, the client does not know it: what a
    crash mid-request leaves); otherwise it reaches ``app`` only once open.
    ``holding`` is set when the first request is held. Control paths pass.
    """

    def __init__(self, app: Any, *, let_through: int = 0, answered_later: bool = False) -> None:
        self.app = app
        self.let_through = let_through
        self.answered_later = answered_later
        self.seen = 0
        self.holding = anyio.Event()
        self._open = anyio.Event()

    def open(self) -> None:
        self._open.set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator/"):
            await self.app(scope, receive, send)
            return
        self.seen += 1
        if self.seen <= self.let_through or self._open.is_set():
            await self.app(scope, receive, send)
            return
        self.holding.set()
        if not self.answered_later:
            await self._open.wait()
            await self.app(scope, receive, send)
            return

        async def send_when_open(message: Any) -> None:
            await self._open.wait()
            await send(message)

        await self.app(scope, receive, send_when_open)
