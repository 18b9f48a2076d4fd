"""The HTTP edge: one shared httpx.AsyncClient (or httpx2's), signing, timeouts, retries."""

from __future__ import annotations

import asyncio
import functools
import http.cookiejar
import json
import os
import platform
import sys
import urllib.parse
import urllib.request
import warnings
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import attrs
import httpx

from .._values.errors import (
    SuprsendClientClosedError,
    SuprsendConfigError,
    SuprsendResponseTooLargeError,
    SuprsendTimeoutError,
    SuprsendTransportError,
)
from .._values.limits import MAX_RESPONSE_BYTES
from .._values.options import NO_OPTIONS, RequestOptions
from .._version import __version__
from .._wire.query import encode_query
from .auth import HubAuth, auth_on
from .logging import ClientLogger
from .pool import default_transport, preload
from .retry import (
    RetryEvent,
    RetryPolicy,
    answer_may_have_applied,
    answer_retryable,
    describe_response,
    response_retry_after,
    send_with_retries,
)
from .stack import HttpStack, as_httpx_error, library
from .telemetry import Telemetry, telemetry

__all__ = ["DEFAULT_TIMEOUT", "HubTransport", "client_user_agent", "user_agent"]

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


def _running_loop() -> object | None:
    """The running event loop (asyncio's loop, trio's token), or None outside one."""
    # asyncio's own lookup first: the same loop anyio's token holds, at a
    # twentieth of the cost (it runs on every request).
    loop = asyncio._get_running_loop()
    if loop is not None:
        return loop
    try:
        return anyio.lowlevel.current_token().native_token
    except RuntimeError:  # anyio's NoEventLoopError, or sniffio's: no loop in this thread
        return None


_WRONG_LOOP = (
    "this AsyncSuprsend client was first used in another event loop, and its connections"
    " belong to that loop: create one client per event loop (for example inside the"
    " function given to asyncio.run, anyio.run or trio.run, or in your app's startup)"
)


class _NoCookies(http.cookiejar.CookieJar):
    """The jar of the client we make: it keeps nothing.

    No hub call uses cookies, and one a proxy or load balancer sets would
    otherwise be sent back with every later request; httpx also reads every
    answer's headers into it (some 5 µs a request).
    """

    def extract_cookies(self, response: Any, request: Any) -> None:
        pass

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        pass


# Joined URLs kept per client: the fixed routes, and a few of the per-id ones.
_MAX_CACHED_URLS = 64

_NEVER_CLOSED = (
    "an AsyncSuprsend client was never closed: use `async with AsyncSuprsend(...) as client:` "
    "or `await client.aclose()` (its connections are dropped now)"
)

# A request as parts (see HubTransport._signed).
_Signed = tuple[
    httpx.URL,
    list[tuple[str, str]],
    bytes,
    tuple[float | None, float | None, float | None],
]

# Pools a forked child inherited from its parent: see HubTransport._forget_parent_pool.
_POOLS_LEFT_BY_FORK: list[httpx.AsyncClient] = []


@attrs.define(kw_only=True)
class HubTransport:
    """Posts bytes to the hub: builds, signs and sends a fresh request per attempt."""

    base_url: httpx.URL
    auth: HubAuth
    timeout: httpx.Timeout
    headers: dict[str, str]
    retry_policy: RetryPolicy
    on_retry: Callable[[RetryEvent], Any] | None = None
    http_client: httpx.AsyncClient | None = None
    http_transport: httpx.AsyncBaseTransport | None = None
    owns_http_client: bool = True
    max_connections: int = 100
    log: ClientLogger = attrs.field(factory=ClientLogger)
    telemetry: Telemetry = attrs.field(factory=telemetry)
    # The library every request goes through: httpx, or httpx2 (the same API,
    # its own classes). The attributes below are this library's objects.
    http_stack: HttpStack = "httpx"
    _library: ModuleType = attrs.field(init=False)
    _base: httpx.URL = attrs.field(init=False)
    _base_text: str = attrs.field(init=False)
    _base_path: str = attrs.field(init=False)  # as escaped
    # httpx2's errors, translated to httpx's (what the error handling below
    # reads); none on httpx itself.
    _foreign_errors: tuple[type[Exception], ...] = attrs.field(init=False)
    closed: bool = False
    # httpcore's pool rescans every connection for every request queued in
    # it, so thousands of concurrent calls queued there cost quadratic CPU
    # (1,000 concurrent track_event calls: 5 s of CPU). They queue here
    # instead, where admitting the next one costs the same however many wait.
    _slots: anyio.Semaphore | None = None
    # The process and event loop the pool's connections belong to.
    _pid: int = attrs.field(factory=os.getpid)
    _loop: weakref.ref[object] | None = None
    # base_url.join(path) by path: joining parses both URLs again (some 20 µs
    # per request). Bounded, since paths may hold ids (users' distinct_ids).
    _urls: dict[str, httpx.URL] = attrs.field(factory=dict)
    # The pool this transport built for its own client, if any. Requests go
    # to it directly: see request_once.
    _pool: httpx.AsyncBaseTransport | None = None
    # The headers of every request on the client we made (httpx's defaults
    # and ours), for requests built without it.
    _default_headers: list[tuple[str, str]] = attrs.field(factory=list)
    _content_type: str = ""
    # By the URL's host and port: the Host header and the client's default
    # headers, encoded as httpx keeps them.
    _fixed_headers: dict[bytes, list[tuple[bytes, bytes, bytes]]] = attrs.field(factory=dict)
    # The same as pairs of text, for our aiohttp pool.
    _fixed_pairs: dict[bytes, list[tuple[str, str]]] = attrs.field(factory=dict)
    # Our aiohttp pool's way in for a request's parts (see request_once), if it is ours.
    _direct: Callable[..., Awaitable[httpx.Response]] | None = None

    def __attrs_post_init__(self) -> None:
        lib = self._library = library(self.http_stack)
        self._base = self.base_url if lib is httpx else lib.URL(str(self.base_url))
        text = str(self._base.copy_with(query=None, fragment=None))
        # Where its path ends with "/" (as the client makes it), a relative
        # path is joined by appending it.
        self._base_text = text if text.endswith("/") else ""
        self._base_path = self._base.raw_path.decode("ascii").partition("?")[0]
        self._foreign_errors = (
            () if lib is httpx else (lib.HTTPError, lib.StreamError, lib.InvalidURL)
        )
        if self.http_client is None and self.http_transport is None:
            preload()  # now, not on the event loop at the first call

    def client(self) -> httpx.AsyncClient:
        if self.closed or self._closed_under_us():
            raise SuprsendClientClosedError("this AsyncSuprsend client is closed")
        if self._pid != os.getpid():
            self._forget_parent_pool()
        self._check_loop()
        if self.http_client is None:
            transport = self.http_transport
            if transport is None and not _proxies_from_environment():
                transport = self._pool = default_transport(
                    self.max_connections,
                    tls=self.base_url.scheme == "https",
                    read_whole_below=MAX_RESPONSE_BYTES,
                    library=self._library,
                )
                self._direct = getattr(transport, "send_signed", None)
            # (With a proxy configured in the environment, httpx's own pool,
            # which is the one that honours it.)
            self.http_client = self._library.AsyncClient(
                timeout=_parts(self.timeout),
                transport=transport,
                limits=self._library.Limits(
                    max_connections=self.max_connections,
                    max_keepalive_connections=self.max_connections,
                ),
                # Ours as its defaults, so a request adds only per-call extras
                # (merging headers into every request costs some 10 µs).
                headers=self.headers,
                cookies=_NoCookies(),
            )
            self._default_headers = self.http_client.headers.multi_items()
            self._content_type = self.http_client.headers.get("Content-Type", "")
        return self.http_client

    def _closed_under_us(self) -> bool:
        """Whether an ``http_client`` of the user's was closed. (The one we made closes
        only with us, and asking httpx costs on every request.)"""
        http = self.http_client
        return not self.owns_http_client and http is not None and http.is_closed

    def _forget_parent_pool(self) -> None:
        """In a forked child: the pool's sockets are the parent's; build a fresh pool.

        The parent's pool is dropped, not closed: closing it would speak on
        sockets the parent is still using. A user-supplied ``http_client``
        is theirs to handle and stays.
        """
        self._pid = os.getpid()
        self._loop = None
        self._slots = None
        self._pool = None
        self._direct = None
        if self.owns_http_client:
            if self.http_client is not None:
                # Kept alive, never collected: collecting it would close its
                # sockets through the parent's event loop object, and an epoll
                # instance is shared across fork, so the parent's loop would
                # stop watching those sockets (its next answer never arrives).
                _POOLS_LEFT_BY_FORK.append(self.http_client)
            self.http_client = None

    def _on_another_loop(self) -> bool:
        loop = _running_loop()
        return loop is not None and self._loop is not None and self._loop() is not loop

    def _check_loop(self) -> None:
        loop = _running_loop()
        if loop is None:
            return
        if self._loop is None:
            self._loop = weakref.ref(loop)
        elif self._loop() is not loop:
            raise SuprsendConfigError(_WRONG_LOOP)

    def __del__(self) -> None:
        # A client dropped without ``async with`` or ``aclose()``: said once, in our
        # words, as Python says it of an unclosed file; its pool let go quietly.
        if (
            self.closed
            or self.http_client is None
            or not self.owns_http_client
            or self._pid != os.getpid()
        ):
            return
        warnings.warn(_NEVER_CLOSED, ResourceWarning, stacklevel=2)
        abandon = getattr(self._pool, "abandon", None)
        if abandon is not None:
            abandon()

    async def aclose(self) -> None:
        self.closed = True
        if self.http_client is None or not self.owns_http_client:
            return
        if self._pid != os.getpid() or self._on_another_loop():
            # Its connections belong to another process, or to an event loop
            # that is not this one (most often one that has ended, as after a
            # first anyio.run): closing them from here would drive sockets on a
            # loop that cannot run. Let go of the pool instead.
            self.http_client = None
            return
        await self.http_client.aclose()

    async def post_once(
        self,
        path: str,
        content: bytes,
        *,
        options: RequestOptions = NO_OPTIONS,
        params: Mapping[str, Any] | None = None,
        route: str | None = None,
    ) -> httpx.Response:
        """One signed POST of ``content``; SuprsendTransportError if no answer came."""
        return await self.request_once(
            "POST", path, content=content, options=options, params=params, route=route
        )

    async def request_once(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        route: str | None = None,
        options: RequestOptions = NO_OPTIONS,
        repeated_query: bool = False,
    ) -> httpx.Response:
        """One signed request; SuprsendTransportError if no answer came.

        ``path`` is relative to the base URL with its segments already
        escaped; ``params`` are encoded as the official SDK encodes them, and
        the signature covers the path with that exact query string. Errors
        and logs name the request by ``route`` (the path's template) when
        given: the ids in a path are personal data, and a control character
        in one would forge log lines.

        The answer is read whole, but never more than MAX_RESPONSE_BYTES of it
        (decompressed), and redirects are never followed: a hub call goes to
        the hub or nowhere, whatever ``http_client`` was given.
        """
        client = self.client()
        query = encode_query(params, doseq=repeated_query)
        # The URL is made once a slot is free (see below), unless a span needs it now.
        url = self._url_of(path, query) if self.telemetry.tracing() else None
        pool = self._pool
        if self._slots is None:
            self._slots = anyio.Semaphore(self.max_connections)
        # Logs, errors (which retry warnings quote) and spans name the request by
        # its template: the ids in a path are user data (often an email address).
        where = "/" + (route or path)
        with self.telemetry.attempt(method, route or path, url) as attempt:
            try:
                slots = self._slots
                # A free slot is taken without a trip through the event loop
                # (which `async with` makes): some 5 µs a request. (Its value
                # read, not WouldBlock caught: waiting inside the `except` would
                # keep the error, its traceback and frame alive meanwhile.)
                if slots.value:
                    slots.acquire_nowait()
                else:
                    await slots.acquire()
                try:
                    if self.closed or self._closed_under_us():  # while this call waited
                        raise SuprsendClientClosedError("this AsyncSuprsend client is closed")
                    # Built (and signed) once a slot is free, not before: the calls
                    # queued for one would otherwise each hold a URL, a request, its
                    # headers and their tuples, all of which the garbage collector
                    # walks (and moves to its oldest generation, whose full
                    # collection then walks them again) while they wait; and the
                    # signature's Date is the time it is sent.
                    if url is None:
                        url = self._url_of(path, query)
                    direct = None if options.headers else self._direct
                    if direct is not None:
                        signed = self._signed(method, url, content, options)
                    elif pool is not None:
                        request = self._request(method, url, content, options)
                    else:
                        request = self._built(client, method, url, content, options)
                except BaseException:
                    slots.release()
                    raise
                try:
                    if direct is not None:
                        # Our aiohttp pool, given the request's parts: the httpx
                        # request it would take them out of again is made only if an
                        # error's text needs scrubbing of them (some 5 µs, and thirty
                        # objects in flight, less a request).
                        response = await direct(method, *signed)
                    elif pool is not None:
                        # Our own pool, straight: what httpx's client layer adds on
                        # the way (the auth flow's machinery, cookies, redirects,
                        # event hooks) is nothing the client it made for itself uses,
                        # and was a fifth of a call's CPU.
                        response = await pool.handle_async_request(request)
                    else:
                        # A followed redirect would send the body again (a 307 loop
                        # re-POSTed one keyless body 21 times): the 3xx is the answer.
                        response = await client.send(
                            request,
                            auth=auth_on(self._library, self.auth),  # on httpx: self.auth
                            stream=True,
                            follow_redirects=False,
                        )
                    try:
                        if pool is not None and hasattr(response, "_content"):
                            # Read already by our aiohttp pool, which reads an answer
                            # whole only within the cap and unencoded.
                            answer = response
                        else:
                            answer = await _read_capped(
                                response, MAX_RESPONSE_BYTES, f"{method} {where}", self._library
                            )
                    finally:
                        await response.aclose()
                except self._foreign_errors as exc:
                    raise as_httpx_error(exc) from exc
                finally:
                    slots.release()
            except SuprsendResponseTooLargeError:
                attempt.error_type = "SuprsendResponseTooLargeError"
                raise
            except (httpx.TimeoutException, TimeoutError) as exc:
                # (The builtin one from a transport of the caller's that does not
                # map its timeouts to httpx's, as httpx's own transports do.)
                attempt.error_type = "timeout"
                sent = not isinstance(exc, _NOT_SENT_ERRORS)
                # (The URL is made before anything that can time out; it is read for
                # its origin only, the base URL's.)
                raise SuprsendTimeoutError(
                    _timed_out(
                        method, where, self._base if url is None else url, sent, type(exc).__name__
                    ),
                    sent=sent,
                ) from exc
            except httpx.RequestError as exc:
                # TransportError, and also an answer that could not be read
                # (DecodingError: a proxy's error page labelled gzip): no usable answer.
                attempt.error_type = type(exc).__name__
                if direct is not None:  # sent by parts: the request they make
                    request = self._unsent(method, signed)
                error = _transport_error(exc, request, method, where, request.url)
                raise error from _cause(exc, request, where)
            except RuntimeError:
                if self.closed or client.is_closed:  # httpx's own "client has been closed"
                    raise SuprsendClientClosedError("this AsyncSuprsend client is closed") from None
                raise
            attempt.status_code = response.status_code
        self.log.debug("%s %s -> %d", method, where, response.status_code)
        return answer

    def _built(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: httpx.URL,
        content: bytes | None,
        options: RequestOptions,
    ) -> httpx.Request:
        """The request on a client of the user's (or ours, behind a proxy), built by it."""
        if self.owns_http_client:  # made with self.headers as its defaults
            headers: Mapping[str, str] | None = options.headers or None
        else:
            headers = {**self.headers, **options.headers} if options.headers else self.headers
        return client.build_request(
            method,
            url,
            content=content,
            headers=headers,
            timeout=_parts(options.timeout or self.timeout),
        )

    def _url_of(self, path: str, query: str) -> httpx.URL:
        """:meth:`_url`, kept for a path without a query (a route without ids, or a
        few of those with)."""
        url = None if query else self._urls.get(path)
        if url is None:
            url = self._url(path, query)
            if not query and len(self._urls) < _MAX_CACHED_URLS:
                self._urls[path] = url
        return url

    def _url(self, path: str, query: str) -> httpx.URL:
        """The base URL joined with ``path`` (relative, its segments escaped) and ``query``.

        Such a path is the base's path followed by it, and needs no parsing
        (httpx's join parses three times: 30 µs on every call with an id; a
        parse of the joined text, 11). Anything else is joined as a URL is.
        """
        if (
            not self._base_text
            or path.startswith("/")
            or "?" in path
            or "#" in path
            or "/." in "/" + path
        ):
            url = self._base.join(path)
            return url.copy_with(query=query.encode("ascii")) if query else url
        if _parts_replaceable(self._library):
            # The base's parsed parts with this path and query: what parsing the
            # text gives for a path and query that need no escaping (ours are
            # escaped already), without the parse (11 µs of a REST call).
            url = self._library.URL(self._base)
            url._uri_reference = self._base._uri_reference._replace(
                path=self._base_path + path, query=query or None, fragment=None
            )
            return url  # type: ignore[no-any-return]
        return self._library.URL(  # type: ignore[no-any-return]
            f"{self._base_text}{path}?{query}" if query else self._base_text + path
        )

    def _signed(
        self, method: str, url: httpx.URL, content: bytes | None, options: RequestOptions
    ) -> _Signed:
        """The parts :meth:`_request` makes a request of, for our aiohttp pool: the
        URL, the headers as pairs in the order sent, the body, and the connect, read
        and pool timeouts. (Without per-call headers: those go through :meth:`_request`.)"""
        body = content or b""
        credentials = self.auth.credentials(
            method, url.raw_path.decode("ascii"), body, self._content_type
        )
        for _, value in credentials:
            if not value.isascii():
                value.encode("ascii")  # httpx's error for it, as a request built by it
        timeout = options.timeout or self.timeout
        headers = [*self._host_and_defaults(url), *_length(method, body), *credentials]
        return url, headers, body, (timeout.connect, timeout.read, timeout.pool)

    def _host_and_defaults(self, url: httpx.URL) -> list[tuple[str, str]]:
        """The headers every request to ``url``'s origin starts with, Host and the
        client's defaults: checked once (as httpx encodes them) and kept."""
        fixed = self._fixed_pairs.get(url.netloc)
        if fixed is None:
            fixed = [("Host", url.netloc.decode("ascii")), *self._default_headers]
            _encoded(fixed)  # (the check)
            if len(self._fixed_pairs) < _MAX_CACHED_URLS:
                self._fixed_pairs[url.netloc] = fixed
        return fixed

    def _unsent(self, method: str, signed: _Signed) -> httpx.Request:
        """The request :meth:`_signed`'s parts make (for an error's text to be scrubbed of
        its header values)."""
        url, headers, body, _ = signed
        return self._library.Request(  # type: ignore[no-any-return]
            method, url, headers=headers, stream=self._library.ByteStream(body)
        )

    def _request(
        self, method: str, url: httpx.URL, content: bytes | None, options: RequestOptions
    ) -> httpx.Request:
        """The request ``client.build_request`` and the auth flow make on the client
        we made, header for header, built in one go: httpx's ``Request(content=)``
        normalizes every header twice and its headers scan themselves on each
        change (some 9 µs a request)."""
        headers = self._default_headers
        content_type = self._content_type
        if options.headers:
            merged = self._library.Headers(headers)
            merged.update(options.headers)
            headers = merged.multi_items()
            content_type = merged.get("Content-Type", "")
        body = content or b""
        path = url.raw_path.decode("ascii")
        credentials = self.auth.credentials(method, path, body, content_type)
        length = _length(method, body)
        timeout = options.timeout or self.timeout
        lib = self._library
        if options.headers or not _headers_settable(lib):
            request = lib.Request(
                method,
                url,
                headers=[("Host", url.netloc.decode("ascii")), *headers, *length, *credentials],
                stream=lib.ByteStream(body),
                extensions={"timeout": timeout.as_dict()},
            )
            request.read()  # what Request(content=) does: its content is then at hand
            return request  # type: ignore[no-any-return]
        # The same headers, with the ones every request has (Host and the client's
        # defaults) encoded once per client rather than on every request (the
        # twelve headers' encoding, some 3 µs of each).
        fixed = self._fixed_headers.get(url.netloc)
        if fixed is None:
            fixed = _encoded(self._host_and_defaults(url))
            if len(self._fixed_headers) < _MAX_CACHED_URLS:
                self._fixed_headers[url.netloc] = fixed
        prepared = lib.Headers()
        prepared._list = [*fixed, *_encoded(length), *_encoded(credentials)]
        request = lib.Request(
            method,
            url,
            headers=prepared,
            stream=lib.ByteStream(body),
            extensions={"timeout": timeout.as_dict()},
        )
        # What httpx would find when it first needs it, without its scan of every
        # header: all are ASCII, or encoding them as such would have failed.
        request.headers.encoding = "ascii"
        request.read()  # what Request(content=) does: its content is then at hand
        return request  # type: ignore[no-any-return]

    async def post(
        self,
        path: str,
        content: bytes,
        *,
        repeatable: bool,
        policy: RetryPolicy | None = None,
        options: RequestOptions = NO_OPTIONS,
    ) -> tuple[httpx.Response, int]:
        """POST ``content`` to ``path``, retried per the policy where ``may_retry`` allows.

        ``repeatable``: sending it twice is harmless (it has an idempotency
        key). Each attempt is a new request, signed again. Returns the final
        response and the number of attempts; raises SuprsendTransportError
        if the last attempt got no answer.
        """
        return await self.send(
            lambda: self.post_once(path, content, options=options),
            repeatable=repeatable,
            route=path,
            policy=policy,
        )

    def send(
        self,
        send_once: Callable[[], Awaitable[httpx.Response]],
        *,
        repeatable: bool,
        route: str,
        policy: RetryPolicy | None = None,
    ) -> Coroutine[Any, Any, tuple[httpx.Response, int]]:
        """``send_once()`` (one request) until an answer or error is final: the retry
        loop of every call answered by one HTTP response (single records, REST).

        (The loop's coroutine itself, to be awaited: a coroutine of its own
        around it would be one more made on every call.)"""
        return send_with_retries(
            send_once,
            policy=policy or self.retry_policy,
            repeatable=repeatable,
            path=route,
            on_retry=self.on_retry,
            log=self.log,
            is_retryable=answer_retryable(repeatable),
            retry_after=response_retry_after,
            describe=describe_response,
            may_have_applied=answer_may_have_applied,
        )


# Raw bytes handed to the decoder at a time: a gzip bomb expands about a
# thousandfold, so a 64 KB network read could become 64 MB before any check.
_DECODE_STEP = 4 * 1024


def _length(method: str, body: bytes) -> list[tuple[str, str]]:
    """What ``Request(content=)`` adds after Host and the defaults: a length for a body,
    and for a POST, PUT or PATCH without one."""
    if body or method in ("POST", "PUT", "PATCH"):
        return [("Content-Length", str(len(body)))]
    return []


def _encoded(pairs: list[tuple[str, str]]) -> list[tuple[bytes, bytes, bytes]]:
    """Headers as httpx's ``Headers`` holds them: (name, lowercased name, value), each
    encoded as it encodes a ``str`` (ASCII, or its error)."""
    encoded = []
    for name, value in pairs:
        key = name.encode("ascii")
        encoded.append((key, key.lower(), value.encode("ascii")))
    return encoded


@functools.cache
def _headers_settable(library: ModuleType) -> bool:
    """Whether ``library``'s ``Headers`` keep their items as httpx 0.28's do (a list of
    (name, lowercased name, value) bytes), checked once against headers it builds:
    if not, every request's headers are built by it."""
    pairs = [("Host", "h.example"), ("X-A", "1"), ("Authorization", "k:s")]
    try:
        built = library.Request("GET", "http://h.example/", headers=pairs)
        prepared = library.Headers()
        prepared._list = _encoded(pairs)
        ours = library.Request("GET", "http://h.example/", headers=prepared)
        ours.headers.encoding = "ascii"
        return bool(
            ours.headers.raw == built.headers.raw
            and ours.headers.multi_items() == built.headers.multi_items()
            and ours.headers.encoding == built.headers.encoding
            and ours.headers.get("authorization") == "k:s"
        )
    except (AttributeError, TypeError, ValueError):
        return False


@functools.cache
def _parts_replaceable(library: ModuleType) -> bool:
    """Whether ``library``'s URLs keep their parts as httpx 0.28's do (a named tuple
    with a path and a query), checked once against a parse: if not, URLs are parsed."""
    base = library.URL("http://h.example:8/api/")
    try:
        url = library.URL(base)
        url._uri_reference = base._uri_reference._replace(
            path="/api/v1/a%40b%20c/", query="x=1&y=a+b%2F"
        )
        parsed = library.URL("http://h.example:8/api/v1/a%40b%20c/?x=1&y=a+b%2F")
        return bool(str(url) == str(parsed) and url == parsed and url.raw_path == parsed.raw_path)
    except (AttributeError, TypeError, ValueError):
        return False


def _parts(
    timeout: httpx.Timeout,
) -> tuple[float | None, float | None, float | None, float | None]:
    """``timeout`` as the tuple both libraries take (httpx2 misreads httpx's Timeout)."""
    return (timeout.connect, timeout.read, timeout.write, timeout.pool)


@functools.cache
def _small_steps(library: ModuleType) -> Any:
    if TYPE_CHECKING:
        import httpx
    else:
        httpx = library

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

    return _SmallSteps


async def _read_capped(
    response: httpx.Response, max_bytes: int, what: str, library: ModuleType
) -> httpx.Response:
    """The response read whole, or SuprsendResponseTooLargeError past ``max_bytes``."""
    length = response.headers.get("Content-Length", "")
    if (
        length.isdigit()
        and int(length) <= max_bytes
        and response.headers.get("Content-Encoding", "identity") == "identity"
    ):
        # The common answer: its size said up front, within the cap, and not
        # encoded. The connection's framing stops the body at that length, so
        # it is read in one go (a tenth of a millisecond less per call).
        await response.aread()
        return response
    assert isinstance(response.stream, library.AsyncByteStream)
    response.stream = _small_steps(library)(response.stream)
    parts: list[bytes] = []
    total = 0
    async for part in response.aiter_bytes():
        total += len(part)
        if total > max_bytes or response.num_bytes_downloaded > max_bytes:
            raise SuprsendResponseTooLargeError(
                f"{what}: the answer (HTTP {response.status_code})"
                f" is larger than {max_bytes} bytes, the most this client reads;"
                " it was not read further",
                max_bytes=max_bytes,
            )
        parts.append(part)
    return _answered(response, b"".join(parts))


def _answered(response: httpx.Response, body: bytes) -> httpx.Response:
    """A read response: the decoded body, without the headers about its encoded form."""
    headers = [
        (name, value)
        for name, value in response.headers.multi_items()
        if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return type(response)(  # the library's own Response
        response.status_code,
        headers=headers,
        content=body,
        request=response.request,
        extensions=response.extensions,
    )


_REDACTED = "<redacted>"


def _url_forms(request: httpx.Request, where: str) -> list[tuple[str, str]]:
    """(what a transport's error may quote of the URL, what to say instead), longest first.

    The path's ids and the query are personal data (an email address, a tenant),
    whatever the transport: aiohttp quotes the whole URL in its errors. The URL
    becomes its origin and route template (``where``); leftover ids and query
    values, escaped or not, are redacted.
    """
    url = request.url
    origin = f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"
    raw_path = url.raw_path.decode("ascii", "replace")
    path, _, query = raw_path.partition("?")
    routed = set(where.strip("/").split("/"))
    forms: dict[str, str] = {
        str(url): origin + where,
        origin + path: origin + where,
        raw_path: where,
        path: where,
        urllib.parse.unquote(path): where,
    }
    if query:
        forms[query] = _REDACTED
        forms[urllib.parse.unquote_plus(query)] = _REDACTED
    pieces = [s for s in path.strip("/").split("/") if s and s not in routed]
    for key, value in urllib.parse.parse_qsl(query):
        pieces += [key, value]
    for piece in pieces:
        for form in (piece, urllib.parse.unquote(piece), urllib.parse.quote(piece, safe="")):
            if len(form) >= 3:  # shorter would mangle the text and hides nothing
                forms.setdefault(form, _REDACTED)
    return sorted(forms.items(), key=lambda pair: -len(pair[0]))


def _scrubbed(text: str, request: httpx.Request, where: str | None = None) -> str:
    """``text`` without any header value of ``request``, in any form an error may quote it,
    and (given ``where``, the route) without the URL's ids and query."""
    for value in request.headers.values():
        if len(value) < 4:  # "gzip", a length: nothing to hide, and would mangle the text
            continue
        raw = value.encode("latin-1", "replace")
        for form in {value, repr(value)[1:-1], repr(raw)[2:-1]}:
            text = text.replace(form, _REDACTED)
    if where is not None:
        for form, instead in _url_forms(request, where):
            if form:
                text = text.replace(form, instead)
    return text


# Failures before a connection was made: the request was never written, so
# the hub cannot have seen it. (httpcore reports a refused connection, a name
# that does not resolve and a failed TLS handshake as ConnectError; the
# aiohttp pool maps its connector errors to the same.)
_NOT_SENT_ERRORS = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.ProxyError,
)


def origin(url: httpx.URL) -> str:
    """``scheme://host[:port]`` of ``url``: what a user with a mistyped URL needs to
    see, and no secret (never the path, whose ids are personal data, nor the query)."""
    return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"


def _failed(method: str, where: str, url: httpx.URL, sent: bool, why: str) -> str:
    """What an attempt that got no answer says: the route and the hub's origin
    (``http://127.0.0.1:8787``), never the path's ids nor the query."""
    if sent:
        return f"{method} {where} failed: {why} (at {origin(url)})"
    return f"{method} {where} not sent: could not connect to {origin(url)}: {why}"


def _timed_out(method: str, where: str, url: httpx.URL, sent: bool, kind: str) -> str:
    if sent:
        return f"{method} {where} timed out ({kind}) at {origin(url)}"
    return f"{method} {where} not sent: timed out connecting to {origin(url)} ({kind})"


def _transport_error(
    exc: httpx.RequestError, request: httpx.Request, method: str, where: str, url: httpx.URL
) -> SuprsendTransportError:
    sent = not isinstance(exc, _NOT_SENT_ERRORS)
    if isinstance(exc, httpx.LocalProtocolError):
        # h11 quotes the offending header whole, and header values are where
        # credentials live: only the kind of error is kept.
        why = "the request could not be written (a header or the body broke HTTP's rules)"
    else:
        why = _scrubbed(str(exc), request, where) or "no detail"
    return SuprsendTransportError(
        _failed(method, where, url, sent, f"{type(exc).__name__}: {why}"), sent=sent
    )


def _cause(exc: httpx.RequestError, request: httpx.Request, where: str) -> BaseException | None:
    """The httpx error as the cause, unless its text (or that of an error under it: an
    aiohttp or httpx2 one, translated) quotes a header value or the URL's ids."""
    if isinstance(exc, httpx.LocalProtocolError):
        return None
    chain: BaseException | None = exc
    for _ in range(8):  # the translations stack two or three deep
        if chain is None:
            return exc
        if _scrubbed(str(chain), request, where) != str(chain):
            return None
        chain = chain.__cause__ or chain.__context__
    return None
