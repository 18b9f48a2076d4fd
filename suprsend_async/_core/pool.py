"""A connection pool made of small httpcore pools, so its cost per request stays flat.

httpcore's pool walks every connection it holds twice per request (when the
request arrives and when it leaves), polls the socket of each idle one, and
counts idle connections once per idle connection: its CPU cost per request
grows with its size. Measured over loopback, 1,000 concurrent calls cost
1.2 ms of CPU each through a 10-connection pool and 6 ms through a
100-connection one. Splitting ``max_connections`` into shards of a few
connections each keeps that walk short whatever the total.
"""

from __future__ import annotations

import functools
import ssl
import sys
from collections.abc import AsyncIterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

import httpx
import sniffio

from .network import whole_request_backend_class

__all__ = ["SHARD_SIZE", "ShardedPool", "default_transport", "preload", "sharded_pool_class"]

# Small enough that httpcore's walk is cheap, large enough that a shard's
# connections stay warm between requests.
SHARD_SIZE = 4


@functools.cache
def sharded_pool_class(library: ModuleType) -> Any:
    """:class:`ShardedPool` on ``library`` (httpx, or httpx2: its API, name for name)."""
    if TYPE_CHECKING:
        import httpx
    else:
        httpx = library

    class _ReleasingStream(httpx.AsyncByteStream):
        """A response body that gives its shard's slot back once it is closed."""

        def __init__(self, stream: httpx.AsyncByteStream, pool: Any, shard: int) -> None:
            self._stream = stream
            self._pool = pool
            self._shard: int | None = shard

        async def __aiter__(self) -> AsyncIterator[bytes]:
            async for part in self._stream:
                yield part

        async def aclose(self) -> None:
            try:
                await self._stream.aclose()
            finally:
                if self._shard is not None:
                    self._pool._release(self._shard)
                    self._shard = None

    class ShardedPool(httpx.AsyncBaseTransport):
        """``max_connections`` connections, as shards of :data:`SHARD_SIZE` each.

        A request goes to the first shard with a free slot, so work packs into as
        few connections as it needs and unused shards hold none. The caller
        bounds how many requests are in flight to ``max_connections``
        (:class:`~suprsend_async._core.transport.HubTransport` queues them on a
        semaphore): a request arriving when every slot is taken is still sent,
        through the least busy shard, whose own pool queues it.
        """

        def __init__(
            self,
            max_connections: int,
            *,
            keepalive_expiry: float = 5.0,
            shard_size: int = SHARD_SIZE,
            tls: bool = True,
        ) -> None:
            sizes = [shard_size] * (max_connections // shard_size)
            if max_connections % shard_size:
                sizes.append(max_connections % shard_size)
            self._sizes = sizes
            self._busy = [0] * len(sizes)
            self._shards: list[httpx.AsyncHTTPTransport | None] = [None] * len(sizes)
            self._keepalive = keepalive_expiry
            # One TLS context for all shards, built now as httpx builds its own:
            # it loads the CA bundle (about 25 ms of CPU), not to be paid
            # mid-upload. A pool for a plain-http base URL (the emulator, a local
            # gateway) skips that load: its context trusts no CA at all, so an
            # https connection through it fails verification rather than going
            # unverified.
            self._ssl = (
                httpx.create_ssl_context() if tls else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            )
            # The first shard now too: its creation imports httpcore (and trio,
            # if installed), some 50 ms that would otherwise stall the first upload.
            self._shard(0)

        def _shard(self, index: int) -> httpx.AsyncHTTPTransport:
            shard = self._shards[index]
            if shard is None:
                size = self._sizes[index]
                shard = httpx.AsyncHTTPTransport(
                    verify=self._ssl,
                    limits=httpx.Limits(
                        max_connections=size,
                        max_keepalive_connections=size,
                        keepalive_expiry=self._keepalive,
                    ),
                )
                _send_whole_requests(shard)
                self._shards[index] = shard
            return shard

        def _pick(self) -> int:
            for index, busy in enumerate(self._busy):
                if busy < self._sizes[index]:
                    return index
            return min(range(len(self._busy)), key=self._busy.__getitem__)

        def _release(self, index: int) -> None:
            self._busy[index] -= 1

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            index = self._pick()
            self._busy[index] += 1
            try:
                response = await self._shard(index).handle_async_request(request)
            except BaseException:
                self._release(index)
                raise
            assert isinstance(response.stream, httpx.AsyncByteStream)
            # (The same response, its body wrapped: a second Response would copy
            # its headers for nothing.)
            response.stream = _ReleasingStream(response.stream, self, index)
            return response

        async def aclose(self) -> None:
            for shard in self._shards:
                if shard is not None:
                    await shard.aclose()

    return ShardedPool


def _send_whole_requests(transport: Any) -> None:
    """Have ``transport``'s httpcore pool write each request in one piece
    (``_core/network.py``).

    httpx builds its pool itself and takes no network backend, so the one the
    pool made is wrapped where it keeps it. An httpx or httpcore that keeps it
    elsewhere is left as it is: slower, never wrong."""
    pool: Any = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if pool is None or backend is None:
        return
    core = sys.modules[type(pool).__module__.partition(".")[0]]
    pool._network_backend = whole_request_backend_class(core)(backend)


# The pool on httpx, the default stack.
ShardedPool = sharded_pool_class(httpx)


# -- which pool ---------------------------------------------------------------------------


def default_transport(
    max_connections: int,
    *,
    tls: bool,
    read_whole_below: int = 0,
    library: ModuleType = httpx,
) -> httpx.AsyncBaseTransport:
    """The pool a client makes for itself on ``library`` (httpx or httpx2):
    aiohttp's on asyncio when the ``aiohttp`` extra is installed, else
    :class:`ShardedPool`.

    ``read_whole_below``: see :class:`AiohttpPool`.

    aiohttp's connector does about half the CPU work per request of httpcore
    and h11 (measured in ``benchmarks/``), but it is asyncio-only: trio, and
    asyncio without the extra, keep httpcore. On httpx2 it needs
    httpx-aiohttp 0.2 or later (the first with an httpx2 variant).
    """
    if _on_asyncio():
        try:
            # httpx_aiohttp first: without the extra this fails at once, before
            # _aiohttp imports aiohttp (which may be installed on its own).
            import httpx_aiohttp  # noqa: F401

            from .aiohttp_pool import aiohttp_pool_class

            pool = aiohttp_pool_class(library)
        except ImportError:
            pass
        else:
            return pool(max_connections, tls=tls, read_whole_below=read_whole_below)  # type: ignore[no-any-return]
    return sharded_pool_class(library)(max_connections, tls=tls)  # type: ignore[no-any-return]


def preload() -> None:
    """Import the aiohttp pool now, if the extra is installed.

    Called when a client is built: importing aiohttp takes a few hundred
    milliseconds, which the first call would otherwise spend blocking the
    event loop (with every other task on it waiting).
    """
    try:
        import httpx_aiohttp  # noqa: F401

        from . import aiohttp_pool  # noqa: F401
    except ImportError:
        pass


def _on_asyncio() -> bool:
    try:
        return sniffio.current_async_library() == "asyncio"
    except sniffio.AsyncLibraryNotFoundError:  # not called from async code
        return False
