"""Tenants and brands end to end: our client over a loopback socket to the emulator, on
asyncio and trio, with every answer held against the typed answer its method declares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from suprsend_async import RetryPolicy, SuprsendAPIError, SuprsendValidationError
from suprsend_async.testing import Fault, HubEmulator
from tests._answers import answer_of, mismatches
from tests._doubles import served

pytestmark = pytest.mark.anyio

RETRY = RetryPolicy.instant(attempts=5)
ACME = {
    "tenant_name": "Acme",
    "logo": "https://acme.example/logo.png",
    "primary_color": "#ff0000",
    "social_links": {"website": "https://acme.example", "x": "https://x.com/acme"},
    "properties": {"plan": "pro", "region": "eu"},
}

OPT_IN = {"preference": "opt_in"}


async def test_a_tenant_is_created_read_updated_listed_and_deleted() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        tenants = client.tenants
        created = await tenants.upsert("acme/eu é", ACME)
        assert created["tenant_id"] == "acme/eu é"
        assert created["tenant_name"] == "Acme"
        assert type(created) is dict  # the plain dict the official SDK returns

        # Fields replaced when given; properties and social links merged key by key.
        update = {"primary_color": "#00ff00", "properties": {"plan": "enterprise"}}
        updated = await tenants.upsert("acme/eu é", {**update, "social_links": {"x": ""}})
        assert updated["primary_color"] == "#00ff00"
        assert updated["logo"] == ACME["logo"]
        assert updated["properties"] == {"plan": "enterprise", "region": "eu"}
        assert updated["social_links"] == {"website": "https://acme.example", "x": ""}
        assert await tenants.get("acme/eu é") == updated
        assert hub.tenants["acme/eu é"].properties["plan"] == "enterprise"

        assert await tenants.delete("acme/eu é") == {"success": True, "status_code": 204}
        with pytest.raises(SuprsendAPIError) as caught:
            await tenants.get("acme/eu é")
        assert caught.value.status_code == 404
    assert "acme/eu é" not in hub.tenants


async def test_a_new_tenant_needs_a_name_and_a_refused_one_leaves_nothing() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        with pytest.raises(SuprsendAPIError) as caught:
            await client.tenants.upsert("nameless", {"logo": "x"})
        assert caught.value.status_code == 400
        assert "tenant_name" in caught.value.message
        await client.tenants.upsert("named", {"tenant_name": "Named"})
        renamed = await client.tenants.upsert("named", {"logo": "y"})  # an update needs none
        assert renamed["tenant_name"] == "Named"
    assert list(hub.tenants) == ["named"]


async def test_a_brand_is_a_tenant_under_its_older_name() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        brand = await client.brands.upsert("b-1", {"brand_name": "Beta", "properties": {"k": 1}})
        assert (brand["brand_id"], brand["brand_name"]) == ("b-1", "Beta")
        tenant = await client.tenants.get("b-1")
        assert (tenant["tenant_id"], tenant["tenant_name"]) == ("b-1", "Beta")
        await client.tenants.upsert("b-1", {"tenant_name": "Beta 2"})
        assert (await client.brands.get("b-1"))["brand_name"] == "Beta 2"
        assert [b["brand_id"] async for b in client.brands.list()] == ["b-1"]


@pytest.mark.parametrize("namespace", ["tenants", "brands"])
async def test_lists_page_by_offset_across_three_pages(namespace: str) -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        for n in range(25):
            await client.tenants.upsert(f"t{n:02d}", {"tenant_name": f"Tenant {n}"})
        api = getattr(client, namespace)
        key = "tenant_id" if namespace == "tenants" else "brand_id"

        first = await api.list(limit=10)  # the page the official SDK returns
        assert first["meta"] == {"count": 25, "limit": 10, "offset": 0}
        assert [t[key] for t in first["results"]] == [f"t{n:02d}" for n in range(10)]

        before = hub.stats.requests
        every = [t[key] async for t in api.list(limit=10)]
        assert every == [f"t{n:02d}" for n in range(25)]
        assert hub.stats.requests == before + 3  # 10, 10 and 5: no request past the count
        pages = [p async for p in api.list(limit=10, offset=5).pages()]
        assert [p["meta"]["offset"] for p in pages] == [5, 15]
        assert [len(p["results"]) for p in pages] == [10, 10]


async def test_iteration_fetches_the_next_page_only_when_needed() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        for n in range(30):
            await client.tenants.upsert(f"t{n:02d}", {"tenant_name": "T"})
        before = hub.stats.requests
        async for tenant in client.tenants.list(limit=10):
            if tenant["tenant_id"] == "t03":
                break
        assert hub.stats.requests == before + 1


async def test_a_tenants_preference_settings_round_trip() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        tenants = client.tenants
        await tenants.upsert("acme", ACME)
        setting = {
            "preference": "cant_unsubscribe",
            "mandatory_channels": ["email"],
            "blocked_channels": ["sms"],
            "visible_to_subscriber": False,
        }
        updated = await tenants.update_preference_category("acme", "newsletter", setting)
        assert {k: updated[k] for k in setting} == setting  # type: ignore[literal-required]
        got = await tenants.get_preference_category("acme", "newsletter", {"locale": "fr"})
        assert got == updated
        listed = [c async for c in tenants.list_preference_categories("acme", {"limit": 1})]
        assert [c["category"] for c in listed] == list(
            hub.store(hub.workspace_key).preference_rules.categories
        )
        assert next(c for c in listed if c["category"] == "newsletter") == updated
        full = await tenants.get_full_preference("acme")
        categories = [
            category
            for root in full["root_categories"]
            for section in root["sections"]
            for category in section["categories"]
        ]
        assert updated in categories

        # The older default-preference calls read and change the same settings.
        default = await tenants.update_default_category_preference(
            "acme", "promotions", {"preference": "opt_in", "opt_in_channels": ["inbox"]}
        )
        assert (default["preference"], default["opt_in_channels"]) == ("opt_in", ["inbox"])
        defaults = await tenants.get_default_preference("acme")
        assert default in defaults["results"]
        assert await tenants.get_preference_category("acme", "promotions") == default

        missing_ones: list[Callable[[], Awaitable[Any]]] = [
            lambda: tenants.update_preference_category("acme", "nope", {"preference": "opt_in"}),
            lambda: tenants.get_preference_category("ghost", "newsletter"),
        ]
        for call in missing_ones:
            with pytest.raises(SuprsendAPIError) as missing:
                await call()
            assert missing.value.status_code == 404
        with pytest.raises(SuprsendAPIError) as refused:
            await tenants.update_preference_category("acme", "newsletter", {"preference": "on"})
        assert refused.value.status_code == 400
    # The refused update changed nothing.
    assert hub.tenants["acme"].categories["newsletter"]["preference"] == "cant_unsubscribe"


async def test_every_answer_is_the_typed_answer_its_method_declares() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        t, b = client.tenants, client.brands
        calls: list[tuple[Callable[..., Any], tuple[Any, ...]]] = [
            (t.upsert, ("acme", ACME)),
            (t.get, ("acme",)),
            (t.list, ()),
            (t.update_preference_category, ("acme", "newsletter", OPT_IN)),
            (t.get_preference_category, ("acme", "newsletter")),
            (t.list_preference_categories, ("acme",)),
            (t.get_full_preference, ("acme",)),
            (
                t.update_default_category_preference,
                ("acme", "promotions", {"preference": "opt_in"}),
            ),
            (t.get_default_preference, ("acme",)),
            (b.upsert, ("brand", {"brand_name": "B"})),
            (b.get, ("brand",)),
            (b.list, ()),
            (t.delete, ("acme",)),
        ]
        for method, args in calls:
            answer, declared = await answer_of(method, *args)
            assert mismatches(answer, declared, method.__name__) == []


async def test_bad_input_is_refused_before_anything_is_sent() -> None:
    hub = HubEmulator()
    async with served(hub) as client:
        calls: list[tuple[Callable[[], Awaitable[Any]], str]] = [
            (lambda: client.tenants.get(" "), "tenant_id"),
            (lambda: client.tenants.get(".."), "tenant_id"),
            (lambda: client.tenants.list(limit=0), "limit"),
            (lambda: client.tenants.list(limit=1001), "limit"),
            (lambda: client.tenants.list(offset=-1), "offset"),
            (lambda: client.brands.list(limit="10"), "limit"),  # type: ignore[arg-type]
            (lambda: client.tenants.upsert("t", ["x"]), "payload"),  # type: ignore[arg-type]
            (lambda: client.tenants.get_preference_category("t", ""), "category"),
            (lambda: client.brands.get(None), "brand_id"),  # type: ignore[arg-type]
            (lambda: client.tenants.list_preference_categories("t", 5), "options"),  # type: ignore[arg-type]
        ]
        for call, field in calls:
            with pytest.raises(SuprsendValidationError) as caught:
                await call()
            assert caught.value.field == field
    assert hub.stats.requests == 0


async def test_retried_calls_converge_after_dropped_answers() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        hub.script(Fault.drop_after(), times=2)
        await client.tenants.upsert("acme", ACME)
        hub.script(Fault.drop_after(), times=1)
        setting = {"preference": "opt_out", "blocked_channels": ["sms"]}
        await client.tenants.update_preference_category("acme", "newsletter", setting)
        hub.script(Fault.error(503), times=2)
        assert (await client.tenants.get("acme"))["properties"] == ACME["properties"]
        hub.script(Fault.drop_after(), times=1)
        # The first attempt deleted it; the retry's 404 is reported as the success it is.
        assert await client.tenants.delete("acme") == {"success": True, "status_code": 404}
    assert "acme" not in hub.tenants
    assert hub.stats.faults["drop_after"] == 4
