"""httpcore's network streams, made to send a request in one write.

httpcore (under :class:`~suprsend_async._core.pool.ShardedPool`) writes a
request's head and its body separately, and each write goes through anyio's
or trio's stream with a timeout scope and two checkpoints around one
``send``: for a bulk chunk that was a tenth of an upload's CPU, and a second
TCP segment for the hub to read. The streams here keep what httpcore writes
until it reads (it reads once the request is written whole) and send it in
one write, with the timeout those writes were given; a body of
:data:`FLUSH_AT` bytes or more goes as it is, after the head, rather than
copied behind it.

A held write that fails when the read sends it is passed over, as httpcore
passes over a failed write of its own: a server may answer before reading
the whole request (an early 503 or 429, then a reset) and that answer is
then read; without one, the read fails as it would have. (So anything
written to a response's ``network_stream`` extension waits for a read.)

They also answer httpcore's question "has this idle connection been closed
by the server?", asked of every idle connection of a pool at each request,
with one ``poll()`` of a poll object kept per connection, in place of an
attribute lookup through anyio and a new poll object each time.

Nothing else changes: connecting, TLS and reading are the wrapped backend's.
"""

from __future__ import annotations

import contextlib
import functools
import select
from collections.abc import Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any

__all__ = ["FLUSH_AT", "whole_request_backend_class"]

# A write this large is sent as it is: copying it behind the head would cost more
# than the write saved, and a streamed body is never held whole.
FLUSH_AT = 64 * 1024


@functools.cache
def whole_request_backend_class(core: ModuleType) -> Any:
    """The backend wrapper on ``core`` (httpcore, or httpcore2: its API, name for name)."""
    if TYPE_CHECKING:
        import httpcore
    else:
        httpcore = core

    class WholeRequestStream(httpcore.AsyncNetworkStream):
        __slots__ = ("_fd", "_pending", "_poll", "_socket", "_stream", "_timeout")

        def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
            self._stream = stream
            self._pending = b""
            self._timeout: float | None = None
            self._socket: Any = None  # the connection's, once asked for
            self._poll: Any = None  # a select.poll, registered for _fd
            self._fd = -1

        async def _flush(self) -> None:
            pending, self._pending = self._pending, b""
            await self._stream.write(pending, self._timeout)

        async def write(self, buffer: bytes, timeout: float | None = None) -> None:
            if not buffer:
                return
            self._timeout = timeout
            if len(buffer) >= FLUSH_AT:
                if self._pending:
                    await self._flush()
                await self._stream.write(buffer, timeout)
            elif self._pending:
                self._pending += buffer
                if len(self._pending) >= FLUSH_AT:
                    await self._flush()
            else:
                self._pending = buffer

        async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            if self._pending:
                # Within httpcore's reach, this write's failure would be passed over
                # for the answer a server may have sent first: so it is here.
                with contextlib.suppress(httpcore.WriteError):
                    await self._flush()
            return await self._stream.read(max_bytes, timeout)

        async def aclose(self) -> None:
            self._pending = b""  # (closed mid-request: there is nothing to finish)
            await self._stream.aclose()

        async def start_tls(
            self,
            ssl_context: Any,
            server_hostname: str | None = None,
            timeout: float | None = None,
        ) -> httpcore.AsyncNetworkStream:
            if self._pending:
                await self._flush()
            inner = await self._stream.start_tls(ssl_context, server_hostname, timeout)
            return WholeRequestStream(inner)

        def get_extra_info(self, info: str) -> Any:
            # (select.poll looked up each time, as httpcore does: eventlet removes it.)
            if info == "is_readable" and getattr(select, "poll", None) is not None:
                if self._socket is None:
                    self._socket = self._stream.get_extra_info("socket")
                    if self._socket is None:
                        return self._stream.get_extra_info(info)
                fd = self._socket.fileno()
                if fd < 0:  # closed: as httpcore says, "readable" (at its end)
                    return True
                if fd != self._fd:
                    self._poll = select.poll()
                    self._poll.register(fd, select.POLLIN)
                    self._fd = fd
                return bool(self._poll.poll(0))
            return self._stream.get_extra_info(info)

    class WholeRequestBackend(httpcore.AsyncNetworkBackend):
        """``backend``'s connections, as :class:`WholeRequestStream` s."""

        def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
            self.backend = backend

        async def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Iterable[Any] | None = None,
        ) -> httpcore.AsyncNetworkStream:
            stream = await self.backend.connect_tcp(
                host, port, timeout, local_address, socket_options
            )
            return WholeRequestStream(stream)

        async def connect_unix_socket(
            self,
            path: str,
            timeout: float | None = None,
            socket_options: Iterable[Any] | None = None,
        ) -> httpcore.AsyncNetworkStream:
            stream = await self.backend.connect_unix_socket(path, timeout, socket_options)
            return WholeRequestStream(stream)

        async def sleep(self, seconds: float) -> None:
            await self.backend.sleep(seconds)

    return WholeRequestBackend
