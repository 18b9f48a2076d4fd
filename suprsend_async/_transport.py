"""The HTTP edge: one shared httpx.AsyncClient, signing, timeouts, retries."""

from __future__ import annotations

import json
import logging
import platform
import sys
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import httpx

from ._exceptions import (
    SuprsendClientClosedError,
    SuprsendResponseTooLargeError,
    SuprsendTimeoutError,
    SuprsendTransportError,
)
from ._limits import MAX_RESPONSE_BYTES
from ._pool import ShardedPool
from ._retry import (
    RetryEvent,
    RetryPolicy,
    describe_response,
    response_is_retryable,
    response_retry_after,
    send_with_retries,
)
from ._version import __version__

__all__ = ["DEFAULT_TIMEOUT", "HubTransport", "client_user_agent", "user_agent"]

logger = logging.getLogger("suprsend_async")

# No request may hang forever (the official Python SDK sets no timeout at all).
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
CONTENT_TYPE = "application/json; charset=utf-8"


def user_agent() -> str:
    python = platform.python_version()
    return f"suprsend-async/{__version__} (python/{python}; {sys.platform})"


def client_user_agent(app_info: str | None) -> str:
    return json.dumps(
        {
            "sdk": "suprsend-async",
            "sdk_version": __version__,
            "lang": "python",
            "lang_version": platform.python_version(),
            "platform": "server",
            "os": sys.platform,
            "os_version": platform.release(),
            "app_info": app_info,
        }
    )


def _proxies_from_environment() -> bool:
    return any(k in ("http", "https", "all") for k in urllib.request.getproxies())


@attrs.define(kw_only=True)
class HubTransport:
    """Posts bytes to the hub: builds, signs and sends a fresh request per attempt."""

    base_url: httpx.URL
    auth: httpx.Auth
    timeout: httpx.Timeout
    headers: dict[str, str]
    retry_policy: RetryPolicy
    on_retry: Callable[[RetryEvent], Any] | None = None
    http_client: httpx.AsyncClient | None = None
    http_transport: httpx.AsyncBaseTransport | None = None
    owns_http_client: bool = True
    max_connections: int = 100
    closed: bool = False
    # httpcore's pool rescans every connection for every request queued in
    # it, so thousands of concurrent calls queued there cost quadratic CPU
    # (1,000 concurrent track_event calls: 5 s of CPU). They queue here
    # instead, where admitting the next one costs the same however many wait.
    _slots: anyio.Semaphore | None = None

    def client(self) -> httpx.AsyncClient:
        if self.closed or (self.http_client is not None and self.http_client.is_closed):
            raise SuprsendClientClosedError("this AsyncSuprsend client is closed")
        if self.http_client is None:
            transport = self.http_transport
            if transport is None and not _proxies_from_environment():
                transport = ShardedPool(self.max_connections, tls=self.base_url.scheme == "https")
            # (With a proxy configured in the environment, httpx's own pool,
            # which is the one that honours it.)
            self.http_client = httpx.AsyncClient(
                timeout=self.timeout,
                transport=transport,
                limits=httpx.Limits(
                    max_connections=self.max_connections,
                    max_keepalive_connections=self.max_connections,
                ),
            )
        return self.http_client

    async def aclose(self) -> None:
        self.closed = True
        if self.http_client is not None and self.owns_http_client:
            await self.http_client.aclose()

    async def post_once(self, path: str, content: bytes) -> httpx.Response:
        """One signed POST of ``content``; SuprsendTransportError if no answer came.

        The answer is read whole, but never more than MAX_RESPONSE_BYTES of it
        (decompressed), and redirects are never followed: a hub call goes to
        the hub or nowhere, whatever ``http_client`` was given.
        """
        client = self.client()
        url = self.base_url.join(path)
        request = client.build_request(
            "POST", url, content=content, headers=self.headers, timeout=self.timeout
        )
        if self._slots is None:
            self._slots = anyio.Semaphore(self.max_connections)
        try:
            async with self._slots:
                if self.closed or client.is_closed:  # closed while this call waited
                    raise SuprsendClientClosedError("this AsyncSuprsend client is closed")
                # A followed redirect would send the body again (a 307 loop re-POSTed
                # one keyless body 21 times): the 3xx is the answer.
                response = await client.send(
                    request, auth=self.auth, stream=True, follow_redirects=False
                )
                try:
                    body = await _read_capped(response, MAX_RESPONSE_BYTES)
                finally:
                    await response.aclose()
        except httpx.TimeoutException as exc:
            raise SuprsendTimeoutError(f"POST {url.path} timed out ({type(exc).__name__})") from exc
        except httpx.RequestError as exc:
            # TransportError, and also an answer that could not be read
            # (DecodingError: a proxy's error page labelled gzip): no usable answer.
            raise _transport_error(exc, request, f"POST {url.path} failed") from _cause(exc)
        except RuntimeError:
            if self.closed or client.is_closed:  # httpx's own "client has been closed"
                raise SuprsendClientClosedError("this AsyncSuprsend client is closed") from None
            raise
        logger.debug("POST %s -> %d", url.path, response.status_code)
        return _answered(response, body)

    async def post(
        self, path: str, content: bytes, *, retry: bool, policy: RetryPolicy | None = None
    ) -> tuple[httpx.Response, int]:
        """POST ``content`` to ``path``; retried per the policy only if ``retry``.

        Each attempt is a new request, signed again. Returns the final
        response and the number of attempts; raises SuprsendTransportError
        if the last attempt got no answer.
        """
        return await send_with_retries(
            lambda: self.post_once(path, content),
            policy=policy or self.retry_policy,
            retry=retry,
            path=path,
            on_retry=self.on_retry,
            is_retryable=response_is_retryable,
            retry_after=response_retry_after,
            describe=describe_response,
        )


# Raw bytes handed to the decoder at a time: a gzip bomb expands about a
# thousandfold, so a 64 KB network read could become 64 MB before any check.
_DECODE_STEP = 4 * 1024


class _SmallSteps(httpx.AsyncByteStream):
    """The raw body in steps of _DECODE_STEP bytes, so decompression stops near the cap."""

    def __init__(self, stream: httpx.AsyncByteStream) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            view = memoryview(part)
            for start in range(0, len(view), _DECODE_STEP):
                yield bytes(view[start : start + _DECODE_STEP])
                # Decompressing is CPU work: let the deadline and other tasks in.
                await anyio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        await self._stream.aclose()


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """The decoded body, or SuprsendResponseTooLargeError past ``max_bytes``."""
    assert isinstance(response.stream, httpx.AsyncByteStream)
    response.stream = _SmallSteps(response.stream)
    parts: list[bytes] = []
    total = 0
    async for part in response.aiter_bytes():
        total += len(part)
        if total > max_bytes or response.num_bytes_downloaded > max_bytes:
            raise SuprsendResponseTooLargeError(
                f"POST {response.request.url.path}: the answer (HTTP {response.status_code})"
                f" is larger than {max_bytes} bytes, the most this client reads;"
                " it was not read further",
                max_bytes=max_bytes,
            )
        parts.append(part)
    return b"".join(parts)


def _answered(response: httpx.Response, body: bytes) -> httpx.Response:
    """A read response: the decoded body, without the headers about its encoded form."""
    headers = [
        (name, value)
        for name, value in response.headers.multi_items()
        if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=response.request,
        extensions=response.extensions,
    )


_REDACTED = "<redacted>"


def _scrubbed(text: str, request: httpx.Request) -> str:
    """``text`` without any header value of ``request``, in any form an error may quote it."""
    for value in request.headers.values():
        if len(value) < 4:  # "gzip", a length: nothing to hide, and would mangle the text
            continue
        raw = value.encode("latin-1", "replace")
        for form in {value, repr(value)[1:-1], repr(raw)[2:-1]}:
            text = text.replace(form, _REDACTED)
    return text


def _transport_error(
    exc: httpx.RequestError, request: httpx.Request, what: str
) -> SuprsendTransportError:
    if isinstance(exc, httpx.LocalProtocolError):
        # h11 quotes the offending header whole, and header values are where
        # credentials live: only the kind of error is kept.
        return SuprsendTransportError(
            f"{what}: {type(exc).__name__}: the request could not be written"
            " (a header or the body broke HTTP's rules)"
        )
    return SuprsendTransportError(
        f"{what}: {type(exc).__name__}: {_scrubbed(str(exc), request) or 'no detail'}"
    )


def _cause(exc: httpx.RequestError) -> BaseException | None:
    """The httpx error as the cause, unless its text may quote a header value."""
    if isinstance(exc, httpx.LocalProtocolError):
        return None
    try:
        request = exc.request
    except RuntimeError:  # raised before a request existed
        return exc
    return exc if _scrubbed(str(exc), request) == str(exc) else None
