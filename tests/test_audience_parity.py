"""Subscriber lists, broadcasts, messages and dynamic workflows send what the official SDK sends.

Each call is made on both clients (``tests/_parity``): method, path, query (a
multiset), JSON body and content type must agree, in both auth modes, and our
request must be signed as the hub checks it. Where the SDK and the hub's
OpenAPI document disagree (the SDK deletes a list and a draft version with
``DELETE``; the document, the Go and Node SDKs with ``PATCH .../delete/``), the
document wins and the test says so. The calls no SDK has are checked against
the document's operation.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import suprsend

import suprsend_async
from suprsend_async import AsyncSuprsend

from ._parity import (
    AUTHS,
    KEY,
    SECRET,
    assert_every_official_method_is_here,
    assert_same_requests,
    assert_sent_as_documented,
    official_requests,
    our_requests,
)

# Every call starts at the client itself (namespace None): trigger_workflow is on it.
Case = Callable[[Any], Any]


def kit(client: Any) -> Any:
    """The module whose values a call builds: ``suprsend`` for the official client."""
    return suprsend_async if isinstance(client, AsyncSuprsend) else suprsend


URL = "https://files.example/report.pdf"
DYNAMIC: dict[str, Any] = {
    "name": "Weekly digest",
    "template": "weekly-digest",
    "notification_category": "promotional",
    "users": [
        {"distinct_id": "ann", "$email": ["ann@example.com"], "$channels": ["email"]},
        {"distinct_id": "bob"},
    ],
    "data": {"week": 12, "title": "Café ✓"},
    "delivery": {"smart": True, "success": "seen"},
    "delay": "1h",
}
BROADCAST: dict[str, Any] = {
    "list_id": "beta users",
    "template": "launch",
    "notification_category": "promotional",
    "channels": ["email", "inbox"],
    "data": {"version": "2.0"},
}


def attach(c: Any, value: Any, url: str = URL) -> Any:
    """Attach a file by URL: ``add_attachment`` there, ``with_attachment`` here."""
    m = kit(c)
    if m is suprsend:
        value.add_attachment(url, "report.pdf")
        return value
    return value.with_attachment(m.Attachment.from_url(url, "report.pdf"))


def workflow(c: Any, **keys: Any) -> Any:
    # A fresh body each time: the official SDK changes the one it is given.
    return kit(c).Workflow(copy.deepcopy(DYNAMIC), **keys)


def broadcast(c: Any, **keys: Any) -> Any:
    return kit(c).SubscriberListBroadcast(copy.deepcopy(BROADCAST), **keys)


def bulk_workflows(c: Any) -> Any:
    bulk = c.bulk_workflows.new_instance()
    bulk.append(*(workflow(c, idempotency_key=f"digest-{n}") for n in range(3)))
    bulk.append(attach(c, workflow(c, tenant_id="acme")))
    return bulk.trigger()


IDS = ["ann", "bob", "c/ d é"]

CASES: dict[str, Case] = {
    # -- subscriber lists
    "create": lambda c: c.subscriber_lists.create(
        {"list_id": " beta ", "list_name": "Beta", "list_description": "early"}
    ),
    "create with options": lambda c: c.subscriber_lists.create({"list_id": "b"}, {"x": True}),
    "get_all": lambda c: c.subscriber_lists.get_all(),
    "get_all with a page": lambda c: c.subscriber_lists.get_all(limit=50, offset=100),
    "get_all with options": lambda c: c.subscriber_lists.get_all(10, 0, {"list_type": "s"}),
    "get": lambda c: c.subscriber_lists.get("beta users/é"),
    "add": lambda c: c.subscriber_lists.add("beta", IDS),
    "add with options": lambda c: c.subscriber_lists.add("beta", IDS, {"dry": False}),
    "remove": lambda c: c.subscriber_lists.remove(" beta ", IDS[:1]),
    "broadcast": lambda c: c.subscriber_lists.broadcast(broadcast(c)),
    "broadcast with keys": lambda c: c.subscriber_lists.broadcast(
        broadcast(c, idempotency_key="launch-2.0", tenant_id="acme", brand_id="brand-1")
    ),
    "broadcast with an attachment": lambda c: c.subscriber_lists.broadcast(attach(c, broadcast(c))),
    "start_sync": lambda c: c.subscriber_lists.start_sync("beta"),
    "get_version": lambda c: c.subscriber_lists.get_version("beta", "01JR6PCW8H"),
    "add_to_version": lambda c: c.subscriber_lists.add_to_version("beta", "v 1", IDS),
    "remove_from_version": lambda c: c.subscriber_lists.remove_from_version(
        "beta", "v1", IDS, {"a": 1}
    ),
    "finish_sync": lambda c: c.subscriber_lists.finish_sync("beta", "v1"),
    # -- messages
    "list": lambda c: c.messages.list(),
    "list with filters": lambda c: c.messages.list(
        {
            "limit": 20,
            "recipient_id": ["ann", "bob"],
            "status": "delivered",
            "category": ["promotional", "system"],
            "workflow_slug": "welcome",
            "is_campaign": False,
            "tenant_id": None,
        }
    ),
    "bulk_update": lambda c: c.messages.bulk_update(
        [{"message_id": "01HV1", "action": "read"}, {"message_id": "01HV2", "action": "archived"}]
    ),
    # -- the dynamic (legacy) workflow trigger
    "trigger_workflow": lambda c: c.trigger_workflow(workflow(c)),
    "trigger_workflow with keys and an attachment": lambda c: c.trigger_workflow(
        attach(c, workflow(c, idempotency_key="digest-12", tenant_id="acme", brand_id="b1"))
    ),
    "trigger_workflow with a dict": lambda c: c.trigger_workflow(
        {**DYNAMIC, "$idempotency_key": "k-1"}
    ),
    "bulk_workflows": bulk_workflows,
}


@pytest.mark.anyio
@pytest.mark.parametrize("auth", AUTHS)
@pytest.mark.parametrize("call", list(CASES.values()), ids=list(CASES))
async def test_our_request_is_the_official_sdks(
    monkeypatch: pytest.MonkeyPatch, call: Case, auth: str
) -> None:
    await assert_same_requests(monkeypatch, None, call, auth)


# The SDK deletes with DELETE on the resource; the document (and the Go and Node SDKs) with
# PATCH on ".../delete/". Ours follows the document: same path below, same auth, no body.
DELETES: dict[str, tuple[Case, str]] = {
    "delete": (
        lambda c: c.subscriber_lists.delete("beta é"),
        "v1/subscriber_list/beta%20%C3%A9/",
    ),
    "delete_version": (
        lambda c: c.subscriber_lists.delete_version("beta", "v/1"),
        "v1/subscriber_list/beta/version/v%2F1/",
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize("auth", AUTHS)
@pytest.mark.parametrize(("call", "path"), list(DELETES.values()), ids=list(DELETES))
async def test_deletes_follow_the_document_where_the_sdk_differs(
    monkeypatch: pytest.MonkeyPatch, call: Case, path: str, auth: str
) -> None:
    [their] = official_requests(monkeypatch, None, call, auth)
    [mine] = await our_requests(None, call, auth)
    assert (their.method, their.path) == ("DELETE", "/" + path)
    assert (mine.method, mine.path, mine.query) == ("PATCH", "/" + path + "delete/", [])
    assert mine.body is None


@pytest.mark.anyio
@pytest.mark.parametrize("auth", AUTHS)
@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.subscriber_lists.add("beta", []),
        lambda c: c.subscriber_lists.remove("beta", []),
        lambda c: c.subscriber_lists.add_to_version("beta", "v1", []),
        lambda c: c.subscriber_lists.remove_from_version("beta", "v1", []),
    ],
)
async def test_no_ids_sends_nothing_and_answers_as_the_sdk(
    monkeypatch: pytest.MonkeyPatch, call: Case, auth: str
) -> None:
    assert official_requests(monkeypatch, None, call, auth) == []
    assert await our_requests(None, call, auth) == []


def test_every_method_of_the_official_namespaces_is_covered_and_exists_here() -> None:
    cases = [*CASES, *DELETES]
    assert_every_official_method_is_here(
        suprsend.subscriber_list.SubscriberListsApi,
        "subscriber_lists",
        cases,
        besides=("cleaned_limit_offset",),
    )
    assert_every_official_method_is_here(suprsend.messages_api.MessagesApi, "messages", cases)
    # The dynamic workflow trigger sits on the client, in both.
    client = AsyncSuprsend(KEY, SECRET)
    assert {"trigger_workflow", "bulk_workflows"} <= set(dir(client)) & {
        c.split()[0] for c in cases
    }


# The operations no official SDK has: as the OpenAPI document declares them.
DOCUMENTED: dict[str, tuple[Case, str, str, Any]] = {
    "list_subscribers": (
        lambda c: c.subscriber_lists.list_subscribers("beta", {"limit": 2, "sort": "id"}),
        "GET",
        "/v1/subscriber_list/beta/subscriber/?limit=2&sort=id",
        None,
    ),
    "workflows.cancel by key": (
        lambda c: c.workflows.cancel(idempotency_key="order-1-shipped"),
        "POST",
        "/v1/workflow_run/cancel/",
        {"idempotency_key": "order-1-shipped"},
    ),
    "workflows.cancel by every filter": (
        lambda c: c.workflows.cancel(
            execution_id="dsl_1",
            recipients=["ann", "bob"],
            idempotency_key="k",
            workflow_slug="order-confirmation",
        ),
        "POST",
        "/v1/workflow_run/cancel/",
        {
            "execution_id": "dsl_1",
            "recipients": ["ann", "bob"],
            "idempotency_key": "k",
            "workflow_slug": "order-confirmation",
        },
    ),
    "broadcasts.cancel": (
        lambda c: c.broadcasts.cancel(list_id="beta", idempotency_key="launch"),
        "POST",
        "/v1/broadcast_run/cancel/",
        {"list_id": "beta", "idempotency_key": "launch"},
    ),
    "templates.list": (
        lambda c: c.templates.list({"is_active": True, "has_channels_any": "email"}),
        "GET",
        "/v1/template/?is_active=true&has_channels_any=email",
        None,
    ),
    "templates.get": (
        lambda c: c.templates.get("task reminder"),
        "GET",
        "/v1/template/task%20reminder/",
        None,
    ),
    "templates.get_channel": (
        lambda c: c.templates.get_channel("task-reminder", "email"),
        "GET",
        "/v1/template/task-reminder/channel/email/",
        None,
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("call", "method", "url", "body"), list(DOCUMENTED.values()), ids=list(DOCUMENTED)
)
async def test_the_calls_no_sdk_has_are_sent_as_documented(
    call: Case, method: str, url: str, body: Any
) -> None:
    await assert_sent_as_documented(None, call, method, url, body)
