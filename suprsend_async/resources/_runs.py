"""Cancelling workflow and broadcast runs: what ``workflows.cancel`` and
``broadcasts.cancel`` share (no official SDK has either).

The filters are ANDed by the hub; at least one that names runs is required
(``tenant_id`` only narrows: alone it would cancel every run of a tenant), and
a call without one is refused before anything is sent. The answer lists the
``execution_ids`` this call cancelled; a run already finished is not
cancelled. Never retried: a repeat could cancel runs started since, and could
not report the ones the first attempt cancelled.

The pattern they enable: trigger with an idempotency key you derive from your
data (``f"order-{order_id}-reminder"``), and cancel by the same key when the
reason to notify is gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._core.retry import RetryPolicy
from .._values.audience_answers import CancelledRunsJSON
from .._values.errors import SuprsendValidationError
from .._values.rules import require_id
from .._wire.routes import Call
from ._base import Resource

__all__ = ["cancel_runs"]


def _filters(given: Mapping[str, Any], naming: tuple[str, ...]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name, value in given.items():
        if value is None:
            continue
        if name == "recipients":
            if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
                raise SuprsendValidationError(
                    "recipients", f"must be a list of recipient ids, got {type(value).__name__}"
                )
            if not value:
                raise SuprsendValidationError("recipients", "must not be empty")
            body[name] = [require_id(r, f"recipients[{i}]") for i, r in enumerate(value)]
        else:
            body[name] = require_id(value, name)
    if not any(name in body for name in naming):
        raise SuprsendValidationError(
            " / ".join(naming), "at least one filter is required (tenant_id alone is not enough)"
        )
    return body


async def cancel_runs(
    resource: Resource,
    call: Call[CancelledRunsJSON],
    filters: Mapping[str, Any],
    naming: tuple[str, ...],
    retry: RetryPolicy | None,
) -> CancelledRunsJSON:
    """Send a cancel with ``filters`` (None ones left out); ``naming`` are those that name runs."""
    return await resource._json(call.with_body(_filters(filters, naming)), retry)
