"""The error hierarchy. Every error the library raises derives from SuprsendError."""

from __future__ import annotations

import copy
from typing import Any


class SuprsendError(Exception):
    """Base class of every error raised by suprsend_async."""


class SuprsendClientClosedError(SuprsendError, RuntimeError):
    """A call was made, or was still running, after the client was closed.

    Also a RuntimeError, which is what httpx raises for a closed client.
    """


class SuprsendConfigError(SuprsendError):
    """The client was configured wrongly (missing credentials, bad base URL...)."""


class SuprsendValidationError(SuprsendError, ValueError):
    """A record broke a rule of the hub; raised before anything is sent.

    ``field`` is a dotted path into the record (``recipients[3].$email``) and
    ``rule`` says what was expected of it.
    """

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.field, self.rule))


class SuprsendAPIError(SuprsendError):
    """The hub answered with an error status; ``body`` is its answer, parsed."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_type: str | None = None,
        body: Any = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.error_type = error_type
        self.body = body
        super().__init__(f"{status_code} {error_type or 'error'}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_api_error, (self.message, self.status_code, self.error_type, self.body))


def _rebuild_api_error(
    message: str, status_code: int, error_type: str | None, body: Any = None
) -> SuprsendAPIError:
    return SuprsendAPIError(message, status_code=status_code, error_type=error_type, body=body)


class SuprsendTransportError(SuprsendError):
    """The request never got a complete answer (connection refused, dropped, timed out).

    ``sent`` tells the two apart: False when the request was certainly never
    written (no connection: refused, unresolvable, a TLS handshake that
    failed, no free connection in time), so the hub cannot have processed
    it and sending it again is safe; True when it may have reached the hub.
    """

    #: how many attempts were made before giving up
    attempts: int = 1
    #: False only when no attempt's request can have reached the hub
    sent: bool = True

    def __init__(self, *args: object, sent: bool = True) -> None:
        super().__init__(*args)
        self.sent = sent

    def with_note(self, note: str) -> SuprsendTransportError:
        """The same error (its type, fields and attempts) with ``note`` after its message."""
        noted = copy.copy(self)
        noted.args = (f"{self}; {note}",)
        noted.attempts = self.attempts
        return noted


class SuprsendTimeoutError(SuprsendTransportError):
    """The request, or the whole call with its retries, ran out of time."""


class SuprsendResponseTooLargeError(SuprsendTransportError):
    """The hub's answer was larger than the client reads (``max_bytes``).

    Reading stopped there, decompression included. The hub did answer, so the
    request may have been processed: it counts as an answer that could not
    be read, like a dropped connection.
    """

    def __init__(self, message: str, *, max_bytes: int) -> None:
        super().__init__(message, sent=True)
        self.max_bytes = max_bytes

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_too_large, (str(self), self.max_bytes))


def _rebuild_too_large(message: str, max_bytes: int) -> SuprsendResponseTooLargeError:
    return SuprsendResponseTooLargeError(message, max_bytes=max_bytes)


class SuprsendSpoolError(SuprsendError):
    """A background sender's spool file cannot be used: it cannot be created,
    opened or written, it is not a spool (or is corrupt), or a write failed.

    Raised when the sender starts, so a bad path fails at deploy time rather
    than at the first event; and from ``track_event``/``trigger`` if a write
    fails later (the disk is full): that record was *not* accepted.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"spool {path}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.problem))


class SuprsendQueueFullError(SuprsendError):
    """A background sender's in-memory queue is full (``when_full="raise"``).

    The record was not accepted; nothing of it was queued.
    """
