"""The users API end to end: our client over a loopback socket to the emulator, asyncio and trio.

Faults that drop the connection after the hub processed a request are the
ones that make naive retries apply an edit twice; the emulator counts every
change it applies, so these tests can prove it never happens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from suprsend_async import (
    AsyncSuprsend,
    Event,
    Limits,
    RetryPolicy,
    SuprsendAPIError,
    SuprsendTransportError,
    SuprsendValidationError,
)
from suprsend_async.testing import Fault, Faults, HubEmulator, serve
from tests._doubles import served

pytestmark = pytest.mark.anyio

RETRY = RetryPolicy.instant(attempts=5)


@asynccontextmanager
async def api_key_client(hub: HubEmulator) -> AsyncIterator[AsyncSuprsend]:
    async with (
        serve(hub) as base_url,
        AsyncSuprsend.from_api_key(
            hub.api_key, workspace_uid=hub.workspace_uid, base_url=base_url, retry=RETRY
        ) as client,
    ):
        yield client


async def test_profiles_upsert_get_edit_merge_delete() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        users = client.users
        created = await users.upsert("team/ann é", {"$email": ["ann@example.com"], "name": "Ann"})
        assert created["distinct_id"] == "team/ann é"
        assert (await users.get("team/ann é"))["properties"] == {"name": "Ann"}

        edit = users.get_edit_instance("team/ann é")
        edit.set({"plan": "pro"}).increment("logins", 2).append("tags", "vip")
        edit.add_email("ann@work.example").remove_email("ann@example.com")
        edit.add_androidpush("fcm-token", "fcm").set_timezone("Europe/Paris")
        edited = await users.edit(edit)
        assert edited["properties"] == {
            "name": "Ann",
            "plan": "pro",
            "logins": 2,
            "tags": ["vip"],
            "$timezone": "Europe/Paris",
        }
        stored = hub.users["team/ann é"]
        assert stored.identities("$email") == ["ann@work.example"]
        assert stored.channels["$androidpush"][0]["id_provider"] == "fcm"

        await users.edit("team/ann é", {"operations": [{"$unset": ["tags", "$androidpush"]}]})
        assert "tags" not in hub.users["team/ann é"].properties
        assert hub.users["team/ann é"].identities("$androidpush") == []

        answer = await users.async_edit(users.get_edit_instance("bob").set("name", "Bob"))
        assert answer["success"] is True
        assert answer["status_code"] == 202
        assert hub.users["bob"].properties == {"name": "Bob"}

        merged = await users.merge("team/ann é", "bob")
        assert merged["properties"]["name"] == "Ann"  # the primary's value wins
        assert "bob" not in hub.users

        assert await users.delete("team/ann é") == {"success": True, "status_code": 204}
        with pytest.raises(SuprsendAPIError) as caught:
            await users.get("team/ann é")
        assert caught.value.status_code == 404
        assert "not found" in caught.value.message
        assert caught.value.body["code"] == 404

        for name in ("c1", "c2", "c3"):
            await users.upsert(name)
        assert await users.bulk_delete({"distinct_ids": ["c1", "c2", "ghost"]}) == {
            "success": True,
            "status_code": 204,
        }
        assert sorted(hub.users.users) == ["c3"]


async def test_tenants_and_subscriptions() -> None:
    hub = HubEmulator()
    hub.users.subscribe_to_list("u1", "beta-testers")
    hub.objects.subscribe_user(("teams", "frontend"), "u1")
    async with served(hub, retry=RETRY) as client:
        users = client.users
        linked = await users.upsert_for_tenant(
            "u1", "acme/eu", {"$sms": ["+15550100"], "role": "a"}
        )
        assert linked["tenant_id"] == "acme/eu"
        await users.edit(users.get_edit_instance("u1", "acme/eu").set("role", "admin"))
        assert (await users.get_for_tenant("u1", "acme/eu"))["properties"] == {"role": "admin"}
        assert hub.users["u1"].properties == {}  # a tenant's profile is its own
        await users.upsert_for_tenant("u1", "globex")
        tenants = [t["tenant_id"] async for t in users.list_associated_tenants("u1", {"limit": 1})]
        assert tenants == ["acme/eu", "globex"]
        assert await users.unlink_tenant("u1", "globex") == {"success": True, "status_code": 204}
        with pytest.raises(SuprsendAPIError, match="not linked"):
            await users.get_for_tenant("u1", "globex")

        lists = await users.get_lists_subscribed_to("u1")
        assert [r["list"]["list_id"] for r in lists["results"]] == ["beta-testers"]
        objects = [r["object"]["id"] async for r in users.get_objects_subscribed_to("u1")]
        assert objects == ["frontend"]


async def test_preferences_per_category_channel_and_tenant() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        users = client.users
        await users.upsert("u1")
        await users.upsert("u2")
        updated = await users.update_category_preference(
            "u1", "newsletter", {"preference": "opt_in", "opt_out_channels": ["email"]}
        )
        email = next(c for c in updated["channels"] if c["channel"] == "email")
        assert email["preference"] == "opt_out"
        category = await users.get_category_preference("u1", "newsletter")
        assert category["channels"] == updated["channels"]
        tenant = await users.get_category_preference("u1", "newsletter", {"tenant_id": "acme"})
        assert all(c["preference"] == "opt_in" for c in tenant["channels"])

        await users.update_global_channels_preference(
            "u1", {"channel_preferences": [{"channel": "sms", "is_restricted": True}]}
        )
        channels = (await users.get_global_channels_preference("u1"))["channel_preferences"]
        assert {"channel": "sms", "is_restricted": True} in channels

        full = await users.update_full_preference(
            "u1", {"categories": [{"category": "promotions", "preference": "opt_in"}]}
        )
        by_slug = {c["category"]: c for c in full["sections"][0]["subcategories"]}
        assert by_slug["promotions"]["preference"] == "opt_in"
        assert (await users.get_full_preference("u1"))["sections"] == full["sections"]
        every = await users.get_all_categories_preference("u1", {"limit": 2})
        assert every["meta"]["count"] == 3
        assert len(every["results"]) == 2

        await users.bulk_update_preferences(
            {
                "distinct_ids": ["u1", "u2"],
                "categories": [{"category": "newsletter", "preference": "opt_out"}],
            }
        )
        for distinct_id in ("u1", "u2"):
            got = await users.get_category_preference(distinct_id, "newsletter")
            assert got["preference"] == "opt_out"
        await users.bulk_reset_preferences({"distinct_ids": ["u1"]})
        assert (await users.get_category_preference("u1", "newsletter"))["preference"] == "opt_in"

        with pytest.raises(SuprsendAPIError) as caught:
            await users.get_category_preference("u1", "no-such-category")
        assert caught.value.status_code == 404
        with pytest.raises(SuprsendAPIError) as bad:
            await users.update_category_preference("u1", "newsletter", {"preference": "maybe"})
        assert bad.value.status_code == 400


async def test_list_pages_across_three_pages_lazily() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        for n in range(25):
            await client.users.upsert(f"user-{n:02d}")
        first = await client.users.list({"limit": 10})
        assert [u["distinct_id"] for u in first["results"]] == [f"user-{n:02d}" for n in range(10)]
        assert first["meta"]["has_next"] is True

        seen = [u["distinct_id"] async for u in client.users.list({"limit": 10})]
        assert seen == [f"user-{n:02d}" for n in range(25)]
        pages = [page async for page in client.users.list({"limit": 10}).pages()]
        assert [len(p["results"]) for p in pages] == [10, 10, 5]


async def test_iteration_fetches_the_next_page_only_when_needed() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        for n in range(30):
            await client.users.upsert(f"u{n:02d}")
        before = hub.stats.requests
        async for user in client.users.list({"limit": 10}):
            if user["distinct_id"] == "u03":
                break
        assert hub.stats.requests == before + 1


async def test_bulk_edits_through_the_bulk_engine() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        bulk = client.users.get_bulk_edit_instance()
        for n in range(900):
            bulk.append(client.users.get_edit_instance(f"u{n}").set("n", n).add_email(f"{n}@x.co"))
        bulk.append("not an edit")  # type: ignore[arg-type]
        too_big = client.users.get_edit_instance("big").set("blob", "x" * 11_000)
        bulk.append(too_big)
        result = await bulk.save()
    assert (result.total, result.success, result.failure) == (902, 900, 2)
    assert [f.index for f in result.failed_records] == [900, 901]
    assert "larger than the limit" in result.failed_records[1].error
    assert result.failed_records[1].to_dict()["record"]["distinct_id"] == "big"
    assert len(hub.users) == 900
    assert hub.users["u899"].identities("$email") == ["899@x.co"]
    # 400 records per request, as the official SDK chunks them.
    assert hub.stats.requests == 3


async def test_api_key_clients_use_every_kind_of_call() -> None:
    hub = HubEmulator()
    async with api_key_client(hub) as client:
        await client.users.upsert("u1", {"name": "A"})
        await client.users.async_edit(client.users.get_edit_instance("u1").set("b", 1))
        bulk = client.users.get_bulk_edit_instance()
        bulk.append(client.users.get_edit_instance("u2").set("c", 2))
        assert (await bulk.save()).success == 1
        assert [u["distinct_id"] async for u in client.users.list()] == ["u1", "u2"]
        assert await client.users.delete("u2") == {"success": True, "status_code": 204}
    assert hub.users["u1"].properties == {"name": "A", "b": 1}
    assert hub.stats.auth_failures == 0


async def test_a_wrong_secret_is_refused_by_the_hub() -> None:
    hub = HubEmulator()
    async with (
        serve(hub) as base_url,
        AsyncSuprsend(hub.workspace_key, "wrong", base_url=base_url) as client,
    ):
        with pytest.raises(SuprsendAPIError) as caught:
            await client.users.get("u1")
    assert caught.value.status_code == 401


async def test_bad_input_is_refused_before_anything_is_sent() -> None:
    hub = HubEmulator()
    async with served(hub) as client:
        calls: list[tuple[Callable[[], Awaitable[Any]], str]] = [
            (lambda: client.users.get(" "), "distinct_id"),
            (lambda: client.users.get(".."), "distinct_id"),
            (lambda: client.users.get("u1", ["limit"]), "options"),  # type: ignore[arg-type]
            (lambda: client.users.upsert("u1", {"x": object()}), "payload"),
            (lambda: client.users.merge("u1", ""), "from_user_id"),
            (lambda: client.users.get_for_tenant("u1", None), "tenant_id"),  # type: ignore[arg-type]
            (lambda: client.users.get_category_preference("u1", ""), "category"),
            (lambda: client.users.async_edit("u1"), "edit_instance"),  # type: ignore[arg-type]
        ]
        for call, field in calls:
            with pytest.raises(SuprsendValidationError) as caught:
                await call()
            assert caught.value.field == field
    assert hub.stats.requests == 0


# -- faults -------------------------------------------------------------------------------------


async def test_a_dropped_answer_never_applies_a_single_shot_edit_twice() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        users = client.users
        await users.upsert("u1")
        await users.upsert("u2")
        hub.script(Fault.drop_after(), times=3)
        with pytest.raises(SuprsendTransportError, match=r"not retried: operation 0 .* 'logins'"):
            await users.edit(users.get_edit_instance("u1").increment("logins", 1))
        with pytest.raises(SuprsendTransportError, match="merge cannot be applied twice"):
            await users.merge("u1", "u2")
        with pytest.raises(SuprsendTransportError, match="'tags', a list property"):
            await users.async_edit(users.get_edit_instance("u1").append("tags", "x"))
    assert hub.users["u1"].properties == {"logins": 1, "tags": ["x"]}
    for kind in ("edit", "merge", "identity_event"):
        assert hub.users.applications[(kind, "u1")] == 1
    assert hub.stats.faults["drop_after"] == 3


async def test_single_shot_calls_are_retried_after_answers_that_prove_nothing_was_applied() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        users = client.users
        await users.upsert("u1")
        await users.upsert("u2")
        # 429 then 200: the increment is sent again, and applied once.
        hub.script(Fault.rate_limit(0), times=1)
        answer = await users.edit(users.get_edit_instance("u1").increment("logins", 1))
        assert answer["properties"] == {"logins": 1}
        hub.script(Fault.rate_limit(0), times=2)
        await users.async_edit(users.get_edit_instance("u1").append("tags", "x"))
        hub.script(Fault.rate_limit(0), times=1)
        await users.merge("u1", "u2")
    assert hub.users["u1"].properties == {"logins": 1, "tags": ["x"]}
    for kind in ("edit", "merge", "identity_event"):
        assert hub.users.applications[(kind, "u1")] == 1
    assert hub.stats.faults["rate_limit"] == 4


async def test_a_single_shot_call_is_retried_when_the_hub_cannot_be_reached() -> None:
    hub = HubEmulator()
    async with (
        serve(hub) as base_url,
        AsyncSuprsend(
            hub.workspace_key,
            hub.workspace_secret,
            base_url=base_url.replace("http://", "https://"),  # TLS to a plain-HTTP server
            retry=RETRY,
        ) as client,
    ):
        with pytest.raises(SuprsendTransportError) as caught:
            await client.users.edit(client.users.get_edit_instance("u1").increment("logins", 1))
    # The TLS handshake failed: never sent, so tried again, and said so with the host.
    assert (caught.value.sent, caught.value.attempts) == (False, RETRY.attempts)
    assert "not sent: could not connect to https://127.0.0.1:" in str(caught.value)
    assert "not retried" not in str(caught.value)
    assert hub.stats.requests == 0


async def test_retried_calls_converge_after_dropped_answers() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        users = client.users
        hub.script(Fault.drop_after(), times=1)
        await users.upsert("u1", {"name": "A", "$email": ["a@x.co"]})
        hub.script(Fault.drop_after(), times=2)
        edit = users.get_edit_instance("u1").set("plan", "pro").add_email("b@x.co").unset("name")
        assert (await users.edit(edit))["properties"] == {"plan": "pro"}
        hub.script(Fault.drop_after(), times=1)
        await users.update_category_preference("u1", "newsletter", {"preference": "opt_out"})
        hub.script(Fault.error(503), times=2)
        assert (await users.get("u1"))["distinct_id"] == "u1"
        hub.script(Fault.drop_after(), times=1)
        # The first attempt deleted it; the retry's 404 is reported as the success it is.
        assert await users.delete("u1") == {"success": True, "status_code": 404}
    assert "u1" not in hub.users
    assert hub.users.applications[("upsert", "u1")] == 2
    assert hub.users.applications[("edit", "u1")] == 3
    assert hub.users.applications[("delete", "u1")] == 1


async def test_a_first_delete_of_a_missing_user_is_an_error() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        with pytest.raises(SuprsendAPIError) as caught:
            await client.users.delete("ghost")
    assert caught.value.status_code == 404


async def test_bulk_edits_under_random_drops_apply_single_shot_edits_at_most_once() -> None:
    hub = HubEmulator(faults=Faults(drop_after_rate=0.3, drop_before_rate=0.1, seed=11))
    hub.script(Fault.drop_after(), times=2)  # at least these, whatever the random draws
    # Enough attempts that a retried chunk cannot plausibly lose all of them to faults:
    # 0.4 ** 24 is 3e-10 for each of some 60 chunks. (With 12, 2e-5 a chunk, one run
    # in a thousand failed: seen once in CI. Which request draws which fault depends on
    # the order requests arrive in, so the seed does not fix the outcome.)
    async with served(
        hub,
        retry=RetryPolicy.instant(attempts=24),
        max_concurrency=4,
        limits=Limits(max_identity_records_per_request=20),
    ) as client:
        bulk = client.users.get_bulk_edit_instance()
        for n in range(1_200):
            edit = client.users.get_edit_instance(f"u{n}").set("n", n)
            if n % 2:
                edit.increment("visits", 1)  # single-shot
            bulk.append(edit)
        result = await bulk.save()
    assert result.total == 1_200
    assert result.success + result.failure == 1_200
    failed = {f.index for f in result.failed_records}
    for n in range(1_200):
        applied = hub.users.applications[("identity_event", f"u{n}")]
        if n % 2:
            assert applied <= 1
            if applied:
                assert hub.users[f"u{n}"].properties["visits"] == 1
            if n in failed:
                record = result.failed_records[sorted(failed).index(n)]
                assert "not retried" in record.error
        else:
            assert n not in failed  # retried until applied
            assert hub.users[f"u{n}"].properties == {"n": n}
    assert hub.stats.faults["drop_after"] > 2
    assert 0 < result.failure < 600  # some single-shot edits were lost to faults, not all


# -- the emulator's answers -----------------------------------------------------------------------


async def test_the_body_size_cap_applies_to_users_calls_too() -> None:
    hub = HubEmulator(limits=Limits(max_body_bytes=2_000))
    async with served(hub, retry=RETRY) as client:
        with pytest.raises(SuprsendAPIError) as caught:
            await client.users.upsert("u1", {"blob": "x" * 5_000})
        assert caught.value.status_code == 413
        assert "u1" not in hub.users
        await client.users.upsert("u1", {"blob": "x" * 100})
    assert hub.users["u1"].properties == {"blob": "x" * 100}


async def test_an_event_that_merely_mentions_user_operations_is_an_event() -> None:
    hub = HubEmulator()
    async with (
        serve(hub) as base_url,
        # An API-key client's events go to event/, where identity events go too.
        AsyncSuprsend.from_api_key(
            hub.api_key, workspace_uid=hub.workspace_key, base_url=base_url
        ) as client,
    ):
        response = await client.track_event(
            Event("u1", "exported", properties={"what": "$user_operations"})
        )
        assert response.success
    assert [e.event for e in hub.events] == ["exported"]
    assert "u1" not in hub.users


async def test_subscriptions_have_the_openapi_shape() -> None:
    hub = HubEmulator()
    hub.users.subscribe_to_list("u1", "beta-testers")
    hub.users.subscribe_to_list("u2", "beta-testers")
    hub.objects.subscribe_user(("teams", "frontend"), "u1")
    async with served(hub, retry=RETRY) as client:
        [row] = (await client.users.get_lists_subscribed_to("u1"))["results"]
        assert row["list"]["list_id"] == "beta-testers"
        assert row["list"]["subscribers_count"] == 2
        assert {"created_at"} <= row.keys()
        [subscription] = (await client.users.get_objects_subscribed_to("u1"))["results"]
        assert subscription["object"]["id"] == "frontend"
        assert subscription["object"]["object_type"] == "teams"
        assert {"properties", "created_at", "updated_at"} <= subscription.keys()
