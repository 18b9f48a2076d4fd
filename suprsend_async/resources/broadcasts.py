"""``client.broadcasts``: cancelling broadcast runs (sending one is
``client.subscriber_lists.broadcast``, as in the official SDK)."""

from __future__ import annotations

from .._core.retry import RetryPolicy
from .._values.audience_answers import CancelledRunsJSON
from .._wire.endpoints import RUNS
from ._base import Resource
from ._runs import cancel_runs

__all__ = ["Broadcasts"]


class Broadcasts(Resource):
    async def cancel(
        self,
        *,
        execution_id: str | None = None,
        list_id: str | None = None,
        idempotency_key: str | None = None,
        tenant_id: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> CancelledRunsJSON:
        """Cancel the pending broadcast runs matching every filter given (at least one of
        ``execution_id``, ``list_id``, ``idempotency_key``); ``{"execution_ids": [...]}``.
        Never retried."""
        filters = {
            "execution_id": execution_id,
            "list_id": list_id,
            "idempotency_key": idempotency_key,
            "tenant_id": tenant_id,
        }
        naming = ("execution_id", "list_id", "idempotency_key")
        return await cancel_runs(self, RUNS.cancel_broadcasts.at(), filters, naming, retry)
