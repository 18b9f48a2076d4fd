"""Attachments: a public URL, or a small file sent inline as base64."""

from __future__ import annotations

import base64
import logging
import mimetypes
import os
from collections.abc import Iterable
from typing import Any

import anyio
import attrs

from . import rules as _rules
from .errors import SuprsendConfigError, SuprsendValidationError
from .limits import DEFAULT_LIMITS, Limits

logger = logging.getLogger("suprsend_async")


def _data_repr(data: object) -> str:
    return f"<{len(data)} base64 chars>" if isinstance(data, str) else type(data).__name__


def _optional_text(_: object, attribute: attrs.Attribute[str | None], value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise SuprsendValidationError(
            f"attachment.{attribute.name}", f"must be a string or None, got {type(value).__name__}"
        )


def _flag(_: object, attribute: attrs.Attribute[bool], value: object) -> None:
    if not isinstance(value, bool):
        raise SuprsendValidationError(
            f"attachment.{attribute.name}", f"must be True or False, got {type(value).__name__}"
        )


@attrs.frozen(kw_only=True)
class Attachment:
    """A file attached to an event or a workflow trigger.

    Build one with :meth:`from_url` (the hub downloads it) or ``await``
    :meth:`from_path` (read and sent inline as base64), then pass it to
    ``Event(..., attachments=[...])`` or ``event.with_attachment(...)``.
    ``file_name`` is the name the recipient sees; ``ignore_if_error=True``
    lets the notification go out without the file if it cannot be fetched.
    """

    url: str | None = None
    data: str | None = attrs.field(default=None, repr=_data_repr)
    filename: str | None = attrs.field(default=None, validator=_optional_text)
    content_type: str | None = attrs.field(default=None, validator=_optional_text)
    ignore_if_error: bool = attrs.field(default=False, validator=_flag)

    def __attrs_post_init__(self) -> None:
        # Built directly rather than by from_url/from_path: same rules.
        _rules.attachment(self.to_wire(), "attachment")

    @classmethod
    def from_url(
        cls, url: str, file_name: str | None = None, ignore_if_error: bool = False
    ) -> Attachment:
        """An attachment the hub downloads from a public URL (no size limit).

        The arguments are the official SDK's ``add_attachment(file_path,
        file_name, ignore_if_error)``.
        """
        url = _rules.require_id(url, "attachment.url")
        return cls(url=url, filename=file_name, ignore_if_error=_truth(ignore_if_error))

    @classmethod
    async def from_path(
        cls,
        path: str | os.PathLike[str],
        file_name: str | None = None,
        ignore_if_error: bool = False,
        *,
        limits: Limits = DEFAULT_LIMITS,
    ) -> Attachment | None:
        """Read a file (in a worker thread) and inline it as base64.

        A file that cannot be read raises ``OSError``, or, with
        ``ignore_if_error=True``, is logged and gives ``None`` (which
        ``with_attachment`` accepts and ignores). A file whose base64 form
        is over the hub's cap always raises SuprsendValidationError: that is
        a bug to fix, not a transient error. No more than the cap allows is
        ever read, so a device (``/dev/zero``) or a pipe that never ends is
        refused after that much, not read until memory runs out.
        """
        if not isinstance(limits, Limits):
            raise SuprsendConfigError(f"limits must be a Limits, got {type(limits).__name__}")
        if file_name is not None and not isinstance(file_name, str):
            raise SuprsendValidationError(
                "attachment.file_name",
                f"must be a string or None, got {type(file_name).__name__}",
            )
        ignore = _truth(ignore_if_error)
        try:
            file_path = await anyio.Path(os.fspath(path)).expanduser()
        except TypeError:
            raise SuprsendValidationError(
                "attachment.path", f"must be a str or os.PathLike, got {type(path).__name__}"
            ) from None
        most = _largest_file(limits)
        try:
            # Check the size first so a huge file is refused without opening it.
            # (A device or a pipe says 0 here: the bounded read is what stops those.)
            size = (await file_path.stat()).st_size
            _check_base64_size(_base64_size(size), limits)
            raw = await anyio.to_thread.run_sync(_read_at_most, str(file_path), most + 1)
        except OSError as exc:
            if not ignore:
                raise
            logger.warning("ignoring attachment %s: %s", file_path.name, exc.strerror or exc)
            return None
        if len(raw) > most:
            _check_base64_size(_base64_size(len(raw)), limits, at_least=True)
        encoded = await anyio.to_thread.run_sync(base64.b64encode, raw)
        _check_base64_size(len(encoded), limits)
        name = (file_name or "").strip() or file_path.name
        content_type, _ = mimetypes.guess_type(file_path.name)
        return cls(
            data=encoded.decode("ascii"),
            filename=name,
            content_type=content_type or "application/octet-stream",
            ignore_if_error=ignore,
        )

    def to_wire(self) -> dict[str, Any]:
        # The official SDKs send all five keys, unused ones as null.
        return {
            "filename": self.filename,
            "contentType": self.content_type,
            "data": self.data,
            "url": self.url,
            "ignore_if_error": self.ignore_if_error,
        }


def _truth(value: object) -> bool:
    if not isinstance(value, bool):
        raise SuprsendValidationError(
            "attachment.ignore_if_error", f"must be True or False, got {type(value).__name__}"
        )
    return value


def _base64_size(raw_size: int) -> int:
    return 4 * ((raw_size + 2) // 3)


def _largest_file(limits: Limits) -> int:
    """The most raw bytes whose base64 form is under the cap."""
    return 3 * ((limits.max_attachment_base64_bytes - 1) // 4)


def _read_at_most(path: str, size: int) -> bytes:
    with open(path, "rb") as file:
        return file.read(size)


def _check_base64_size(size: int, limits: Limits, *, at_least: bool = False) -> None:
    if size >= limits.max_attachment_base64_bytes:
        gives = f"at least {size}" if at_least else str(size)
        raise SuprsendValidationError(
            "attachment.data",
            f"base64 file data must be under {limits.max_attachment_base64_bytes} bytes,"
            f" this file gives {gives}; send large files with Attachment.from_url",
        )


def attachment_tuple(value: Attachment | Iterable[Attachment]) -> tuple[Attachment, ...]:
    """Attachments given as one or a sequence, as a tuple (SuprsendValidationError if not)."""
    if type(value) is tuple and not value:
        return ()
    if isinstance(value, Attachment):
        return (value,)
    if not isinstance(value, Iterable) or isinstance(value, (str, bytes)):
        raise SuprsendValidationError("attachments", "must be a sequence of Attachment")
    items = tuple(value)
    for i, item in enumerate(items):
        if not isinstance(item, Attachment):
            raise SuprsendValidationError(
                f"attachments[{i}]", f"must be an Attachment, got {type(item).__name__}"
            )
    return items
