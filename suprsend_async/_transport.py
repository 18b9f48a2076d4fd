"""The HTTP edge: one shared httpx.AsyncClient, signing, timeouts, retries."""

from __future__ import annotations

import json
import logging
import platform
import sys
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import attrs
import httpx

from ._exceptions import SuprsendError, SuprsendTimeoutError, SuprsendTransportError
from ._pool import ShardedPool
from ._query import encode_query
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
        if self.closed:
            raise SuprsendError("this AsyncSuprsend client is closed")
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
        """One signed POST of ``content``; SuprsendTransportError if no answer came."""
        return await self.request_once("POST", path, content=content)

    async def request_once(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        route: str | None = None,
    ) -> httpx.Response:
        """One signed request; SuprsendTransportError if no answer came.

        ``path`` is relative to the base URL with its segments already
        escaped; ``params`` are encoded as the official SDK encodes them, and
        the signature covers the path with that exact query string. Errors
        and logs name the request by ``route`` (the path's template) when
        given: the ids in a path are personal data, and a control character
        in one would forge log lines.
        """
        client = self.client()
        url = self.base_url.join(path)
        query = encode_query(params)
        if query:
            url = url.copy_with(query=query.encode("ascii"))
        request = client.build_request(
            method, url, content=content, headers=self.headers, timeout=self.timeout
        )
        if self._slots is None:
            self._slots = anyio.Semaphore(self.max_connections)
        shown = route or url.path
        try:
            async with self._slots:
                response = await client.send(request, auth=self.auth)
        except httpx.TimeoutException as exc:
            raise SuprsendTimeoutError(
                f"{method} {shown} timed out ({type(exc).__name__})"
            ) from exc
        except httpx.RequestError as exc:
            # TransportError, and also an answer that could not be read
            # (DecodingError: a proxy's error page labelled gzip): no usable answer.
            raise SuprsendTransportError(
                f"{method} {shown} failed: {type(exc).__name__}: {exc or 'no detail'}"
            ) from exc
        logger.debug("%s %s -> %d", method, shown, response.status_code)
        return response

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
