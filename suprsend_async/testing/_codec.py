"""The emulator's JSON: orjson when installed (the ``fast`` extra), else the standard library.

A body nested deeper than the encoder can write again is refused when it is
parsed, as this library's client refuses to send one: accepted, it would be
stored (a user's properties) or fingerprinted, and every later answer that
has to encode it would fail.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_DEPTH", "dumps", "loads"]

# The deepest nesting orjson encodes: 254 arrays or objects, one inside the next.
MAX_DEPTH = 254


def _stdlib_dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


try:
    import orjson

    _loads: Callable[[bytes], Any] = orjson.loads
    _encode: Callable[[Any], bytes] = orjson.dumps
except ImportError:  # pragma: no cover - exercised only without the fast extra
    _loads = json.loads
    _encode = _stdlib_dumps


def loads(body: bytes) -> Any:
    """The body's JSON; ``ValueError``, saying why, when it is not JSON or nests too deeply."""
    try:
        value = _loads(body)
    except RecursionError:  # the standard library's parser, on very deep nesting
        raise ValueError(f"request body nests more than {MAX_DEPTH} levels deep") from None
    except ValueError:
        raise ValueError("request body is not valid JSON") from None
    # Nesting is at most the number of brackets, so almost every body skips the check.
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH:
        try:
            _encode(value)
        except (TypeError, RecursionError):
            raise ValueError(f"request body nests more than {MAX_DEPTH} levels deep") from None
    return value


def dumps(obj: Any) -> bytes:
    """Compact JSON. An answer may wrap a stored value a few levels deeper than it
    arrived (a user's properties inside a page of users): past orjson's limit, the
    standard library writes it."""
    try:
        return _encode(obj)
    except TypeError:
        return _stdlib_dumps(obj)
