"""When and how long to retry, and the one retry loop every request goes through.

Whether an attempt may be followed by another is decided in
``_values.idempotency`` (:func:`may_retry`, from how the attempt ended and
whether the operation is repeatable); this module decides how long to wait,
and when to give up.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import sys
import time
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

import anyio
import attrs
import httpx
import tenacity

from .._values.errors import SuprsendConfigError, SuprsendTimeoutError, SuprsendTransportError
from .._values.idempotency import TRANSIENT_STATUSES, AttemptEnd, may_retry
from .._values.limits import shown

__all__ = [
    "DEFAULT_BULK_ATTEMPTS",
    "RETRYABLE_STATUS_CODES",
    "RetryEvent",
    "RetryPolicy",
    "answer_may_have_applied",
    "answer_retryable",
    "checked_policy",
    "not_retried_without_key",
    "parse_retry_after",
    "send_with_retries",
]

logger = logging.getLogger("suprsend_async")

if sys.version_info >= (3, 11):

    def _asyncio_deadline(seconds: float) -> asyncio.Timeout | None:
        """asyncio's own timeout, ``seconds`` from now, when running on asyncio."""
        loop = asyncio._get_running_loop()
        return None if loop is None else asyncio.timeout_at(loop.time() + seconds)

else:  # asyncio.timeout_at came in 3.11: anyio's cancel scope everywhere

    def _asyncio_deadline(seconds: float) -> Any:  # (always None: no asyncio.Timeout)
        return None


# Every status worth another attempt, for one operation or another.
RETRYABLE_STATUS_CODES = frozenset({408, 429}) | TRANSIENT_STATUSES


def not_retried_without_key(what: str) -> str:
    """Why a failure of ``what`` (a record, a request) that may have been applied was left alone."""
    return f"not retried: the {what} has no idempotency key, so a retry could deliver it twice"


def _real(value: object, name: str) -> float:
    # bool is an int, but deadline=True is a mistake, not one second.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SuprsendConfigError(f"RetryPolicy.{name} must be a number, got {shown(value)}")
    try:
        return float(value)
    except OverflowError:  # an int too large for a float
        return math.inf


def _seconds(*, positive: bool = False, infinite: bool = False) -> Any:
    def check(_: object, attribute: attrs.Attribute[float], value: object) -> None:
        number = _real(value, attribute.name)
        if math.isnan(number) or (math.isinf(number) and not infinite):
            raise SuprsendConfigError(
                f"RetryPolicy.{attribute.name} must be a finite number of seconds,"
                f" got {shown(value)}"
            )
        if number < 0 or (positive and number == 0):
            rule = "more than 0" if positive else "0 or more"
            raise SuprsendConfigError(
                f"RetryPolicy.{attribute.name} must be {rule} seconds, got {shown(value)}"
            )

    return check


def _exp_base(_: object, attribute: attrs.Attribute[float], value: object) -> None:
    number = _real(value, attribute.name)
    if not (math.isfinite(number) and number >= 1):
        raise SuprsendConfigError(
            f"RetryPolicy.wait_exp_base must be a finite number of at least 1, got {shown(value)}"
        )


def _attempts(_: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SuprsendConfigError(
            f"RetryPolicy.{attribute.name} must be an integer of at least 1, got {shown(value)}"
        )


# Keyed bulk requests: enough attempts that the deadline, not the count, ends
# them (with the default waits, 60 s holds about 15 instant failures, or 60
# one-second Retry-After waits). A chunk of 100 records is worth the whole
# budget: at 30 % faults, 4 attempts lost a whole chunk in one upload of
# 3,000 records out of four.
DEFAULT_BULK_ATTEMPTS = 100


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How hard to try: bounded by a number of attempts *and* by ``deadline`` seconds.

    Two attempt ceilings, because the two paths differ:

    - ``attempts`` (default 4) bounds a single call (``track_event``,
      ``workflows.trigger``), which usually sits on a request path where
      giving up after a few seconds beats waiting for a minute.
    - ``bulk_attempts`` (default 100) bounds each keyed request of a bulk
      call. It is a ceiling, not the budget: the ``deadline`` is what ends a
      keyed chunk, so a hub that keeps failing a fraction of requests does
      not cost whole chunks of records while most of the time is left.

    The deadline covers the whole call (in bulk: each request, as chunks
    retry independently): every attempt and every wait. No
    wait is started that would end past it, and an attempt still running at
    the deadline is cancelled. Waits grow exponentially from
    ``wait_initial`` by ``wait_exp_base``, capped at ``wait_max``, plus up
    to ``wait_jitter`` seconds of random jitter. A ``Retry-After`` from the
    hub replaces the computed wait; if it asks for more than
    ``max_retry_after`` or than what is left of the deadline, the call stops
    and reports the last answer instead of sleeping.

    ``unreachable_after`` (default 5 s) ends a bulk call early when the hub
    cannot be reached at all: once every request for that long was never
    sent (connection refused, a name that does not resolve, a failed TLS
    handshake), nothing more is sent and every record not delivered fails
    as not sent, safe to send again, instead of each chunk retrying to the
    deadline.

    Every value is checked when the policy is built (SuprsendConfigError):
    counts are integers of at least 1, times are finite seconds (only
    ``max_retry_after`` may be infinite).
    """

    attempts: int = attrs.field(default=4, validator=_attempts)
    bulk_attempts: int = attrs.field(default=DEFAULT_BULK_ATTEMPTS, validator=_attempts)
    deadline: float = attrs.field(default=60.0, validator=_seconds(positive=True))
    wait_initial: float = attrs.field(default=0.2, validator=_seconds())
    wait_max: float = attrs.field(default=5.0, validator=_seconds())
    wait_exp_base: float = attrs.field(default=2.0, validator=_exp_base)
    wait_jitter: float = attrs.field(default=0.2, validator=_seconds())
    max_retry_after: float = attrs.field(default=30.0, validator=_seconds(infinite=True))
    unreachable_after: float = attrs.field(default=5.0, validator=_seconds())

    def __attrs_post_init__(self) -> None:
        # Each finite, their sum may not be (two halves of the largest float): the
        # longest wait would be infinite, a sleep that never ends.
        if not math.isfinite(self.wait_max + self.wait_jitter):
            raise SuprsendConfigError(
                "RetryPolicy.wait_max + wait_jitter, the longest wait, must be a finite"
                " number of seconds"
            )

    @classmethod
    def disabled(cls, *, deadline: float = 60.0) -> RetryPolicy:
        """One attempt only, single or bulk (still bounded by ``deadline``)."""
        return cls(attempts=1, bulk_attempts=1, deadline=deadline)

    @classmethod
    def instant(cls, attempts: int = 4, *, deadline: float = 60.0) -> RetryPolicy:
        """Retries without waiting, Retry-After included: for users' test suites.

        ``attempts`` bounds bulk requests too, so a test hub that keeps
        failing is not asked a hundred times.
        """
        return cls(
            attempts=attempts,
            bulk_attempts=attempts,
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
        try:
            # As floats: an int base (2) to a large retry number would be computed
            # exactly, as an integer of billions of digits, instead of overflowing.
            exp = self.wait_initial * float(self.wait_exp_base) ** (retry_number - 1)
        except OverflowError:  # a steep curve, far along: past any cap
            exp = math.inf
        return min(self.wait_max, exp) + self.wait_jitter * rng()

    def wait_for(self, retry_number: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return 0.0 if self.waits_disabled else retry_after
        return self.backoff(retry_number)


def checked_policy(retry: object) -> RetryPolicy | None:
    """A per-call ``retry=`` as given; SuprsendConfigError (now, not mid-call) if not a policy."""
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise SuprsendConfigError(f"retry must be a RetryPolicy, got {type(retry).__name__}")
    return retry


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
            if when.tzinfo is None:
                return None
            seconds = when.timestamp() - (time.time() if now is None else now)
        # The header is the hub's (or a proxy's) text: a year or a zone offset out
        # of range overflows the datetime arithmetic. A header we cannot read is
        # as good as none.
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
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
    """Worth another attempt for a repeatable operation."""
    return is_retryable_status(response.status_code)


def _retryable_if_repeatable(response: httpx.Response) -> bool:
    return may_retry(AttemptEnd.answered(response.status_code), True)


def _retryable_if_not_repeatable(response: httpx.Response) -> bool:
    return may_retry(AttemptEnd.answered(response.status_code), False)


def answer_retryable(repeatable: bool) -> Callable[[httpx.Response], bool]:
    """Whether an answer may be followed by another attempt of an operation.

    (One of two functions made once: a closure made per call would be two
    objects more, kept while the call waits, on every call.)
    """
    return _retryable_if_repeatable if repeatable else _retryable_if_not_repeatable


def answer_may_have_applied(response: httpx.Response) -> bool:
    return AttemptEnd.answered(response.status_code).may_have_applied


def describe_response(response: httpx.Response) -> str:
    return f"HTTP {response.status_code}"


async def send_with_retries(
    send_once: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    repeatable: bool,
    path: str,
    on_retry: Callable[[RetryEvent], Any] | None = None,
    is_retryable: Callable[[T], bool],
    retry_after: Callable[[T], float | None],
    describe: Callable[[T], str],
    on_give_up: Callable[[str], Any] | None = None,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger] = logger,
    bulk: bool = False,
    may_have_applied: Callable[[T], bool] = lambda _: True,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> tuple[T, int]:
    """Run ``send_once()`` until it gives a final outcome.

    ``send_once`` must build (and sign) a fresh request each time it is
    called. An outcome is retried when ``is_retryable`` says so; a
    SuprsendTransportError when :func:`may_retry` allows it for an operation
    that is (``repeatable``) or is not harmless to repeat: a request never
    sent always is, one that got no answer only if ``repeatable``. Returns
    the last outcome and the number of attempts, or
    raises the last SuprsendTransportError (``.attempts`` set) when the
    last attempt got no answer. ``on_give_up`` is told why a retryable
    outcome was not retried before the attempts ran out (a ``Retry-After``
    too long, or a wait that would pass the deadline). ``bulk`` picks the
    policy's bulk attempts ceiling instead of the single-call one.

    The raised error's ``sent`` is False only if no attempt of the call may
    have been applied: every one was never sent, or was answered with what
    ``may_have_applied`` says proves it was not.
    """
    attempts = policy.bulk_attempts if bulk else policy.attempts
    call = _Attempts(send_once, policy, may_have_applied)
    # The first attempt runs before the retry machinery: most calls end with
    # it (a 2xx, a 400; any, when one attempt is all there is), and tenacity's
    # loop, with the callbacks made for it, costs some 40 µs of CPU a call. An
    # outcome worth another attempt is replayed to tenacity as its first,
    # which decides from there exactly as if it had made it.
    first: T | None = None
    first_error: SuprsendTransportError | None = None
    try:
        first = await call.attempt()
    except SuprsendTransportError as exc:
        if attempts == 1 or not may_retry(AttemptEnd.of_error(exc), repeatable):
            exc.attempts = 1
            raise
        first_error = exc
    else:
        if attempts == 1 or not is_retryable(first):
            return first, 1
    # (In a function of its own: the closures below make every variable they read
    # a cell, which a frame makes when it starts, 16 of them on every call here.)
    return await _retried(
        call,
        first,
        first_error,
        attempts=attempts,
        policy=policy,
        repeatable=repeatable,
        path=path,
        on_retry=on_retry,
        is_retryable=is_retryable,
        retry_after=retry_after,
        describe=describe,
        on_give_up=on_give_up,
        log=log,
        sleep=sleep,
    )


async def _retried(
    call: _Attempts[T],
    first: T | None,
    first_error: SuprsendTransportError | None,
    *,
    attempts: int,
    policy: RetryPolicy,
    repeatable: bool,
    path: str,
    on_retry: Callable[[RetryEvent], Any] | None,
    is_retryable: Callable[[T], bool],
    retry_after: Callable[[T], float | None],
    describe: Callable[[T], str],
    on_give_up: Callable[[str], Any] | None,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
    sleep: Callable[[float], Awaitable[None]],
) -> tuple[T, int]:
    """The rest of :func:`send_with_retries` after a first attempt worth another
    (``first``, or ``first_error``): tenacity, replaying that attempt as its first."""

    def retry_after_of(state: tenacity.RetryCallState) -> float | None:
        if state.outcome is None or state.outcome.failed:
            return None
        return retry_after(state.outcome.result())

    def described(outcome: tenacity.Future) -> str:
        if outcome.failed:
            exc = outcome.exception()
            return f"{type(exc).__name__}: {exc}"
        return describe(outcome.result())

    def should_retry(state: tenacity.RetryCallState) -> bool:
        outcome = state.outcome
        assert outcome is not None
        if outcome.failed:
            exc = outcome.exception()
            if not isinstance(exc, SuprsendTransportError):
                return False
            return may_retry(AttemptEnd.of_error(exc), repeatable)
        return is_retryable(outcome.result())

    def wait(state: tenacity.RetryCallState) -> float:
        return policy.wait_for(state.attempt_number, retry_after_of(state))

    def stop(state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= attempts:
            return True
        upcoming = state.upcoming_sleep
        retry_after = retry_after_of(state)
        if retry_after is not None and retry_after > policy.max_retry_after:
            why = (
                f"the hub asked to wait {retry_after:.1f}s,"
                f" more than max_retry_after={policy.max_retry_after:.1f}s"
            )
        elif upcoming >= call.time_left():
            why = f"waiting {upcoming:.2f}s would pass the {policy.deadline:.1f}s deadline"
        else:
            return False
        # (INFO: the call's own outcome is what a user is warned of, once.)
        log.info("not retrying %s: %s", path, why)
        if on_give_up is not None:
            on_give_up(why)
        return True

    def before_sleep(state: tenacity.RetryCallState) -> None:
        assert state.outcome is not None
        reason = described(state.outcome)
        # INFO: a retry that then succeeds is no news; a call that fails in the
        # end says so itself, at WARNING.
        log.info(
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

    def give_up(state: tenacity.RetryCallState) -> T:
        assert state.outcome is not None
        result: T = state.outcome.result()  # re-raises a transport error
        return result

    replay = True

    async def replayed() -> T:
        nonlocal replay
        if not replay:
            return await call.attempt()
        replay = False
        if first_error is not None:
            raise first_error
        return first  # type: ignore[return-value]  # (set: the first attempt raised no error)

    retrying = tenacity.AsyncRetrying(
        sleep=sleep,
        stop=stop,
        wait=wait,
        retry=should_retry,
        before_sleep=before_sleep,
        retry_error_callback=give_up,
    )
    try:
        outcome: T = await retrying(replayed)
    except SuprsendTransportError as exc:
        exc.attempts = call.made
        raise
    return outcome, call.made


class _Attempts(Generic[T]):
    """The attempts of one call: each bounded by what is left of the call's deadline."""

    __slots__ = ("applied_before", "made", "may_have_applied", "policy", "send_once", "started")

    def __init__(
        self,
        send_once: Callable[[], Awaitable[T]],
        policy: RetryPolicy,
        may_have_applied: Callable[[T], bool],
    ) -> None:
        self.send_once = send_once
        self.policy = policy
        self.may_have_applied = may_have_applied
        self.started = time.monotonic()
        self.made = 0
        self.applied_before = False  # an earlier attempt may have been applied

    def time_left(self) -> float:
        return self.policy.deadline - (time.monotonic() - self.started)

    async def attempt(self) -> T:
        left = self.time_left()
        if left <= 0:  # not an attempt: nothing reaches the hub
            raise SuprsendTimeoutError(
                f"deadline of {self.policy.deadline}s exhausted", sent=self.applied_before
            )
        self.made += 1
        deadline = _asyncio_deadline(left)
        # (send_once awaited here, not in a method of its own: a coroutine less
        # on every call, and one less level for every resume to pass through.)
        try:
            if deadline is not None:
                # On asyncio, its own timeout: anyio's cancel scope costs twice as
                # much to enter and leave, and makes every checkpoint inside it
                # look its state up (together some 25 µs of CPU a request, with a
                # thousand in flight).
                try:
                    async with deadline:
                        result = await self.send_once()
                except TimeoutError:
                    if not deadline.expired():
                        raise
                    expired = True
                else:
                    expired = False
            else:
                # A bare cancel scope rather than anyio.fail_after (the same scope
                # in a generator-based context manager): some µs on every request.
                with anyio.CancelScope(deadline=anyio.current_time() + left) as scope:
                    result = await self.send_once()
                # (The only way out of the block without a result.)
                expired = scope.cancelled_caught
        except SuprsendTransportError as exc:
            if not exc.sent and self.applied_before:
                # This attempt was not sent, but the call's fate is what the
                # earlier ones make it.
                exc.sent = True
            self.applied_before = self.applied_before or exc.sent
            raise
        if expired:
            self.applied_before = True
            raise SuprsendTimeoutError(
                f"deadline of {self.policy.deadline}s reached while waiting for the hub"
            )
        self.applied_before = self.applied_before or self.may_have_applied(result)
        return result
