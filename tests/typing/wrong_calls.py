"""Calls that mypy --strict must refuse, each with the error codes it must report.

Checked by tests/test_typing.py (and left out of the project's own mypy run,
since every marked line is an error). A line's ``# E: code ...`` lists the
error codes mypy must report on it, one per error.
"""

from __future__ import annotations

from typing import Any

import httpx

from suprsend_async import (
    AsyncSuprsend,
    Attachment,
    Event,
    ObjectRecipient,
    Recipient,
    RetryPolicy,
    WorkflowTriggerRequest,
)
from suprsend_async.types import CursorPage, FullPreferenceJSON, TenantJSON, UserJSON

Event(123, None, ["x"], idempotency_key=42)  # E: arg-type arg-type arg-type arg-type
Event("u1", "e", {}, "key", 7)  # E: arg-type
Event("u1", "e", brand_id=["b"])  # E: arg-type
Event("u1", "e", attachments="https://x.co/a.pdf")  # E: arg-type
Event("u1")  # E: call-arg
WorkflowTriggerRequest(workflow="w", recipients="u1")  # E: arg-type
WorkflowTriggerRequest(workflow="w", recipients={"distinct_id": "u1"})  # E: arg-type
WorkflowTriggerRequest(workflow="w", recipients=Recipient(distinct_id="u1"))  # E: arg-type
WorkflowTriggerRequest(workflow=1, recipients=["u1"])  # E: arg-type
WorkflowTriggerRequest(workflow="w", recipients=["u1"], data=["x"])  # E: arg-type
WorkflowTriggerRequest(workflow="w", recipients=["u1"], idempotency_key=1)  # E: arg-type
WorkflowTriggerRequest("w", ["u1"])  # E: call-arg arg-type arg-type
Recipient(distinct_id="u1", email=5)  # E: arg-type
Recipient(distinct_id="u1", properties=["x"])  # E: arg-type
ObjectRecipient("teams", 5)  # E: arg-type
Attachment.from_url(5)  # E: arg-type
Attachment.from_url("https://x.co/a.pdf", filename="a.pdf")  # E: call-arg
RetryPolicy(attempts="3")  # E: arg-type
AsyncSuprsend("key", "secret", timeout="5")  # E: arg-type
AsyncSuprsend("key", "secret", base_url=httpx.URL("https://x.co/"))  # E: arg-type
AsyncSuprsend("key", "secret", "https://x.co/")  # E: call-arg


async def misuse(client: AsyncSuprsend) -> None:
    await client.track_event({"distinct_id": "u1", "event": "e"})  # E: arg-type
    await client.workflows.trigger(Event("u1", "e"))  # E: arg-type
    client.with_options(retries=3)  # E: call-arg
    client.with_options(headers={"X-Tag": 1})  # E: dict-item
    response = await client.track_event(Event("u1", "e"))
    response.message_id.upper()  # E: union-attr
    await client.users.get(123)  # E: arg-type
    await client.users.upsert("ann", ["plan", "pro"])  # E: arg-type
    await client.users.list(limit=10)  # E: call-arg
    await client.users.edit(client.users.get_edit_instance("ann").set_timezone(1))  # E: arg-type
    client.users.get_bulk_edit_instance().append({"distinct_id": "ann"})  # E: arg-type
    (await client.users.get("ann")).upper()  # E: attr-defined
    (await client.subscriber_lists.get("beta"))["subscriber_count"]  # E: typeddict-item
    await client.workflows.cancel("run-1")  # E: call-arg
    await client.workflows.cancel(idempotency_key="k", tenant_id="acme")  # E: arg-type
    await client.subscriber_lists.broadcast({"list_id": "beta"})  # E: arg-type
    (await client.users.get("ann"))["distinctid"]  # E: typeddict-item
    async for user in client.users.list():
        user["properties"].upper()  # E: attr-defined


def misread(
    users: CursorPage[UserJSON], user: UserJSON, tenant: TenantJSON, prefs: FullPreferenceJSON
) -> None:
    users["meta"]["hasnext"]  # E: typeddict-item
    users["meta"]["after"].upper()  # E: union-attr
    users["results"][0]["distinct_id"] + 1  # E: operator
    user["$emails"]  # E: typeddict-item
    tenant["tenant_name"] = 5  # E: typeddict-item
    category = prefs["sections"][0]["subcategories"][0]
    assert category["preference"] != "opted_in"  # E: comparison-overlap
    tenants: list[Any] = tenant  # E: assignment
    print(tenants)
