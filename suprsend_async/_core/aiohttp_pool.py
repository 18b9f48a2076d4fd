"""httpx over aiohttp's connection pool (the ``aiohttp`` extra): asyncio only.

Importing this module fails with ImportError when httpx-aiohttp is not
installed; :func:`~suprsend_async._core.pool.default_transport` then uses httpcore.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
import yarl

__all__ = ["AiohttpPool", "aiohttp_pool_class"]


@functools.cache
def aiohttp_pool_class(library: ModuleType) -> Any:
    """:class:`AiohttpPool` on ``library`` (httpx, or httpx2: its API, name for name).

    ImportError if httpx-aiohttp has no variant for it (httpx2's came in 0.2).
    """
    variant = (
        "httpx_aiohttp" if library.__name__ == "httpx" else f"httpx_aiohttp.{library.__name__}"
    )
    if TYPE_CHECKING:
        import httpx
        from httpx_aiohttp import AiohttpTransport
        from httpx_aiohttp.transport import AiohttpResponseStream
    else:
        httpx = library
        AiohttpTransport = importlib.import_module(variant).AiohttpTransport
        AiohttpResponseStream = importlib.import_module(
            f"{variant}.transport"
        ).AiohttpResponseStream

    def _as_httpx_error(exc: BaseException) -> httpx.TransportError:
        """What httpcore would have raised for the same failure.

        httpx-aiohttp maps every connection error (a server that hung up
        included) to ``ConnectTimeout``; the retry layer and its messages need
        to tell a timeout from a dropped connection.
        """
        message = str(exc) or type(exc).__name__
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return httpx.ConnectTimeout(message)
        if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
            return httpx.ReadTimeout(message)
        if isinstance(exc, aiohttp.ClientConnectorError):
            return httpx.ConnectError(message)
        if isinstance(exc, aiohttp.InvalidURL):
            return httpx.UnsupportedProtocol(message)
        if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ClientOSError)):
            return httpx.ReadError(message)
        return httpx.RemoteProtocolError(message)  # disconnected, a malformed answer

    def _pairs(headers: httpx.Headers) -> list[tuple[str, str]]:
        """``headers.multi_items()``, with their encoding looked up once, not twice a header."""
        encoding = headers.encoding
        return [(name.decode(encoding), value.decode(encoding)) for name, value in headers.raw]

    @contextmanager
    def _mapped_errors() -> Iterator[None]:
        try:
            yield
        except httpx.TransportError as exc:
            cause = exc.__cause__
            if isinstance(cause, (aiohttp.ClientError, asyncio.TimeoutError)):
                raise _as_httpx_error(cause) from cause
            raise
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise _as_httpx_error(exc) from exc

    class _MappedStream(httpx.AsyncByteStream):
        def __init__(self, stream: httpx.AsyncByteStream) -> None:
            self._stream = stream

        async def __aiter__(self) -> AsyncIterator[bytes]:
            with _mapped_errors():
                async for part in self._stream:
                    yield part

        async def aclose(self) -> None:
            with _mapped_errors():
                await self._stream.aclose()

    class AiohttpPool(AiohttpTransport):
        """One aiohttp ``ClientSession`` holding up to ``max_connections`` connections.

        Cookies stay httpx's business (the session's own jar is a dummy), and a
        plain-http base URL skips loading the CA bundle, as :class:`ShardedPool`
        does. An unencoded answer that says it is at most ``read_whole_below``
        bytes long is read before it is handed to httpx.
        """

        def __init__(
            self,
            max_connections: int,
            *,
            tls: bool,
            keepalive_expiry: float = 5.0,
            read_whole_below: int = 0,
        ) -> None:
            verify = httpx.create_ssl_context() if tls else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            super().__init__(verify=verify, trust_env=False, client=self._session)
            self._max_connections = max_connections
            self._keepalive_expiry = keepalive_expiry
            self._read_whole_below = read_whole_below
            self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

        def _session(self) -> aiohttp.ClientSession:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=0,
                keepalive_timeout=self._keepalive_expiry,
                ssl=self.ssl_context,
            )
            session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar()
            )
            # aiohttp silently sends a GET or DELETE again when a reused connection
            # was closed under it. Our retry layer must be the only one that
            # re-sends: a hidden repeat escapes the attempts and deadline budget,
            # and a DELETE the hub applied before dropping the connection comes
            # back as "not found" with no sign it was ever repeated. There is no
            # public switch; aiohttp's own tests turn it off the same way.
            if hasattr(session, "_retry_connection"):
                session._retry_connection = False
            return session

        def abandon(self) -> None:
            """Let a pool that was never closed go quietly, without its event loop.

            Called when its client is collected unclosed, which has already been
            said once in our words: otherwise aiohttp prints "Unclosed client
            session" and "Unclosed connector" through the loop's error handler.
            """
            session = self.client
            if not isinstance(session, aiohttp.ClientSession) or session.closed:
                return
            connector = session.connector
            session.detach()
            if connector is not None and not connector.closed:
                # The synchronous half of close() (no public one exists): drops the
                # sockets; the loop may already be gone, and nothing here may raise.
                with contextlib.suppress(Exception):
                    connector._close()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            timeout = request.extensions.get("timeout", {})
            return await self.send_signed(
                request.method,
                request.url,
                _pairs(request.headers),
                request.content,
                (timeout.get("connect"), timeout.get("read"), timeout.get("pool")),
                request=request,
                server_hostname=request.extensions.get("sni_hostname"),
            )

        async def send_signed(
            self,
            method: str,
            url: httpx.URL,
            headers: list[tuple[str, str]],
            body: bytes,
            timeouts: tuple[float | None, float | None, float | None],
            *,
            request: httpx.Request | None = None,
            server_hostname: str | None = None,
        ) -> httpx.Response:
            """What :meth:`handle_async_request` does with a request of these parts (its
            headers as pairs, in order), without the request: the transport's way for
            the requests it signs itself. ``timeouts``: httpx's connect, read and pool
            timeouts. The answer has no ``request`` unless given, or unless it streams
            (see below)."""
            timeout = self._timeouts.get(timeouts)
            if timeout is None:  # (one per distinct set, kept: most clients have one)
                connect, read, pool = timeouts
                timeout = aiohttp.ClientTimeout(sock_connect=connect, sock_read=read, connect=pool)
                if len(self._timeouts) < 16:
                    self._timeouts[timeouts] = timeout
            # Not httpx-aiohttp's own: it hands aiohttp the URL as a string, which
            # yarl re-quotes (``ann%40example.com`` goes out as ``ann@example.com``),
            # so the path sent is not the path signed and the hub answers 401. An
            # ``encoded=True`` URL is sent exactly as httpx built and signed it.
            if not isinstance(self.client, aiohttp.ClientSession):
                self.client = self._session()
            with _mapped_errors():
                answer = await self.client.request(
                    method=method,
                    url=yarl.URL(str(url), encoded=True),
                    # As pairs: aiohttp copies a mapping key by key, and each of
                    # httpx's Headers lookups scans them all.
                    headers=headers,
                    data=body or None,
                    allow_redirects=False,
                    auto_decompress=False,  # httpx decodes, under our size cap
                    compress=False,
                    timeout=timeout,
                    server_hostname=server_hostname,
                ).__aenter__()
            extensions = {"http_version": b"HTTP/1.1"}
            if answer.reason:
                extensions["reason_phrase"] = answer.reason.encode()
            length = answer.content_length
            if (
                length is not None
                and length <= self._read_whole_below
                and answer.headers.get("Content-Encoding", "identity") == "identity"
            ):
                # The usual answer: its size said up front, small, and not encoded.
                # Read here in one go and the connection handed back at once, rather
                # than through httpx's stream layers (some 50 µs a request); httpx
                # then finds the body already read. Anything else streams, and the
                # caller caps what it reads.
                try:
                    with _mapped_errors():
                        content = await answer.read()
                except BaseException:
                    answer.close()  # part of the answer may be unread: not reusable
                    raise
                answer.release()
                response = httpx.Response(
                    status_code=answer.status,
                    headers=answer.raw_headers,
                    # (A stream, not content=: httpx would read and decode it again.)
                    stream=httpx.ByteStream(content),
                    request=request,
                    extensions=extensions,
                )
                # Read already: what aread() would set after iterating the stream
                # through its decoders (9 µs a request). Were httpx to keep the
                # body elsewhere, aread() reads the same bytes from the stream.
                response._content = content
                return response
            if request is None:
                # Read through httpx's stream layers, whose decoded answer is made
                # with its request: the one these parts make.
                request = httpx.Request(method, url, headers=headers, stream=httpx.ByteStream(body))
            return httpx.Response(
                status_code=answer.status,
                headers=answer.raw_headers,
                stream=_MappedStream(AiohttpResponseStream(answer)),
                request=request,
                extensions=extensions,
            )

    return AiohttpPool


# The pool on httpx, the default stack.
AiohttpPool = aiohttp_pool_class(httpx)
