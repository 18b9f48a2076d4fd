"""``client.broadcasts``: cancelling broadcast runs (sending one is
``client.subscriber_lists.broadcast``, as in the official SDK)."""

from __future__ import annotations

from .._core.retry import RetryPolicy
from .._values.audience_answers import CancelledRunsJSON
from .._wire.endpoints import RUNS
from ._base import Resource
from ._runs import BROADCAST_FILTERS, cancel_runs

__all__ = ["Broadcasts"]


class Broadcasts(Resource):
    async def cancel(
        self,
        *,
        execution_id: str | None = None,
        list_id: str | None = None,
        idempotency_key: str | None = None,
        tenant_id: None = None,
        retry: RetryPolicy | None = None,
    ) -> CancelledRunsJSON:
        """Cancel the pending broadcast runs matching every filter given (at least one of
        ``execution_id``, ``list_id``, ``idempotency_key``, as the hub requires);
        ``{"execution_ids": [...]}``. Never retried. ``tenant_id`` is refused
        (SuprsendValidationError): it is no filter in the hub's API reference, and a hub
        that ignored it would cancel the matching runs of every tenant."""
        given = {
            "execution_id": execution_id,
            "list_id": list_id,
            "idempotency_key": idempotency_key,
            "tenant_id": tenant_id,
        }
        return await cancel_runs(self, RUNS.cancel_broadcasts.at(), given, BROADCAST_FILTERS, retry)
