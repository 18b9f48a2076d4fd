"""One record sent as one request (``track_event``, ``workflows.trigger``).

The hub's answer, whatever it is, comes back as a :class:`TriggerResponse`, as
the official SDKs return a dict rather than raise. A request is retried when
it was not sent or was refused unprocessed (429), and after an answer that may
hide a delivery only when it carries an idempotency key.
"""

from __future__ import annotations

from typing import Any

import attrs

from .._values.errors import SuprsendTransportError
from .._wire.responses import TriggerResponse
from .._wire.serialization import EncodedRecord, new_insert_id
from .context import ClientContext
from .retry import RetryPolicy, checked_policy, not_retried_without_key

__all__ = ["fresh_key", "send_record"]

_NOT_RETRIED = not_retried_without_key("request")


def fresh_key(client: ClientContext, has_key: bool) -> str | None:
    """A generated idempotency key, when the client gives them and the record has none:
    a UUID4 string, from the batched generator of ``$insert_id``s (a tenth of uuid4's cost)."""
    return None if has_key or not client.auto_idempotency_keys else new_insert_id()


async def send_record(
    client: ClientContext,
    operation: str,
    path: str,
    record: EncodedRecord,
    policy: RetryPolicy | None,
) -> TriggerResponse:
    """POST one encoded record; a span names the call ``operation``."""
    policy = checked_policy(policy)
    client._ensure_open()
    transport = client._transport
    with transport.telemetry.call(operation, "POST", path, records=1) as call:
        result = await _post(client, path, record, policy)
        call.attempts = result.attempts
        call.retried = result.attempts - 1
        call.status_code = result.status_code
        call.failed = 0 if result.success else 1
        call.error_type = result.error_type or (
            None if result.success else f"HTTP {result.status_code}"
        )
    if not result.success:
        _log_failure(transport.log, operation, path, result)
    return result


# The most of the hub's message a log line quotes.
_MAX_LOGGED = 300


def _log_failure(log: Any, operation: str, path: str, result: TriggerResponse) -> None:
    """One WARNING line for a call that ended in failure, after its retries.

    The call returns ``success=False`` rather than raising (as the official
    SDK does), so without this a wrong key or an unknown workflow would fail
    silently forever. The line names the route, the status and the hub's
    message: no payload, no secret, no control character that could forge
    another log line.
    """
    message = " ".join((result.message or "").split())
    if len(message) > _MAX_LOGGED:
        message = message[:_MAX_LOGGED] + "..."
    if result.status_code is None:
        log.warning("%s failed after %d attempt(s): %s", operation, result.attempts, message)
    else:
        log.warning(
            "%s failed: POST /%s answered HTTP %d: %s",
            operation,
            path,
            result.status_code,
            message,
        )


async def _post(
    client: ClientContext, path: str, record: EncodedRecord, policy: RetryPolicy | None
) -> TriggerResponse:
    keyed = record.idempotency_key is not None
    try:
        response, attempts = await client._transport.post(
            path,
            record.body,
            repeatable=keyed,
            policy=policy or client.retry_policy,
            options=client._options,
        )
    except SuprsendTransportError as exc:
        result = TriggerResponse.from_transport_error(exc, attempts=exc.attempts)
        if keyed or not exc.sent:
            return result
        # The hub may or may not have it: say why it was not sent again.
        # (An HTTP answer keeps the hub's own message, as in the official SDK.)
        return attrs.evolve(result, message=f"{result.message}; {_NOT_RETRIED}")
    return TriggerResponse.from_http(
        response.status_code, response.content, attempts=attempts, headers=response.headers
    )
