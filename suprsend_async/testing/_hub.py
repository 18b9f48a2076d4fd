"""HubEmulator: a local SuprSend hub as an ASGI app, for offline integration tests.

This is the emulator's core: configuration, authentication (signatures and API
keys), fault injection, the route table, stats, idempotency deduplication and
the state tests read. What each path answers lives in ``resources/``, one
module per resource, as in the client: ``events``, ``workflows``,
``broadcasts``, ``users``. It answers like the hub (wire facts in the
project's wire-format reference), and validation reuses the client's own
rules (``_values.rules``) and limits, so the two can never drift apart.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import itertools
import time
import urllib.parse
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from email.utils import parsedate_to_datetime
from typing import Any

import anyio
import httpx

from .._core.auth import string_to_sign
from .._values.limits import DEFAULT_LIMITS, Limits
from ._codec import dumps as _dumps
from ._codec import loads as _loads
from ._faults import ConnectionDropped, Fault, FaultInjector, FaultKind, Faults
from ._routing import Call, Handler, HubStats, Reject, record_error, routes_of
from .resources import (
    broadcasts,
    events,
    lists,
    messages,
    objects,
    templates,
    tenants,
    users,
    workflows,
)
from .resources._collection import Collection, StoreError
from .resources._list_store import ListStore
from .resources._object_store import ObjectStore
from .resources._run_store import RunStore
from .resources._tenant_store import StoredTenant
from .resources._user_store import UserStore
from .resources._workspace import Workspace
from .resources.broadcasts import ProcessedBroadcast
from .resources.events import ProcessedEvent, ProcessedIdentityEvent
from .resources.workflows import ProcessedTrigger

__all__ = ["HubEmulator", "HubStats", "error_body"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEFAULT_WORKSPACE_KEY = "emulator-workspace-key-0001"
DEFAULT_WORKSPACE_SECRET = "emulator-workspace-secret"  # noqa: S105 - a public test credential
DEFAULT_API_KEY = "emulator-api-key"
DEFAULT_WORKSPACE_UID = "emulator-workspace-uid"
IDEMPOTENCY_WINDOW = 24 * 3600.0
# Kept at most with keep_records=False: keys ~400 bytes each (~40 MB in all),
# users ~0.9 KB each (~45 MB). Measured with tracemalloc, 200k keyed requests.
IDEMPOTENCY_KEY_LIMIT = 100_000
USER_LIMIT = 50_000
# ... and users of at most this many bytes in all (their properties as JSON): a
# count alone does not bound memory when each user holds hundreds of KB.
USER_BYTES_LIMIT = 48 * 1024 * 1024
MAX_CLOCK_SKEW = 300.0
CONTROL_PREFIX = "/_emulator/"


def error_body(status: int, message: str, error_type: str, *, bulk: bool = False) -> dict[str, Any]:
    """An error answer every official SDK can read.

    Python's single calls and API helpers read ``message``; its bulk helpers
    and this library read ``error.message``; its bulk event helper reads
    ``records`` before it looks at the status, so bulk paths carry an empty one;
    Go's REST calls read ``code`` and ``message`` (the users API's own shape).
    """
    body: dict[str, Any] = {
        "status": "fail",
        "code": status,
        "message": message,
        "error": {"message": message, "type": error_type},
    }
    if bulk:
        body["records"] = []
    return body


# Every resource module's routes, by path template ("{name}" is one path segment).
_ROUTES: dict[str, Mapping[str, Handler]] = {
    **events.ROUTES,
    **workflows.ROUTES,
    **broadcasts.ROUTES,
    **routes_of(
        users.ROUTES,
        objects.ROUTES,
        tenants.ROUTES,
        lists.ROUTES,
        messages.ROUTES,
        templates.ROUTES,
    ),
}
# Templates by their number of segments, fewest holes first: a literal segment
# wins over an id ("v1/bulk/user/" is not the user "bulk").
_TEMPLATES: dict[int, list[tuple[str, list[str]]]] = {}
for _template in sorted(_ROUTES, key=lambda t: t.count("{")):
    _parts = _template.strip("/").split("/")
    _TEMPLATES.setdefault(len(_parts), []).append((_template, _parts))
# What a store's refusal is called in the error body, by status.
_STORE_ERROR_TYPES = {400: "validation_error", 404: "not_found", 409: "conflict"}


def _match_route(raw_path: str) -> tuple[str, dict[str, str]] | None:
    """(template, ids by name) of the route ``raw_path`` (still escaped) reaches.

    Each segment is unescaped on its own, after splitting, so an id holding
    an escaped ``/`` stays one id.
    """
    segments = raw_path.strip("/").split("/")
    for template, parts in _TEMPLATES.get(len(segments), ()):
        ids: dict[str, str] = {}
        for part, segment in zip(parts, segments, strict=True):
            if part.startswith("{") and part.endswith("}"):
                if not segment:
                    break
                ids[part[1:-1]] = urllib.parse.unquote(segment)
            elif part != urllib.parse.unquote(segment):
                break
        else:
            return template, ids
    return None


class HubEmulator:
    """A local SuprSend hub; an ASGI app (``await hub(scope, receive, send)``).

    - ``workspaces``: workspace key to secret (default: one test workspace,
      see :attr:`workspace_key` / :attr:`workspace_secret`).
    - ``api_keys``: Bearer API key to workspace key (default: :attr:`api_key`
      for the first workspace).
    - ``workspace_uids``: workspace key to its uid, the name API-key clients use
      for it in ``env`` and in legacy paths (default: :attr:`workspace_uid` for
      the first workspace).
    - ``workflows``: the workflow slugs that exist; others get 404. ``None``
      accepts any slug.
    - ``workflow_delays``: workflow slug to seconds its runs wait on the
      emulator's clock before they complete (and send their messages); until
      then they can be cancelled. :meth:`advance` moves the clock. (A dynamic
      workflow's or a broadcast's own ``delay`` is honoured too.)
    - ``templates``: template slugs the templates API knows, besides each
      workflow slug and every template a processed request named.
    - ``faults``: seeded random faults and latency; :meth:`script` queues
      exact ones.
    - ``keep_records``: keep every processed record in :attr:`events` /
      :attr:`triggers` / :attr:`broadcasts` / :attr:`identity_events`, per-key
      counters and fingerprints for :attr:`HubStats.resent_records`. Turn off
      for multi-million-record runs: counters are always kept, and the
      idempotency keys remembered are then bounded by ``idempotency_key_limit``
      (the most recent ones; an older key that arrives again is processed
      again, and counted in :attr:`HubStats.idempotency_keys_evicted`), the
      users by ``user_limit`` and ``user_bytes_limit`` (the most recently
      changed; the others are forgotten, counted in
      :attr:`HubStats.users_evicted`), and
      ``users.applications`` is not counted.

    Serve it in-process with :meth:`transport` (or :meth:`client`), on a
    loopback socket with :func:`~suprsend_async.testing.serve`, or from the
    command line with ``python -m suprsend_async.testing``.
    """

    def __init__(
        self,
        *,
        workspaces: Mapping[str, str] | None = None,
        api_keys: Mapping[str, str] | None = None,
        workspace_uids: Mapping[str, str] | None = None,
        workflows: Iterable[str] | None = None,
        limits: Limits = DEFAULT_LIMITS,
        faults: Faults | None = None,
        keep_records: bool = True,
        clock: Callable[[], float] = time.time,
        max_clock_skew: float = MAX_CLOCK_SKEW,
        idempotency_window: float = IDEMPOTENCY_WINDOW,
        idempotency_key_limit: int = IDEMPOTENCY_KEY_LIMIT,
        user_limit: int = USER_LIMIT,
        workflow_delays: Mapping[str, float] | None = None,
        templates: Iterable[str] | None = None,
        user_bytes_limit: int = USER_BYTES_LIMIT,
    ) -> None:
        self.workspaces = dict(workspaces or {DEFAULT_WORKSPACE_KEY: DEFAULT_WORKSPACE_SECRET})
        if not self.workspaces:
            raise ValueError("the emulator needs at least one workspace")
        first = next(iter(self.workspaces))
        self.api_keys = dict(api_keys if api_keys is not None else {DEFAULT_API_KEY: first})
        self.workspace_uids = dict(
            workspace_uids if workspace_uids is not None else {first: DEFAULT_WORKSPACE_UID}
        )
        unknown = (set(self.api_keys.values()) | set(self.workspace_uids)) - set(self.workspaces)
        if unknown:
            raise ValueError(
                f"api_keys or workspace_uids name unknown workspaces: {sorted(unknown)}"
            )
        for name, limit in (
            ("idempotency_key_limit", idempotency_key_limit),
            ("user_limit", user_limit),
            ("user_bytes_limit", user_bytes_limit),
        ):
            if limit < 1:
                raise ValueError(f"{name} must be at least 1, got {limit}")
        self.workflows = frozenset(workflows) if workflows is not None else None
        self.limits = limits
        self.injector = FaultInjector(faults or Faults())
        self.keep_records = keep_records
        self.clock = clock
        self.max_clock_skew = max_clock_skew
        self.idempotency_window = idempotency_window
        self.idempotency_key_limit = idempotency_key_limit
        self.user_limit = user_limit
        self.workflow_delays = dict(workflow_delays or {})
        if any(not delay >= 0 for delay in self.workflow_delays.values()):
            raise ValueError("workflow_delays must be seconds >= 0")
        self.templates = frozenset(templates or ()) | (self.workflows or frozenset())
        # Seconds the run clock is ahead of ``clock`` (advance()); signatures keep ``clock``.
        self.advanced = 0.0
        self.user_bytes_limit = user_bytes_limit
        self._ids = itertools.count(1)
        self.reset()

    def __repr__(self) -> str:
        return (
            f"HubEmulator(workspaces={list(self.workspaces)!r}, "
            f"requests={self.stats.requests}, faults={self.injector.faults!r})"
        )

    # -- what tests read ---------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything received and processed (configuration and script stay)."""
        # Requests still being handled stay counted: in_flight is a gauge, not history.
        previous: HubStats | None = getattr(self, "stats", None)
        in_flight = previous.in_flight if previous is not None else 0
        self.stats = HubStats(in_flight=in_flight, max_in_flight=in_flight)
        self.events: list[ProcessedEvent] = []
        self.triggers: list[ProcessedTrigger] = []
        self.broadcasts: list[ProcessedBroadcast] = []
        self.identity_events: list[ProcessedIdentityEvent] = []
        # Times each idempotency key was processed (not merely acknowledged).
        self.processed_keys: Counter[str] = Counter()
        # Times each idempotency key arrived, duplicates included.
        self.received_keys: Counter[str] = Counter()
        # (workspace, key) -> (first processed at, message_id), oldest first.
        self._seen_keys: OrderedDict[tuple[str, str], tuple[float, str]] = OrderedDict()
        self._fingerprints: set[bytes] = set()
        # Each workspace's users, objects...: made on first use.
        self.stores: defaultdict[str, Workspace] = defaultdict(
            lambda: Workspace(
                user_limit=None if self.keep_records else self.user_limit,
                user_bytes_limit=None if self.keep_records else self.user_bytes_limit,
                count_applications=self.keep_records,
                on_user_evicted=self._user_evicted,
                clock=self.run_clock,
                workflow_delays=self.workflow_delays,
                templates=self.templates,
                keep_messages=self.keep_records,
                max_list_ids_per_request=self.limits.max_list_ids_per_request,
            )
        )

    def _user_evicted(self) -> None:
        self.stats.users_evicted += 1

    def run_clock(self) -> float:
        """The time runs wait on: ``clock`` plus every :meth:`advance`."""
        return self.clock() + self.advanced

    def advance(self, seconds: float) -> None:
        """Move the runs' clock on: delayed runs now due complete and send their messages.

        Only runs see it; request signatures are still checked against ``clock``.
        """
        if not seconds >= 0:
            raise ValueError(f"advance takes seconds >= 0, got {seconds!r}")
        self.advanced += seconds
        for workspace in self.stores.values():
            workspace.runs.complete_due()

    def store(self, workspace: str) -> Workspace:
        """What the emulator keeps for ``workspace`` (its key): users, objects..."""
        return self.stores[workspace]

    @property
    def users(self) -> UserStore:
        """The first workspace's users (``store(key).users`` for any other)."""
        return self.stores[self.workspace_key].users

    @property
    def lists(self) -> ListStore:
        """The first workspace's subscriber lists (``hub.lists["beta"].members``)."""
        return self.stores[self.workspace_key].lists

    @property
    def runs(self) -> RunStore:
        """The first workspace's workflow and broadcast runs (``hub.runs.runs``) and the
        messages they sent (``hub.runs.messages``)."""
        return self.stores[self.workspace_key].runs

    @property
    def objects(self) -> ObjectStore:
        """The first workspace's objects (``store(key).objects`` for any other)."""
        return self.stores[self.workspace_key].objects

    @property
    def tenants(self) -> Collection[str, StoredTenant]:
        """The first workspace's tenants, which are its brands too (``hub.tenants["acme"]``)."""
        return self.stores[self.workspace_key].tenants.tenants

    @property
    def workspace_key(self) -> str:
        return next(iter(self.workspaces))

    @property
    def workspace_secret(self) -> str:
        return self.workspaces[self.workspace_key]

    @property
    def workspace_uid(self) -> str:
        """The first workspace's uid: what the official SDKs' API-key mode names it by."""
        return self.workspace_uids.get(self.workspace_key, self.workspace_key)

    @property
    def api_key(self) -> str:
        return next(iter(self.api_keys))

    @property
    def faults(self) -> Faults:
        return self.injector.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self.injector = FaultInjector(faults)

    def script(self, fault: Fault, times: int = 1) -> None:
        """Apply ``fault`` to the next ``times`` hub requests, before any random fault."""
        self.injector.script(fault, times)

    def fail_next(self, times: int = 1, status: int = 503) -> None:
        self.script(Fault.error(status), times)

    # -- wiring -----------------------------------------------------------------------

    def transport(self) -> httpx.AsyncBaseTransport:
        """An in-process httpx transport: no socket, drop faults become transport errors."""
        return _HubTransport(self)

    def client(self, **options: Any) -> Any:
        """An ``AsyncSuprsend`` signed with this hub's first workspace, served in-process."""
        from .._client import AsyncSuprsend

        options.setdefault("base_url", "http://hub.emulator/")
        options.setdefault("transport", self.transport())
        return AsyncSuprsend(self.workspace_key, self.workspace_secret, **options)

    # -- ASGI -------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":  # pragma: no cover - websockets are not served
            return
        body = await _read_body(receive)
        path: str = scope["path"]
        if path.startswith(CONTROL_PREFIX):
            await self._control(scope["method"], path, scope.get("query_string", b""), send)
            return
        self.stats.requests += 1
        self.stats.in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
        try:
            status, headers, payload = await self._handle(scope, body)
        finally:
            self.stats.in_flight -= 1
        self.stats.statuses[status] += 1
        await _respond(send, status, payload, headers)

    async def _handle(
        self, scope: Scope, body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], Any]:
        # The fault is chosen on arrival, so the n-th request to arrive gets the
        # n-th fault of the seed, however the latencies reorder the answers.
        fault = self.injector.next_fault()
        delay = self.injector.delay()
        if delay:
            await anyio.sleep(delay)
        route = _match_route(_raw_path(scope))
        bulk = route is not None and route[0] in events.BULK_PATHS
        if fault is not None:
            self.stats.faults[fault.kind.value] += 1
            if fault.kind is FaultKind.DROP_BEFORE:
                raise ConnectionDropped("fault: connection dropped before processing")
            if fault.kind is FaultKind.RATE_LIMIT:
                message = error_body(
                    429, "rate limit exceeded (emulator fault)", "rate_limited", bulk=bulk
                )
                return 429, [(b"retry-after", fault.retry_after.encode())], message
            if fault.kind is FaultKind.ERROR:
                error = error_body(
                    fault.status, "service unavailable (emulator fault)", "server_error", bulk=bulk
                )
                return fault.status, [], error
        try:
            status, headers, payload = self._route(scope, body)
        except Reject as reject:
            if reject.status == 401:
                self.stats.auth_failures += 1
            payload = error_body(reject.status, reject.message, reject.error_type, bulk=bulk)
            return reject.status, reject.headers, payload
        if fault is not None and fault.kind is FaultKind.DROP_AFTER:
            raise ConnectionDropped("fault: processed, then the connection was dropped")
        return status, headers, payload

    async def _control(self, method: str, path: str, query: bytes, send: Send) -> None:
        if path == CONTROL_PREFIX + "stats" and method in ("GET", "HEAD"):
            await _respond(send, 200, self.stats_dict())
        elif path == CONTROL_PREFIX + "reset" and method == "POST":
            self.reset()
            await _respond(send, 200, {"status": "success"})
        elif path == CONTROL_PREFIX + "advance" and method == "POST":
            seconds = dict(urllib.parse.parse_qsl(query.decode("latin-1"))).get("seconds", "")
            try:
                self.advance(float(seconds))
            except ValueError:
                message = f"advance takes ?seconds=N (N >= 0), got {seconds!r}"
                await _respond(send, 400, error_body(400, message, "validation_error"))
                return
            await _respond(send, 200, {"status": "success", "advanced": self.advanced})
        else:
            await _respond(send, 404, error_body(404, f"no control path {path}", "not_found"))

    def stats_dict(self) -> dict[str, Any]:
        data = self.stats.to_dict()
        if self.keep_records:
            data["keys_processed"] = len(self.processed_keys)
            data["keys_processed_more_than_once"] = sum(
                1 for n in self.processed_keys.values() if n > 1
            )
        else:  # per-key counts are not kept: unknown, not zero
            data["keys_processed_more_than_once"] = None
        return data

    # -- routing, auth ------------------------------------------------------------------

    def _route(self, scope: Scope, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], Any]:
        path = _with_slash(scope["path"])
        method: str = scope["method"]
        route = _match_route(_raw_path(scope))
        if route is None:
            raise Reject(404, f"no such endpoint: {path}", "not_found")
        template, ids = route
        handlers = _ROUTES[template]
        allow = [(b"allow", ", ".join([*handlers, "OPTIONS"]).encode())]
        if method == "OPTIONS":
            return 204, allow, None
        handler = handlers.get(method)
        if handler is None:
            raise Reject(405, f"{method} is not allowed on {path}", "method_not_allowed", allow)
        workspace, signed = self._authenticate(scope, body)
        if ids.get("workspace") not in (None, *self._names(workspace)):
            raise Reject(
                403, f"the path names workspace {ids['workspace']!r}, not yours", "forbidden"
            )
        self._check_body_size(body)
        try:
            parsed = _loads(body) if body else None
        except ValueError as exc:
            raise Reject(400, str(exc), "bad_request") from None
        pairs = urllib.parse.parse_qsl(scope["query_string"].decode("latin-1"))
        query_lists: dict[str, list[str]] = {}
        for key, value in pairs:
            query_lists.setdefault(key, []).append(value)
        call = Call(method, workspace, ids, dict(pairs), parsed, body, signed, query_lists)
        try:
            status, payload = handler(self, call)
        except StoreError as error:
            kind = _STORE_ERROR_TYPES.get(error.status, "error")
            raise Reject(error.status, error.message, kind) from None
        return status, [], payload

    def _check_body_size(self, body: bytes) -> None:
        if len(body) > self.limits.max_body_bytes:
            raise Reject(
                413,
                f"request body is {len(body)} bytes, over the limit of "
                f"{self.limits.max_body_bytes}",
                "payload_too_large",
            )

    def _names(self, workspace: str) -> tuple[str, ...]:
        """What a request may call its workspace: the key, or the uid API-key clients use."""
        uid = self.workspace_uids.get(workspace)
        return (workspace,) if uid is None else (workspace, uid)

    def _authenticate(self, scope: Scope, body: bytes) -> tuple[str, bool]:
        """(workspace key, whether it was signed); every path takes both schemes."""
        headers = _headers(scope)
        authorization = headers.get("authorization", "")
        if authorization.startswith("Bearer "):
            workspace = self.api_keys.get(authorization[7:].strip())
            if workspace is None:
                raise Reject(401, "invalid API key", "unauthorized")
            return workspace, False
        key, sep, signature = authorization.rpartition(":")
        if not sep or not key or not signature:
            raise Reject(401, "missing or malformed Authorization header", "unauthorized")
        secret = self.workspaces.get(key)
        if secret is None:
            raise Reject(401, "unknown workspace key", "unauthorized")
        date = headers.get("date", "")
        self._check_date(date)
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        message = string_to_sign(
            scope["method"], body, headers.get("content-type", ""), date, target.decode("latin-1")
        )
        expected = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest())
        if not hmac.compare_digest(expected, signature.encode()):
            raise Reject(401, "signature mismatch", "unauthorized")
        return key, True

    def _check_date(self, date: str) -> None:
        if not date:
            raise Reject(401, "missing Date header", "unauthorized")
        sent = _parse_date(date)
        if sent is None:
            raise Reject(401, "malformed Date header", "unauthorized")
        if abs(self.clock() - sent) > self.max_clock_skew:
            raise Reject(401, "Date header too far from the server's time", "unauthorized")

    # -- what resource handlers call ---------------------------------------------------

    def _apply_identity_event(
        self, workspace: str, record: Mapping[str, Any], message_id: str
    ) -> None:
        """Apply a validated identity event (a user edit) to the workspace's users."""
        self.stores[workspace].users.apply_identity_event(record)
        if self.keep_records:
            self.identity_events.append(
                ProcessedIdentityEvent(
                    workspace=workspace,
                    distinct_id=record["distinct_id"].strip(),
                    operations=record["$user_operations"],
                    tenant_id=record.get("tenant_id"),
                    message_id=message_id,
                    body=record,
                )
            )

    def _rejected(self, status: int, message: str, error_type: str) -> tuple[int, Any]:
        self.stats.rejected_records += 1
        return status, record_error(status, message, error_type)

    def _accept(
        self, workspace: str, record: Any, insert_id: object
    ) -> tuple[str, str | None, bool]:
        """(message_id, idempotency key, whether to process it: False for a duplicate key)."""
        self._note_fingerprint(insert_id, record)
        key = _idempotency_key(record)
        duplicate = self._duplicate(workspace, key)
        if duplicate is not None:
            return duplicate, key, False
        return self._message_id(workspace, key), key, True

    def _note_fingerprint(self, insert_id: object, record: Any) -> None:
        if not self.keep_records:
            return
        source = insert_id.encode() if isinstance(insert_id, str) else _dumps(record)
        fingerprint = hashlib.blake2b(source, digest_size=12).digest()
        if fingerprint in self._fingerprints:
            self.stats.resent_records += 1
        else:
            self._fingerprints.add(fingerprint)

    def _duplicate(self, workspace: str, key: str | None) -> str | None:
        """The first message_id when ``key`` was processed within the window."""
        if key is None:
            return None
        if self.keep_records:
            self.received_keys[key] += 1
        seen = self._seen_keys.get((workspace, key))
        if seen is not None and self.clock() - seen[0] < self.idempotency_window:
            self.stats.duplicates_suppressed += 1
            return seen[1]
        return None

    def _message_id(self, workspace: str, key: str | None) -> str:
        message_id = f"emu-{next(self._ids):08d}"
        if key is not None:
            self._remember_key((workspace, key), message_id)
            self.stats.keys_processed += 1
            if self.keep_records:
                self.processed_keys[key] += 1
        return message_id

    def _remember_key(self, key: tuple[str, str], message_id: str) -> None:
        now = self.clock()
        seen = self._seen_keys
        seen.pop(key, None)  # a key processed again (window over) moves to the newest end
        seen[key] = (now, message_id)
        # Oldest first: drop what the window has already forgotten.
        while seen:
            first_key, (first_seen, _) = next(iter(seen.items()))
            if now - first_seen < self.idempotency_window:
                break
            del seen[first_key]
        if not self.keep_records:
            while len(seen) > self.idempotency_key_limit:
                seen.popitem(last=False)
                self.stats.idempotency_keys_evicted += 1


def _parse_date(date: str) -> float | None:
    """A signed request's ``Date`` as a timestamp: RFC 1123, as most SDKs send it, or
    ISO 8601 with a zone, as the Node SDK's users API does (``new Date().toISOString()``)."""
    # (OverflowError: a year or zone offset out of range is a malformed Date, not a 500.)
    try:
        return parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, OverflowError):
        pass
    try:  # before 3.11, fromisoformat does not read "Z"
        parsed = datetime.datetime.fromisoformat(date.strip().replace("Z", "+00:00"))
        return parsed.timestamp() if parsed.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


def _raw_path(scope: Scope) -> str:
    raw: bytes | None = scope.get("raw_path")
    return _with_slash(raw.decode("latin-1") if raw else scope["path"])


def _with_slash(path: str) -> str:
    return path if path.endswith("/") else path + "/"


def _idempotency_key(record: Mapping[str, Any]) -> str | None:
    key = record.get("$idempotency_key")
    # The hub trims surrounding spaces, so " k" and "k" are the same key.
    return key.strip() or None if isinstance(key, str) else None


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _respond(
    send: Send, status: int, payload: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    # None is no body at all (204), not JSON null.
    content = b"" if status == 204 or payload is None else _dumps(payload)
    kind = [] if not content else [(b"content-type", b"application/json")]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*kind, (b"content-length", str(len(content)).encode()), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": content})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class _HubTransport(httpx.ASGITransport):
    def __init__(self, hub: HubEmulator) -> None:
        super().__init__(app=hub, client=("127.0.0.1", 50000))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except ConnectionDropped as exc:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from exc
