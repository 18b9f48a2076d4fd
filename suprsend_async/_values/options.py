"""Per-request options of a derived client (``client.with_options(...)``): timeout, headers."""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs
import httpx

from .errors import SuprsendConfigError

__all__ = ["NO_OPTIONS", "RequestOptions", "check_headers"]

# HTTP's token characters (RFC 9110 5.1), and a field value's visible ASCII,
# spaces and tabs: anything else fails when the request is encoded, mid-call,
# or goes out as a malformed header.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")

# Set by the client on every request: the signature covers Content-Type and
# Date, a second Authorization or Host would change who is asked, and a
# second User-Agent would go out beside the client's own.
_RESERVED_HEADERS = frozenset(
    {
        "authorization",
        "date",
        "content-type",
        "content-length",
        "host",
        "transfer-encoding",
        "user-agent",
        "x-suprsend-client-user-agent",
    }
)


@attrs.frozen
class RequestOptions:
    """What a request is sent with beyond the client's defaults."""

    timeout: httpx.Timeout | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)  # may hold tokens


NO_OPTIONS = RequestOptions()


def check_headers(headers: object) -> dict[str, str]:
    """Extra headers as a dict of str to str; SuprsendConfigError naming the bad one."""
    if not isinstance(headers, Mapping):
        raise SuprsendConfigError(f"headers must be a mapping, got {type(headers).__name__}")
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not name.strip():
            raise SuprsendConfigError("headers: every name must be a non-empty string")
        if not _HEADER_NAME.fullmatch(name.strip()):
            raise SuprsendConfigError(f"headers: {name!r} is not a valid header name")
        if name.strip().lower() in _RESERVED_HEADERS:
            raise SuprsendConfigError(
                f"headers: {name!r} is set by the client on every request (it is signed)"
            )
        if not isinstance(value, str):
            # The value is not echoed: it may be a token.
            raise SuprsendConfigError(
                f"headers: the value of {name!r} must be a string, got {type(value).__name__}"
            )
        if "\n" in value or "\r" in value:
            raise SuprsendConfigError(f"headers: the value of {name!r} has a line break")
        if not _HEADER_VALUE.fullmatch(value):
            raise SuprsendConfigError(
                f"headers: the value of {name!r} must be printable ASCII"
                " (encode anything else, e.g. percent-encoding)"
            )
        checked[name.strip()] = value
    return checked
