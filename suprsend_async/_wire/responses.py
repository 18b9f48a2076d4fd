"""What a call returns, parsed from every body form the hub is known to send."""

from __future__ import annotations

import json
from typing import Any, Literal

import attrs
import httpx

from .._values.errors import SuprsendAPIError, SuprsendTimeoutError, SuprsendTransportError

__all__ = ["TriggerResponse", "nested_deeper_than", "parse_body", "parse_error", "render"]

# The official SDKs report a request that got no answer as status 500.
_NO_ANSWER_STATUS_CODE = 500


# Deeper than any answer a hub writes back: properties stored as deep as a JSON
# encoder writes (orjson: 254 levels), wrapped in a few levels of answer. Anything
# recursive over a much deeper value (a json.dumps for a message, a repr, the
# caller's own code) could overflow the stack.
MAX_ANSWER_DEPTH = 300


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether a parsed JSON value nests more than ``limit`` levels (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            inner: Any = item.values()
        elif isinstance(item, list):
            inner = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in inner)
    return False


def parse_body(content: bytes) -> Any:
    """The body as JSON if it is JSON, else as text (None when empty).

    JSON nested deeper than MAX_ANSWER_DEPTH is kept as its text too: no
    caller could use it, and rendering it would overflow the stack.
    """
    if not content:
        return None
    try:
        value = json.loads(content)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to parse
        return content.decode("utf-8", errors="replace")
    # (Each level opens a bracket: a shorter body cannot nest that deep.)
    if len(content) > MAX_ANSWER_DEPTH and nested_deeper_than(value, MAX_ANSWER_DEPTH):
        return content.decode("utf-8", errors="replace")
    return value


def render(value: Any) -> str:
    """A parsed answer (or part of one) as JSON text for a message, whatever its depth."""
    if nested_deeper_than(value, MAX_ANSWER_DEPTH):
        return f"<a JSON {type(value).__name__} nested more than {MAX_ANSWER_DEPTH} levels deep>"
    return json.dumps(value, ensure_ascii=False)


def _said(value: Any) -> str | None:
    """A field of an error body as text; None when absent or blank."""
    if value is None:
        return None
    return (value if isinstance(value, str) else render(value)).strip() or None


def parse_error(status_code: int, raw: Any) -> tuple[str, str | None]:
    """(message, error type) from any of the hub's error body forms; the message is never blank."""
    if isinstance(raw, dict):
        error = raw.get("error")
        if isinstance(error, dict):
            return _said(error.get("message")) or f"HTTP {status_code}", _said(error.get("type"))
        if isinstance(error, str) and error.strip():
            return error.strip(), None
        message = _said(raw.get("message"))
        if message is not None:
            return message, None
        return render(raw), None
    if isinstance(raw, str) and raw.strip():
        return raw.strip(), None
    if raw is not None and not isinstance(raw, str):
        return render(raw), None
    return f"HTTP {status_code} with an empty body", None


@attrs.frozen(kw_only=True)
class TriggerResponse:
    """The outcome of one ``track_event`` or ``workflows.trigger`` call.

    Errors from the hub and from the network come back as a response with
    ``success=False`` (as with the official SDKs); call
    :meth:`raise_for_status` to turn them into exceptions instead.
    ``status_code`` is None when no HTTP answer arrived; ``headers`` are the
    hub's response headers (case-insensitive; empty when no answer arrived).
    """

    success: bool
    status: Literal["success", "fail"]
    status_code: int | None
    # Not in the repr, as the raw answer: the hub's words may quote ids, emails, phones.
    message: str | None = attrs.field(repr=False)
    message_id: str | None = None
    error_type: str | None = None
    raw_response: Any = attrs.field(default=None, repr=False)
    attempts: int = 1
    error: BaseException | None = attrs.field(default=None, eq=False, repr=False)
    headers: httpx.Headers = attrs.field(factory=httpx.Headers, eq=False, repr=False)

    @classmethod
    def from_http(
        cls,
        status_code: int,
        content: bytes,
        *,
        attempts: int = 1,
        headers: httpx.Headers | None = None,
    ) -> TriggerResponse:
        headers = headers if headers is not None else httpx.Headers()
        raw = parse_body(content)
        if 200 <= status_code < 300:
            message_id = None
            message = None
            if isinstance(raw, dict):
                if raw.get("message_id") is not None:
                    message_id = str(raw["message_id"])
                message = message_id
                if message is None and raw.get("message") is not None:
                    message = str(raw["message"])
            elif isinstance(raw, str) and raw.strip():
                message = raw.strip()  # a text answer, as the official SDK reports it
            return cls(
                success=True,
                status="success",
                status_code=status_code,
                message=message,
                message_id=message_id,
                raw_response=raw,
                attempts=attempts,
                headers=headers,
            )
        message, error_type = parse_error(status_code, raw)
        return cls(
            success=False,
            status="fail",
            status_code=status_code,
            message=message,
            error_type=error_type,
            raw_response=raw,
            attempts=attempts,
            headers=headers,
        )

    @classmethod
    def from_transport_error(cls, exc: BaseException, *, attempts: int = 1) -> TriggerResponse:
        return cls(
            success=False,
            status="fail",
            status_code=None,
            message=str(exc),
            error_type="timeout" if isinstance(exc, SuprsendTimeoutError) else "transport",
            attempts=attempts,
            error=exc,
        )

    def raise_for_status(self) -> TriggerResponse:
        """Return self on success; raise SuprsendAPIError or SuprsendTransportError otherwise."""
        if self.success:
            return self
        if self.status_code is None:
            if isinstance(self.error, SuprsendTransportError):
                raise self.error
            raise SuprsendTransportError(self.message or "no answer from the hub")
        raise SuprsendAPIError(
            self.message or "",
            status_code=self.status_code,
            error_type=self.error_type,
            body=self.raw_response,
        )

    def to_dict(self) -> dict[str, Any]:
        """The official SDK's dict shape.

        As there, ``raw_response`` is the parsed JSON body, or None when the
        body was not JSON (the text is in ``message``).
        """
        raw = self.raw_response
        return {
            "success": self.success,
            "status": self.status,
            "status_code": (
                self.status_code if self.status_code is not None else _NO_ANSWER_STATUS_CODE
            ),
            "message": self.message,
            "raw_response": None if isinstance(raw, str) else raw,
        }
