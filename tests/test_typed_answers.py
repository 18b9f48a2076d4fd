"""Every users and objects answer is the typed answer its method declares
(``suprsend_async.types``), over a socket to the emulator; and the checker those tests use
catches a wrong answer.

The types are written from the OpenAPI document's response schemas and the
emulator's answers from its bodies: this holds the two together, so a field
the emulator drops or a type written wrong shows up here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from suprsend_async import RetryPolicy
from suprsend_async.testing import HubEmulator
from suprsend_async.types import CursorPage, FullPreferenceJSON, TenantJSON, UserJSON
from tests._answers import answer_of, mismatches
from tests._doubles import served

CHANNELS = {"channel_preferences": [{"channel": "email", "is_restricted": True}]}


@pytest.mark.anyio
async def test_every_users_answer_is_the_typed_answer_its_method_declares() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RetryPolicy.instant(attempts=3)) as client:
        u = client.users
        hub.users.subscribe_to_list("ann", "weekly")
        hub.objects.subscribe_user(("teams", "eng"), "ann")
        calls: list[tuple[Callable[..., Any], tuple[Any, ...]]] = [
            (u.upsert, ("ann", {"$email": ["ann@example.com"], "name": "Ann"})),
            (u.upsert, ("bob",)),
            (u.get, ("ann",)),
            (u.list, ()),
            (u.edit, (u.get_edit_instance("ann").set("plan", "pro").add_sms("+15550100"),)),
            (u.async_edit, (u.get_edit_instance("ann").set("n", 1),)),
            (u.upsert_for_tenant, ("ann", "acme", {"role": "admin"})),
            (u.get_for_tenant, ("ann", "acme")),
            (u.list_associated_tenants, ("ann",)),
            (u.get_objects_subscribed_to, ("ann",)),
            (u.get_lists_subscribed_to, ("ann",)),
            (u.get_full_preference, ("ann",)),
            (u.update_full_preference, ("ann", CHANNELS)),
            (u.get_global_channels_preference, ("ann",)),
            (u.update_global_channels_preference, ("ann", CHANNELS)),
            (u.get_all_categories_preference, ("ann",)),
            (u.get_category_preference, ("ann", "newsletter")),
            (u.update_category_preference, ("ann", "newsletter", {"preference": "opt_out"})),
            (u.bulk_update_preferences, ({"distinct_ids": ["ann"], **CHANNELS},)),
            (u.bulk_reset_preferences, ({"distinct_ids": ["ann"]},)),
            (u.unlink_tenant, ("ann", "acme")),
            (u.merge, ("ann", "bob")),
            (u.delete, ("ann",)),
        ]
        for method, args in calls:
            answer, declared = await answer_of(method, *args)
            assert type(answer) is dict  # what the official SDK returns
            assert mismatches(answer, declared, method.__name__) == []


@pytest.mark.anyio
async def test_every_objects_answer_is_the_typed_answer_its_method_declares() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RetryPolicy.instant(attempts=3)) as client:
        o = client.objects
        team, org = ("teams", "eng"), ("orgs", "acme")
        calls: list[tuple[Callable[..., Any], tuple[Any, ...]]] = [
            (o.upsert, (*team, {"$email": ["eng@example.com"], "name": "Engineering"})),
            (o.upsert, (*org,)),
            (o.get, team),
            (o.list, ("teams",)),
            (o.edit, (o.get_edit_instance(*team).set("size", 9).add_slack({"email": "e@x.co"}),)),
            (o.create_subscriptions, (*team, {"recipients": ["ann"], "properties": {"r": 1}})),
            (
                o.create_subscriptions,
                (*org, {"recipients": [{"object_type": "teams", "id": "eng"}]}),
            ),
            (o.get_subscriptions, team),
            (o.get_objects_subscribed_to, team),
            (o.get_full_preference, team),
            (o.update_full_preference, (*team, CHANNELS)),
            (o.get_global_channels_preference, team),
            (o.update_global_channels_preference, (*team, CHANNELS)),
            (o.get_all_categories_preference, team),
            (o.get_category_preference, (*team, "newsletter")),
            (o.update_category_preference, (*team, "newsletter", {"preference": "opt_out"})),
            (o.delete_subscriptions, (*team, {"recipients": ["ann"]})),
            (o.delete, team),
        ]
        for method, args in calls:
            answer, declared = await answer_of(method, *args)
            assert type(answer) is dict
            assert mismatches(answer, declared, method.__name__) == []


USER = {"distinct_id": "u", "properties": {}, "created_at": "t", "updated_at": "t"}
META = {"count": 1, "limit": 10, "has_prev": False, "before": None, "has_next": False}


@pytest.mark.parametrize(
    ("answer", "declared", "found"),
    [
        ({**USER, "$email": [{"value": "a", "status": "active"}]}, UserJSON, "no 'perma_status'"),
        ({**USER, "properties": []}, UserJSON, "is not an object"),
        ({"meta": {**META, "after": 5}, "results": [USER]}, CursorPage[UserJSON], "5 is not"),
        (
            {"meta": {**META, "after": None}, "results": [{}]},
            CursorPage[UserJSON],
            "no 'distinct_id'",
        ),
        (
            {"meta": {**META, "count": True, "after": None}, "results": []},
            CursorPage[UserJSON],
            "bool",
        ),
        (
            {"sections": [], "channel_preferences": [{"channel": "email"}]},
            FullPreferenceJSON,
            "no 'is_restricted'",
        ),
        ({"tenant_id": "t"}, TenantJSON, "no 'tenant_name'"),
    ],
    ids=[
        "a channel identity without its status",
        "properties not an object",
        "a cursor that is not a string",
        "a page's item without its id",
        "a bool for a count",
        "a channel preference without its flag",
        "a tenant without its name",
    ],
)
def test_the_checker_finds_what_is_wrong(answer: Any, declared: Any, found: str) -> None:
    problems = mismatches(answer, declared)
    assert problems
    assert any(found in problem for problem in problems), problems
