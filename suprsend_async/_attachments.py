"""Attachments: a public URL, or a small file sent inline as base64."""

from __future__ import annotations

import base64
import logging
import mimetypes
import os
from typing import Any

import anyio
import attrs

from . import _rules
from ._exceptions import SuprsendValidationError
from ._limits import DEFAULT_LIMITS, Limits

logger = logging.getLogger("suprsend_async")


def _data_repr(data: str | None) -> str:
    return "None" if data is None else f"<{len(data)} base64 chars>"


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
    filename: str | None = None
    content_type: str | None = None
    ignore_if_error: bool = False

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
        return cls(url=url, filename=file_name, ignore_if_error=bool(ignore_if_error))

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
        a bug to fix, not a transient error.
        """
        file_path = await anyio.Path(os.fspath(path)).expanduser()
        try:
            # Check the size first so a huge file is refused without reading it.
            size = (await file_path.stat()).st_size
            _check_base64_size(4 * ((size + 2) // 3), limits)
            raw = await file_path.read_bytes()
        except OSError as exc:
            if not ignore_if_error:
                raise
            logger.warning("ignoring attachment %s: %s", file_path.name, exc.strerror or exc)
            return None
        encoded = await anyio.to_thread.run_sync(base64.b64encode, raw)
        _check_base64_size(len(encoded), limits)
        name = (file_name or "").strip() or file_path.name
        content_type, _ = mimetypes.guess_type(file_path.name)
        return cls(
            data=encoded.decode("ascii"),
            filename=name,
            content_type=content_type or "application/octet-stream",
            ignore_if_error=bool(ignore_if_error),
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


def _check_base64_size(size: int, limits: Limits) -> None:
    if size >= limits.max_attachment_base64_bytes:
        raise SuprsendValidationError(
            "attachment.data",
            f"base64 file data must be under {limits.max_attachment_base64_bytes} bytes,"
            f" this file gives {size}; send large files with Attachment.from_url",
        )
