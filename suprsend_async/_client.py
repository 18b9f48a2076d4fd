"""AsyncSuprsend: the facade users hold for the life of their app."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any

import attrs
import httpx

from ._auth import BearerAuth, WorkspaceSignatureAuth
from ._exceptions import SuprsendConfigError, SuprsendTransportError
from ._hooks import check_hook
from ._limits import DEFAULT_BASE_URL, DEFAULT_LIMITS, Limits, shown
from ._models import Event
from ._namespaces import BulkEvents, Workflows
from ._response import TriggerResponse
from ._retry import RetryEvent, RetryPolicy, not_retried_without_key
from ._serialization import EncodedRecord, Serializer
from ._transport import (
    CONTENT_TYPE,
    DEFAULT_TIMEOUT,
    HubTransport,
    client_user_agent,
    user_agent,
)

__all__ = ["AsyncSuprsend"]

DEFAULT_MAX_CONCURRENCY = 8
# httpx's own default pool size; the ceiling for any call's max_concurrency.
DEFAULT_MAX_CONNECTIONS = 100


# A pool this large is already far past what one process can use (each
# connection is a socket and a TLS session); a larger number is a typo, and
# 10**9 was a MemoryError on the first call.
MAX_CONNECTIONS = 10_000


def _header_safe(text: str) -> bool:
    # Visible ASCII only: httpx encodes header values as ASCII, and h11
    # refuses control characters (and quotes the whole value when it does).
    return all("!" <= char <= "~" for char in text)


def _require_credential(value: object, name: str) -> str:
    """A credential that can be sent as it is; refused now, without echoing it, if not."""
    if not isinstance(value, str) or not value.strip():
        raise SuprsendConfigError(f"missing {name}: a non-empty string is required")
    credential = value.strip()
    if not _header_safe(credential):
        # Never the value, nor where in it: that is part of a secret.
        raise SuprsendConfigError(
            f"invalid {name}: it holds a space, a control character or a non-ASCII"
            " character; SuprSend credentials are printable ASCII, and an HTTP header"
            " could not carry it (check for a stray newline or quote from copying it)"
        )
    return credential


def _optional_text(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise SuprsendConfigError(f"{name} must be a string or None, got {type(value).__name__}")
    return value


def _base_url(value: object) -> httpx.URL:
    raw = (_optional_text(value, "base_url") or "").strip() or DEFAULT_BASE_URL
    try:
        url = httpx.URL(raw if raw.endswith("/") else raw + "/")
    except (httpx.InvalidURL, TypeError, ValueError, UnicodeError):
        # Not echoed: a malformed URL may still carry a password.
        raise SuprsendConfigError("invalid base_url: not a URL") from None
    if url.userinfo:
        raise SuprsendConfigError("invalid base_url: credentials in the URL are not allowed")
    if url.scheme not in ("http", "https") or not url.host:
        # Only the parts that were checked: the rest may be a mangled password.
        raise SuprsendConfigError(
            f"invalid base_url (scheme {url.scheme!r}, host {url.host!r}):"
            " an http(s) URL with a host is required"
        )
    return url


def _seconds(value: object) -> float:
    """A finite, positive number of seconds (None means forever: refused)."""
    if value is None:
        raise SuprsendConfigError("every part of the timeout must be set; None means forever")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SuprsendConfigError(f"timeout must be seconds (a number), got {shown(value)}")
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds):
        # NaN compares false with everything (it would pass "> 0"), and
        # infinity is the forever that None is refused for.
        raise SuprsendConfigError(f"timeout must be a finite number of seconds, got {shown(value)}")
    if seconds <= 0:
        raise SuprsendConfigError("every part of the timeout must be more than 0 seconds")
    return seconds


def _timeout(value: object) -> httpx.Timeout:
    if value is None:
        raise SuprsendConfigError("timeout=None would let a request hang forever; give seconds")
    if isinstance(value, httpx.Timeout):
        parts = (value.connect, value.read, value.write, value.pool)
        for part in parts:
            _seconds(part)
        return value
    return httpx.Timeout(_seconds(value))


def _max_connections(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONNECTIONS:
        raise SuprsendConfigError(
            f"max_connections must be an integer from 1 to {MAX_CONNECTIONS}, got {shown(value)}"
        )
    return value


class AsyncSuprsend:
    """An asyncio/trio client for SuprSend, meant to be created once and shared.

    Use it as ``async with AsyncSuprsend(key, secret) as client:`` or call
    :meth:`aclose` when done. All options are keyword-only:

    - ``base_url``: the hub (default ``https://hub.suprsend.com/``).
    - ``timeout``: seconds or an ``httpx.Timeout`` for each request (default
      30 s, 5 s to connect). ``None`` is refused: nothing may hang forever.
    - ``http_client``: an ``httpx.AsyncClient`` to use; it is never closed
      by this client.
    - ``transport``: an ``httpx.AsyncBaseTransport`` for the client's own
      connection pool, e.g. ``HubEmulator.transport()`` or
      ``httpx.MockTransport`` in tests.
    - ``retry``: the :class:`RetryPolicy`; only requests carrying an
      idempotency key are ever retried.
    - ``auto_idempotency_keys``: give every request or record without a key
      a fresh UUID key (reused across its retries), making all sends safe
      to retry. Off by default: a generated key cannot deduplicate a send
      that your own code repeats.
    - ``max_concurrency``: bulk requests in flight at once (default 8, or
      ``max_connections`` if smaller; each bulk call may ask for another
      value, up to ``max_connections``).
    - ``max_connections``: size of the connection pool shared by all calls
      (default 100, as in httpx); further requests wait for a free one.
    - ``on_retry``: called with a :class:`RetryEvent` before each retry.
    - ``app_info``: a short string about your app, sent in the client header.
    """

    def __init__(
        self,
        workspace_key: str,
        workspace_secret: str,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        auto_idempotency_keys: bool = False,
        max_concurrency: int | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        on_retry: Callable[[RetryEvent], Any] | None = None,
        app_info: str | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        key = _require_credential(workspace_key, "workspace_key")
        secret = _require_credential(workspace_secret, "workspace_secret")
        self._setup(
            auth=WorkspaceSignatureAuth(key, secret),
            env=key,
            event_path="v2/event/",
            base_url=base_url,
            timeout=timeout,
            http_client=http_client,
            transport=transport,
            retry=retry,
            auto_idempotency_keys=auto_idempotency_keys,
            max_concurrency=max_concurrency,
            max_connections=max_connections,
            on_retry=on_retry,
            app_info=app_info,
            limits=limits,
        )

    @classmethod
    def from_api_key(
        cls,
        api_key: str,
        *,
        workspace_uid: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        auto_idempotency_keys: bool = False,
        max_concurrency: int | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        on_retry: Callable[[RetryEvent], Any] | None = None,
        app_info: str | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> AsyncSuprsend:
        """A client authenticating with an API key (``Authorization: Bearer``).

        Single events go to the REST path ``event/``; ``env`` is sent only
        when ``workspace_uid`` is given.
        """
        self = cls.__new__(cls)
        self._setup(
            auth=BearerAuth(_require_credential(api_key, "api_key")),
            env=(_optional_text(workspace_uid, "workspace_uid") or "").strip() or None,
            event_path="event/",
            base_url=base_url,
            timeout=timeout,
            http_client=http_client,
            transport=transport,
            retry=retry,
            auto_idempotency_keys=auto_idempotency_keys,
            max_concurrency=max_concurrency,
            max_connections=max_connections,
            on_retry=on_retry,
            app_info=app_info,
            limits=limits,
        )
        return self

    def _setup(
        self,
        *,
        auth: httpx.Auth,
        env: str | None,
        event_path: str,
        base_url: str | None,
        timeout: float | httpx.Timeout,
        http_client: httpx.AsyncClient | None,
        transport: httpx.AsyncBaseTransport | None,
        retry: RetryPolicy | None,
        auto_idempotency_keys: bool,
        max_concurrency: int | None,
        max_connections: int,
        on_retry: Callable[[RetryEvent], Any] | None,
        app_info: str | None,
        limits: Limits,
    ) -> None:
        check_hook(on_retry, "on_retry")
        self.max_connections = _max_connections(max_connections)
        self.max_concurrency = self._check_concurrency(
            min(DEFAULT_MAX_CONCURRENCY, max_connections)
            if max_concurrency is None
            else max_concurrency
        )
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise SuprsendConfigError("http_client must be an httpx.AsyncClient")
        if http_client is not None and transport is not None:
            raise SuprsendConfigError("give http_client or transport, not both")
        if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
            raise SuprsendConfigError("transport must be an httpx.AsyncBaseTransport")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise SuprsendConfigError(f"retry must be a RetryPolicy, got {type(retry).__name__}")
        if not isinstance(limits, Limits):
            raise SuprsendConfigError(f"limits must be a Limits, got {type(limits).__name__}")
        if not isinstance(auto_idempotency_keys, bool):
            given = type(auto_idempotency_keys).__name__
            raise SuprsendConfigError(f"auto_idempotency_keys must be True or False, got {given}")
        app_info = _optional_text(app_info, "app_info")
        ua = user_agent()
        self._env = env
        self._event_path = event_path
        self.auto_idempotency_keys = auto_idempotency_keys
        self.limits = limits
        self._serializer = Serializer(env=env, sdk_version=ua, limits=limits)
        self._transport = HubTransport(
            base_url=_base_url(base_url),
            auth=auth,
            timeout=_timeout(timeout),
            headers={
                "Content-Type": CONTENT_TYPE,
                "User-Agent": ua,
                "X-Suprsend-Client-User-Agent": client_user_agent(app_info),
            },
            retry_policy=retry or RetryPolicy(),
            on_retry=on_retry,
            http_client=http_client,
            http_transport=transport,
            owns_http_client=http_client is None,
            max_connections=max_connections,
        )
        self.workflows = Workflows(self)
        self.bulk_events = BulkEvents(self)

    def _check_concurrency(self, max_concurrency: object) -> int:
        """``max_concurrency`` if the pool can honour it, else SuprsendConfigError."""
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
            raise SuprsendConfigError("max_concurrency must be a positive integer")
        if max_concurrency < 1:
            raise SuprsendConfigError("max_concurrency must be a positive integer")
        if max_concurrency > self.max_connections:
            # Silently capping it at the pool size would hide the misconfiguration.
            raise SuprsendConfigError(
                f"max_concurrency={max_concurrency} is more than the client's"
                f" max_connections={self.max_connections}; raise max_connections"
            )
        return max_concurrency

    def __repr__(self) -> str:
        return (
            f"AsyncSuprsend(auth={self._transport.auth!r}, "
            f"base_url={str(self._transport.base_url)!r})"
        )

    @property
    def base_url(self) -> httpx.URL:
        return self._transport.base_url

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._transport.retry_policy

    # -- lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> AsyncSuprsend:
        self._transport.client()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (not a user-supplied ``http_client``)."""
        await self._transport.aclose()

    # -- single calls --------------------------------------------------------------

    def _fresh_key(self, has_key: bool) -> str | None:
        return None if has_key or not self.auto_idempotency_keys else str(uuid.uuid4())

    async def track_event(
        self, event: Event, *, retry: RetryPolicy | None = None
    ) -> TriggerResponse:
        """Send one event; retried (per ``retry`` or the client's policy) only if it has a key."""
        if not isinstance(event, Event):
            raise TypeError(f"track_event() takes an Event, got {type(event).__name__}")
        record = self._serializer.encode_event(
            event, idempotency_key=self._fresh_key(event.idempotency_key is not None)
        )
        return await self._send_single(self._event_path, record, retry)

    async def _send_single(
        self, path: str, record: EncodedRecord, policy: RetryPolicy | None
    ) -> TriggerResponse:
        keyed = record.idempotency_key is not None
        try:
            response, attempts = await self._transport.post(
                path, record.body, retry=keyed, policy=policy
            )
        except SuprsendTransportError as exc:
            result = TriggerResponse.from_transport_error(exc, attempts=exc.attempts)
            if keyed:
                return result
            # The hub may or may not have it: say why it was not sent again.
            # (An HTTP answer keeps the hub's own message, as in the official SDK.)
            return attrs.evolve(result, message=f"{result.message}; {_NOT_RETRIED}")
        return TriggerResponse.from_http(response.status_code, response.content, attempts=attempts)


_NOT_RETRIED = not_retried_without_key("request")
