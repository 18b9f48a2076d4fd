"""httpcore's streams under the sharded pool send a request in one write (_core/network.py).

Over a real loopback socket to the emulator, and against a recording stream
for the exact contract (what is written, when, with which timeout).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import sys
import threading
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
import pytest
from anyio.streams.tls import TLSListener
from hypothesis import given
from hypothesis import strategies as st

from suprsend_async._core.network import FLUSH_AT, whole_request_backend_class
from suprsend_async.testing import HubEmulator, serve
from tests._doubles import LIBRARY, ShardedPool

# The httpcore the pools are built on: httpcore, or httpcore2 under httpx2.
CORE: Any = sys.modules[type(ShardedPool(1)._shard(0)._pool).__module__.partition(".")[0]]
Backend: Any = whole_request_backend_class(CORE)


class Recording(CORE.AsyncNetworkStream):  # type: ignore[misc]
    """A network stream that records what is done to it and answers reads with ``b"ok"``."""

    def __init__(
        self, stream: Any = None, *, failing: Exception | None = None, sock: Any = None
    ) -> None:
        self.stream = stream
        self.failing = failing
        self.sock = sock
        self.calls: list[tuple[str, Any, float | None]] = []

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        self.calls.append(("write", buffer, timeout))
        if self.failing is not None:
            raise self.failing
        if self.stream is not None:
            await self.stream.write(buffer, timeout)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        self.calls.append(("read", max_bytes, timeout))
        if self.stream is not None:
            return bytes(await self.stream.read(max_bytes, timeout))
        return b"ok"

    async def aclose(self) -> None:
        self.calls.append(("close", None, None))
        if self.stream is not None:
            await self.stream.aclose()

    def get_extra_info(self, info: str) -> Any:
        if self.stream is None:
            return self.sock if info == "socket" else None
        return self.stream.get_extra_info(info)

    def writes(self) -> list[bytes]:
        return [buffer for call, buffer, _ in self.calls if call == "write"]


class Counting(CORE.AsyncNetworkBackend):  # type: ignore[misc]
    """A real backend whose streams record their writes."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.streams: list[Recording] = []

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
        stream = Recording(await self.backend.connect_tcp(*args, **kwargs))
        self.streams.append(stream)
        return stream

    async def sleep(self, seconds: float) -> None:
        await self.backend.sleep(seconds)


def whole(inner: Recording) -> Any:
    """``inner`` as the whole-request backend hands it to httpcore."""

    class One(CORE.AsyncNetworkBackend):  # type: ignore[misc]
        async def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
            return inner

    return anyio.run(Backend(One()).connect_tcp, "127.0.0.1", 1)


# -- the contract, against a recording stream -----------------------------------------------

chunk = st.one_of(
    st.binary(max_size=64),
    # Large ones made cheaply: a size and a byte, so that FLUSH_AT is crossed.
    st.builds(lambda n, b: bytes([b]) * n, st.integers(0, 2 * FLUSH_AT), st.integers(0, 255)),
)


@given(st.lists(chunk, max_size=8), st.sampled_from([None, 5.0]))
def test_what_is_written_reaches_the_socket_whole_in_order_before_the_read(
    chunks: list[bytes], timeout: float | None
) -> None:
    inner = Recording()
    stream = whole(inner)
    held: list[int] = []  # after each write: bytes given and not yet sent

    async def request() -> None:
        given = 0
        for piece in chunks:
            await stream.write(piece, timeout)
            given += len(piece)
            held.append(given - sum(map(len, inner.writes())))
        assert await stream.read(10, 1.0) == b"ok"

    anyio.run(request)
    *writes, read = inner.calls
    assert read == ("read", 10, 1.0)
    assert b"".join(buffer for _, buffer, _ in writes) == b"".join(chunks)
    assert all(t == timeout for _, _, t in writes)  # the writes' own timeout, not the read's
    assert all(buffer for _, buffer, _ in writes)  # nothing empty is sent
    assert all(n < FLUSH_AT for n in held)  # never FLUSH_AT bytes held back
    if sum(map(len, chunks)) < FLUSH_AT:  # a request's head and body, in one write
        assert len(writes) == (1 if any(chunks) else 0)


def test_a_held_write_that_fails_gives_way_to_the_read_and_is_not_sent_again() -> None:
    # As httpcore passes over a failed write of its own: the server may have answered
    # first (an early 503, then a reset), and that answer is what the read returns.
    inner = Recording(failing=CORE.WriteError("connection reset"))
    stream = whole(inner)

    async def request() -> None:
        await stream.write(b"POST / HTTP/1.1\r\n\r\n", 5.0)  # held, not sent
        assert inner.calls == []
        assert await stream.read(10, 1.0) == b"ok"
        assert await stream.read(10, 1.0) == b"ok"

    anyio.run(request)
    assert [call for call, _, _ in inner.calls] == ["write", "read", "read"]


def test_closing_mid_request_drops_what_was_not_sent() -> None:
    inner = Recording()
    stream = whole(inner)

    async def request() -> None:
        await stream.write(b"half a request", 5.0)
        await stream.aclose()

    anyio.run(request)
    assert inner.calls == [("close", None, None)]


def test_a_closed_socket_reads_as_readable_so_its_connection_is_dropped() -> None:
    sock, other = socket.socketpair()
    stream = whole(Recording(sock=sock))
    try:
        assert stream.get_extra_info("is_readable") is False  # idle and open
        other.send(b"x")  # something the server sent unasked (or its end)
        assert stream.get_extra_info("is_readable") is True
    finally:
        other.close()
        sock.close()
    assert stream.get_extra_info("is_readable") is True  # no socket left: at its end


# -- over a real socket ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_pool_sends_each_request_in_one_write() -> None:
    pool = ShardedPool(4)
    backend = pool._shard(0)._pool._network_backend
    assert isinstance(backend, Backend)  # wired into every shard
    counting = backend.backend = Counting(backend.backend)
    hub = HubEmulator()
    body = b'{"x": "' + b"y" * 30_000 + b'"}'  # a bulk chunk's size
    async with serve(hub) as base_url, LIBRARY.AsyncClient(transport=pool) as http:
        for _ in range(3):
            response = await http.post(base_url + "no-such-route", content=body)
            assert response.status_code < 500
    (stream,) = counting.streams  # one connection, kept alive
    assert len(stream.writes()) == 3  # head and body together, once per request
    assert all(write.endswith(body) for write in stream.writes())


@pytest.mark.anyio
async def test_an_idle_connection_the_server_closed_is_not_reused() -> None:
    # The server answers each connection's first request, then closes it (without
    # saying so in a header): the next request must find out before using it.
    closed = [anyio.Event(), anyio.Event()]
    accepted = [0]

    async def handle(stream: anyio.abc.SocketStream) -> None:
        n = accepted[0]
        accepted[0] += 1
        async with stream:
            buffer = b""
            while b"\r\n\r\n" not in buffer:
                buffer += await stream.receive()
            await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        closed[min(n, 1)].set()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with (
        listener,
        anyio.create_task_group() as tasks,
        LIBRARY.AsyncClient(transport=ShardedPool(1)) as http,
    ):
        tasks.start_soon(listener.serve, handle)
        assert (await http.get(f"http://127.0.0.1:{port}/")).text == "ok"
        await closed[0].wait()
        assert (await http.get(f"http://127.0.0.1:{port}/")).text == "ok"
        assert accepted[0] == 2  # a new connection for the second
        tasks.cancel_scope.cancel()


class _Delayed(CORE.AsyncNetworkBackend):  # type: ignore[misc]
    """Connects, then lets the server below answer and reset the connection, and waits
    for it to have done so before handing the connection to httpcore."""

    def __init__(self, backend: Any, connected: threading.Event, answered: threading.Event):
        self.backend = backend
        self.connected = connected
        self.answered = answered

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
        stream = await self.backend.connect_tcp(*args, **kwargs)
        self.connected.set()
        await anyio.to_thread.run_sync(self.answered.wait)
        self.answered.clear()
        return stream

    async def sleep(self, seconds: float) -> None:
        await self.backend.sleep(seconds)


@pytest.mark.anyio
async def test_an_answer_sent_before_the_request_is_read_as_plain_httpcore_reads_it() -> None:
    # A server answering 503 at once and resetting the connection before the request
    # arrives. Whatever plain httpcore makes of it (the 503 where it can still be read,
    # else a read error), the pool's streams must make the same, not a write error.
    listener = socket.create_server(("127.0.0.1", 0))
    connected, answered = threading.Event(), threading.Event()

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # closed: the test is over
                return
            connected.wait()  # (reset before the client saw it connect, it would not be)
            connected.clear()
            connection.sendall(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n"
                b"Connection: close\r\n\r\nbusy"
            )
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()  # a reset, at once: the request is never read
            answered.set()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"

    async def outcome(transport: Any) -> str:
        async with LIBRARY.AsyncClient(transport=transport) as http:
            try:
                response = await http.post(url, content=b"x" * 30_000)
            except LIBRARY.TransportError as exc:
                return type(exc).__name__
            return str(response.status_code)

    try:
        plain = LIBRARY.AsyncHTTPTransport()
        plain._pool._network_backend = _Delayed(plain._pool._network_backend, connected, answered)
        pool = ShardedPool(1)
        ours = pool._shard(0)._pool._network_backend
        ours.backend = _Delayed(ours.backend, connected, answered)
        expected = await outcome(plain)
        assert expected != "WriteError"
        assert await outcome(pool) == expected
    finally:
        listener.close()


@pytest.mark.anyio
async def test_https_goes_through_the_same_streams() -> None:
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    pool = ShardedPool(1)
    authority.configure_trust(pool._ssl)
    body = b"y" * 30_000
    received: list[bytes] = []

    async def handle(stream: anyio.abc.ByteStream) -> None:
        buffer = b""
        async with stream:
            # (Until the client closes the connection: how depends on anyio's version.)
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                while True:
                    while b"\r\n\r\n" not in buffer:
                        buffer += await stream.receive()
                    _, _, buffer = buffer.partition(b"\r\n\r\n")
                    while len(buffer) < len(body):
                        buffer += await stream.receive()
                    received.append(buffer[: len(body)])
                    buffer = buffer[len(body) :]
                    await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = tcp.extra(anyio.abc.SocketAttribute.local_port)
    listener = TLSListener(tcp, server_context, standard_compatible=False)
    async with listener, anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, handle)
        async with LIBRARY.AsyncClient(transport=pool) as http:
            for _ in range(3):
                response = await http.post(f"https://127.0.0.1:{port}/", content=body)
                assert response.text == "ok"
            stream = response.extensions["network_stream"]
            assert type(stream).__name__ == "WholeRequestStream"  # the TLS stream, wrapped
            assert stream.get_extra_info("ssl_object") is not None
        tasks.cancel_scope.cancel()
    assert received == [body] * 3
