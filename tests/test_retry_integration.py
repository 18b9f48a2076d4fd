"""The retry layer (issue 5) end to end: our client against the hub emulator's faults over
a real loopback socket, on asyncio and trio.

The rule under test: a request or record is sent again only if it carries an
idempotency key, so the hub processes every key exactly once whatever the wire
does, and a record without a key is never seen twice by the hub. Waits are
computed and checked without a socket in test_retry_policy.py.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from email.utils import formatdate

import anyio
import pytest

from suprsend_async import (
    AsyncSuprsend,
    BulkResponse,
    Event,
    RetryEvent,
    RetryPolicy,
    TriggerResponse,
    WorkflowTriggerRequest,
)
from suprsend_async.testing import Fault, Faults, HubEmulator
from tests._doubles import served

pytestmark = pytest.mark.anyio

NOT_RETRIED = "not retried: the record has no idempotency key, so a retry could deliver it twice"
PER_REQUEST = 100

# Small waits so the suite is fast, attempts enough that a 40 % fault rate never
# exhausts them (0.4 ** 15 per request), and a total deadline all the same.
FAST = RetryPolicy(attempts=15, deadline=20.0, wait_initial=0.002, wait_max=0.02, wait_jitter=0.002)
# 40 % of requests: 503, 429 with Retry-After 0.05 s, dropped before processing, and
# dropped after processing (the answer is lost), in equal shares; seeded.
FAULTY = Faults.mix(0.4, seed=20261122, retry_after=0.05)


async def bulk_and_singles(
    client: AsyncSuprsend, bulk: list[Event], singles: list[Event]
) -> tuple[BulkResponse, list[TriggerResponse]]:
    """One bulk upload and many single calls, all at the same time."""
    results: dict[int, TriggerResponse] = {}
    bulk_response: list[BulkResponse] = []
    limiter = anyio.CapacityLimiter(32)

    async def one(i: int) -> None:
        async with limiter:
            results[i] = await client.track_event(singles[i])

    async def upload() -> None:
        bulk_response.append(await client.bulk_events.send(bulk))

    async with anyio.create_task_group() as tg:
        tg.start_soon(upload)
        for i in range(len(singles)):
            tg.start_soon(one, i)
    return bulk_response[0], [results[i] for i in range(len(singles))]


def check_fault_mix(hub: HubEmulator) -> None:
    faulted = sum(hub.stats.faults.values())
    assert faulted >= 0.3 * hub.stats.requests, hub.stats.faults
    assert set(hub.stats.faults) == {"error", "rate_limit", "drop_before", "drop_after"}


def retry_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "suprsend_async" and r.getMessage().startswith("retrying ")
    ]


# -- keyed: exactly once ---------------------------------------------------------------


async def test_keyed_records_and_calls_are_processed_exactly_once_under_faults(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = HubEmulator(faults=FAULTY)
    bulk = [
        Event(f"bulk-user-{i}", "digest", {"i": i}, idempotency_key=f"bulk-{i}")
        for i in range(10_000)
    ]
    singles = [
        Event(f"single-user-{i}", "paid", {"i": i}, idempotency_key=f"single-{i}")
        for i in range(500)
    ]
    hooks: list[RetryEvent] = []
    caplog.set_level(logging.INFO, logger="suprsend_async")
    async with served(hub, retry=FAST, on_retry=hooks.append) as client:
        resp, results = await bulk_and_singles(client, bulk, singles)

    check_fault_mix(hub)
    # The client: everything succeeded, and it took retries to get there.
    assert (resp.status, resp.total, resp.success, resp.failure) == ("success", 10_000, 10_000, 0)
    assert resp.retried_requests > 0
    assert resp.retried_records >= PER_REQUEST
    assert all(r.success for r in results)
    assert max(r.attempts for r in results) > 1
    # The hub: every key processed exactly once, none missing, none extra.
    expected = [e.idempotency_key for e in bulk + singles]
    assert hub.processed_keys == Counter(expected)
    assert set(hub.processed_keys.values()) == {1}
    assert hub.stats.processed_events == 10_500
    # Answers were lost after processing and the retries were deduplicated by key:
    # exactly-once here is the hub's idempotency at work, not luck.
    assert hub.stats.faults["drop_after"] > 0
    assert hub.stats.duplicates_suppressed > 0
    # One hook call and one WARNING per retry, and nothing else retried.
    retries = resp.retried_requests + sum(r.attempts - 1 for r in results)
    assert len(hooks) == retries
    assert len(retry_warnings(caplog)) == retries
    assert {h.path for h in hooks} == {"v2/bulk/event/", "v2/event/"}
    assert hub.stats.requests == 100 + 500 + retries
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "user-" not in logged
    assert hub.workspace_secret not in logged


# -- unkeyed: never sent twice ---------------------------------------------------------------


async def test_unkeyed_records_and_calls_are_never_sent_twice_and_failures_say_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = HubEmulator(faults=FAULTY)
    bulk = [Event(f"bulk-user-{i}", "digest", {"i": i}) for i in range(10_000)]
    singles = [Event(f"single-user-{i}", "paid", {"i": i}) for i in range(500)]
    hooks: list[RetryEvent] = []
    caplog.set_level(logging.INFO, logger="suprsend_async")
    async with served(
        hub, retry=FAST, on_retry=hooks.append, auto_idempotency_keys=False
    ) as client:
        resp, results = await bulk_and_singles(client, bulk, singles)

    check_fault_mix(hub)
    # The hub processed no record twice: the only requests sent again were those it
    # answered 429, which proves it processed nothing of them.
    assert hub.stats.resent_records == 0
    assert set(Counter(e.distinct_id for e in hub.events).values()) == {1}
    assert hooks
    assert {h.reason for h in hooks} == {"HTTP 429"}
    retries = resp.retried_requests + sum(r.attempts - 1 for r in results)
    assert len(hooks) == len(retry_warnings(caplog)) == retries
    assert hub.stats.requests == 10_000 // PER_REQUEST + 500 + retries

    # Every record accounted for; the faulted ones fail as whole chunks, with a reason.
    assert resp.total == resp.success + resp.failure == 10_000
    assert len(resp.failed_records) == resp.failure > 0
    assert resp.failure % PER_REQUEST == 0
    prefixes = {
        503: "service unavailable (emulator fault); ",
        None: "POST /v2/bulk/event/ failed: RemoteProtocolError: ",
    }
    for failed in resp.failed_records:
        assert failed.code in prefixes, failed
        assert failed.error.startswith(prefixes[failed.code]), failed
        assert failed.error.endswith(NOT_RETRIED), failed
        assert failed.record == bulk[failed.index]
    assert {f.code for f in resp.failed_records} == set(prefixes)

    failed_singles = [r for r in results if not r.success]
    assert failed_singles
    assert {r.status_code for r in failed_singles} == {503, None}
    assert all(r.message for r in failed_singles)
    # A lost answer means the hub may have processed more than the client could
    # confirm, never less.
    confirmed = resp.success + sum(r.success for r in results)
    assert confirmed <= hub.stats.processed_events
    assert hub.stats.processed_events - confirmed <= PER_REQUEST * hub.stats.faults["drop_after"]


async def test_generated_keys_make_unkeyed_sends_safe_to_retry() -> None:
    hub = HubEmulator(faults=FAULTY)
    bulk = [Event(f"bulk-user-{i}", "digest") for i in range(2_000)]
    singles = [Event(f"single-user-{i}", "paid") for i in range(200)]
    async with served(hub, retry=FAST, auto_idempotency_keys=True) as client:
        resp, results = await bulk_and_singles(client, bulk, singles)

    check_fault_mix(hub)
    assert (resp.status, resp.success, resp.failure) == ("success", 2_000, 0)
    assert resp.retried_requests > 0
    assert all(r.success for r in results)
    assert max(r.attempts for r in results) > 1
    # Each record got one key, reused across its retries: processed exactly once.
    assert len(hub.processed_keys) == 2_200
    assert set(hub.processed_keys.values()) == {1}
    assert max(hub.received_keys.values()) > 1  # the same key did arrive again
    assert all(uuid.UUID(key).version == 4 for key in hub.processed_keys)
    assert Counter(e.distinct_id for e in hub.events) == Counter(
        [e.distinct_id for e in bulk + singles]
    )


async def test_a_record_that_failed_is_reported_with_the_key_it_was_sent_with() -> None:
    """A keyless event given a generated key and then lost (processed, answer dropped)
    comes back in failed_records carrying that very key, so sending it again is
    deduplicated; the event the caller gave is left as it was."""
    hub = HubEmulator()
    hub.script(Fault.drop_after())
    events = [Event(f"u{i}", "digest") for i in range(30)]
    async with served(hub, retry=RetryPolicy.disabled()) as client:
        resp = await client.bulk_events.send(events)
        assert (resp.success, resp.failure) == (0, 30)
        sent = {e.distinct_id: e.idempotency_key for e in hub.events}
        failed = [f.record for f in resp.failed_records]
        assert all(f.maybe_delivered and f.safe_to_resend for f in resp.failed_records)
        assert {f.distinct_id: f.idempotency_key for f in failed} == sent
        assert [f.with_idempotency_key(None) for f in failed] == events
        assert all(e.idempotency_key is None for e in events)

        again = await client.bulk_events.send(failed)
    assert (again.success, again.failure) == (30, 0)
    assert hub.stats.duplicates_suppressed == 30
    assert set(hub.processed_keys.values()) == {1}


# -- what exactly is re-sent ---------------------------------------------------------------


async def test_after_a_lost_answer_only_the_keyed_records_of_the_chunk_are_resent() -> None:
    hub = HubEmulator()
    hub.script(Fault.drop_after())  # processed, then the answer is lost
    events = [
        Event(f"u{i}", "digest", idempotency_key=f"k{i}" if i % 2 else None) for i in range(100)
    ]
    async with served(hub, retry=FAST, auto_idempotency_keys=False) as client:
        resp = await client.bulk_events.send(events)

    assert hub.stats.requests == 2
    assert hub.stats.records_received == 100 + 50  # the retry carried the 50 keyed ones
    assert hub.stats.resent_records == hub.stats.duplicates_suppressed == 50
    assert set(hub.processed_keys.values()) == {1}
    assert (resp.success, resp.failure, resp.retried_requests, resp.retried_records) == (
        50,
        50,
        1,
        50,
    )
    # The unkeyed ones were in fact processed, but the client cannot know: it says so.
    assert [f.index for f in resp.failed_records] == list(range(0, 100, 2))
    for failed in resp.failed_records:
        assert failed.code is None
        assert failed.error.startswith("POST /v2/bulk/event/ failed: RemoteProtocolError")
        assert failed.error.endswith(NOT_RETRIED)
        assert "(at http://127.0.0.1:" in failed.error  # the host, which is no secret


async def test_keyed_records_the_hub_refused_are_not_resent() -> None:
    """A final per-record error (404 unknown workflow) is not retried, even keyed and even
    when the chunk itself was re-sent after a lost answer."""
    hub = HubEmulator(workflows={"welcome"})
    hub.script(Fault.drop_after())
    requests = [
        WorkflowTriggerRequest(
            workflow="welcome" if i % 50 else "retired",
            recipients=[f"u{i}"],
            idempotency_key=f"wf-{i}",
        )
        for i in range(300)
    ]
    async with served(hub, retry=FAST) as client:
        resp = await client.workflows.bulk_trigger(requests)

    refused = list(range(0, 300, 50))
    assert [f.index for f in resp.failed_records] == refused
    assert all(
        (f.code, f.error) == (404, "workflow 'retired' not found") for f in resp.failed_records
    )
    assert (resp.success, resp.retried_requests) == (300 - len(refused), 1)
    assert hub.stats.requests == 3 + 1  # three chunks, one re-sent after the lost answer
    assert hub.processed_keys == Counter(f"wf-{i}" for i in range(300) if i not in refused)


# -- deadlines and Retry-After --------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "retry_after", "why"),
    [
        pytest.param(
            RetryPolicy(deadline=2.0, max_retry_after=600),
            60,
            "waiting 60.00s would pass the 2.0s deadline",
            id="deadline",
        ),
        pytest.param(
            RetryPolicy(deadline=2.0),
            60,
            "the hub asked to wait 60.0s, more than max_retry_after=30.0s",
            id="max-retry-after",
        ),
        pytest.param(
            RetryPolicy(deadline=2.0, max_retry_after=600),
            "http-date",
            "s would pass the 2.0s deadline",
            id="http-date",
        ),
    ],
)
async def test_a_two_second_deadline_beats_retry_after_60(
    policy: RetryPolicy, retry_after: float | str, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    hub = HubEmulator()
    header = formatdate(time.time() + 60, usegmt=True) if retry_after == "http-date" else 60
    hub.script(Fault.rate_limit(header), times=1_000)
    caplog.set_level(logging.INFO, logger="suprsend_async")
    async with served(hub, retry=policy) as client:
        single = await client.track_event(Event("u1", "paid", idempotency_key="k"))
        hub.script(Fault.drop_after())
        bulk = await client.bulk_events.send(
            [Event(f"u{i}", "paid", idempotency_key=f"k{i}") for i in range(250)]
        )

    # One attempt each, and a "not retrying" reason: no 60 s wait was started (a wait
    # followed by a retry would show as a second attempt). Nothing here is timed.
    assert (single.success, single.status_code, single.attempts) == (False, 429, 1)
    assert single.message == "rate limit exceeded (emulator fault)"
    assert (bulk.status, bulk.failure, bulk.retried_requests) == ("fail", 250, 0)
    for failed in bulk.failed_records:
        assert failed.code == 429
        assert failed.error.startswith(
            "rate limit exceeded (emulator fault) (gave up after 1 attempt: "
        )
        assert why in failed.error
    gave_up = [r.getMessage() for r in caplog.records if r.name == "suprsend_async"]
    assert any(m.startswith("not retrying v2/event/: ") and why in m for m in gave_up)
    assert any(m.startswith("not retrying v2/bulk/event/: ") and why in m for m in gave_up)
    assert hub.stats.processed_events == 0


async def test_the_deadline_bounds_a_call_whatever_the_request_timeout() -> None:
    """A hub that never answers: keyed or not, single or bulk, the call returns at its
    deadline, although each request's own timeout (30 s) is far longer."""
    hub = HubEmulator(faults=Faults(latency=60.0))
    policy = RetryPolicy(deadline=0.5)
    singles: dict[str, TriggerResponse] = {}
    bulks: list[BulkResponse] = []

    async with served(hub, retry=policy, auto_idempotency_keys=False) as client:

        async def single(name: str, key: str | None) -> None:
            singles[name] = await client.track_event(Event("u1", "paid", idempotency_key=key))

        async def bulk() -> None:
            events = [Event(f"u{i}", "paid", idempotency_key=f"k{i}") for i in range(150)]
            bulks.append(await client.bulk_events.send(events))

        async with anyio.create_task_group() as tg:
            tg.start_soon(single, "keyed", "k")
            tg.start_soon(single, "unkeyed", None)
            tg.start_soon(bulk)

    # What ended each call is in its message: the deadline, not the request's own 30 s
    # timeout (which would say "timed out (ReadTimeout)"). Nothing here is timed.
    for response in singles.values():
        assert (response.success, response.status_code, response.error_type) == (
            False,
            None,
            "timeout",
        )
    deadline = "deadline of 0.5s reached while waiting for the hub"
    assert singles["keyed"].message == deadline
    assert singles["unkeyed"].message == (
        f"{deadline}; not retried: the request has no idempotency key,"
        " so a retry could deliver it twice"
    )
    [resp] = bulks
    assert (resp.status, resp.failure) == ("fail", 150)
    assert {(f.code, f.error) for f in resp.failed_records} == {
        (None, "deadline of 0.5s reached while waiting for the hub")
    }
    assert hub.stats.processed_events == 0


async def test_retry_after_is_honoured_before_the_next_attempt() -> None:
    hub = HubEmulator()
    hub.script(Fault.rate_limit(0.3))
    hooks: list[RetryEvent] = []
    async with served(hub, retry=FAST, on_retry=hooks.append) as client:
        start = anyio.current_time()
        resp = await client.track_event(Event("u1", "paid", idempotency_key="k"))
        took = anyio.current_time() - start
    assert (resp.success, resp.attempts) == (True, 2)
    # FAST alone would have waited at most 22 ms.
    assert took >= 0.29
    assert [(h.attempt, h.wait, h.reason) for h in hooks] == [(1, 0.3, "HTTP 429")]
    assert hub.processed_keys == Counter({"k": 1})


# -- observability ---------------------------------------------------------------------------


async def test_retries_reach_the_hook_and_warnings_without_payloads_or_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = HubEmulator()
    for fault in (Fault.error(503), Fault.rate_limit(0.05), Fault.drop_before()):
        hub.script(fault)
    hooks: list[RetryEvent] = []
    secret_bits = [
        hub.workspace_secret,
        "jane.doe@example.com",  # distinct_id
        "4111 1111 1111 1111",  # a property value
        "order-42-paid",  # the idempotency key: user data too
        "Authorization",
    ]
    caplog.set_level(logging.DEBUG, logger="suprsend_async")
    async with served(
        hub, retry=FAST, on_retry=hooks.append, auto_idempotency_keys=False
    ) as client:
        single = await client.track_event(
            Event(
                "jane.doe@example.com",
                "paid",
                {"card": "4111 1111 1111 1111"},
                idempotency_key="order-42-paid",
            )
        )
        hub.script(Fault.drop_after())
        bulk = await client.bulk_events.send(
            [
                Event("jane.doe@example.com", "paid", {"card": "4111 1111 1111 1111"}),
                Event("u2", "paid", idempotency_key="order-42-paid-2"),
            ]
        )

    assert (single.success, single.attempts) == (True, 4)
    assert (bulk.success, bulk.failure, bulk.retried_requests) == (1, 1, 1)
    assert [(h.path, h.attempt) for h in hooks] == [
        ("v2/event/", 1),
        ("v2/event/", 2),
        ("v2/event/", 3),
        ("v2/bulk/event/", 1),
    ]
    assert hooks[0].reason == "HTTP 503"
    assert (hooks[1].reason, hooks[1].wait) == ("HTTP 429", 0.05)
    assert hooks[2].reason.startswith("SuprsendTransportError: POST /v2/event/ failed")
    assert hooks[3].reason.startswith("SuprsendTransportError: POST /v2/bulk/event/ failed")

    retries = [r for r in caplog.records if r.getMessage().startswith("retrying ")]
    assert len(retries) == len(hooks)
    for record, hook in zip(retries, hooks, strict=True):
        assert record.levelno == logging.INFO
        assert record.name == "suprsend_async"
        message = record.getMessage()
        assert message.startswith(f"retrying {hook.path} in ")
        assert hook.reason in message
    logged = "\n".join(
        [r.getMessage() for r in caplog.records] + [repr(r.args) for r in caplog.records]
    )
    for bit in secret_bits:
        assert bit not in logged
