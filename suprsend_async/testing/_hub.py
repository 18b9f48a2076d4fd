"""HubEmulator: a local SuprSend hub as an ASGI app, for offline integration tests.

It authenticates, validates and answers like the hub (wire facts in the
project's wire-format reference), deduplicates idempotency keys, records
what it processed so tests can assert on it, and injects seeded faults.
Validation reuses the client's own rules (``_rules``) and limits, so the two
can never drift apart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from email.utils import parsedate_to_datetime
from typing import Any

import anyio
import attrs
import httpx

from .._auth import string_to_sign
from .._exceptions import SuprsendValidationError
from .._limits import DEFAULT_LIMITS, Limits
from .._rules import event_body, trigger_body
from ._faults import ConnectionDropped, Fault, FaultInjector, FaultKind, Faults
from ._user_routes import match_user_route
from ._users import UserStore, UserStores

__all__ = ["HubEmulator", "HubStats", "ProcessedEvent", "ProcessedTrigger"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEFAULT_WORKSPACE_KEY = "emulator-workspace-key-0001"
DEFAULT_WORKSPACE_SECRET = "emulator-workspace-secret"  # noqa: S105 - a public test credential
DEFAULT_API_KEY = "emulator-api-key"
IDEMPOTENCY_WINDOW = 24 * 3600.0
MAX_CLOCK_SKEW = 300.0
CONTROL_PREFIX = "/_emulator/"

try:
    import orjson

    _loads: Callable[[bytes], Any] = orjson.loads

    def _dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

except ImportError:  # pragma: no cover - exercised only without the fast extra
    _loads = json.loads

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


@attrs.frozen(kw_only=True)
class ProcessedEvent:
    """An event the emulator accepted and processed (a duplicate key is not)."""

    workspace: str
    event: str
    distinct_id: str
    properties: Mapping[str, Any]
    idempotency_key: str | None
    tenant_id: str | None
    brand_id: str | None
    insert_id: str | None
    message_id: str
    body: Mapping[str, Any] = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class ProcessedTrigger:
    """A workflow trigger the emulator accepted and processed."""

    workspace: str
    workflow: str
    recipients: list[Any]
    actor: Any
    data: Mapping[str, Any]
    idempotency_key: str | None
    tenant_id: str | None
    cancellation_key: str | None
    message_id: str
    body: Mapping[str, Any] = attrs.field(repr=False)


@attrs.define
class HubStats:
    """Counters a test or a human can read (``GET /_emulator/stats`` serves them)."""

    requests: int = 0
    statuses: Counter[int] = attrs.field(factory=Counter)
    faults: Counter[str] = attrs.field(factory=Counter)
    auth_failures: int = 0
    records_received: int = 0
    processed_events: int = 0
    processed_triggers: int = 0
    rejected_records: int = 0
    duplicates_suppressed: int = 0
    # Records whose $insert_id (events) or exact content (triggers) arrived
    # before: what a retry looks like from the hub's side.
    resent_records: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["statuses"] = {str(k): v for k, v in sorted(self.statuses.items())}
        data["faults"] = dict(sorted(self.faults.items()))
        return data


class _Reject(Exception):
    def __init__(self, status: int, message: str, error_type: str) -> None:
        super().__init__(message)
        self.status, self.message, self.error_type = status, message, error_type


def _error_body(message: str, error_type: str) -> dict[str, Any]:
    return {"status": "error", "error": {"message": message, "type": error_type}}


class HubEmulator:
    """A local SuprSend hub; an ASGI app (``await hub(scope, receive, send)``).

    - ``workspaces``: workspace key to secret (default: one test workspace,
      see :attr:`workspace_key` / :attr:`workspace_secret`).
    - ``api_keys``: Bearer API key to workspace key (default: :attr:`api_key`
      for the first workspace).
    - ``workflows``: the workflow slugs that exist; others get 404. ``None``
      accepts any slug.
    - ``faults``: seeded random faults and latency; :meth:`script` queues
      exact ones.
    - ``keep_records``: keep every processed record in :attr:`events` /
      :attr:`triggers` and fingerprints for :attr:`HubStats.resent_records`.
      Turn off for multi-million-record runs; counters are always kept.

    Serve it in-process with :meth:`transport` (or :meth:`client`), on a
    loopback socket with :func:`~suprsend_async.testing.serve`, or from the
    command line with ``python -m suprsend_async.testing``.
    """

    def __init__(
        self,
        *,
        workspaces: Mapping[str, str] | None = None,
        api_keys: Mapping[str, str] | None = None,
        workflows: Iterable[str] | None = None,
        limits: Limits = DEFAULT_LIMITS,
        faults: Faults | None = None,
        keep_records: bool = True,
        clock: Callable[[], float] = time.time,
        max_clock_skew: float = MAX_CLOCK_SKEW,
        idempotency_window: float = IDEMPOTENCY_WINDOW,
    ) -> None:
        self.workspaces = dict(workspaces or {DEFAULT_WORKSPACE_KEY: DEFAULT_WORKSPACE_SECRET})
        if not self.workspaces:
            raise ValueError("the emulator needs at least one workspace")
        first = next(iter(self.workspaces))
        self.api_keys = dict(api_keys if api_keys is not None else {DEFAULT_API_KEY: first})
        unknown = set(self.api_keys.values()) - set(self.workspaces)
        if unknown:
            raise ValueError(f"api_keys name unknown workspaces: {sorted(unknown)}")
        self.workflows = frozenset(workflows) if workflows is not None else None
        self.limits = limits
        self.injector = FaultInjector(faults or Faults())
        self.keep_records = keep_records
        self.clock = clock
        self.max_clock_skew = max_clock_skew
        self.idempotency_window = idempotency_window
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
        # Times each idempotency key was processed (not merely acknowledged).
        self.processed_keys: Counter[str] = Counter()
        # Times each idempotency key arrived, duplicates included.
        self.received_keys: Counter[str] = Counter()
        self._seen_keys: dict[tuple[str, str], tuple[float, str]] = {}
        self._fingerprints: set[bytes] = set()
        self.user_stores = UserStores()

    @property
    def users(self) -> UserStore:
        """The first workspace's users (``user_stores[key]`` for any other)."""
        return self.user_stores[self.workspace_key]

    @property
    def workspace_key(self) -> str:
        return next(iter(self.workspaces))

    @property
    def workspace_secret(self) -> str:
        return self.workspaces[self.workspace_key]

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
            await self._control(scope["method"], path, send)
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
        if fault is not None:
            self.stats.faults[fault.kind.value] += 1
            if fault.kind is FaultKind.DROP_BEFORE:
                raise ConnectionDropped("fault: connection dropped before processing")
            if fault.kind is FaultKind.RATE_LIMIT:
                message = {"status": "fail", "message": "rate limit exceeded (emulator fault)"}
                return 429, [(b"retry-after", fault.retry_after.encode())], message
            if fault.kind is FaultKind.ERROR:
                error = _error_body("service unavailable (emulator fault)", "server_error")
                return fault.status, [], error
        try:
            status, payload = self._route(scope, body)
        except _Reject as reject:
            if reject.status == 401:
                self.stats.auth_failures += 1
                return 401, [], {"status": "fail", "message": reject.message}
            return reject.status, [], _error_body(reject.message, reject.error_type)
        if fault is not None and fault.kind is FaultKind.DROP_AFTER:
            raise ConnectionDropped("fault: processed, then the connection was dropped")
        return status, [], payload

    async def _control(self, method: str, path: str, send: Send) -> None:
        if path == CONTROL_PREFIX + "stats" and method == "GET":
            await _respond(send, 200, self.stats_dict())
        elif path == CONTROL_PREFIX + "reset" and method == "POST":
            self.reset()
            await _respond(send, 200, {"status": "success"})
        else:
            await _respond(send, 404, _error_body(f"no control path {path}", "not_found"))

    def stats_dict(self) -> dict[str, Any]:
        data = self.stats.to_dict()
        data["keys_processed"] = len(self.processed_keys)
        data["keys_processed_more_than_once"] = sum(
            1 for n in self.processed_keys.values() if n > 1
        )
        return data

    # -- routing, auth ------------------------------------------------------------------

    def _route(self, scope: Scope, body: bytes) -> tuple[int, Any]:
        path: str = scope["path"]
        if not path.endswith("/"):
            path += "/"
        user_route = match_user_route(
            scope["method"], scope.get("raw_path") or path.encode(), scope["query_string"], body
        )
        if user_route is not None:
            return user_route(
                self.user_stores[self._authenticate(scope, body, bearer_allowed=True)],
                max_body_bytes=self.limits.max_body_bytes,
            )
        routes = {
            "/v2/event/": (False, self._single_event),
            "/v2/bulk/event/": (False, self._bulk_events),
            "/event/": (True, self._single_event),
            "/trigger/": (True, self._triggers),
        }
        if path not in routes:
            raise _Reject(404, f"no such endpoint: {path}", "not_found")
        if scope["method"] != "POST":
            raise _Reject(405, f"{scope['method']} is not allowed on {path}", "method_not_allowed")
        bearer_allowed, handler = routes[path]
        workspace = self._authenticate(scope, body, bearer_allowed=bearer_allowed)
        if len(body) > self.limits.max_body_bytes:
            raise _Reject(
                413,
                f"request body is {len(body)} bytes, over the limit of "
                f"{self.limits.max_body_bytes}",
                "payload_too_large",
            )
        try:
            parsed = _loads(body)
        except ValueError:
            raise _Reject(400, "request body is not valid JSON", "bad_request") from None
        return handler(workspace, parsed, body, signed_path=not bearer_allowed)

    def _authenticate(self, scope: Scope, body: bytes, *, bearer_allowed: bool) -> str:
        headers = _headers(scope)
        authorization = headers.get("authorization", "")
        if authorization.startswith("Bearer "):
            if not bearer_allowed:
                raise _Reject(401, "this path needs a workspace signature", "unauthorized")
            workspace = self.api_keys.get(authorization[7:].strip())
            if workspace is None:
                raise _Reject(401, "invalid API key", "unauthorized")
            return workspace
        key, sep, signature = authorization.rpartition(":")
        if not sep or not key or not signature:
            raise _Reject(401, "missing or malformed Authorization header", "unauthorized")
        secret = self.workspaces.get(key)
        if secret is None:
            raise _Reject(401, "unknown workspace key", "unauthorized")
        date = headers.get("date", "")
        self._check_date(date)
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        message = string_to_sign(
            scope["method"], body, headers.get("content-type", ""), date, target.decode("ascii")
        )
        expected = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest())
        if not hmac.compare_digest(expected, signature.encode()):
            raise _Reject(401, "signature mismatch", "unauthorized")
        return key

    def _check_date(self, date: str) -> None:
        if not date:
            raise _Reject(401, "missing Date header", "unauthorized")
        try:
            sent = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            raise _Reject(401, "malformed Date header", "unauthorized") from None
        if abs(self.clock() - sent) > self.max_clock_skew:
            raise _Reject(401, "Date header too far from the server's time", "unauthorized")

    # -- processing ----------------------------------------------------------------------

    def _single_event(
        self, workspace: str, body: Any, raw: bytes, *, signed_path: bool
    ) -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise _Reject(400, "an event must be a JSON object", "validation_error")
        if len(raw) > self.limits.max_single_event_bytes:
            raise _Reject(
                413,
                f"event is {len(raw)} bytes, over the limit of "
                f"{self.limits.max_single_event_bytes}",
                "payload_too_large",
            )
        self.stats.records_received += 1
        return _single_answer(*self._event(workspace, body, signed_path=signed_path))

    def _bulk_events(
        self, workspace: str, body: Any, raw: bytes, *, signed_path: bool
    ) -> tuple[int, Any]:
        records = self._bulk_records(body)
        check_size = len(raw) > self.limits.max_single_event_bytes
        results = []
        for record in records:
            self.stats.records_received += 1
            if check_size and len(_dumps(record)) > self.limits.max_single_event_bytes:
                self.stats.rejected_records += 1
                results.append(_record_error(413, "event is over the size limit", "too_large"))
                continue
            results.append(self._event(workspace, record, signed_path=signed_path)[1])
        return 207, {"status": "success", "records": results}

    def _triggers(
        self, workspace: str, body: Any, raw: bytes, *, signed_path: bool
    ) -> tuple[int, Any]:
        if isinstance(body, list):
            records = self._bulk_records(body)
            results = []
            for record in records:
                self.stats.records_received += 1
                results.append(self._trigger(workspace, record)[1])
            return 207, {"status": "success", "records": results}
        self.stats.records_received += 1
        return _single_answer(*self._trigger(workspace, body))

    def _bulk_records(self, body: Any) -> list[Any]:
        if not isinstance(body, list):
            raise _Reject(400, "a bulk request must be a JSON array", "validation_error")
        if len(body) > self.limits.max_records_per_request:
            raise _Reject(
                400,
                f"a bulk request may carry at most {self.limits.max_records_per_request} "
                f"records, got {len(body)}",
                "validation_error",
            )
        return body

    def _event(self, workspace: str, record: Any, *, signed_path: bool) -> tuple[int, Any]:
        try:
            event_body(record, self.limits, require_env=signed_path)
            if record.get("env") not in (None, workspace):
                raise SuprsendValidationError("env", "does not match the authenticated workspace")
        except SuprsendValidationError as exc:
            return self._rejected(400, str(exc), "validation_error")
        message_id, key, new = self._accept(workspace, record, record.get("$insert_id"))
        if new:
            self.stats.processed_events += 1
            if self.keep_records:
                self.events.append(
                    ProcessedEvent(
                        workspace=workspace,
                        event=record["event"].strip(),
                        distinct_id=record["distinct_id"].strip(),
                        properties=record.get("properties") or {},
                        idempotency_key=key,
                        tenant_id=record.get("tenant_id"),
                        brand_id=record.get("brand_id"),
                        insert_id=record.get("$insert_id"),
                        message_id=message_id,
                        body=record,
                    )
                )
        return 202, _record_ok(message_id)

    def _trigger(self, workspace: str, record: Any) -> tuple[int, Any]:
        try:
            trigger_body(record, self.limits)
        except SuprsendValidationError as exc:
            return self._rejected(400, str(exc), "validation_error")
        slug = record["workflow"].strip()
        if self.workflows is not None and slug not in self.workflows:
            return self._rejected(404, f"workflow '{slug}' not found", "not_found")
        message_id, key, new = self._accept(workspace, record, None)
        if new:
            self.stats.processed_triggers += 1
            if self.keep_records:
                self.triggers.append(
                    ProcessedTrigger(
                        workspace=workspace,
                        workflow=slug,
                        recipients=record["recipients"],
                        actor=record.get("actor"),
                        data=record.get("data") or {},
                        idempotency_key=key,
                        tenant_id=record.get("tenant_id"),
                        cancellation_key=record.get("cancellation_key"),
                        message_id=message_id,
                        body=record,
                    )
                )
        return 202, _record_ok(message_id)

    def _rejected(self, status: int, message: str, error_type: str) -> tuple[int, Any]:
        self.stats.rejected_records += 1
        return status, _record_error(status, message, error_type)

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
        self.received_keys[key] += 1
        seen = self._seen_keys.get((workspace, key))
        if seen is not None and self.clock() - seen[0] < self.idempotency_window:
            self.stats.duplicates_suppressed += 1
            return seen[1]
        return None

    def _message_id(self, workspace: str, key: str | None) -> str:
        message_id = f"emu-{next(self._ids):08d}"
        if key is not None:
            self._seen_keys[(workspace, key)] = (self.clock(), message_id)
            self.processed_keys[key] += 1
        return message_id


def _single_answer(status: int, result: dict[str, Any]) -> tuple[int, Any]:
    """A bulk record's result, reshaped as the answer to a single call."""
    if status >= 300:
        raise _Reject(status, result["error"]["message"], result["error"]["type"])
    return status, {"status": "success", "message_id": result["message_id"]}


def _idempotency_key(record: Mapping[str, Any]) -> str | None:
    key = record.get("$idempotency_key")
    # The hub trims surrounding spaces, so " k" and "k" are the same key.
    return key.strip() or None if isinstance(key, str) else None


def _record_ok(message_id: str) -> dict[str, Any]:
    return {"status": "success", "status_code": 202, "message_id": message_id}


def _record_error(status: int, message: str, error_type: str) -> dict[str, Any]:
    return {"status": "error", "status_code": status, **_error_body(message, error_type)}


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
    content = b"" if status == 204 else _dumps(payload)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                *(headers or []),
            ],
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
