"""AsyncSuprsend: the facade users hold for the life of their app."""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeGuard

import httpx

from ._core.auth import BearerAuth, HubAuth, WorkspaceSignatureAuth
from ._core.background import (
    DEFAULT_EXIT_TIMEOUT,
    DEFAULT_MAX_BACKOFF,
    DEFAULT_POLL_INTERVAL,
    BackgroundSender,
    WhenFull,
)
from ._core.environment import (
    BASE_URL_VAR,
    ApiKeyCredentials,
    WorkspaceCredentials,
    base_url_from,
    credentials_from,
)
from ._core.logging import ClientLogger
from ._core.retry import RetryEvent, RetryPolicy, checked_policy
from ._core.single import fresh_key, send_record
from ._core.stack import HttpStack, chosen_stack, stack_of
from ._core.transport import (
    CONTENT_TYPE,
    DEFAULT_TIMEOUT,
    HubTransport,
    client_user_agent,
    user_agent,
)
from ._values.body_requests import Workflow
from ._values.errors import (
    SuprsendClientClosedError,
    SuprsendConfigError,
    SuprsendValidationError,
)
from ._values.hooks import check_hook
from ._values.limits import DEFAULT_BASE_URL, DEFAULT_LIMITS, Limits, shown
from ._values.models import Event
from ._values.options import NO_OPTIONS, RequestOptions, check_headers
from ._wire.responses import TriggerResponse
from ._wire.serialization import Serializer
from .resources.brands import Brands
from .resources.broadcasts import Broadcasts
from .resources.dynamic_workflows import BulkWorkflowsFactory, trigger_workflow
from .resources.events import EVENT_RECORDS, BulkEvents
from .resources.messages import Messages
from .resources.objects import Objects
from .resources.subscriber_lists import SubscriberLists
from .resources.templates import Templates
from .resources.tenants import Tenants
from .resources.users import Users
from .resources.workflows import TRIGGER_RECORDS, Workflows

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


def _base_url(value: str | None) -> httpx.URL:
    raw = (value or "").strip() or DEFAULT_BASE_URL
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


def _hub_url(base_url: str | None) -> httpx.URL:
    """``base_url``, else ``SUPRSEND_BASE_URL``, else the hub; checked."""
    found = base_url_from(base_url)
    try:
        return _base_url(found)
    except SuprsendConfigError as exc:
        if base_url is None and found is not None:  # the user may not know it is set
            raise SuprsendConfigError(f"{BASE_URL_VAR}: {exc}") from None
        raise


def _seconds(value: object) -> float:
    """A finite, positive number of seconds (None means forever: refused)."""
    if value is None:
        raise SuprsendConfigError("every part of the timeout must be set; None means forever")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SuprsendConfigError(
            f"timeout must be seconds or an httpx.Timeout, got {type(value).__name__}"
        )
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
    if stack_of(value, ("Timeout",)) == "httpx2":  # kept as httpx's: the client's own value type
        value = httpx.Timeout(
            connect=value.connect,  # type: ignore[attr-defined]
            read=value.read,  # type: ignore[attr-defined]
            write=value.write,  # type: ignore[attr-defined]
            pool=value.pool,  # type: ignore[attr-defined]
        )
    if isinstance(value, httpx.Timeout):
        parts = (value.connect, value.read, value.write, value.pool)
        for part in parts:
            if part is not None and (isinstance(part, bool) or not isinstance(part, (int, float))):
                raise SuprsendConfigError(
                    "every part of the timeout must be a finite number of seconds,"
                    f" got {type(part).__name__}"
                )
            _seconds(part)
        return value
    return httpx.Timeout(_seconds(value))


def _given_stack(http_client: object, transport: object) -> HttpStack | None:
    """The library of the ``http_client`` or ``transport`` given (None if neither is)."""
    if http_client is not None and transport is not None:
        raise SuprsendConfigError("give http_client or transport, not both")
    for value, name, kind in (
        (http_client, "http_client", "AsyncClient"),
        (transport, "transport", "AsyncBaseTransport"),
    ):
        if value is not None:
            stack = stack_of(value, (kind,))
            if stack is None:
                raise SuprsendConfigError(
                    f"{name} must be an httpx.{kind} or an httpx2.{kind},"
                    f" got {type(value).__name__}"
                )
            return stack
    return None


def _max_connections(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONNECTIONS:
        raise SuprsendConfigError(
            f"max_connections must be an integer from 1 to {MAX_CONNECTIONS}, got {shown(value)}"
        )
    return value


def _check_option(value: object, name: str, kind: type | tuple[type, ...], what: str) -> None:
    """SuprsendConfigError naming ``name`` unless ``value`` is a ``kind`` (None always passes)."""
    if value is not None and not isinstance(value, kind):
        raise SuprsendConfigError(f"{name} must be {what}, got {type(value).__name__}")


def _check_flag(value: object, name: str) -> None:
    # Not truthiness: debug="false" or auto_idempotency_keys="no" would turn them on.
    if not isinstance(value, bool):
        raise SuprsendConfigError(f"{name} must be True or False, got {type(value).__name__}")


# What each official SDK namespace or method we lack is here (the rest,
# tenants, objects, lists, trigger_workflow..., exist under their own names).
_OFFICIAL_NAMES = {
    "user": "use client.users",
    "bulk_users": "use client.users.get_bulk_edit_instance()",
    "track": "use await client.track_event(Event(distinct_id, event_name, properties))",
    "add_attachment": "use await Attachment.from_path(...) and request.with_attachment(...)",
}


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


class AsyncSuprsend:
    """An asyncio/trio client for SuprSend, meant to be created once and shared.

    Use it as ``async with AsyncSuprsend(key, secret) as client:`` or call
    :meth:`aclose` when done. ``AsyncSuprsend()`` with no credentials reads
    ``SUPRSEND_WORKSPACE_KEY`` and ``SUPRSEND_WORKSPACE_SECRET`` (or
    ``SUPRSEND_API_KEY``) from the environment. A client belongs to the event
    loop it is first used in: create one per loop. All options are keyword-only:

    - ``base_url``: the hub (default ``SUPRSEND_BASE_URL``, else
      ``https://hub.suprsend.com/``).
    - ``timeout``: seconds or an ``httpx.Timeout`` for each request (default
      30 s, 5 s to connect). ``None`` is refused: nothing may hang forever.
    - ``http_client``: an ``httpx.AsyncClient`` (or ``httpx2.AsyncClient``)
      to use; it is never closed by this client.
    - ``transport``: an ``httpx.AsyncBaseTransport`` (or httpx2's) for the
      client's own connection pool, e.g. ``HubEmulator.transport()`` or
      ``httpx.MockTransport`` in tests.
    - ``http_stack``: ``"httpx"`` or ``"httpx2"``, the library the client's
      own pool is built on (the ``httpx2`` extra). Default: that of the
      ``http_client`` or ``transport`` given, else ``SUPRSEND_HTTP_STACK``,
      else httpx.
    - ``retry``: the :class:`RetryPolicy`. A request that was never sent or
      was refused unprocessed (429) is always retried; one that may have
      reached the hub only if it has an idempotency key.
    - ``auto_idempotency_keys`` (default True): give every event and
      workflow trigger without a key a fresh UUID key of its own, reused
      across its retries, so a retry after a lost answer cannot deliver it
      twice (as Stripe and Knock do). A key of yours always wins; it is
      also the only way to deduplicate a send that your own code repeats.
      ``False`` sends keyless records without one, as the official SDK
      does: those are then never retried once they may have reached the hub.
    - ``max_concurrency``: bulk requests in flight at once (default 8, or
      ``max_connections`` if smaller; each bulk call may ask for another
      value, up to ``max_connections``).
    - ``max_connections``: size of the connection pool shared by all calls
      (default 100, as in httpx); further requests wait for a free one.
    - ``on_retry``: called with a :class:`RetryEvent` before each retry.
    - ``app_info``: a short string about your app, sent in the client header.
    - ``debug``: print this client's log records (each request, each retry)
      on stderr, whatever the logging setup. ``SUPRSEND_LOG=debug`` does it
      for every client.

    :meth:`with_options` gives a client with another timeout, retry policy or
    extra headers, sharing this one's connection pool.
    """

    def __init__(
        self,
        workspace_key: str | None = None,
        workspace_secret: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_stack: HttpStack | None = None,
        retry: RetryPolicy | None = None,
        auto_idempotency_keys: bool = True,
        max_concurrency: int | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        on_retry: Callable[[RetryEvent], Any] | None = None,
        app_info: str | None = None,
        limits: Limits = DEFAULT_LIMITS,
        debug: bool = False,
    ) -> None:
        credentials: WorkspaceCredentials | ApiKeyCredentials
        if workspace_key is None and workspace_secret is None:
            credentials = credentials_from()
        else:
            credentials = WorkspaceCredentials(
                _require_credential(workspace_key, "workspace_key"),
                _require_credential(workspace_secret, "workspace_secret"),
            )
        self._setup_from(
            credentials,
            base_url=base_url,
            timeout=timeout,
            http_client=http_client,
            transport=transport,
            http_stack=http_stack,
            retry=retry,
            auto_idempotency_keys=auto_idempotency_keys,
            max_concurrency=max_concurrency,
            max_connections=max_connections,
            on_retry=on_retry,
            app_info=app_info,
            limits=limits,
            debug=debug,
        )

    @classmethod
    def _from_credentials(
        cls, credentials: WorkspaceCredentials | ApiKeyCredentials, **options: Any
    ) -> AsyncSuprsend:
        self = cls.__new__(cls)
        self._setup_from(credentials, **options)
        return self

    def _setup_from(
        self,
        credentials: WorkspaceCredentials | ApiKeyCredentials,
        *,
        workspace_uid: str | None = None,
        **options: Any,
    ) -> None:
        if isinstance(credentials, ApiKeyCredentials):
            _check_option(workspace_uid, "workspace_uid", str, "a string")
            self._setup(
                auth=BearerAuth(_require_credential(credentials.api_key, "api_key")),
                env=workspace_uid.strip() if workspace_uid else None,
                event_path="event/",
                **options,
            )
        else:
            key = _require_credential(credentials.key, "workspace_key")
            secret = _require_credential(credentials.secret, "workspace_secret")
            self._setup(
                auth=WorkspaceSignatureAuth(key, secret), env=key, event_path="v2/event/", **options
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
        http_stack: HttpStack | None = None,
        retry: RetryPolicy | None = None,
        auto_idempotency_keys: bool = True,
        max_concurrency: int | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        on_retry: Callable[[RetryEvent], Any] | None = None,
        app_info: str | None = None,
        limits: Limits = DEFAULT_LIMITS,
        debug: bool = False,
    ) -> AsyncSuprsend:
        """A client authenticating with an API key (``Authorization: Bearer``).

        Single events go to the REST path ``event/``; ``env`` is sent only
        when ``workspace_uid`` is given. Options as for :class:`AsyncSuprsend`.
        """
        return cls._from_credentials(
            ApiKeyCredentials(api_key),
            workspace_uid=workspace_uid,
            base_url=base_url,
            timeout=timeout,
            http_client=http_client,
            transport=transport,
            http_stack=http_stack,
            retry=retry,
            auto_idempotency_keys=auto_idempotency_keys,
            max_concurrency=max_concurrency,
            max_connections=max_connections,
            on_retry=on_retry,
            app_info=app_info,
            limits=limits,
            debug=debug,
        )

    def _setup(
        self,
        *,
        auth: HubAuth,
        env: str | None,
        event_path: str,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_stack: HttpStack | None = None,
        retry: RetryPolicy | None = None,
        auto_idempotency_keys: bool = True,
        max_concurrency: int | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        on_retry: Callable[[RetryEvent], Any] | None = None,
        app_info: str | None = None,
        limits: Limits = DEFAULT_LIMITS,
        debug: bool = False,
    ) -> None:
        check_hook(on_retry, "on_retry")
        _check_option(base_url, "base_url", str, "a string")
        checked_policy(retry)
        given = _given_stack(http_client, transport)
        _check_option(app_info, "app_info", str, "a string")
        if not isinstance(limits, Limits):  # None too: there is no "no limits"
            raise SuprsendConfigError(f"limits must be a Limits, got {type(limits).__name__}")
        _check_flag(auto_idempotency_keys, "auto_idempotency_keys")
        _check_flag(debug, "debug")
        self.max_connections = _max_connections(max_connections)
        self.max_concurrency = self._check_concurrency(
            min(DEFAULT_MAX_CONCURRENCY, max_connections)
            if max_concurrency is None
            else max_concurrency
        )
        stack = chosen_stack(http_stack, given)
        ua = user_agent()
        self._env = env
        self._event_path = event_path
        self.auto_idempotency_keys = auto_idempotency_keys
        self.limits = limits
        self._serializer = Serializer(env=env, sdk_version=ua, limits=limits)
        self._retry_policy = retry or RetryPolicy()
        self._options = NO_OPTIONS
        self._view_closed = False
        self._owns_transport = True
        self._transport = HubTransport(
            base_url=_hub_url(base_url),
            auth=auth,
            timeout=_timeout(timeout),
            headers={
                "Content-Type": CONTENT_TYPE,
                "User-Agent": ua,
                "X-Suprsend-Client-User-Agent": client_user_agent(app_info),
            },
            retry_policy=self._retry_policy,
            on_retry=on_retry,
            http_client=http_client,
            http_transport=transport,
            owns_http_client=http_client is None,
            max_connections=max_connections,
            http_stack=stack,
            log=ClientLogger(debug=debug),
        )
        self._mount_resources()

    def _mount_resources(self) -> None:
        """The API namespaces, on this client (a ``with_options`` copy gets its own)."""
        self.workflows = Workflows(self)
        self.bulk_events = BulkEvents(self)
        self.bulk_workflows = BulkWorkflowsFactory(self)
        self.users = Users(self)
        self.objects = Objects(self)
        self.tenants = Tenants(self)
        self.brands = Brands(self)
        self.subscriber_lists = SubscriberLists(self)
        self.broadcasts = Broadcasts(self)
        self.messages = Messages(self)
        self.templates = Templates(self)

    def __getattr__(self, name: str) -> Any:
        # Only for names missing from the instance: the official SDK's namespaces
        # and methods, in code ported from it, say what to use instead.
        instead = _OFFICIAL_NAMES.get(name)
        if instead is None:
            raise AttributeError(f"'AsyncSuprsend' object has no attribute {name!r}")
        raise AttributeError(
            f"'AsyncSuprsend' object has no attribute {name!r} (the official SDK's"
            f" supr.{name}): {instead}"
        )

    def _check_concurrency(self, max_concurrency: object) -> int:
        """``max_concurrency`` if the pool can honour it, else SuprsendConfigError."""
        if not _is_count(max_concurrency):
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
        return self._retry_policy

    @property
    def timeout(self) -> httpx.Timeout:
        return self._options.timeout or self._transport.timeout

    def with_options(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncSuprsend:
        """A client like this one with another timeout, retry policy or extra headers.

        ``await client.with_options(timeout=2.0).track_event(event)``. It
        shares this client's connection pool; an option not given keeps
        this client's value, and ``headers`` are added to this client's
        extra headers. Closing the derived client closes only it (further
        calls through it raise); closing the original closes the pool for
        both.
        """
        checked_policy(retry)
        derived = copy.copy(self)
        derived._options = RequestOptions(
            timeout=self._options.timeout if timeout is None else _timeout(timeout),
            headers={**self._options.headers, **check_headers(headers or {})},
        )
        derived._retry_policy = retry or self._retry_policy
        derived._view_closed = False
        derived._owns_transport = False
        derived._mount_resources()
        return derived

    # -- lifecycle ---------------------------------------------------------------

    def _ensure_open(self) -> None:
        if self._view_closed:
            raise SuprsendClientClosedError("this AsyncSuprsend client is closed")
        self._transport.client()

    async def __aenter__(self) -> AsyncSuprsend:
        self._ensure_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (not a user-supplied ``http_client``).

        On a client from :meth:`with_options`: close only that client; the
        shared pool stays open for the client it came from. Called from an
        event loop other than the pool's (one that has ended), or in a forked
        child, it lets the pool's connections go instead of speaking on them.
        """
        self._view_closed = True
        if self._owns_transport:
            await self._transport.aclose()

    # -- single calls --------------------------------------------------------------

    async def track_event(
        self, event: Event, *, retry: RetryPolicy | None = None
    ) -> TriggerResponse:
        """Send one event; retried (per ``retry`` or the client's policy) only if it has a key."""
        if not isinstance(event, Event):
            raise SuprsendValidationError(
                "event", f"track_event() takes an Event, got {type(event).__name__}"
            )
        record = self._serializer.encode_event(
            event, idempotency_key=fresh_key(self, event.idempotency_key is not None)
        )
        return await send_record(self, "track_event", self._event_path, record, retry)

    async def trigger_workflow(
        self, workflow: Workflow | Mapping[str, Any], *, retry: RetryPolicy | None = None
    ) -> TriggerResponse:
        """Trigger a dynamic (single-step) workflow: a :class:`Workflow`, or its dict body.

        The official SDK's ``trigger_workflow``; retried only with an idempotency key.
        """
        return await trigger_workflow(self, workflow, retry)

    # -- background sending ----------------------------------------------------------

    def background(
        self,
        *,
        spool: str | os.PathLike[str] | None = None,
        fsync: bool = True,
        max_queue: int | None = None,
        when_full: WhenFull | None = None,
        exit_timeout: float = DEFAULT_EXIT_TIMEOUT,
        batch_size: int | None = None,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> BackgroundSender:
        """A sender that accepts events and triggers at once and sends them in bulk behind
        your back: ``async with client.background(spool="outbox.sqlite3") as sender:``.

        - ``spool``: a SQLite file; accepting returns once the record is on disk,
          and what is not yet sent survives a crash (the next sender on the file
          sends it). Without it the queue is in memory.
        - ``fsync``: each spool commit is flushed to the device (default), so an
          accepted record survives a power loss; ``False`` keeps it through a
          killed process only, for a commit that costs a write instead of a flush.
        - ``max_queue`` (default 10,000) and ``when_full`` (``"block"``, the
          default; ``"drop_new"``; ``"raise"``): the in-memory queue's bound and
          what a full one does.
        - ``exit_timeout``: seconds the exit of the block keeps sending (default 5).
        - ``batch_size``: records taken per bulk call (default: eight requests per
          connection of ``max_concurrency``).
        - ``max_backoff``: the longest wait between rounds when the hub does not
          take records (default 30 s; the first is 0.5 s).
        - ``poll_interval``: how often a spool is looked at for other processes'
          records, and whether the process sending it has stopped (default 1 s).
        """
        return BackgroundSender(
            self,
            kinds={"event": EVENT_RECORDS, "workflow": TRIGGER_RECORDS},
            spool=spool,
            fsync=fsync,
            max_queue=max_queue,
            when_full=when_full,
            exit_timeout=exit_timeout,
            batch_size=batch_size,
            max_backoff=max_backoff,
            poll_interval=poll_interval,
        )
