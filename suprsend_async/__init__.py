"""suprsend_async: an asyncio/trio-native client for the SuprSend notification hub."""

import logging

from ._client import AsyncSuprsend
from ._core import logging as _logging
from ._core.auth import BearerAuth, WorkspaceSignatureAuth
from ._core.background import BackgroundSender, SenderStats
from ._core.bulk import BulkProgress, BulkResponse, FailedRecord, SuprsendBulkError
from ._core.pagination import CursorPaginator, OffsetPaginator
from ._core.retry import RetryEvent, RetryPolicy
from ._core.spool import SpooledRecord
from ._values.attachments import Attachment
from ._values.body_requests import SubscriberListBroadcast, Workflow
from ._values.derived_keys import derive_idempotency_key
from ._values.errors import (
    SuprsendAPIError,
    SuprsendClientClosedError,
    SuprsendConfigError,
    SuprsendError,
    SuprsendQueueFullError,
    SuprsendResponseTooLargeError,
    SuprsendSpoolError,
    SuprsendTimeoutError,
    SuprsendTransportError,
    SuprsendValidationError,
)
from ._values.limits import DEFAULT_LIMITS, Limits
from ._values.models import Event, ObjectRecipient, Recipient, WorkflowTriggerRequest
from ._values.profile_edit import ObjectEdit, UserEdit
from ._version import __version__
from ._wire.responses import TriggerResponse
from .resources.users import BulkUsersEdit, Users

# A library only emits records; the application decides where they go. Without
# this, Python's last-resort handler would print retry warnings to stderr.
logging.getLogger("suprsend_async").addHandler(logging.NullHandler())
# ... unless SUPRSEND_LOG=debug|info|warning asks for them on stderr.
_logging.configure_from_environment()

__all__ = [
    "DEFAULT_LIMITS",
    "AsyncSuprsend",
    "Attachment",
    "BackgroundSender",
    "BearerAuth",
    "BulkProgress",
    "BulkResponse",
    "BulkUsersEdit",
    "CursorPaginator",
    "Event",
    "FailedRecord",
    "Limits",
    "ObjectEdit",
    "ObjectRecipient",
    "OffsetPaginator",
    "Recipient",
    "RetryEvent",
    "RetryPolicy",
    "SenderStats",
    "SpooledRecord",
    "SubscriberListBroadcast",
    "SuprsendAPIError",
    "SuprsendBulkError",
    "SuprsendClientClosedError",
    "SuprsendConfigError",
    "SuprsendError",
    "SuprsendQueueFullError",
    "SuprsendResponseTooLargeError",
    "SuprsendSpoolError",
    "SuprsendTimeoutError",
    "SuprsendTransportError",
    "SuprsendValidationError",
    "TriggerResponse",
    "UserEdit",
    "Users",
    "Workflow",
    "WorkflowTriggerRequest",
    "WorkspaceSignatureAuth",
    "__version__",
    "derive_idempotency_key",
]
