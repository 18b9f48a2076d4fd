"""The objects API end to end: our client over a loopback socket to the emulator, asyncio and trio.

Profiles, subscriptions seen from both sides, preferences, pages, and the
faults that drop a connection after the hub applied the request: the emulator
counts every change, so a single-shot edit applied twice would show.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from suprsend_async import (
    AsyncSuprsend,
    RetryPolicy,
    SuprsendAPIError,
    SuprsendTransportError,
    SuprsendValidationError,
)
from suprsend_async.testing import Fault, HubEmulator, serve
from tests._doubles import served

pytestmark = pytest.mark.anyio

RETRY = RetryPolicy.instant(attempts=5)
TEAM = ("teams", "front/end é")
TEAM_REF = {"object_type": TEAM[0], "id": TEAM[1]}


async def test_profiles_upsert_get_edit_delete() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        objects = client.objects
        created = await objects.upsert(*TEAM, {"$email": ["team@example.com"], "name": "Front"})
        assert (created["object_type"], created["id"]) == TEAM
        assert created["$email"][0]["value"] == "team@example.com"
        assert (await objects.get(*TEAM))["properties"] == {"name": "Front"}

        edit = objects.get_edit_instance(*TEAM)
        edit.set("plan", "pro").increment("seats", 2).append("tags", "core")
        edit.add_slack({"channel": "C1", "access_token": "xoxb"}).unset("name")
        edited = await objects.edit(edit)
        assert edited["properties"] == {"plan": "pro", "seats": 2, "tags": ["core"]}
        assert hub.objects[TEAM].identities("$slack") == [{"channel": "C1", "access_token": "xoxb"}]

        await objects.edit(*TEAM, {"operations": [{"$unset": ["tags", "$email"]}]})
        assert "tags" not in hub.objects[TEAM].properties
        assert hub.objects[TEAM].identities("$email") == []

        assert await objects.delete(*TEAM) == {"success": True, "status_code": 204}
        with pytest.raises(SuprsendAPIError) as caught:
            await objects.get(*TEAM)
        assert caught.value.status_code == 404

        for name in ("a", "b", "c"):
            await objects.upsert("teams", name)
        await objects.upsert("orgs", "a")
        deleted = await objects.bulk_delete("teams", {"object_ids": ["a", "b", "ghost"]})
        assert deleted == {"success": True, "status_code": 204}
    assert sorted(hub.objects.objects) == [("orgs", "a"), ("teams", "c")]


async def test_subscriptions_are_seen_from_both_sides() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        objects, users = client.objects, client.users
        await objects.upsert(*TEAM)
        await objects.upsert("orgs", "acme")
        answer = await objects.create_subscriptions(
            *TEAM,
            {"recipients": ["u1", {"object_type": "teams", "id": "back"}], "properties": {"r": 1}},
        )
        assert [r["user"] and r["user"]["distinct_id"] for r in answer["results"]] == ["u1", None]
        await objects.create_subscriptions("orgs", "acme", {"recipients": ["u1", TEAM_REF]})
        # Subscribing again keeps one subscription, with the new properties.
        await objects.create_subscriptions(*TEAM, {"recipients": ["u1"], "properties": {"r": 2}})

        rows = (await objects.get_subscriptions(*TEAM))["results"]
        # A subscriber is a user or an object, the other key null.
        assert [r["user"] and r["user"]["distinct_id"] for r in rows] == ["u1", None]
        assert rows[0]["properties"] == {"r": 2}
        assert [r["object"] and r["object"]["id"] for r in rows] == [None, "back"]

        mine = [r["object"]["id"] async for r in users.get_objects_subscribed_to("u1")]
        assert mine == ["front/end é", "acme"]
        parents = [r["object"]["id"] async for r in objects.get_objects_subscribed_to(*TEAM)]
        assert parents == ["acme"]
        assert (await users.get("u1"))["distinct_id"] == "u1"  # made by subscribing

        gone = await objects.delete_subscriptions(*TEAM, {"recipients": ["u1"]})
        assert gone == {"success": True, "status_code": 204}
        assert [r["object"]["id"] async for r in users.get_objects_subscribed_to("u1")] == ["acme"]
        with pytest.raises(SuprsendAPIError) as caught:
            await objects.create_subscriptions("teams", "ghost", {"recipients": ["u1"]})
        assert caught.value.status_code == 404

        # A deleted user's subscriptions go with it; a deleted object's too.
        await users.delete("u1")
        acme = [r async for r in objects.get_subscriptions("orgs", "acme")]
        assert [r.get("user") for r in acme] == [None]  # only the team is left
        await objects.delete(*TEAM)
        assert [r async for r in objects.get_subscriptions("orgs", "acme")] == []


async def test_preferences_round_trip_per_category_channel_and_tenant() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        objects = client.objects
        await objects.upsert(*TEAM)
        updated = await objects.update_category_preference(
            *TEAM, "newsletter", {"preference": "opt_out", "opt_out_channels": ["email"]}
        )
        assert updated["preference"] == "opt_out"
        assert (await objects.get_category_preference(*TEAM, "newsletter"))["preference"] == (
            "opt_out"
        )
        tenant = await objects.get_category_preference(*TEAM, "newsletter", {"tenant_id": "acme"})
        assert tenant["preference"] == "opt_in"  # a tenant's preferences are their own
        await objects.update_global_channels_preference(
            *TEAM, {"channel_preferences": [{"channel": "sms", "is_restricted": True}]}
        )
        channels = (await objects.get_global_channels_preference(*TEAM))["channel_preferences"]
        assert {"channel": "sms", "is_restricted": True} in channels
        full = await objects.update_full_preference(
            *TEAM, {"categories": [{"category": "promotions", "preference": "opt_in"}]}
        )
        assert (await objects.get_full_preference(*TEAM))["sections"] == full["sections"]
        every = await objects.get_all_categories_preference(*TEAM, {"limit": 2, "offset": 1})
        assert (every["meta"]["count"], len(every["results"])) == (3, 2)
        with pytest.raises(SuprsendAPIError) as caught:
            await objects.get_full_preference("teams", "ghost")
        assert caught.value.status_code == 404


async def test_lists_page_across_three_pages() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        for n in range(25):
            await client.objects.upsert("teams", f"t{n:02d}")
        await client.objects.upsert("orgs", "not-a-team")
        pages = [p async for p in client.objects.list("teams", {"limit": 10}).pages()]
        assert [len(p["results"]) for p in pages] == [10, 10, 5]
        ids = [o["id"] async for o in client.objects.list("teams", {"limit": 10})]
        assert ids == [f"t{n:02d}" for n in range(25)]

        await client.objects.upsert("orgs", "acme")
        users = [f"u{n:02d}" for n in range(23)]
        await client.objects.create_subscriptions("orgs", "acme", {"recipients": users})
        seen = [
            r["user"] and r["user"]["distinct_id"]
            async for r in client.objects.get_subscriptions("orgs", "acme", {"limit": 10})
        ]
        assert seen == users


async def test_api_key_clients_reach_every_kind_of_objects_call() -> None:
    hub = HubEmulator()
    async with (
        serve(hub) as base_url,
        AsyncSuprsend.from_api_key(
            hub.api_key, workspace_uid=hub.workspace_uid, base_url=base_url, retry=RETRY
        ) as client,
    ):
        await client.objects.upsert("teams", "a", {"name": "A"})
        await client.objects.edit(client.objects.get_edit_instance("teams", "a").set("b", 1))
        await client.objects.create_subscriptions("teams", "a", {"recipients": ["u1"]})
        assert [o["id"] async for o in client.objects.list("teams")] == ["a"]
        await client.objects.update_category_preference("teams", "a", "newsletter", {})
    assert hub.objects[("teams", "a")].properties == {"name": "A", "b": 1}
    assert hub.stats.auth_failures == 0


async def test_bad_input_is_refused_before_anything_is_sent() -> None:
    hub = HubEmulator()
    async with served(hub) as client:
        objects = client.objects
        calls: list[tuple[Callable[[], Awaitable[Any]], str]] = [
            (lambda: objects.get(" ", "a"), "object_type"),
            (lambda: objects.get("teams", ".."), "object_id"),
            (lambda: objects.edit("teams", None, {}), "object_id"),
            (lambda: objects.upsert("teams", "a", {"x": object()}), "payload"),
            (lambda: objects.get_category_preference("teams", "a", ""), "category"),
            (lambda: objects.create_subscriptions("teams", "a", ["u1"]), "payload"),  # type: ignore[arg-type]
        ]
        for call, field in calls:
            with pytest.raises(SuprsendValidationError) as caught:
                await call()
            assert caught.value.field == field
        with pytest.raises(SuprsendValidationError):
            objects.get_edit_instance("teams", "")
    assert hub.stats.requests == 0


# -- faults -------------------------------------------------------------------------------------


async def test_a_dropped_answer_never_applies_a_single_shot_object_edit_twice() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        objects = client.objects
        await objects.upsert("teams", "a")
        hub.script(Fault.drop_after(), times=2)
        with pytest.raises(SuprsendTransportError, match=r"not retried: operation 0 .* 'seats'"):
            await objects.edit(objects.get_edit_instance("teams", "a").increment("seats", 1))
        with pytest.raises(SuprsendTransportError, match="'tags', a list property"):
            await objects.edit("teams", "a", {"operations": [{"$append": {"tags": "x"}}]})
    assert hub.objects[("teams", "a")].properties == {"seats": 1, "tags": ["x"]}
    assert hub.objects.applications[("edit", "teams/a")] == 2
    assert hub.stats.faults["drop_after"] == 2


async def test_retried_object_calls_converge_after_dropped_answers() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        objects = client.objects
        hub.script(Fault.drop_after(), times=1)
        await objects.upsert("teams", "a", {"name": "A"})
        hub.script(Fault.drop_after(), times=2)
        edit = objects.get_edit_instance("teams", "a").set("plan", "pro").unset("name")
        assert (await objects.edit(edit))["properties"] == {"plan": "pro"}
        hub.script(Fault.drop_after(), times=2)
        await objects.create_subscriptions("teams", "a", {"recipients": ["u1"]})
        assert len(hub.objects[("teams", "a")].subscribers) == 1
        hub.script(Fault.drop_after(), times=1)
        await objects.delete_subscriptions("teams", "a", {"recipients": ["u1"]})
        hub.script(Fault.drop_after(), times=1)
        await objects.update_category_preference("teams", "a", "newsletter", {})
        hub.script(Fault.drop_after(), times=1)
        # The first attempt deleted it; the retry's 404 is reported as the success it is.
        assert await objects.delete("teams", "a") == {"success": True, "status_code": 404}
    assert ("teams", "a") not in hub.objects
    assert hub.objects.applications[("upsert", "teams/a")] == 2
    assert hub.objects.applications[("edit", "teams/a")] == 3
    assert hub.objects.applications[("subscribe", "teams/a")] == 3
    assert hub.objects.applications[("delete", "teams/a")] == 1
