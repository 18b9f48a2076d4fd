"""What the emulator's core and its resource modules share: the call a route
handler gets, the refusal it may raise, and the shapes of the answers.

A resource module (``resources/events.py``, ...) exposes :data:`Routes`: path
template to method to handler. The core (``_hub``) authenticates, parses and
injects faults, then calls the handler with itself and a :class:`Call`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs

if TYPE_CHECKING:
    from ._hub import HubEmulator

__all__ = [
    "Call",
    "Handler",
    "Reject",
    "Routes",
    "bulk_records",
    "check_single_size",
    "record_error",
    "record_ok",
    "single_answer",
]


@attrs.frozen
class Call:
    """One authenticated request, as a route handler gets it."""

    method: str
    workspace: str
    params: Mapping[str, str]  # the ``{name}`` segments of the route's path template
    body: Any  # the parsed JSON; None when there was no body
    raw: bytes
    signed: bool  # authenticated by workspace signature, not by an API key


Handler: TypeAlias = Callable[["HubEmulator", Call], tuple[int, Any]]
# Path template -> method -> handler. ``{name}`` matches one path segment;
# exact paths win over templates.
Routes: TypeAlias = Mapping[str, Mapping[str, Handler]]


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
