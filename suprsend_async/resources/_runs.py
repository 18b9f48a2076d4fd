"""Cancelling workflow and broadcast runs: what ``workflows.cancel`` and
``broadcasts.cancel`` share (no official SDK has either).

The filters are the request body's properties in the hub's API reference, and
nothing else: a filter the hub does not know could be ignored by it, and a
cancel it ignores a filter of cancels every run the others match (in every
tenant, for ``tenant_id``, which the reference does not have). The hub ANDs
them, and requires one of those its 400 names (``execution_id``, ``recipients``
or ``idempotency_key`` for workflows; ``list_id`` instead of ``recipients`` for
broadcasts); the others (``workflow_slug``) only narrow. A call without one is
refused before anything is sent. The answer lists the ``execution_ids`` this
call cancelled; a run already finished is not cancelled. Never retried: a
repeat could cancel runs started since, and could not report the ones the
first attempt cancelled.

The pattern they enable: trigger with an idempotency key you derive from your
data (``f"order-{order_id}-reminder"``), and cancel by the same key when the
reason to notify is gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .._core.retry import RetryPolicy
from .._values.audience_answers import CancelledRunsJSON
from .._values.errors import SuprsendValidationError
from .._values.rules import require_id
from .._wire.routes import Call
from ._base import Resource

__all__ = ["BROADCAST_FILTERS", "WORKFLOW_FILTERS", "RunFilters", "cancel_runs"]


@attrs.frozen
class RunFilters:
    """The filters of one cancel endpoint, as the hub's API reference gives them."""

    path: str
    required: tuple[str, ...]  # one of these is required (the hub's documented 400)
    narrowing: tuple[str, ...] = ()  # accepted beside one of them, never alone

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.required, *self.narrowing)


WORKFLOW_FILTERS = RunFilters(
    "/v1/workflow_run/cancel/",
    ("execution_id", "recipients", "idempotency_key"),
    ("workflow_slug",),
)
BROADCAST_FILTERS = RunFilters(
    "/v1/broadcast_run/cancel/", ("execution_id", "list_id", "idempotency_key")
)


def _filters(given: Mapping[str, Any], filters: RunFilters) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name, value in given.items():
        if value is None:
            continue
        if name not in filters.names:
            raise SuprsendValidationError(
                name,
                f"is not a filter of POST {filters.path} in the hub's API reference"
                f" (its filters: {', '.join(filters.names)}): a hub that ignored it"
                f" would cancel the matching runs of every {name.removesuffix('_id')}",
            )
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
    if not any(name in body for name in filters.required):
        rule = "at least one of these filters is required (the hub's rule)"
        if filters.narrowing:
            narrowing = " and ".join(filters.narrowing)
            rule += f"; {narrowing} only narrows them: alone it would cancel every run of it"
        raise SuprsendValidationError(" / ".join(filters.required), rule)
    return body


async def cancel_runs(
    resource: Resource,
    call: Call[CancelledRunsJSON],
    given: Mapping[str, Any],
    filters: RunFilters,
    retry: RetryPolicy | None,
) -> CancelledRunsJSON:
    """Send a cancel with the filters ``given`` (None ones left out), checked by ``filters``."""
    return await resource._json(call.with_body(_filters(given, filters)), retry)
