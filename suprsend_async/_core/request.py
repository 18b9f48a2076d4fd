"""The one request path every REST call takes: encode, sign, send, retry when safe, read.

Each attempt is a fresh request signed again (the transport's auth flow),
within the client's timeouts, pool and :class:`RetryPolicy`. Whether a call
may be repeated at all is the caller's :class:`RetrySafety`, decided in
``_values.idempotency``; the answer comes back as the hub's JSON, and an error
status as :class:`SuprsendAPIError`, as in the official SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import httpx

from .._values.errors import (
    SuprsendAPIError,
    SuprsendTimeoutError,
    SuprsendTransportError,
    SuprsendValidationError,
)
from .._values.idempotency import AttemptEnd, RetrySafety
from .._values.json_codec import dumps
from .._values.options import NO_OPTIONS, RequestOptions
from .._wire.responses import parse_body, parse_error, render
from .._wire.routes import NO_BODY, Call, Method
from .retry import RetryPolicy

if TYPE_CHECKING:
    from .transport import HubTransport

__all__ = ["NO_BODY", "Answer", "Call", "Method", "request"]


@attrs.frozen
class Answer:
    """A successful answer: its status, its parsed body and how many attempts it took."""

    method: str
    status_code: int
    body: Any = attrs.field(repr=False)  # the hub's JSON: personal data
    response: httpx.Response = attrs.field(repr=False)
    attempts: int

    @property
    def text(self) -> str:
        """The body as text (decoded when asked for: finding its charset costs)."""
        return self.response.text

    def json(self) -> dict[str, Any]:
        """The body as the JSON object the hub sent.

        A write answered without a body (204) gives ``{}``. A read must
        answer with an object; a write that answers with something else
        was nevertheless accepted, and its error says so, so that nobody
        sends a merge or an increment again to be sure.
        """
        if isinstance(self.body, dict):
            return self.body
        if self.body is None and self.method != "GET":
            return {}
        if self.method == "GET":
            message = "the hub answered with a body that is not a JSON object"
        else:
            message = (
                f"the hub accepted the {self.method} (HTTP {self.status_code}), "
                "but its answer is not a JSON object"
            )
        raise SuprsendAPIError(
            message,
            status_code=self.status_code,
            error_type="unexpected_answer",
            body=self.body,
        )


def encode_body(payload: Any, field: str) -> bytes:
    try:
        return dumps(payload)
    except (TypeError, ValueError, RecursionError) as exc:
        raise SuprsendValidationError(field, f"must be JSON-serializable: {exc}") from None


def _said(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    return None if value is None else render(value)


def api_error(status_code: int, raw: Any) -> SuprsendAPIError:
    """The hub's error, with its message from ``message``, ``detail`` or ``error.message``."""
    message, error_type = parse_error(status_code, raw)
    if isinstance(raw, dict):
        # As the official SDK reads it (``message or detail``), before the other forms.
        message = _said(raw.get("message")) or _said(raw.get("detail")) or message
        if error_type is None and isinstance(raw.get("type"), str):
            error_type = raw["type"]
    return SuprsendAPIError(message, status_code=status_code, error_type=error_type, body=raw)


def not_applied(status: int, location: str | None, raw: Any) -> SuprsendAPIError:
    """The error for a 1xx or 3xx answer: nothing was applied, and it was not followed.

    It names the redirect target by its scheme, host and port only: its path
    and query may carry ids.
    """
    target = ""
    if location:
        try:
            url = httpx.URL(location)
        except (httpx.InvalidURL, TypeError, ValueError):
            url = None
        if url is not None and url.host:
            port = f":{url.port}" if url.port is not None else ""
            target = f" to {url.scheme}://{url.host}{port}"
    return SuprsendAPIError(
        f"the hub answered HTTP {status}{target}; redirects are not followed, so nothing"
        " was applied (is the base URL right, https included?)",
        status_code=status,
        error_type="redirect" if 300 <= status < 400 else "unexpected_status",
        body=raw,
    )


async def request(
    transport: HubTransport,
    call: Call[Any],
    *,
    body_field: str = "payload",
    policy: RetryPolicy | None = None,
    options: RequestOptions = NO_OPTIONS,
) -> Answer:
    """Send ``call`` (its escaped path relative to the base URL) and return its answer.

    The call's body is a JSON value, or its bytes when already encoded. Its
    ``route`` is the path's template (``v1/user/{distinct_id}/``): it names the
    call in errors, logs, spans and retry events instead of the ids in it. A
    call that deletes (a DELETE, or the hub's PATCH ``.../delete/``) and gets 404
    after an earlier attempt that may have deleted it (``AttemptEnd.may_have_applied``:
    no answer, or a gateway's 502/504) is a success: that attempt deleted it.
    """
    body = call.body
    if body is NO_BODY:
        content = None
    elif isinstance(body, bytes):  # already encoded (and size-checked) by the caller
        content = body
    else:
        content = encode_body(body, body_field)
    method, route = call.method, call.route
    # A write is a record sent to the hub; a read is not (a lookup of a user who
    # does not exist is no failed record).
    records = 0 if method == "GET" else 1
    with transport.telemetry.call(f"{method} {route}", method, route, records=records) as span:
        try:
            # (Awaited here rather than in a coroutine of its own: one less made
            # on every call, and passed through at every resume.)
            safety = call.safety
            send_once = _Attempt(transport, call, content, options)
            try:
                response, attempts = await transport.send(
                    send_once, repeatable=safety.retry, route=route, policy=policy
                )
            except SuprsendTransportError as exc:
                if safety.retry or not exc.sent:
                    raise
                # The hub may or may not have applied it: say why it was not sent again.
                raise exc.with_note(safety.not_retried_note()) from exc
            span.attempts = attempts
            answer = _answered(call, safety, response, attempts, send_once.applied_before)
        except SuprsendAPIError as exc:
            span.failed, span.status_code = records, exc.status_code
            span.error_type = exc.error_type or f"HTTP {exc.status_code}"
            raise
        except SuprsendTransportError as exc:
            span.failed, span.attempts = records, exc.attempts
            span.error_type = "timeout" if isinstance(exc, SuprsendTimeoutError) else "transport"
            raise
        span.retried = records * (answer.attempts - 1)
        span.status_code = answer.status_code
        return answer


class _Attempt:
    """``send_once`` of one call: one request per call of it, each ending noted.

    (An object, not a closure: a closure's nine variables would each be a cell,
    made on every call whether or not it is retried.)
    """

    __slots__ = ("applied_before", "call", "content", "last_applied", "options", "transport")

    def __init__(
        self,
        transport: HubTransport,
        call: Call[Any],
        content: bytes | None,
        options: RequestOptions,
    ) -> None:
        self.transport = transport
        self.call = call
        self.content = content
        self.options = options
        # Whether an attempt before the last one may have been applied
        # (``AttemptEnd.may_have_applied``), and whether the last one may have:
        # all a 404 after them needs to be told from one the hub meant.
        self.applied_before = False
        self.last_applied = False

    def _ended(self, end: AttemptEnd) -> None:
        self.applied_before = self.applied_before or self.last_applied
        self.last_applied = end.may_have_applied

    async def __call__(self) -> httpx.Response:
        call = self.call
        try:
            response = await self.transport.request_once(
                call.method,
                call.path,
                params=call.query,
                content=self.content,
                route=call.route,
                options=self.options,
                repeated_query=call.endpoint.repeated_query,
            )
        except SuprsendTransportError as exc:
            self._ended(AttemptEnd.of_error(exc))
            raise
        self._ended(AttemptEnd.answered(response.status_code))
        return response


def _answered(
    call: Call[Any],
    safety: RetrySafety,
    response: httpx.Response,
    attempts: int,
    applied_before: bool,
) -> Answer:
    """The final answer as the call's :class:`Answer`, or the error it is."""
    method = call.method
    status = response.status_code
    raw = parse_body(response.content)
    deleted_before = call.endpoint.deletes and status == 404 and applied_before
    if 200 <= status < 300 or deleted_before:
        return Answer(method, status, raw, response, attempts)
    if status < 400:
        # A redirect (or an interim answer) is no success: the hub applied nothing,
        # and following it would send the body somewhere else, unsigned for there.
        raise not_applied(status, response.headers.get("Location"), raw)
    error = api_error(status, raw)
    if not safety.retry and AttemptEnd.answered(status).transient:
        error = SuprsendAPIError(
            f"{error.message}; {safety.not_retried_note()}",
            status_code=status,
            error_type=error.error_type,
            body=raw,
        )
    raise error
