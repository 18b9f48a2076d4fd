"""Idempotency keys derived from a job's identity, so that running a job again is harmless.

A campaign, an import, a nightly batch: each has a stable id, and each record
in it a stable place (its position, or a natural key such as an order id).
Deriving every record's key from those two, rather than drawing a random one,
makes a second run of the same job send keys the hub has already seen, and so
notify nobody twice (the hub deduplicates a key for 24 hours).
"""

from __future__ import annotations

import hashlib
import json

from .errors import SuprsendValidationError
from .limits import DEFAULT_LIMITS

__all__ = ["derive_idempotency_key"]

_MAX = DEFAULT_LIMITS.max_idempotency_key_length
_HASHED_PREFIX = 120  # readable head of the job id kept in front of a hash


def derive_idempotency_key(job_id: str, item: str | int) -> str:
    """The idempotency key of ``item`` (a position or a natural key) within job ``job_id``.

    Deterministic: the same pair always gives the same key, in any process,
    on any machine, and two different pairs give different keys (an int position
    and the same digits as a string are the same item). It is at
    most 255 characters (the hub's limit): ``"{job_id}:{item}"`` when that
    fits and ``job_id`` holds no ``:`` (so it reads well in the hub's logs),
    else the job id's first 120 characters, ``:``, and a SHA-256 of the pair.

    >>> derive_idempotency_key("campaign-2026-12", 41)
    'campaign-2026-12:41'
    """
    if not isinstance(job_id, str) or not job_id.strip():
        raise SuprsendValidationError("job_id", "must be a non-empty string")
    if isinstance(item, bool) or not isinstance(item, (str, int)):
        raise SuprsendValidationError(
            "item", f"must be a position (int) or a natural key (str), got {type(item).__name__}"
        )
    if isinstance(item, str) and not item.strip():
        raise SuprsendValidationError("item", "must not be empty or only whitespace")
    plain = f"{job_id}:{item}"
    # A job id without ":" splits the plain form unambiguously at its first
    # ":"; an int item and the same digits as a str are the same record.
    if ":" not in job_id and len(plain) <= _MAX and plain == plain.strip():
        return plain
    digest = hashlib.sha256(
        json.dumps([job_id, str(item)], ensure_ascii=False).encode()
    ).hexdigest()
    head = job_id[:_HASHED_PREFIX].strip().replace(":", "_")
    return f"{head}:{digest}" if head else digest
