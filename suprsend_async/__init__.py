"""suprsend_async: an asyncio/trio-native client for the SuprSend notification hub."""

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

# A library only emits records; the application decides where they go. No
# NullHandler here: in an application that configured no logging at all, a
# WARNING (a call that failed after its retries, a hub that cannot be reached)
# reaches stderr through Python's last-resort handler instead of vanishing.
# Retries are logged at INFO, so they do not. SUPRSEND_LOG=debug|info prints
# more on stderr.
_logging.configure_from_environment()

# The official SDK's names, for code ported from it: the same thing under its
# old name, or an ImportError that says what to use instead.
SuprsendAPIException = SuprsendAPIError
InputValueError = SuprsendValidationError
_INSTEAD = {
    "Suprsend": "use AsyncSuprsend(workspace_key, workspace_secret) (or"
    " AsyncSuprsend.from_api_key(...)) and await its calls",
    "AppInfo": "pass app_info='your app' to AsyncSuprsend",
    "SuprsendMissingSchema": "suprsend-async checks records itself: catch SuprsendValidationError",
    "SuprsendInvalidSchema": "suprsend-async checks records itself: catch SuprsendValidationError",
}


def __getattr__(name: str) -> object:
    if name in _INSTEAD:
        raise ImportError(
            f"suprsend_async has no {name} (a name of the official SuprSend SDK): {_INSTEAD[name]}"
        )
    raise AttributeError(f"module 'suprsend_async' has no attribute {name!r}")


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
    "InputValueError",
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
    "SuprsendAPIException",
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
