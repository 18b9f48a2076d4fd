"""Query strings and path segments, encoded byte for byte as the official SDK encodes them.

The hub signs the path with its query string exactly as received, and the
official SDK is the reference for what it receives: booleans as ``true`` /
``false`` (not Python's ``True``), ``None`` left out, and every path segment
escaped with nothing left safe, so an id holding ``/``, spaces or non-ASCII
stays one segment. The percent-encoding itself is the standard library's,
as it is there.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from .._values.errors import SuprsendValidationError
from .._values.limits import MAX_QUERY_BYTES
from .._values.rules import rest_id, short_key, valid_text

__all__ = ["bracket_keys", "encode_query", "path_segment"]


# Options whose value is an id: one rule for ids wherever they go (a path, a
# body, the query): surrounding whitespace stripped, and empty refused (None,
# or leaving the option out, is how to say "none").
ID_OPTIONS = frozenset({"tenant_id"})


def _wire_value(value: Any) -> Any:
    return ("true" if value else "false") if isinstance(value, bool) else value


def encode_query(params: Mapping[str, Any] | None, *, doseq: bool = False) -> str:
    """``params`` as a query string (no leading ``?``); empty when nothing is left.

    With ``doseq`` a list value becomes the key repeated once per item; without
    it, as in every users call of the official SDK, the list is written as one
    value (its ``str()``), which is what that SDK sends.
    """
    # None, or an empty mapping (most calls): nothing to check.
    if not params and (params is None or isinstance(params, Mapping)):
        return ""
    if not isinstance(params, Mapping):
        raise SuprsendValidationError(
            "options", f"must be a mapping (dict), got {type(params).__name__}"
        )
    wire: dict[Any, Any] = {}
    for key, value in params.items():
        if not isinstance(key, str):
            raise SuprsendValidationError(
                "options", f"keys must be strings, got {type(key).__name__}"
            )
        field = f"options.{short_key(key)}"
        valid_text(key, "options")
        if value is None:
            continue
        if isinstance(value, list):
            items = [_checked(item, field) for item in value if item is not None]
            if items:
                wire[key] = items
        elif key in ID_OPTIONS and isinstance(value, str):
            wire[key] = rest_id(value, field)
        else:
            wire[key] = _checked(value, field)
    try:
        query = urllib.parse.urlencode(wire, doseq=doseq)
    except ValueError as exc:  # an int with more digits than Python converts to text
        raise SuprsendValidationError("options", f"cannot be written in a URL: {exc}") from None
    if len(query) > MAX_QUERY_BYTES:
        raise SuprsendValidationError(
            "options",
            f"take {len(query)} bytes in the URL, more than the {MAX_QUERY_BYTES} allowed",
        )
    return query


def _checked(value: object, field: str) -> Any:
    """One option value as the query writes it; a type a URL cannot carry is refused."""
    if isinstance(value, str):
        return valid_text(value, field)
    if isinstance(value, (bool, int, float)):
        return _wire_value(value)
    raise SuprsendValidationError(
        field,
        f"must be a string, a number, a bool, None or a list of them, got {type(value).__name__}",
    )


def bracket_keys(params: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """``params`` with each of ``keys`` renamed ``key[]`` and its value made a list.

    The hub's multi-value filters (``status[]=a&status[]=b``); encode the
    result with ``doseq=True``.
    """
    multi = frozenset(keys)
    return {
        (f"{key}[]" if key in multi else key): (
            (value if isinstance(value, list) else [value]) if key in multi else value
        )
        for key, value in params.items()
    }


def path_segment(value: object, field: str) -> str:
    """One path segment from an id: stripped, non-empty, with every reserved byte escaped."""
    stripped = rest_id(value, field)
    if stripped in (".", ".."):
        # Any URL library resolves these as "this" and "parent" directories,
        # so the request would reach another path than the one signed.
        raise SuprsendValidationError(field, "cannot be '.' or '..' (not addressable in a URL)")
    return urllib.parse.quote(stripped, safe="")
