"""Serve an ASGI app on a loopback socket, on asyncio or trio (anyio + h11).

Why not uvicorn or hypercorn: the emulator must be able to cut a connection
after it has processed a request and before it answers (the fault that makes
naive retries duplicate notifications), which no ASGI server lets an app do.
h11 already ships with httpx and does all of the HTTP/1.1 parsing; this module
is only the glue between sockets, h11 and the ASGI calling convention.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
import anyio.abc
import h11
from anyio.abc import SocketAttribute

from ._faults import ConnectionDropped
from ._hub import Message, Receive, Scope, Send

__all__ = ["serve"]

logger = logging.getLogger("suprsend_async.testing")

ASGIApp = Any  # any ``async def app(scope, receive, send)``
_READ_SIZE = 64 * 1024
_MAX_HEADER_BYTES = 64 * 1024


@asynccontextmanager
async def serve(app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``app`` on ``host``:``port`` (0 picks a free port); yields the base URL.

    ``async with serve(hub) as base_url:`` - the server stops, and every open
    connection is closed, when the block exits.
    """
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    bound = listener.extra(SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, partial(_serve_connection, app, (host, bound)))
        try:
            yield f"http://{host}:{bound}/"
        finally:
            tg.cancel_scope.cancel()


class _Closed(Exception):
    pass


async def _next_event(conn: h11.Connection, stream: anyio.abc.SocketStream) -> Any:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        try:
            data = await stream.receive(_READ_SIZE)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            data = b""
        conn.receive_data(data)


async def _serve_connection(
    app: ASGIApp, server: tuple[str, int], stream: anyio.abc.SocketStream
) -> None:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEADER_BYTES)
    client = stream.extra(SocketAttribute.remote_address)
    async with stream:
        try:
            while await _serve_one(app, server, client, conn, stream):
                conn.start_next_cycle()
        except h11.RemoteProtocolError as exc:
            await _send_bad_request(conn, stream, exc)
        except (_Closed, anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass


async def _serve_one(
    app: ASGIApp,
    server: tuple[str, int],
    client: Any,
    conn: h11.Connection,
    stream: anyio.abc.SocketStream,
) -> bool:
    """Answer one request; False when the connection must close."""
    request = await _next_event(conn, stream)
    if not isinstance(request, h11.Request):
        return False  # ConnectionClosed between requests: a normal end
    chunks = []
    while True:
        event = await _next_event(conn, stream)
        if isinstance(event, h11.Data):
            chunks.append(event.data)
        elif isinstance(event, h11.EndOfMessage):
            break
        else:
            raise _Closed
    target = request.target
    path, _, query = target.partition(b"?")
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": request.http_version.decode(),
        "method": request.method.decode(),
        "scheme": "http",
        "path": path.decode("latin-1"),
        "raw_path": path,
        "query_string": query,
        "root_path": "",
        "headers": [(k, v) for k, v in request.headers],
        "server": server,
        "client": client,
    }
    try:
        status, headers, body = await _call_app(app, scope, b"".join(chunks))
    except ConnectionDropped:
        return False  # close without answering: the client sees a dead connection
    await stream.send(conn.send(h11.Response(status_code=status, headers=headers)))
    await stream.send(conn.send(h11.Data(data=body)))
    await stream.send(conn.send(h11.EndOfMessage()))
    return conn.our_state is h11.DONE and conn.their_state is h11.DONE


async def _call_app(
    app: ASGIApp, scope: Scope, body: bytes
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    received = False
    status = 500
    headers: list[tuple[bytes, bytes]] = []
    parts: list[bytes] = []
    started = False

    async def receive() -> Message:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await anyio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    async def send(message: Message) -> None:
        nonlocal status, headers, started
        if message["type"] == "http.response.start":
            status, headers, started = message["status"], list(message.get("headers", [])), True
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))

    call: Receive = receive
    answer: Send = send
    try:
        await app(scope, call, answer)
    except ConnectionDropped:
        raise
    except Exception:
        logger.exception("the ASGI app failed on %s %s", scope["method"], scope["path"])
        return 500, [(b"content-length", b"0")], b""
    if not started:
        return 500, [(b"content-length", b"0")], b""
    content = b"".join(parts)
    if not any(k.lower() == b"content-length" for k, _ in headers):
        headers.append((b"content-length", str(len(content)).encode()))
    return status, headers, content


async def _send_bad_request(
    conn: h11.Connection, stream: anyio.abc.SocketStream, exc: h11.RemoteProtocolError
) -> None:
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    body = f"bad request: {exc}".encode()
    try:
        await stream.send(
            conn.send(
                h11.Response(
                    status_code=exc.error_status_hint,
                    headers=[(b"content-length", str(len(body)).encode())],
                )
            )
        )
        await stream.send(conn.send(h11.Data(data=body)))
        await stream.send(conn.send(h11.EndOfMessage()))
    except (h11.LocalProtocolError, anyio.BrokenResourceError, anyio.ClosedResourceError):
        pass
