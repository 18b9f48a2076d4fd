"""What a user can get wrong at call time still ends in a typed error, never a TypeError.

Each case was an untyped exception from deep inside a call before (found in a
release review): a per-call ``retry=3``, ``limits=None``, a value changed on a
UserEdit after it was set (now copied when set), a header the client sets itself, something
that is not a list of records, and a single-shot REST call whose answer was
too large to read.
"""

from __future__ import annotations

import gzip
from typing import Any

import httpx
import pytest

from suprsend_async import (
    AsyncSuprsend,
    Event,
    RetryPolicy,
    SuprsendConfigError,
    SuprsendResponseTooLargeError,
    SuprsendValidationError,
)
from suprsend_async.testing import HubEmulator

pytestmark = pytest.mark.anyio


async def test_a_per_call_retry_that_is_not_a_policy_is_refused_before_sending() -> None:
    hub = HubEmulator()
    async with hub.client() as client:
        with pytest.raises(SuprsendConfigError, match="retry must be a RetryPolicy, got int"):
            await client.track_event(Event("u1", "ev_x"), retry=3)
        with pytest.raises(SuprsendConfigError, match="retry must be a RetryPolicy"):
            await client.users.get("u1", retry=3)
        with pytest.raises(SuprsendConfigError, match="retry must be a RetryPolicy"):
            await client.bulk_events.send([Event("u1", "ev_x")], retry=3)
    assert hub.stats.requests == 0


def test_limits_none_is_refused_at_construction() -> None:
    with pytest.raises(SuprsendConfigError, match="limits must be a Limits, got NoneType"):
        AsyncSuprsend("key", "secret", limits=None)  # type: ignore[arg-type]


async def test_a_value_changed_after_it_was_set_does_not_change_the_edit() -> None:
    # (It was kept by reference: the change broke the call, or in bulk its chunk.)
    hub = HubEmulator()
    async with hub.client() as client:
        profile: dict[str, Any] = {"plan": "pro"}
        edit = client.users.get_edit_instance("u1").set("profile", profile)
        profile["oops"] = object()  # the caller's dict, no longer JSON: not the edit's
        await client.users.async_edit(edit)
        bulk = client.users.get_bulk_edit_instance()
        bulk.append(edit, client.users.get_edit_instance("u2").set("plan", "free"))
        result = await bulk.save()
    assert (result.success, result.failure) == (2, 0)
    assert hub.users["u1"].properties == {"profile": {"plan": "pro"}}


@pytest.mark.parametrize("name", ["user-agent", "X-Suprsend-Client-User-Agent"])
def test_a_header_the_client_sets_is_refused_not_sent_twice(name: str) -> None:
    client = AsyncSuprsend("key", "secret")
    with pytest.raises(SuprsendConfigError, match="set by the client"):
        client.with_options(headers={name: "mine"})


@pytest.mark.parametrize("records", [5, "events.jsonl", {"event": "x"}])
async def test_what_is_not_a_list_of_records_is_refused_before_sending(records: Any) -> None:
    hub = HubEmulator()
    async with hub.client() as client:
        with pytest.raises(SuprsendValidationError, match="records: must be an iterable"):
            await client.bulk_events.send(records)
    assert hub.stats.requests == 0


async def test_a_single_shot_call_with_an_answer_too_large_keeps_its_error_type() -> None:
    bomb = gzip.compress(b" " * (5 * 1024 * 1024))

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=bomb, headers={"Content-Encoding": "gzip"})

    async with AsyncSuprsend(
        "key", "secret", transport=httpx.MockTransport(handler), retry=RetryPolicy.instant()
    ) as client:
        with pytest.raises(SuprsendResponseTooLargeError) as caught:
            await client.users.merge("u1", "u2")  # single-shot
    assert caught.value.max_bytes == 4 * 1024 * 1024
    assert "not retried: a merge cannot be applied twice" in str(caught.value)
