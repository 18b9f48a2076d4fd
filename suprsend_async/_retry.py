"""When and how long to retry, and the one retry loop every request goes through.

The rule that matters: a request is only retried when the hub can tell a
repeat from a first delivery, i.e. when it carries an idempotency key.
Whoever calls :func:`send_with_retries` decides that; this module decides
which outcomes are transient, how long to wait, and when to give up.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import anyio
import attrs
import httpx
import tenacity

from ._exceptions import SuprsendTimeoutError, SuprsendTransportError

__all__ = [
    "RETRYABLE_STATUS_CODES",
    "RetryEvent",
    "RetryPolicy",
    "not_retried_without_key",
    "parse_retry_after",
    "send_with_retries",
]

logger = logging.getLogger("suprsend_async")

RETRYABLE_STATUS_CODES = frozenset({408, 429, 500, 502, 503, 504})


def not_retried_without_key(what: str) -> str:
    """Why a retryable failure of ``what`` (a record, a request) was left alone."""
    return f"not retried: the {what} has no idempotency key, so a retry could deliver it twice"


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How hard to try. Bounded by ``attempts`` *and* by ``deadline`` seconds.

    The deadline covers the whole call (in bulk: each request, as chunks
    retry independently): every attempt and every wait. No
    wait is started that would end past it, and an attempt still running at
    the deadline is cancelled. Waits grow exponentially from
    ``wait_initial`` by ``wait_exp_base``, capped at ``wait_max``, plus up
    to ``wait_jitter`` seconds of random jitter. A ``Retry-After`` from the
    hub replaces the computed wait; if it asks for more than
    ``max_retry_after`` or than what is left of the deadline, the call stops
    and reports the last answer instead of sleeping.
    """

    attempts: int = attrs.field(default=4, validator=attrs.validators.ge(1))
    deadline: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))
    wait_initial: float = attrs.field(default=0.2, validator=attrs.validators.ge(0))
    wait_max: float = attrs.field(default=5.0, validator=attrs.validators.ge(0))
    wait_exp_base: float = attrs.field(default=2.0, validator=attrs.validators.ge(1))
    wait_jitter: float = attrs.field(default=0.2, validator=attrs.validators.ge(0))
    max_retry_after: float = attrs.field(default=30.0, validator=attrs.validators.ge(0))

    @classmethod
    def disabled(cls, *, deadline: float = 60.0) -> RetryPolicy:
        """One attempt only (still bounded by ``deadline``)."""
        return cls(attempts=1, deadline=deadline)

    @classmethod
    def instant(cls, attempts: int = 4, *, deadline: float = 60.0) -> RetryPolicy:
        """Retries without waiting, Retry-After included: for users' test suites."""
        return cls(
            attempts=attempts,
            deadline=deadline,
            wait_initial=0.0,
            wait_max=0.0,
            wait_jitter=0.0,
            max_retry_after=math.inf,
        )

    @property
    def waits_disabled(self) -> bool:
        return self.wait_max == 0 and self.wait_jitter == 0

    def backoff(self, retry_number: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``retry_number`` (1 for the first retry)."""
        exp = self.wait_initial * self.wait_exp_base ** (retry_number - 1)
        return min(self.wait_max, exp) + self.wait_jitter * rng()

    def wait_for(self, retry_number: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return 0.0 if self.waits_disabled else retry_after
        return self.backoff(retry_number)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or HTTP date), or None."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


def is_retryable_status(status_code: int) -> bool:
    return status_code in RETRYABLE_STATUS_CODES


@attrs.frozen(kw_only=True)
class RetryEvent:
    """Handed to the ``on_retry`` hook before each wait (for metrics)."""

    path: str
    attempt: int  # the attempt that just failed, 1-based
    wait: float
    reason: str


T = TypeVar("T")


def response_retry_after(response: httpx.Response) -> float | None:
    return parse_retry_after(response.headers.get("Retry-After"))


def response_is_retryable(response: httpx.Response) -> bool:
    return is_retryable_status(response.status_code)


def describe_response(response: httpx.Response) -> str:
    return f"HTTP {response.status_code}"


async def send_with_retries(
    send_once: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    retry: bool,
    path: str,
    on_retry: Callable[[RetryEvent], Any] | None = None,
    is_retryable: Callable[[T], bool],
    retry_after: Callable[[T], float | None],
    describe: Callable[[T], str],
    on_give_up: Callable[[str], Any] | None = None,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger] = logger,
) -> tuple[T, int]:
    """Run ``send_once()`` until it gives a final outcome.

    ``send_once`` must build (and sign) a fresh request each time it is
    called. An outcome is retried when ``is_retryable`` says so, and a
    SuprsendTransportError always is; with ``retry=False`` there is exactly
    one attempt. Returns the last outcome and the number of attempts, or
    raises the last SuprsendTransportError (``.attempts`` set) when the
    last attempt got no answer. ``on_give_up`` is told why a retryable
    outcome was not retried before the attempts ran out (a ``Retry-After``
    too long, or a wait that would pass the deadline).
    """
    started = time.monotonic()
    attempts = policy.attempts if retry else 1

    def _retry_after_of(state: tenacity.RetryCallState) -> float | None:
        if state.outcome is None or state.outcome.failed:
            return None
        return retry_after(state.outcome.result())

    def _describe(outcome: tenacity.Future) -> str:
        if outcome.failed:
            exc = outcome.exception()
            return f"{type(exc).__name__}: {exc}"
        return describe(outcome.result())

    def should_retry(state: tenacity.RetryCallState) -> bool:
        outcome = state.outcome
        assert outcome is not None
        if outcome.failed:
            return isinstance(outcome.exception(), SuprsendTransportError)
        return is_retryable(outcome.result())

    def time_left() -> float:
        return policy.deadline - (time.monotonic() - started)

    def wait(state: tenacity.RetryCallState) -> float:
        return policy.wait_for(state.attempt_number, _retry_after_of(state))

    def stop(state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= attempts:
            return True
        upcoming = state.upcoming_sleep
        retry_after = _retry_after_of(state)
        if retry_after is not None and retry_after > policy.max_retry_after:
            why = (
                f"the hub asked to wait {retry_after:.1f}s,"
                f" more than max_retry_after={policy.max_retry_after:.1f}s"
            )
        elif upcoming >= time_left():
            why = f"waiting {upcoming:.2f}s would pass the {policy.deadline:.1f}s deadline"
        else:
            return False
        log.warning("not retrying %s: %s", path, why)
        if on_give_up is not None:
            on_give_up(why)
        return True

    def before_sleep(state: tenacity.RetryCallState) -> None:
        assert state.outcome is not None
        reason = _describe(state.outcome)
        log.warning(
            "retrying %s in %.2fs after attempt %d/%d failed: %s",
            path,
            state.upcoming_sleep,
            state.attempt_number,
            attempts,
            reason,
        )
        if on_retry is not None:
            on_retry(
                RetryEvent(
                    path=path,
                    attempt=state.attempt_number,
                    wait=state.upcoming_sleep,
                    reason=reason,
                )
            )

    attempts_made = 0

    async def attempt() -> T:
        nonlocal attempts_made
        left = time_left()
        if left <= 0:  # not an attempt: nothing reaches the hub
            raise SuprsendTimeoutError(f"deadline of {policy.deadline}s exhausted")
        attempts_made += 1
        try:
            with anyio.fail_after(left):
                return await send_once()
        except TimeoutError:
            raise SuprsendTimeoutError(
                f"deadline of {policy.deadline}s reached while waiting for the hub"
            ) from None

    def give_up(state: tenacity.RetryCallState) -> T:
        assert state.outcome is not None
        result: T = state.outcome.result()  # re-raises a transport error
        return result

    if attempts == 1:
        # Nothing can be retried: the same single attempt, without the cost
        # of the retry machinery on every unkeyed call.
        try:
            return await attempt(), 1
        except SuprsendTransportError as exc:
            exc.attempts = 1
            raise

    retrying = tenacity.AsyncRetrying(
        sleep=anyio.sleep,
        stop=stop,
        wait=wait,
        retry=should_retry,
        before_sleep=before_sleep,
        retry_error_callback=give_up,
    )
    try:
        outcome: T = await retrying(attempt)
    except SuprsendTransportError as exc:
        exc.attempts = attempts_made
        raise
    return outcome, attempts_made
