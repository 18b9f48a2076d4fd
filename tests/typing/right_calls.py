"""Calls that must type-check, with the types mypy must infer (``assert_type``).

Part of the project's mypy run; tests/test_typing.py checks it as well. Never executed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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

    # The users API: the hub's JSON, a paginator to await or iterate, edits as the official SDK's.
    assert_type(await client.users.get("ann"), dict[str, Any])
    assert_type(await client.users.upsert("ann", {"plan": "pro"}), dict[str, Any])
    users = client.users.list({"limit": 10})
    assert_type(users, CursorPaginator)
    assert_type(await users, dict[str, Any])
    async for page in users.pages():
        assert_type(page, dict[str, Any])
    edit = client.users.get_edit_instance("ann").set("plan", "pro").increment("logins", 1)
    assert_type(edit, UserEdit)
    assert_type(await client.users.edit(edit), dict[str, Any])
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
