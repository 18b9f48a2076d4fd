"""The retry policy and loop, without real waiting: waits are computed, not slept."""

from __future__ import annotations

import logging
import pickle
from email.utils import formatdate

import anyio
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from suprsend_async import (
    RetryEvent,
    RetryPolicy,
    SuprsendConfigError,
    SuprsendTimeoutError,
    SuprsendTransportError,
)
from suprsend_async._core.retry import (
    RETRYABLE_STATUS_CODES,
    answer_retryable,
    describe_response,
    parse_retry_after,
    response_is_retryable,
    response_retry_after,
    send_with_retries,
)
from suprsend_async._values.idempotency import AttemptEnd, Ending, may_retry


def test_backoff_grows_exponentially_and_is_capped() -> None:
    policy = RetryPolicy(wait_initial=0.1, wait_exp_base=2, wait_max=1.0, wait_jitter=0)
    assert [policy.backoff(n) for n in range(1, 7)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


@given(st.integers(1, 50), st.floats(0, 1, exclude_max=True))
def test_jitter_adds_at_most_wait_jitter(retry_number: int, rnd: float) -> None:
    policy = RetryPolicy(wait_initial=0.1, wait_max=2.0, wait_jitter=0.5)
    base = min(2.0, 0.1 * 2 ** (retry_number - 1))
    assert base <= policy.backoff(retry_number, rng=lambda: rnd) <= base + 0.5


def test_retry_after_replaces_the_backoff_and_instant_policies_never_wait() -> None:
    assert RetryPolicy().wait_for(1, retry_after=7.0) == 7.0
    instant = RetryPolicy.instant()
    assert instant.wait_for(3, retry_after=60.0) == 0.0
    assert instant.wait_for(3, retry_after=None) == 0.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [("5", 5.0), ("0", 0.0), (" 2.5 ", 2.5), ("-3", 0.0), ("soon", None), ("", None), (None, None)],
)
def test_retry_after_in_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_retry_after_as_an_http_date() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == 30.0
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0


@pytest.mark.parametrize("status", sorted(RETRYABLE_STATUS_CODES))
def test_transient_statuses_are_retryable(status: int) -> None:
    assert response_is_retryable(httpx.Response(status))


@pytest.mark.parametrize("status", [200, 202, 207, 400, 401, 403, 404, 409, 413, 422, 501])
def test_other_statuses_are_final(status: int) -> None:
    assert not response_is_retryable(httpx.Response(status))


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(SuprsendConfigError, match="attempts"):
        RetryPolicy(attempts=0)
    with pytest.raises(SuprsendConfigError, match="deadline"):
        RetryPolicy(deadline=0)
    assert (RetryPolicy.disabled().attempts, RetryPolicy.disabled().bulk_attempts) == (1, 1)


# -- the loop -----------------------------------------------------------------------


async def run(
    answers: list[httpx.Response | Exception], policy: RetryPolicy, *, repeatable: bool = True
) -> tuple[httpx.Response, int, list[RetryEvent]]:
    events: list[RetryEvent] = []
    remaining = list(answers)

    async def send_once() -> httpx.Response:
        answer = remaining.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    response, attempts = await send_with_retries(
        send_once,
        policy=policy,
        repeatable=repeatable,
        path="/v2/event/",
        on_retry=events.append,
        is_retryable=answer_retryable(repeatable),
        retry_after=response_retry_after,
        describe=describe_response,
    )
    return response, attempts, events


@pytest.mark.anyio
async def test_retries_transient_answers_until_success_and_reports_each_retry() -> None:
    response, attempts, events = await run(
        [httpx.Response(503), SuprsendTransportError("reset"), httpx.Response(202)],
        RetryPolicy.instant(),
    )
    assert (response.status_code, attempts) == (202, 3)
    assert [(e.attempt, e.reason) for e in events] == [
        (1, "HTTP 503"),
        (2, "SuprsendTransportError: reset"),
    ]


@pytest.mark.anyio
async def test_gives_the_last_answer_after_the_last_attempt() -> None:
    response, attempts, _ = await run([httpx.Response(503)] * 3, RetryPolicy.instant(attempts=3))
    assert (response.status_code, attempts) == (503, 3)


@pytest.mark.anyio
async def test_raises_the_last_transport_error_with_the_attempt_count() -> None:
    with pytest.raises(SuprsendTransportError, match="gone") as info:
        await run([SuprsendTransportError("gone")] * 2, RetryPolicy.instant(attempts=2))
    assert info.value.attempts == 2


@pytest.mark.anyio
async def test_without_retry_there_is_exactly_one_attempt() -> None:
    response, attempts, events = await run(
        [httpx.Response(503), httpx.Response(202)], RetryPolicy.instant(), repeatable=False
    )
    assert (response.status_code, attempts, events) == (503, 1, [])


@pytest.mark.anyio
async def test_a_4xx_is_never_retried() -> None:
    response, attempts, _ = await run(
        [httpx.Response(400), httpx.Response(202)], RetryPolicy.instant()
    )
    assert (response.status_code, attempts) == (400, 1)


@pytest.mark.anyio
async def test_a_retry_after_longer_than_allowed_stops_instead_of_sleeping() -> None:
    policy = RetryPolicy(max_retry_after=5)
    with anyio.fail_after(60):  # only a guard against a hang: a sleep of 60 s would trip it
        response, attempts, waits = await run(
            [httpx.Response(429, headers={"Retry-After": "60"}), httpx.Response(202)], policy
        )
    # No retry was scheduled (so no wait was started), and none was made.
    assert (response.status_code, attempts, waits) == (429, 1, [])


@pytest.mark.anyio
async def test_no_wait_is_started_that_would_pass_the_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    policy = RetryPolicy(deadline=1.0, wait_initial=30, wait_max=30, wait_jitter=0)
    with anyio.fail_after(60), caplog.at_level(logging.INFO, logger="suprsend_async"):
        response, attempts, waits = await run([httpx.Response(503), httpx.Response(202)], policy)
    assert (response.status_code, attempts, waits) == (503, 1, [])
    assert "deadline" in caplog.text


@pytest.mark.anyio
async def test_an_attempt_running_at_the_deadline_is_cancelled() -> None:
    async def hang() -> httpx.Response:
        await anyio.sleep_forever()
        raise AssertionError

    with anyio.fail_after(60), pytest.raises(SuprsendTimeoutError, match="deadline"):
        await send_with_retries(
            hang,
            policy=RetryPolicy(deadline=0.05),
            repeatable=True,
            path="/x",
            is_retryable=response_is_retryable,
            retry_after=response_retry_after,
            describe=describe_response,
        )


@pytest.mark.anyio
async def test_each_retry_is_logged_at_info_without_payloads(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="suprsend_async"):
        await run(
            [httpx.Response(502, content=b"secret-payload"), httpx.Response(202)],
            RetryPolicy.instant(),
        )
    [record] = [r for r in caplog.records if r.name == "suprsend_async"]
    # INFO: a retry that succeeds is no news; a call that fails says so at WARNING.
    assert record.levelno == logging.INFO
    assert "HTTP 502" in record.getMessage()
    assert "/v2/event/" in record.getMessage()
    assert "secret-payload" not in caplog.text


# -- the one retry decision --------------------------------------------------------------


@pytest.mark.parametrize(
    ("end", "keyless", "keyed", "maybe_applied"),
    [
        (AttemptEnd(Ending.NOT_SENT), True, True, False),
        (AttemptEnd(Ending.NO_ANSWER), False, True, True),
        (AttemptEnd.answered(429), True, True, False),
        (AttemptEnd.answered(408), True, True, False),
        (AttemptEnd.answered(500), False, True, False),
        (AttemptEnd.answered(502), False, True, True),
        (AttemptEnd.answered(503), False, True, False),
        (AttemptEnd.answered(504), False, True, True),
        (AttemptEnd.answered(400), False, False, False),
        (AttemptEnd.answered(401), False, False, False),
        (AttemptEnd.answered(404), False, False, False),
        (AttemptEnd.answered(202), False, False, False),
    ],
    ids=lambda v: str(v) if not isinstance(v, AttemptEnd) else f"{v.ending.value} {v.status}",
)
def test_how_an_attempt_ended_decides_whether_it_is_sent_again(
    end: AttemptEnd, keyless: bool, keyed: bool, maybe_applied: bool
) -> None:
    assert may_retry(end, repeatable=False) is keyless
    assert may_retry(end, repeatable=True) is keyed
    assert end.may_have_applied is maybe_applied


def test_a_transport_error_says_whether_its_request_was_sent() -> None:
    assert AttemptEnd.of_error(SuprsendTransportError("x", sent=False)) == AttemptEnd(
        Ending.NOT_SENT
    )
    assert AttemptEnd.of_error(SuprsendTransportError("x")) == AttemptEnd(Ending.NO_ANSWER)
    # It survives a trip through pickle (a worker process reporting it).
    assert pickle.loads(pickle.dumps(SuprsendTransportError("x", sent=False))).sent is False


@pytest.mark.anyio
async def test_a_call_whose_last_attempt_was_not_sent_is_not_sent_only_if_none_was() -> None:
    not_sent = SuprsendTransportError("refused", sent=False)
    with pytest.raises(SuprsendTransportError) as only_refused:
        await run([not_sent, SuprsendTransportError("refused", sent=False)], RetryPolicy.instant(2))
    assert only_refused.value.sent is False
    with pytest.raises(SuprsendTransportError) as after_a_lost_answer:
        await run(
            [SuprsendTransportError("reset"), SuprsendTransportError("refused", sent=False)],
            RetryPolicy.instant(2),
        )
    # The first attempt may have been applied: the call as a whole was sent.
    assert after_a_lost_answer.value.sent is True
