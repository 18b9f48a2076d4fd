"""What the emulator's core and its resource modules share: the call a route
handler gets, the refusal it may raise, and the shapes of the answers.

A resource module (``resources/events.py``, ...) exposes its routes: path
template to method to handler (:data:`Routes`), or, for the REST resources,
endpoint of ``_wire.endpoints`` to handler (:data:`EndpointRoutes`: the same
templates the client builds its paths from). The core (``_hub``)
authenticates, parses and injects faults, then calls the handler with itself
and a :class:`Call`, whose ``ids`` are the path's ``{name}`` segments by name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import attrs

from .._wire.routes import Endpoint

if TYPE_CHECKING:
    from .._values.limits import Limits
    from .resources._user_store import UserStore
    from .resources._workspace import Workspace

__all__ = [
    "Call",
    "EndpointRoutes",
    "Handler",
    "HubCore",
    "HubStats",
    "Reject",
    "Routes",
    "bulk_records",
    "check_single_size",
    "record_error",
    "record_ok",
    "routes_of",
    "single_answer",
]


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
    processed_broadcasts: int = 0
    identity_events: int = 0
    rejected_records: int = 0
    duplicates_suppressed: int = 0
    # Records whose $insert_id (events) or exact content (triggers) arrived
    # before: what a retry looks like from the hub's side.
    resent_records: int = 0
    # Keyed records processed (each key once within the window, as the hub does).
    keys_processed: int = 0
    # Keys forgotten before their window ended, to bound memory (keep_records=False).
    idempotency_keys_evicted: int = 0
    # Users forgotten, least recently changed first, to bound memory (keep_records=False).
    users_evicted: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["statuses"] = {str(k): v for k, v in sorted(self.statuses.items())}
        data["faults"] = dict(sorted(self.faults.items()))
        return data


class HubCore(Protocol):
    """What a resource handler may use of the hub (``HubEmulator`` is one).

    Typing against this instead of the hub class keeps the resource modules
    free of imports of ``_hub``, which imports them to build its routes.
    """

    stats: HubStats
    limits: Limits
    keep_records: bool
    workflows: frozenset[str] | None
    events: list[Any]
    triggers: list[Any]
    broadcasts: list[Any]

    @property
    def users(self) -> UserStore: ...

    def store(self, workspace: str) -> Workspace: ...

    def _names(self, workspace: str) -> tuple[str, ...]: ...

    def _apply_identity_event(
        self, workspace: str, record: Mapping[str, Any], message_id: str
    ) -> None: ...

    def _rejected(self, status: int, message: str, error_type: str) -> tuple[int, Any]: ...

    def _accept(
        self, workspace: str, record: Any, insert_id: object
    ) -> tuple[str, str | None, bool]: ...

    def _message_id(self, workspace: str, key: str | None) -> str: ...


@attrs.frozen
class Call:
    """One authenticated request, as a route handler gets it."""

    method: str
    workspace: str
    ids: Mapping[str, str]  # the ``{name}`` segments of the route's path template, unescaped
    query: Mapping[str, str]  # the query string (the last value of a repeated key)
    body: Any  # the parsed JSON; None when there was no body
    raw: bytes
    signed: bool  # authenticated by workspace signature, not by an API key
    # Every value of each query key, in order (``status[]=a&status[]=b``).
    query_lists: Mapping[str, list[str]] = attrs.field(factory=dict)


Handler: TypeAlias = Callable[["HubCore", Call], tuple[int, Any]]
# Path template -> method -> handler. ``{name}`` matches one path segment;
# exact paths win over templates.
Routes: TypeAlias = Mapping[str, Mapping[str, Handler]]
# A REST resource's handlers, keyed by the endpoints the client sends to.
EndpointRoutes: TypeAlias = Mapping[Endpoint[Any], Handler]


def routes_of(*tables: EndpointRoutes) -> dict[str, dict[str, Handler]]:
    """Endpoint-keyed handlers as :data:`Routes` (``/`` + template -> method -> handler)."""
    routes: dict[str, dict[str, Handler]] = {}
    for table in tables:
        for endpoint, handler in table.items():
            methods = routes.setdefault("/" + endpoint.template, {})
            if endpoint.method in methods:
                raise ValueError(f"{endpoint} has two handlers")
            methods[endpoint.method] = handler
    return routes


class Reject(Exception):
    """A request the hub refuses whole; the core answers it with ``error_body``."""

    def __init__(
        self,
        status: int,
        message: str,
        error_type: str,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.error_type = status, message, error_type
        self.headers = headers or []


def check_single_size(raw: bytes, limit: int, what: str) -> None:
    if len(raw) > limit:
        raise Reject(
            413,
            f"{what} is {len(raw)} bytes, over the limit of {limit}",
            "payload_too_large",
        )


def bulk_records(body: Any, limit: int) -> list[Any]:
    if not isinstance(body, list):
        raise Reject(400, "a bulk request must be a JSON array", "validation_error")
    if len(body) > limit:
        raise Reject(
            400,
            f"a bulk request may carry at most {limit} records, got {len(body)}",
            "validation_error",
        )
    return body


def single_answer(status: int, result: dict[str, Any]) -> tuple[int, Any]:
    """A bulk record's result, reshaped as the answer to a single call."""
    if status >= 300:
        raise Reject(status, result["error"]["message"], result["error"]["type"])
    return status, {"status": "success", "message_id": result["message_id"]}


def record_ok(message_id: str) -> dict[str, Any]:
    return {"status": "success", "status_code": 202, "message_id": message_id}


def record_error(status: int, message: str, error_type: str) -> dict[str, Any]:
    # One record's result inside a 207: "status": "error" is what the SDKs test for.
    return {
        "status": "error",
        "status_code": status,
        "error": {"message": message, "type": error_type},
    }
