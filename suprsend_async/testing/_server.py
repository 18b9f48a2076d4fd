"""Serve an ASGI app on a loopback socket, on asyncio or trio (anyio + h11).

Why not uvicorn or hypercorn: the emulator must be able to cut a connection
after it has processed a request and before it answers (the fault that makes
naive retries duplicate notifications), which no ASGI server lets an app do.
h11 already ships with httpx and does all of the HTTP/1.1 parsing; this module
is the glue between sockets, h11 and the ASGI calling convention, and what
keeps a server that others' CI depends on up: every request gets an HTTP
answer, slow or idle connections are closed, bodies are capped before they are
buffered, and running out of file handles only delays new connections.
"""

from __future__ import annotations

import errno
import http
import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
import anyio.abc
import attrs
import h11
from anyio.abc import SocketAttribute

from .._core.logging import library_logger
from ._faults import ConnectionDropped
from ._hub import Message, Receive, Scope, Send, error_body

__all__ = [
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_MAX_BODY_BYTES",
    "serve",
]

logger = library_logger("suprsend_async.testing")

ASGIApp = Any  # any ``async def app(scope, receive, send)``
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_IDLE_TIMEOUT = 30.0
# Well above the hub's 800 KB request limit, so the app answers those itself.
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
_READ_SIZE = 64 * 1024
_MAX_HEADER_BYTES = 64 * 1024
_ACCEPT_BACKOFF = 0.1  # seconds to wait after a failed accept (out of file handles)
# After refusing a request, read (and drop) what the client is still sending for
# a moment, so that closing does not reset the connection before it reads the answer.
_LINGER_SECONDS = 1.0
_LINGER_BYTES = 1024 * 1024
# errnos that say the process or system is out of something, not that the listener broke.
_RESOURCE_ERRNOS = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.ECONNABORTED}
)


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0 or math.isnan(value):
        raise ValueError(f"{attribute.name} must be positive, got {value!r}")


@attrs.frozen(kw_only=True)
class _Limits:
    header_timeout: float = attrs.field(validator=_positive)
    idle_timeout: float = attrs.field(validator=_positive)
    max_body_bytes: int = attrs.field(validator=attrs.validators.gt(0))


@asynccontextmanager
async def serve(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> AsyncIterator[str]:
    """Serve ``app`` on ``host``:``port`` (0 picks a free port); yields the base URL.

    ``async with serve(hub) as base_url:`` - the server stops, and every open
    connection is closed, when the block exits (or is cancelled).

    - ``header_timeout``: seconds a request's headers may take to arrive, and
      then its body; then 408 and the connection is closed.
    - ``idle_timeout``: seconds a kept-alive connection may wait for its next
      request, and a client may take to accept an answer, before it is closed.
    - ``max_body_bytes``: larger request bodies get 413 and the connection is
      closed, judged by ``Content-Length`` before any of it is read, and while
      reading a body without one.
    """
    limits = _Limits(
        header_timeout=header_timeout, idle_timeout=idle_timeout, max_body_bytes=max_body_bytes
    )
    listeners = await anyio.create_tcp_listener(local_host=host, local_port=port)
    bound = listeners.extra(SocketAttribute.local_port)
    handler = partial(_serve_connection, app, (host, bound), limits)
    failure: Exception | None = None
    async with listeners:
        async with anyio.create_task_group() as tg:
            for listener in listeners.listeners:
                # What create_tcp_listener makes; accept() is what serve() lacks.
                assert isinstance(listener, anyio.abc.SocketListener)
                tg.start_soon(_accept_loop, listener, tg, handler)
            try:
                yield f"http://{host}:{bound}/"
            except Exception as exc:
                # The block's own error (a failed assert): raised as itself once the
                # server has stopped, not wrapped in the task group's exception group,
                # so that ``pytest.raises`` and ``except`` around the block still work.
                failure = exc
            finally:
                tg.cancel_scope.cancel()
        if failure is not None:
            raise failure


async def _accept_loop(
    listener: anyio.abc.SocketListener,
    tg: anyio.abc.TaskGroup,
    handler: Any,
) -> None:
    # Not listener.serve(): one failed accept (EMFILE when file handles run out)
    # would end it, and the whole server with it.
    failing = False
    while True:
        try:
            stream = await listener.accept()
        except anyio.ClosedResourceError:
            return
        except (OSError, anyio.BrokenResourceError) as exc:
            # asyncio raises the OSError itself; trio's backend wraps it in
            # BrokenResourceError, with the OSError as its cause.
            error = exc if isinstance(exc, OSError) else exc.__cause__
            if not isinstance(error, OSError) or error.errno not in _RESOURCE_ERRNOS:
                raise
            if not failing:
                logger.warning("cannot accept connections (%s); still serving, retrying", error)
            failing = True
            # The connection waits in the backlog until a handle is free again.
            await anyio.sleep(_ACCEPT_BACKOFF)
            continue
        if failing:
            logger.warning("accepting connections again")
            failing = False
        tg.start_soon(handler, stream)


class _Closed(Exception):
    """The connection ended, or must end, without (another) answer."""


class _Refused(Exception):
    """Answer ``status`` and close the connection."""

    def __init__(self, status: int, message: str, error_type: str, *, head: bool = False) -> None:
        super().__init__(message)
        self.status, self.message, self.error_type = status, message, error_type
        self.head = head  # refusing a HEAD request: the answer has no body


async def _receive(stream: anyio.abc.SocketStream) -> bytes:
    try:
        return await stream.receive(_READ_SIZE)
    except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
        return b""  # h11 reads an empty chunk as the end of the stream


async def _next_event(conn: h11.Connection, stream: anyio.abc.SocketStream) -> Any:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(await _receive(stream))


async def _serve_connection(
    app: ASGIApp, server: tuple[str, int], limits: _Limits, stream: anyio.abc.SocketStream
) -> None:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEADER_BYTES)
    try:
        client = stream.extra(SocketAttribute.remote_address)
    except OSError:  # the peer has already gone
        client = None
    async with stream:
        try:
            first = True
            while await _serve_one(app, server, client, limits, conn, stream, first=first):
                conn.start_next_cycle()
                first = False
        except h11.RemoteProtocolError as exc:
            message = f"bad request: {exc}"
            status = exc.error_status_hint
            await _refuse(conn, stream, status, message, "bad_request", limits=limits)
        except _Refused as exc:
            await _refuse(
                conn,
                stream,
                exc.status,
                exc.message,
                exc.error_type,
                limits=limits,
                head=exc.head,
            )
        except (_Closed, anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream):
            pass
        except Exception:
            # One connection's failure must never take the server down.
            logger.exception("the emulator's server failed on a connection")


async def _read_head(
    conn: h11.Connection, stream: anyio.abc.SocketStream, limits: _Limits, *, first: bool
) -> h11.Request | None:
    """The next request's head; None when the client closed or idled out between requests."""
    if not first and not conn.trailing_data[0]:
        with anyio.move_on_after(limits.idle_timeout):
            data = await _receive(stream)
            if not data:
                return None
            conn.receive_data(data)
        if not conn.trailing_data[0]:
            return None  # idle keep-alive connection: close it quietly
    with anyio.move_on_after(limits.header_timeout):
        event = await _next_event(conn, stream)
        if not isinstance(event, h11.Request):
            return None  # ConnectionClosed between requests: a normal end
        # h11 caps only a head still arriving; one that came in a single read is whole.
        size = len(event.target) + sum(len(k) + len(v) + 4 for k, v in event.headers)
        if size > _MAX_HEADER_BYTES:
            raise _Refused(
                431,
                "request headers are too large",
                "request_header_fields_too_large",
                head=event.method == b"HEAD",
            )
        return event
    if conn.trailing_data[0]:
        raise _Refused(408, "request headers took too long", "request_timeout")
    raise _Closed  # connected and never sent a byte


async def _read_body(
    conn: h11.Connection,
    stream: anyio.abc.SocketStream,
    limits: _Limits,
    request: h11.Request,
) -> bytes:
    head = request.method == b"HEAD"
    for name, value in request.headers:
        # h11 has checked that a Content-Length is digits only.
        if name == b"content-length" and int(value) > limits.max_body_bytes:
            raise _Refused(
                413,
                f"request body of {int(value)} bytes is over the server's limit of "
                f"{limits.max_body_bytes}",
                "payload_too_large",
                head=head,
            )
    if conn.they_are_waiting_for_100_continue:
        # The client holds its body back until told to send it (curl does, for a
        # large one, for a second; others until their own timeout).
        interim = h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")
        await _send(stream, conn.send(interim) or b"", limits)
    chunks: list[bytes] = []
    size = 0
    # One deadline for the whole body, not one per read: a client trickling a byte
    # just inside each pause would otherwise hold the connection indefinitely.
    with anyio.move_on_after(limits.header_timeout):
        while True:
            event = await _next_event(conn, stream)
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > limits.max_body_bytes:
                    raise _Refused(
                        413,
                        f"request body is over the server's limit of {limits.max_body_bytes} bytes",
                        "payload_too_large",
                        head=head,
                    )
                chunks.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)
            else:
                raise _Closed
    raise _Refused(408, "the request body took too long", "request_timeout", head=head)


async def _serve_one(
    app: ASGIApp,
    server: tuple[str, int],
    client: Any,
    limits: _Limits,
    conn: h11.Connection,
    stream: anyio.abc.SocketStream,
    *,
    first: bool,
) -> bool:
    """Answer one request; False when the connection must close."""
    request = await _read_head(conn, stream, limits, first=first)
    if request is None:
        return False
    body = await _read_body(conn, stream, limits, request)
    path, _, query = request.target.partition(b"?")
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": request.http_version.decode(),
        "method": request.method.decode("latin-1"),
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
        status, headers, content = await _call_app(app, scope, body)
    except ConnectionDropped:
        return False  # close without answering: the client sees a dead connection
    head = request.method == b"HEAD"
    await _send_response(conn, stream, status, headers, content, head=head, limits=limits)
    return conn.our_state is h11.DONE and conn.their_state is h11.DONE


def _reason(status: int) -> bytes:
    # Never empty: the Node SDK reports the reason phrase as the error message.
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return {4: b"Client Error", 5: b"Server Error"}.get(status // 100, b"Unknown Status")


async def _send_response(
    conn: h11.Connection,
    stream: anyio.abc.SocketStream,
    status: int,
    headers: list[tuple[bytes, bytes]],
    content: bytes,
    *,
    head: bool,
    limits: _Limits,
) -> None:
    response = h11.Response(status_code=status, headers=headers, reason=_reason(status))
    parts = [conn.send(response)]
    # h11 frames answers to HEAD, and 204/304, as bodiless and refuses any data for them
    # (the Content-Length still says what a GET would get, as HTTP wants for HEAD).
    if content and not head and status not in (204, 304):
        parts.append(conn.send(h11.Data(data=content)))
    parts.append(conn.send(h11.EndOfMessage()))
    await _send(stream, b"".join(p for p in parts if p is not None), limits)


async def _send(stream: anyio.abc.SocketStream, data: bytes, limits: _Limits) -> None:
    """Send, or give up on a client that has not taken it within the idle timeout
    (one that stopped reading would hold the connection forever once the socket
    buffers are full)."""
    with anyio.move_on_after(limits.idle_timeout):
        await stream.send(data)
        return
    raise _Closed


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
        return _error_answer(500, "the emulator failed on this request", "server_error")
    if not started:
        return _error_answer(500, "the emulator sent no answer", "server_error")
    content = b"".join(parts)
    if not any(k.lower() == b"content-length" for k, _ in headers):
        headers.append((b"content-length", str(len(content)).encode()))
    return status, headers, content


def _error_answer(
    status: int, message: str, error_type: str
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """An answer of the server's own, in the hub's error shape. The server does not
    know the routes, so it always carries ``"records": []``: the official Python
    SDK's bulk events read ``records`` from every answer, error or not."""
    content = json.dumps(error_body(status, message, error_type, bulk=True)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
    ]
    return status, headers, content


async def _refuse(
    conn: h11.Connection,
    stream: anyio.abc.SocketStream,
    status: int,
    message: str,
    error_type: str,
    *,
    limits: _Limits,
    head: bool = False,
) -> None:
    """Answer an error the app never saw (malformed, too slow, too large), then close."""
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    status, headers, content = _error_answer(status, message, error_type)
    headers.append((b"connection", b"close"))
    try:
        await _send_response(conn, stream, status, headers, content, head=head, limits=limits)
        await stream.send_eof()
        with anyio.move_on_after(_LINGER_SECONDS):
            drained = 0
            while drained < _LINGER_BYTES:
                data = await stream.receive(_READ_SIZE)
                drained += len(data)
    except (
        _Closed,
        h11.LocalProtocolError,
        anyio.BrokenResourceError,
        anyio.ClosedResourceError,
        anyio.EndOfStream,
        OSError,
    ):
        pass
