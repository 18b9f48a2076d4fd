"""Calls that must type-check, with the types mypy must infer (``assert_type``).

Part of the project's mypy run; tests/test_typing.py checks it as well. Never executed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import httpx
from typing_extensions import assert_type

from suprsend_async import (
    AsyncSuprsend,
    Attachment,
    BulkResponse,
    CursorPaginator,
    Event,
    ObjectRecipient,
    Recipient,
    RetryPolicy,
    SubscriberListBroadcast,
    TriggerResponse,
    UserEdit,
    Workflow,
    WorkflowTriggerRequest,
)
from suprsend_async.types import (
    CursorPage,
    DeletedJSON,
    FullPreferenceJSON,
    OffsetPage,
    Preference,
    TenantCategoryJSON,
    TenantJSON,
    UserJSON,
)


async def right(client: AsyncSuprsend, ids: list[str], names: tuple[str, ...]) -> None:
    # The official SDK's positional order, and its keywords.
    event = Event("u1", "order_paid", {"amount": 10}, "order-42", "tenant", "brand")
    assert_type(event.properties, dict[str, Any])
    assert_type(event.idempotency_key, str | None)
    event = Event("u1", "order_paid", idempotency_key="k", tenant_id="t")
    event = event.with_attachment(Attachment.from_url("https://x.co/a.pdf", file_name="a.pdf"))
    assert_type(await Attachment.from_path("a.pdf", file_name="b.pdf"), Attachment | None)

    assert_type(await client.track_event(event), TriggerResponse)
    response = await client.track_event(event, retry=RetryPolicy(attempts=2))
    assert_type(response.headers, httpx.Headers)
    assert_type(response.status_code, int | None)
    assert_type(response.message_id, str | None)

    for recipients in (
        ids,
        names,
        ["u1", {"distinct_id": "u2", "$email": ["a@b.co"]}],
        [Recipient(distinct_id="u3", email="a@b.co"), ObjectRecipient("teams", "t1")],
    ):
        request = WorkflowTriggerRequest(workflow="w", recipients=recipients, data={"x": 1})
        assert_type(await client.workflows.trigger(request), TriggerResponse)
    generated = WorkflowTriggerRequest(workflow="w", recipients=(f"u{i}" for i in range(3)))
    assert_type(
        generated.recipients, tuple[str | Mapping[str, Any] | Recipient | ObjectRecipient, ...]
    )

    fast = client.with_options(timeout=2.0, retry=RetryPolicy.disabled(), headers={"X-Tag": "a"})
    assert_type(fast, AsyncSuprsend)
    assert_type(fast.timeout, httpx.Timeout)
    bulk = await fast.bulk_events.send(Event(f"u{i}", "e") for i in range(3))
    assert_type(bulk, BulkResponse)
    assert_type(bulk.failed_records[0].code, int | None)

    # The users API: the hub's JSON, typed (a plain dict at run time), a paginator to await
    # or iterate, edits as the official SDK's.
    assert_type(await client.users.get("ann"), UserJSON)
    assert_type(await client.users.upsert("ann", {"plan": "pro"}), UserJSON)
    users = client.users.list({"limit": 10})
    assert_type(users, CursorPaginator[UserJSON])
    assert_type(await users, CursorPage[UserJSON])
    assert_type((await users)["meta"]["has_next"], bool)
    async for page in users.pages():
        assert_type(page, CursorPage[UserJSON])
    async for user in users:
        assert_type(user, UserJSON)
    edit = client.users.get_edit_instance("ann").set("plan", "pro").increment("logins", 1)
    assert_type(edit, UserEdit)
    assert_type(await client.users.edit(edit), UserJSON)
    assert_type(await client.users.delete("ann"), DeletedJSON)
    assert_type(await client.users.get_full_preference("ann"), FullPreferenceJSON)
    categories = await client.users.get_all_categories_preference("ann")
    assert_type(categories["results"][0]["preference"], Preference)
    edits = client.users.get_bulk_edit_instance()
    edits.append(edit)
    assert_type(await edits.save(), BulkResponse)

    # Lists, broadcasts, messages, runs, templates: the hub's JSON, typed from the reference.
    lists = client.subscriber_lists
    assert_type((await lists.get("beta"))["subscribers_count"], int)
    assert_type((await lists.get_all(limit=50))["meta"]["offset"], int)
    assert_type((await lists.add("beta", (f"u{i}" for i in range(3))))["success"], bool)
    async with lists.replace("beta") as draft:
        assert_type(draft.version_id, str)
        await draft.add(["ann"])
    body = {"list_id": "beta", "template": "t", "notification_category": "c"}
    assert_type(await lists.broadcast(SubscriberListBroadcast(body)), TriggerResponse)
    assert_type((await client.workflows.cancel(idempotency_key="k"))["execution_ids"], list[str])
    assert_type((await client.messages.bulk_update([]))["records"][0]["status_code"], int)
    assert_type((await client.templates.get("welcome"))["slug"], str)
    workflow = Workflow({**body, "name": "w", "users": [{"distinct_id": "ann"}]})
    assert_type(await client.trigger_workflow(workflow), TriggerResponse)

    assert_type(AsyncSuprsend(), AsyncSuprsend)  # credentials from the environment
    assert_type(AsyncSuprsend("key", "secret", debug=True), AsyncSuprsend)


def answers(
    users: CursorPage[UserJSON],
    tenants: OffsetPage[TenantJSON],
    user: UserJSON,
    preferences: FullPreferenceJSON,
    category: TenantCategoryJSON,
) -> None:
    # The hub's JSON, typed from the OpenAPI document's response schemas.
    assert_type(users["meta"]["has_next"], bool)
    assert_type(users["meta"]["after"], str | None)
    assert_type(users["results"][0]["distinct_id"], str)
    assert_type(tenants["meta"]["count"], int)
    assert_type(tenants["results"][0]["social_links"].get("website"), str | None)
    assert_type(user["properties"], dict[str, Any])
    assert_type(user.get("$email", [])[0]["status"], str)  # a channel only some users have
    assert_type(
        preferences["sections"][0]["subcategories"][0]["preference"],
        Literal["opt_in", "opt_out", "cant_unsubscribe"],
    )
    assert_type(preferences["channel_preferences"][0]["is_restricted"], bool)
    assert_type(category["root_category"], Literal["system", "transactional", "promotional"])
    plain: dict[str, Any] = dict(user)  # still a dict: what the official SDK returns
    assert_type(plain, dict[str, Any])
