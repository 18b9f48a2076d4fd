"""``client.messages``: the messages sent to recipients, listed and updated.

``list(options)`` is a cursor paginator (``await`` it for the first page, as
the official SDK returns it; ``async for`` every message, newest first).
``recipient_id``, ``status`` and ``category`` go as the SDK sends them:
repeated ``key[]`` values (``status[]=seen&status[]=read``), one value or a
list. ``bulk_update`` applies actions (``seen``, ``clicked``, ``dismissed``,
``read``, ``unread``, ``archived``, ``unarchived``); each sets a status or a
flag, so it is retried.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._core.pagination import CursorPaginator
from .._core.retry import RetryPolicy
from .._values.audience_answers import MessageActionsJSON, MessageJSON
from .._values.errors import SuprsendValidationError
from .._wire.endpoints import MESSAGES
from .._wire.query import bracket_keys
from ._base import Resource, mapping

__all__ = ["MULTI_VALUE_FILTERS", "Messages"]

# Sent as repeated ``key[]`` values, as the official SDK sends them.
MULTI_VALUE_FILTERS = ("recipient_id", "status", "category")


class Messages(Resource):
    def list(
        self, options: Mapping[str, Any] | None = None, *, retry: RetryPolicy | None = None
    ) -> CursorPaginator[MessageJSON]:
        """Messages of the workspace, newest first. Options: ``limit``, ``after``,
        ``before``, ``recipient_id``, ``status``, ``category``, ``channel``,
        ``workflow_slug``, ``execution_id``, ``idempotency_key``, ``tenant_id``,
        ``created_at_gte``, ``created_at_lte``, ..."""
        query = bracket_keys(mapping(options, "options"), MULTI_VALUE_FILTERS)
        return self._paginated(MESSAGES.list.at(), query, retry)

    async def bulk_update(
        self, messages: Sequence[Mapping[str, Any]], *, retry: RetryPolicy | None = None
    ) -> MessageActionsJSON:
        """``[{"message_id": ..., "action": "read"}, ...]``: one result per message."""
        if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence):
            raise SuprsendValidationError(
                "messages", f"must be a list of messages, got {type(messages).__name__}"
            )
        items = []
        for i, message in enumerate(messages):
            item = mapping(message, f"messages[{i}]")
            for field in ("message_id", "action"):
                if not item.get(field):
                    raise SuprsendValidationError(f"messages[{i}].{field}", "is required")
            items.append(item)
        return await self._json(MESSAGES.bulk_update.at().with_body({"messages": items}), retry)
