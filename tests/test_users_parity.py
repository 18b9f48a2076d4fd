"""Every users call sends what the official SDK sends, and is signed so that the hub accepts it.

For each method of the official SDK's users namespace, the same call is made
on both clients: the official one with ``requests.request`` replaced by a
recorder, ours on an ``httpx.MockTransport``. Method, path, query (as a
multiset) and JSON body must agree, ignoring only what is random per send or
names the SDK (``$insert_id``, ``$time``, ``properties.$ss_sdk_version``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import suprsend

from ._parity import (
    AUTHS,
    assert_every_official_method_is_here,
    assert_same_requests,
    assert_sent_as_documented,
    every_operation,
)

# -- the calls: each works on either client's users namespace ----------------------------------


def edit_instance(users: Any) -> Any:
    return every_operation(users.get_edit_instance("u1"))


def tenant_edit(users: Any) -> Any:
    edit = users.get_edit_instance("u1", "tenant-1")
    edit.set("role", "admin")
    return edit


def bulk_edit(users: Any) -> Any:
    bulk = users.get_bulk_edit_instance()
    for n in range(5):
        edit = users.get_edit_instance(f"user-{n}")
        edit.set("n", n)
        edit.add_email(f"user{n}@example.com")
        bulk.append(edit)
    return bulk.save()


CATEGORY = {"preference": "opt_out", "opt_out_channels": ["email"]}
CHANNELS = {"channel_preferences": [{"channel": "email", "is_restricted": True}]}

CASES: dict[str, Callable[[Any], Any]] = {
    "list": lambda u: u.list({"limit": 20, "after": "01J", "before": None}),
    "list without options": lambda u: u.list(),
    # A list value: the official SDK writes it as one value, its str() (not key[] repeated).
    "list with a list option": lambda u: u.list({"limit": 5, "ids": ["a", None, True], "x": []}),
    "get": lambda u: u.get("team/ann é", {"include_tenants": True}),
    "upsert": lambda u: u.upsert("u1", {"$email": ["a@example.com"], "name": "Ann"}, {"x": 1}),
    "upsert without payload": lambda u: u.upsert("u1"),
    "edit with a UserEdit": lambda u: u.edit(edit_instance(u)),
    "edit with a tenant UserEdit": lambda u: u.edit(tenant_edit(u)),
    "edit with a payload": lambda u: u.edit("u1", {"operations": [{"$set": {"a": 1}}]}),
    "edit with a payload for a tenant": lambda u: u.edit(
        "u1", {"operations": [{"$unset": ["a"]}]}, "tenant-1", {"dry": False}
    ),
    "async_edit": lambda u: u.async_edit(edit_instance(u)),
    "async_edit for a tenant": lambda u: u.async_edit(tenant_edit(u)),
    "merge": lambda u: u.merge("u1", "u2"),
    "delete": lambda u: u.delete(" u 1 "),
    "bulk_delete": lambda u: u.bulk_delete({"distinct_ids": ["u1", "u2"]}),
    "list_associated_tenants": lambda u: u.list_associated_tenants("u1", {"limit": 5}),
    "get_for_tenant": lambda u: u.get_for_tenant("u1", "tenant/1", {"a": True}),
    "upsert_for_tenant": lambda u: u.upsert_for_tenant("u1", "tenant-1", {"$sms": ["+1555"]}),
    "unlink_tenant": lambda u: u.unlink_tenant("u1", "tenant-1"),
    "get_objects_subscribed_to": lambda u: u.get_objects_subscribed_to("u1", {"limit": 2}),
    "get_lists_subscribed_to": lambda u: u.get_lists_subscribed_to("u1", {"after": "c"}),
    "get_full_preference": lambda u: u.get_full_preference(
        "u1", {"tenant_id": "t", "show_opt_out_channels": False, "tags": '{"not":"admin"}'}
    ),
    "update_global_channels_preference": lambda u: u.update_global_channels_preference(
        "u1", CHANNELS, {"tenant_id": "t"}
    ),
    "get_category_preference": lambda u: u.get_category_preference(
        "u1", "newsletter", {"show_opt_out_channels": True, "locale": "es-AR"}
    ),
    "update_category_preference": lambda u: u.update_category_preference(
        "u1", "news letter", CATEGORY, {"tenant_id": "t"}
    ),
    "bulk edit": bulk_edit,
}


@pytest.mark.anyio
@pytest.mark.parametrize("auth", AUTHS)
@pytest.mark.parametrize("call", list(CASES.values()), ids=list(CASES))
async def test_our_request_is_the_official_sdks(
    monkeypatch: pytest.MonkeyPatch, call: Callable[[Any], Any], auth: str
) -> None:
    await assert_same_requests(monkeypatch, "users", call, auth)


def test_every_method_of_the_official_users_namespace_is_covered_and_exists_here() -> None:
    assert_every_official_method_is_here(
        suprsend.users_api.UsersApi,
        "users",
        CASES,
        besides=("detail_url", "detail_url_for_tenant"),
        builders=("get_edit_instance", "get_bulk_edit_instance"),
    )


# The endpoints only the Go SDK and the OpenAPI document cover: method and path as documented.
EXTRAS: dict[str, tuple[Callable[[Any], Any], str, str, Any]] = {
    "get_global_channels_preference": (
        lambda u: u.get_global_channels_preference("u1", {"tenant_id": "t"}),
        "GET",
        "/v1/user/u1/preference/channel_preference/?tenant_id=t",
        None,
    ),
    "get_all_categories_preference": (
        lambda u: u.get_all_categories_preference("u1", {"limit": 5, "offset": 10}),
        "GET",
        "/v1/user/u1/preference/category/?limit=5&offset=10",
        None,
    ),
    "update_full_preference": (
        lambda u: u.update_full_preference("u1", {"categories": [{"category": "c"}]}),
        "PATCH",
        "/v1/user/u1/preference/",
        {"categories": [{"category": "c"}]},
    ),
    "bulk_update_preferences": (
        lambda u: u.bulk_update_preferences(
            {"distinct_ids": ["a"], **CHANNELS}, {"tenant_id": "t"}
        ),
        "PATCH",
        "/v1/bulk/user/preference/?tenant_id=t",
        {"distinct_ids": ["a"], **CHANNELS},
    ),
    "bulk_reset_preferences": (
        lambda u: u.bulk_reset_preferences({"distinct_ids": ["a"], "reset_categories": True}),
        "PATCH",
        "/v1/bulk/user/preference/reset/",
        {"distinct_ids": ["a"], "reset_categories": True},
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("call", "method", "target", "body"), list(EXTRAS.values()), ids=list(EXTRAS)
)
async def test_the_openapi_only_endpoints_are_sent_as_documented(
    call: Callable[[Any], Any], method: str, target: str, body: Any
) -> None:
    await assert_sent_as_documented("users", call, method, target, body)
