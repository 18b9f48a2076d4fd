"""suprsend_async: an asyncio/trio-native client for the SuprSend notification hub."""

import logging

from . import _logging
from ._attachments import Attachment
from ._auth import BearerAuth, WorkspaceSignatureAuth
from ._bulk import BulkProgress, BulkResponse, FailedRecord
from ._client import AsyncSuprsend
from ._exceptions import (
    SuprsendAPIError,
    SuprsendClientClosedError,
    SuprsendConfigError,
    SuprsendError,
    SuprsendResponseTooLargeError,
    SuprsendTimeoutError,
    SuprsendTransportError,
    SuprsendValidationError,
)
from ._limits import DEFAULT_LIMITS, Limits
from ._models import Event, ObjectRecipient, Recipient, WorkflowTriggerRequest
from ._pagination import CursorPaginator
from ._response import TriggerResponse
from ._retry import RetryEvent, RetryPolicy
from ._user_edit import UserEdit
from ._version import __version__
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
    "BearerAuth",
    "BulkProgress",
    "BulkResponse",
    "BulkUsersEdit",
    "CursorPaginator",
    "Event",
    "FailedRecord",
    "Limits",
    "ObjectRecipient",
    "Recipient",
    "RetryEvent",
    "RetryPolicy",
    "SuprsendAPIError",
    "SuprsendClientClosedError",
    "SuprsendConfigError",
    "SuprsendError",
    "SuprsendResponseTooLargeError",
    "SuprsendTimeoutError",
    "SuprsendTransportError",
    "SuprsendValidationError",
    "TriggerResponse",
    "UserEdit",
    "Users",
    "WorkflowTriggerRequest",
    "WorkspaceSignatureAuth",
    "__version__",
]
