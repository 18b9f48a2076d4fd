"""Every objects call sends what the official SDK 0.20.0 sends, signed so that the hub accepts it.

The same call on both clients (``tests._parity``), in both auth modes:
method, path, query as a multiset, JSON body, content type, and the
signature (or API key). The calls no official SDK has are checked against
the OpenAPI document's operation instead.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest
import suprsend

from suprsend_async import AsyncSuprsend, ObjectEdit

from ._parity import (
    AUTHS,
    KEY,
    SECRET,
    assert_every_official_method_is_here,
    assert_same_requests,
    assert_sent_as_documented,
    every_operation,
    official_methods,
)


def edit_instance(objects: Any) -> Any:
    return every_operation(objects.get_edit_instance("teams", "front/end é"))


CATEGORY = {"preference": "opt_out", "opt_out_channels": ["email"]}
CHANNELS = {"channel_preferences": [{"channel": "email", "is_restricted": True}]}
RECIPIENTS = {
    "recipients": ["u1", {"object_type": "teams", "id": "backend"}],
    "properties": {"role": "admin"},
}

CASES: dict[str, Callable[[Any], Any]] = {
    "list": lambda o: o.list("teams", {"limit": 20, "after": "01J", "before": None}),
    "list without options": lambda o: o.list("org/teams"),
    "get": lambda o: o.get("teams", " front/end é "),
    "upsert": lambda o: o.upsert("teams", "devs", {"$email": ["d@example.com"], "name": "D"}),
    "upsert without payload": lambda o: o.upsert("teams", "devs"),
    "edit with an ObjectEdit": lambda o: o.edit(edit_instance(o)),
    "edit with a payload": lambda o: o.edit("teams", "devs", {"operations": [{"$set": {"a": 1}}]}),
    "delete": lambda o: o.delete("teams", "devs"),
    "bulk_delete": lambda o: o.bulk_delete("teams", {"object_ids": ["a", "b"]}),
    "get_subscriptions": lambda o: o.get_subscriptions("teams", "devs", {"limit": 5}),
    "create_subscriptions": lambda o: o.create_subscriptions("teams", "devs", RECIPIENTS),
    "delete_subscriptions": lambda o: o.delete_subscriptions(
        "teams", "devs", {"recipients": ["u1"]}
    ),
    "get_objects_subscribed_to": lambda o: o.get_objects_subscribed_to(
        "teams", "devs", {"after": "c"}
    ),
    "get_full_preference": lambda o: o.get_full_preference(
        "teams", "devs", {"tenant_id": "t", "show_opt_out_channels": False, "tags": "x"}
    ),
    "update_global_channels_preference": lambda o: o.update_global_channels_preference(
        "teams", "devs", CHANNELS, {"tenant_id": "t"}
    ),
    "get_category_preference": lambda o: o.get_category_preference(
        "teams", "devs", "newsletter", {"show_opt_out_channels": True, "locale": "es-AR"}
    ),
    "update_category_preference": lambda o: o.update_category_preference(
        "teams", "devs", "news letter", CATEGORY, {"tenant_id": "t"}
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize("auth", AUTHS)
@pytest.mark.parametrize("call", list(CASES.values()), ids=list(CASES))
async def test_our_request_is_the_official_sdks(
    monkeypatch: pytest.MonkeyPatch, call: Callable[[Any], Any], auth: str
) -> None:
    await assert_same_requests(monkeypatch, "objects", call, auth)


def test_every_method_of_the_official_objects_namespace_is_covered_here() -> None:
    assert_every_official_method_is_here(
        suprsend.objects_api.ObjectsApi,
        "objects",
        CASES,
        besides=("detail_url",),
        builders=("get_edit_instance",),
    )


def test_the_parameters_are_the_official_sdks_in_order() -> None:
    client = AsyncSuprsend(KEY, SECRET)
    for name in official_methods(suprsend.objects_api.ObjectsApi, besides=("detail_url",)):
        theirs = list(inspect.signature(getattr(suprsend.objects_api.ObjectsApi, name)).parameters)
        ours = inspect.signature(getattr(client.objects, name)).parameters
        positional = [
            p for p, v in ours.items() if v.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        ]
        assert positional == theirs[1:], name  # theirs starts with self


def test_an_object_edit_is_the_same_builder_as_a_user_edit() -> None:
    client = AsyncSuprsend(KEY, SECRET)
    edit = client.objects.get_edit_instance("teams", "devs")
    assert isinstance(edit, ObjectEdit)
    assert (edit.object_type, edit.object_id) == ("teams", "devs")
    user = client.users.get_edit_instance("u1")
    edit.set("a", 1).add_email("x@example.com").unset("b")
    user.set("a", 1).add_email("x@example.com").unset("b")
    assert edit.get_payload() == user.get_payload()


# The calls no official Python SDK has: method, path, query and body as the OpenAPI says.
EXTRAS: dict[str, tuple[Callable[[Any], Any], str, str, Any]] = {
    "get_global_channels_preference": (
        lambda o: o.get_global_channels_preference("teams", "devs", {"tenant_id": "t"}),
        "GET",
        "/v1/object/teams/devs/preference/channel_preference/?tenant_id=t",
        None,
    ),
    "get_all_categories_preference": (
        lambda o: o.get_all_categories_preference("teams", "devs", {"limit": 5, "offset": 10}),
        "GET",
        "/v1/object/teams/devs/preference/category/?limit=5&offset=10",
        None,
    ),
    "update_full_preference": (
        lambda o: o.update_full_preference(
            "teams", "devs", {"categories": [{"category": "c"}]}, {"tenant_id": "t"}
        ),
        "PATCH",
        "/v1/object/teams/devs/preference/?tenant_id=t",
        {"categories": [{"category": "c"}]},
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("call", "method", "target", "body"), list(EXTRAS.values()), ids=list(EXTRAS)
)
async def test_the_openapi_only_endpoints_are_sent_as_documented(
    call: Callable[[Any], Any], method: str, target: str, body: Any
) -> None:
    await assert_sent_as_documented("objects", call, method, target, body)
