"""The one request path every REST call takes: encode, sign, send, retry when safe, read.

Each attempt is a fresh request signed again (the transport's auth flow),
within the client's timeouts, pool and :class:`RetryPolicy`. Whether a call
may be repeated at all is the caller's :class:`RetrySafety`, decided in
``_idempotency``; the answer comes back as the hub's JSON, and an error
status as :class:`SuprsendAPIError`, as in the official SDK.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs

from ._exceptions import (
    SuprsendAPIError,
    SuprsendTimeoutError,
    SuprsendTransportError,
    SuprsendValidationError,
)
from ._idempotency import RetrySafety
from ._options import NO_OPTIONS, RequestOptions
from ._response import parse_body, parse_error
from ._retry import (
    RetryPolicy,
    describe_response,
    is_retryable_status,
    response_is_retryable,
    response_retry_after,
    send_with_retries,
)
from ._serialization import dumps

if TYPE_CHECKING:
    from ._telemetry import CallRecorder
    from ._transport import HubTransport

__all__ = ["NO_BODY", "Answer", "Method", "request"]

Method = Literal["GET", "POST", "PATCH", "DELETE"]


class _NoBody:
    def __repr__(self) -> str:
        return "NO_BODY"


NO_BODY: Any = _NoBody()


@attrs.frozen
class Answer:
    """A successful answer: its status, its parsed body and how many attempts it took."""

    status_code: int
    body: Any
    text: str
    attempts: int

    def json(self) -> dict[str, Any]:
        """The body as the JSON object the hub sent ({} for an empty body)."""
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise SuprsendAPIError(
                "the hub answered with a body that is not a JSON object",
                status_code=self.status_code,
                error_type="unexpected_answer",
                body=self.body,
            )
        return self.body


def encode_body(payload: Any, field: str) -> bytes:
    try:
        return dumps(payload)
    except (TypeError, ValueError, RecursionError) as exc:
        raise SuprsendValidationError(field, f"must be JSON-serializable: {exc}") from None


def api_error(status_code: int, raw: Any) -> SuprsendAPIError:
    """The hub's error, with its message from ``message``, ``detail`` or ``error.message``."""
    message, error_type = parse_error(status_code, raw)
    if isinstance(raw, dict) and "message" not in raw and "error" not in raw:
        detail = raw.get("detail")
        if isinstance(detail, str) and detail.strip():
            message = detail.strip()
        elif detail:
            message = json.dumps(detail, ensure_ascii=False)
    if error_type is None and isinstance(raw, dict) and isinstance(raw.get("type"), str):
        error_type = raw["type"]
    return SuprsendAPIError(message, status_code=status_code, error_type=error_type, body=raw)


async def request(
    transport: HubTransport,
    method: Method,
    path: str,
    *,
    route: str,
    safety: RetrySafety,
    params: Mapping[str, Any] | None = None,
    body: Any = NO_BODY,
    body_field: str = "payload",
    policy: RetryPolicy | None = None,
    options: RequestOptions = NO_OPTIONS,
) -> Answer:
    """Send ``method path`` (escaped, relative to the base URL) and return its answer.

    ``body`` is a JSON value, or its bytes when already encoded. ``route``
    is the path's template (``v1/user/{distinct_id}/``): it names
    the call in logs, spans and retry events without the ids in it. A DELETE
    that gets 404 after an earlier attempt went unanswered is a success: that
    attempt is what deleted it.
    """
    if body is NO_BODY:
        content = None
    elif isinstance(body, bytes):  # already encoded (and size-checked) by the caller
        content = body
    else:
        content = encode_body(body, body_field)
    # A write is a record sent to the hub; a read is not (a lookup of a user who
    # does not exist is no failed record).
    records = 0 if method == "GET" else 1
    with transport.telemetry.call(f"{method} {route}", method, route, records=records) as call:
        try:
            answer = await _send(
                transport, method, path, route, safety, params, content, policy, options, call
            )
        except SuprsendAPIError as exc:
            call.failed, call.status_code = records, exc.status_code
            call.error_type = exc.error_type or f"HTTP {exc.status_code}"
            raise
        except SuprsendTransportError as exc:
            call.failed, call.attempts = records, exc.attempts
            call.error_type = "timeout" if isinstance(exc, SuprsendTimeoutError) else "transport"
            raise
        call.retried = records * (answer.attempts - 1)
        call.status_code = answer.status_code
        return answer


async def _send(
    transport: HubTransport,
    method: Method,
    path: str,
    route: str,
    safety: RetrySafety,
    params: Mapping[str, Any] | None,
    content: bytes | None,
    policy: RetryPolicy | None,
    options: RequestOptions,
    call: CallRecorder,
) -> Answer:
    try:
        response, attempts = await send_with_retries(
            lambda: transport.request_once(
                method, path, params=params, content=content, route=route, options=options
            ),
            policy=policy or transport.retry_policy,
            retry=safety.retry,
            path=route,
            on_retry=transport.on_retry,
            log=transport.log,
            is_retryable=response_is_retryable,
            retry_after=response_retry_after,
            describe=describe_response,
        )
    except SuprsendTransportError as exc:
        if safety.retry:
            raise
        # The hub may or may not have applied it: say why it was not sent again.
        unanswered = type(exc)(f"{exc}; {safety.not_retried_note()}")
        unanswered.attempts = exc.attempts
        raise unanswered from exc
    call.attempts = attempts
    status = response.status_code
    raw = parse_body(response.content)
    if status < 400 or (method == "DELETE" and status == 404 and attempts > 1):
        return Answer(status, raw, response.text, attempts)
    error = api_error(status, raw)
    if not safety.retry and is_retryable_status(status):
        error = SuprsendAPIError(
            f"{error.message}; {safety.not_retried_note()}",
            status_code=status,
            error_type=error.error_type,
            body=raw,
        )
    raise error
