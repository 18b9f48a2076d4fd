"""Lists, broadcasts, messages and run cancellation end to end: our client over a loopback
socket to the emulator, on asyncio and on trio.

The emulator keeps lists, draft versions, runs and messages as state, so these
tests read what the hub would hold: who is in a list, which runs completed,
which messages went to whom. Delayed runs wait on the emulator's clock, which
the tests move (``hub.advance``): no test sleeps.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import pytest

from suprsend_async import (
    AsyncSuprsend,
    Limits,
    RetryPolicy,
    SubscriberListBroadcast,
    SuprsendAPIError,
    SuprsendBulkError,
    SuprsendConfigError,
    SuprsendTransportError,
    SuprsendValidationError,
    Workflow,
    WorkflowTriggerRequest,
)
from suprsend_async.testing import Fault, HubEmulator, serve
from suprsend_async.testing._cli import add_emulator_arguments, build_hub
from tests._doubles import served

pytestmark = pytest.mark.anyio

RETRY = RetryPolicy.instant(attempts=5)
MEMBERS = 20_000


def ids(start: int, stop: int) -> Iterator[str]:
    return (f"user-{n:06d}" for n in range(start, stop))


async def streamed(start: int, stop: int) -> AsyncIterator[str]:
    for distinct_id in ids(start, stop):
        yield distinct_id


def launch(**keys: Any) -> SubscriberListBroadcast:
    body = {"list_id": "beta", "template": "launch", "notification_category": "promotional"}
    return SubscriberListBroadcast({**body, "data": {"version": "2.0"}}, **keys)


async def test_a_large_list_is_built_replaced_and_broadcast_to() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        lists = client.subscriber_lists
        created = await lists.create({"list_id": "beta", "list_name": "Beta testers"})
        assert (created["list_id"], created["subscribers_count"]) == ("beta", 0)

        # Built through add: 20 requests of 1,000 ids, sent concurrently.
        added = await lists.add("beta", ids(0, MEMBERS))
        assert added == {"success": True, "affected_count": MEMBERS}
        assert (await lists.get("beta"))["subscribers_count"] == MEMBERS
        assert hub.lists["beta"].members.seqs.keys() == set(ids(0, MEMBERS))
        again = await lists.add("beta", ["user-000000", "newcomer"])
        assert again == {"success": True, "affected_count": 1}
        await lists.remove("beta", ["newcomer", "never-was"])

        # Replaced: half the old members stay, half are new; invisible until the block ends.
        async with lists.replace("beta") as draft:
            await draft.add(streamed(MEMBERS // 2, MEMBERS + MEMBERS // 2))
            await draft.remove(["user-015000"])
            assert (await lists.get("beta"))["subscribers_count"] == MEMBERS
        stored = hub.lists["beta"]
        assert set(stored.members) == set(ids(MEMBERS // 2, MEMBERS + MEMBERS // 2)) - {
            "user-015000"
        }
        assert (stored.versions, stored.syncs_finished) == ({}, 1)
        page = await lists.list_subscribers("beta", {"limit": 3})
        assert [m["distinct_id"] for m in page["results"]] == [
            "user-010000",
            "user-010001",
            "user-010002",
        ]
        lists_of = await client.users.get_lists_subscribed_to("user-010000")
        assert [found["list"]["list_id"] for found in lists_of["results"]] == ["beta"]

        # A broadcast to it: one message per member, listed by the messages API.
        sent = await lists.broadcast(launch(idempotency_key="launch-2.0"))
        assert sent.success, sent
        mine = await client.messages.list({"recipient_id": "user-019999", "limit": 5})
        [message] = mine["results"]
        assert (message["is_campaign"], message["template"]) == (True, {"slug": "launch"})
        assert message["idempotency_key"] == "launch-2.0"
        runs = hub.runs
        assert len(runs.messages) == MEMBERS - 1
        updated = await client.messages.bulk_update(
            [{"message_id": message["message_id"], "action": "read"}]
        )
        assert updated["records"][0]["status_code"] == 202
        read = await client.messages.list({"status": ["read"]})
        assert [m["message_id"] for m in read["results"]] == [message["message_id"]]


async def test_a_replace_that_raises_or_is_cancelled_leaves_the_list_as_it_was() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        lists = client.subscriber_lists
        await lists.create({"list_id": "beta"})
        await lists.add("beta", ["ann", "bob"])

        async def fails_midway() -> None:
            async with lists.replace("beta") as draft:
                await draft.add(ids(0, 5_000))
                raise RuntimeError("source failed")

        with pytest.raises(RuntimeError, match="source failed"):
            await fails_midway()
        with anyio.move_on_after(60) as scope:
            async with lists.replace("beta") as draft:
                await draft.add(["carol"])
                scope.cancel()
                await anyio.sleep_forever()  # cancelled at once: never sleeps
        assert scope.cancelled_caught
        stored = hub.lists["beta"]
        assert (set(stored.members), stored.versions, stored.syncs_finished) == (
            {"ann", "bob"},
            {},
            0,
        )
        # A replace that ends well still works after both.
        async with lists.replace("beta") as draft:
            await draft.add(["dan"])
        assert set(stored.members) == {"dan"}


async def test_a_replace_whose_finish_may_have_been_applied_keeps_the_version_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        lists = client.subscriber_lists
        await lists.create({"list_id": "beta"})
        await lists.add("beta", ["ann", "bob"])
        replacement = lists.replace("beta")

        async def replace() -> None:
            async with replacement as draft:
                await draft.add(["carol"])
                # finish_sync reaches the hub, which makes the draft live; its answer is lost.
                hub.script(Fault.drop_after())

        with pytest.raises(SuprsendTransportError) as caught:
            await replace()
        assert replacement.draft is not None
        version_id = replacement.draft.version_id
        requests = hub.stats.requests
    # The draft is live: nothing deleted it, and nobody is told the list is unchanged.
    assert set(hub.lists["beta"].members) == {"carol"}
    assert requests == 5  # create, add, start_sync, add to the draft, finish_sync: no delete
    message = str(caught.value)
    assert "may have been applied" in message
    assert version_id in message
    assert replacement.result is None
    assert not any("unchanged" in record.getMessage() for record in caplog.records)


async def test_a_replace_whose_start_answer_was_lost_says_a_draft_may_exist() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        lists = client.subscriber_lists
        await lists.create({"list_id": "beta"})
        await lists.add("beta", ["ann"])
        hub.script(Fault.drop_after())  # start_sync makes a draft; its answer is lost
        with pytest.raises(SuprsendTransportError) as caught:
            async with lists.replace("beta") as draft:
                await draft.add(["carol"])  # never reached
    stored = hub.lists["beta"]
    assert set(stored.members) == {"ann"}
    assert len(stored.versions) == 1  # the draft the hub made, which nobody knows of
    assert "a draft version of the list may exist" in str(caught.value)
    assert "members are unchanged" in str(caught.value)


@pytest.mark.parametrize("fault", [Fault.error(503), Fault.error(400)], ids=["503", "400"])
async def test_a_replace_whose_finish_was_not_applied_deletes_the_draft(fault: Fault) -> None:
    # The hub's own error answer: it applied nothing (AttemptEnd.may_have_applied).
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        lists = client.subscriber_lists
        await lists.create({"list_id": "beta"})
        await lists.add("beta", ["ann"])

        async def replace() -> None:
            async with lists.replace("beta") as draft:
                await draft.add(["carol"])
                hub.script(fault)

        with pytest.raises(SuprsendAPIError) as caught:
            await replace()
        assert "may have been applied" not in str(caught.value)
    stored = hub.lists["beta"]
    assert (set(stored.members), stored.versions) == ({"ann"}, {})
    assert hub.stats.requests == 6  # create, add, start_sync, add, finish_sync, delete_version


async def test_a_delayed_run_waits_on_the_emulators_clock_and_is_cancelled() -> None:
    hub = HubEmulator(workflow_delays={"digest": 3600})
    async with served(hub, retry=RETRY) as client:

        def digest(key: str, *recipients: str) -> WorkflowTriggerRequest:
            return WorkflowTriggerRequest(
                workflow="digest", recipients=list(recipients), idempotency_key=key
            )

        for key, recipient in (("order-1", "ann"), ("order-2", "bob"), ("order-3", "cat")):
            assert (await client.workflows.trigger(digest(key, recipient))).success
        assert (await client.messages.list())["results"] == []

        by_key = await client.workflows.cancel(idempotency_key="order-1")
        assert len(by_key["execution_ids"]) == 1
        by_recipient = await client.workflows.cancel(recipients=["bob"], workflow_slug="digest")
        assert len(by_recipient["execution_ids"]) == 1
        assert await client.workflows.cancel(idempotency_key="order-1") == {"execution_ids": []}

        hub.advance(3600)
        delivered = await client.messages.list({"workflow_slug": "digest"})
        assert [m["recipient"]["distinct_id"] for m in delivered["results"]] == ["cat"]
        # Finished runs are not cancelled.
        assert await client.workflows.cancel(idempotency_key="order-3") == {"execution_ids": []}

        # A broadcast with a delay in its body, cancelled by its list.
        await client.subscriber_lists.create({"list_id": "beta"})
        await client.subscriber_lists.add("beta", ["ann"])
        body = {"list_id": "beta", "template": "t", "notification_category": "c", "delay": "1h"}
        assert (await client.subscriber_lists.broadcast(SubscriberListBroadcast(body))).success
        cancelled = await client.broadcasts.cancel(list_id="beta")
        assert len(cancelled["execution_ids"]) == 1
        hub.advance(7200)
        assert (await client.messages.list({"recipient_id": "ann"}))["results"] == []


async def test_dynamic_workflows_one_and_in_bulk() -> None:
    hub = HubEmulator()
    body = {
        "name": "Weekly digest",
        "template": "weekly-digest",
        "notification_category": "promotional",
        "users": [{"distinct_id": "ann", "$email": ["ann@example.com"]}],
    }
    async with served(hub, retry=RETRY) as client:
        one = await client.trigger_workflow(Workflow(body, idempotency_key="digest-1"))
        assert one.success, one
        bulk = client.bulk_workflows.new_instance()
        bulk.append(*(Workflow(body, idempotency_key=f"digest-b{n}") for n in range(150)))
        bulk.append({"name": "broken"})
        result = await bulk.trigger()
        assert (result.total, result.success, result.failure) == (151, 150, 1)
        assert result.failed_records[0].index == 150
        assert "template" in result.failed_records[0].error
        template = await client.templates.get("weekly-digest")
        assert template["slug"] == "weekly-digest"
    assert len(hub.triggers) == 151
    assert {t.template for t in hub.triggers} == {"weekly-digest"}


async def test_templates_answer_from_what_the_emulator_was_given() -> None:
    hub = HubEmulator(workflows={"welcome"}, templates={"receipt"})
    async with served(hub, retry=RETRY) as client:
        page = await client.templates.list()
        assert sorted(t["slug"] for t in page["results"]) == ["receipt", "welcome"]
        channel = await client.templates.get_channel("receipt", "email")
        assert channel["channel"]["slug"] == "email"
        with pytest.raises(SuprsendAPIError) as missing:
            await client.templates.get("ghost")
    assert missing.value.status_code == 404


# -- faults -------------------------------------------------------------------------------------


async def test_dropped_answers_never_apply_a_broadcast_or_a_single_shot_call_twice() -> None:
    hub = HubEmulator(workflow_delays={"digest": 60})
    # Keys are not generated: the keyless broadcast is the point.
    async with served(hub, retry=RETRY, auto_idempotency_keys=False) as client:
        lists = client.subscriber_lists
        await lists.create({"list_id": "beta"})
        hub.script(Fault.drop_after(), times=2)
        # Membership is a set: retried, and the list is exact.
        assert (await lists.add("beta", ["ann", "bob"]))["success"]

        hub.script(Fault.drop_after(), times=2)
        keyed = await lists.broadcast(launch(idempotency_key="launch-1"))
        assert (keyed.success, keyed.attempts) == (True, 3)
        hub.script(Fault.drop_after(), times=1)
        keyless = await lists.broadcast(launch())
        assert not keyless.success
        assert "not retried" in (keyless.message or "")

        trigger = WorkflowTriggerRequest(workflow="digest", recipients=["ann"])
        await client.workflows.trigger(trigger)
        hub.script(Fault.drop_after(), times=1)
        with pytest.raises(SuprsendTransportError, match="not retried: a repeat could cancel"):
            await client.workflows.cancel(recipients=["ann"], workflow_slug="digest")
        hub.script(Fault.drop_after(), times=1)
        with pytest.raises(SuprsendTransportError, match="second draft"):
            await lists.start_sync("beta")

    assert set(hub.lists["beta"].members) == {"ann", "bob"}
    assert len(hub.lists["beta"].versions) == 1  # the one start_sync made, never twice
    assert hub.stats.processed_broadcasts == 2  # the keyed one once, the keyless one once
    assert sum(run.status == "cancelled" for run in hub.runs.runs) == 1
    assert len(hub.runs.messages) == 4  # two members, two broadcasts


async def test_membership_failures_name_every_id_not_applied() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY, limits=Limits(max_list_ids_per_request=10)) as client:
        with pytest.raises(SuprsendBulkError, match="25 of 25 distinct ids") as caught:
            await client.subscriber_lists.add("missing", ids(0, 25))
        assert [f.record for f in caught.value.response.failed_records] == list(ids(0, 25))
        assert [f.index for f in caught.value.response.failed_records] == list(range(25))
        assert "list_id: missing not found" in caught.value.response.failed_records[0].error


async def test_an_id_that_is_no_text_is_refused_with_a_reason_and_the_others_are_applied() -> None:
    # A lone surrogate has no UTF-8: it cannot be sent, and must not stop the others.
    bad = "user-\ud800"
    hub = HubEmulator()
    async with served(hub, retry=RETRY, limits=Limits(max_list_ids_per_request=10)) as client:
        await client.subscriber_lists.create({"list_id": "beta"})
        streamed_ids = [*ids(0, 25), bad, *ids(25, 30)]
        with pytest.raises(SuprsendBulkError, match="1 of 31 distinct ids") as caught:
            await client.subscriber_lists.add("beta", iter(streamed_ids))
        [failure] = caught.value.response.failed_records
        assert (failure.index, failure.record, failure.code) == (25, bad, None)
        assert "lone surrogate" in failure.error
        assert set(hub.lists["beta"].members) == set(ids(0, 30))
        # A list is checked whole before anything is sent.
        before = hub.stats.requests
        with pytest.raises(SuprsendValidationError, match=r"distinct_ids\[2\].*lone surrogate"):
            await client.subscriber_lists.remove("beta", ["user-000000", "user-000001", bad])
        assert hub.stats.requests == before


# -- bad input, before anything is sent ------------------------------------------------------------


async def test_bad_input_is_refused_before_anything_is_sent() -> None:
    hub = HubEmulator()
    async with served(hub, retry=RETRY) as client:
        with pytest.raises(SuprsendValidationError, match="recipients"):
            await client.workflows.cancel(recipients="ann")  # type: ignore[arg-type]
        with pytest.raises(SuprsendValidationError, match="at least one of these filters"):
            await client.broadcasts.cancel()
        with pytest.raises(SuprsendValidationError, match=r"distinct_ids\[1\]"):
            await client.subscriber_lists.add("beta", ["ann", ""])
        with pytest.raises(SuprsendValidationError, match="distinct_ids"):
            # A str is an iterable of str to a type checker: refused at run time.
            await client.subscriber_lists.add("beta", "ann")
        with pytest.raises(SuprsendValidationError, match="list_id"):
            await client.subscriber_lists.get("..")
        # Where the official SDK quietly asks for 20 instead, a page size out of range is named.
        with pytest.raises(SuprsendValidationError, match="limit: must be from 1 to 1000"):
            await client.subscriber_lists.get_all(limit=5000)
        with pytest.raises(SuprsendValidationError, match=r"messages\[0\]\.action"):
            await client.messages.bulk_update([{"message_id": "m1"}])
        with pytest.raises(SuprsendValidationError, match="broadcast_instance"):
            await client.subscriber_lists.broadcast({"list_id": "beta"})  # type: ignore[arg-type]
    assert hub.stats.requests == 0
    with pytest.raises(SuprsendValidationError, match="users"):
        Workflow({"name": "w", "template": "t", "notification_category": "c", "users": []})


async def test_a_cancel_is_refused_unless_it_names_runs_as_the_hubs_reference_requires() -> None:
    # The hub's documented 400: one of execution_id, recipients, idempotency_key (list_id
    # for broadcasts). workflow_slug only narrows; tenant_id is no filter the reference
    # has, and a hub that ignored it would cancel the matching runs of every tenant.
    hub = HubEmulator(workflow_delays={"digest": 60})
    async with served(hub, retry=RETRY) as client:
        await client.workflows.trigger(
            WorkflowTriggerRequest(workflow="digest", recipients=["ann"], tenant_id="acme")
        )
        with pytest.raises(SuprsendValidationError) as alone:
            await client.workflows.cancel(workflow_slug="digest")
        assert alone.value.field == "execution_id / recipients / idempotency_key"
        assert "workflow_slug only narrows" in alone.value.rule
        for cancel in (
            client.workflows.cancel(idempotency_key="k", tenant_id="acme"),  # type: ignore[arg-type]
            client.broadcasts.cancel(list_id="beta", tenant_id="acme"),  # type: ignore[arg-type]
        ):
            with pytest.raises(SuprsendValidationError) as tenant:
                await cancel
            assert tenant.value.field == "tenant_id"
            assert "every tenant" in tenant.value.rule
        assert hub.stats.requests == 1  # the trigger alone
        assert [run.status for run in hub.runs.runs] == ["pending"]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("v1/workflow_run/cancel/", {"workflow_slug": "digest"}, "at least one filter"),
        ("v1/workflow_run/cancel/", {"recipients": ["ann"], "tenant_id": "acme"}, "tenant_id"),
        ("v1/broadcast_run/cancel/", {"list_id": "beta", "tenant_id": "acme"}, "tenant_id"),
    ],
)
async def test_the_emulator_refuses_a_cancel_the_hubs_reference_does_not_have(
    path: str, body: dict[str, Any], message: str
) -> None:
    hub = HubEmulator(workflow_delays={"digest": 60})
    async with serve(hub) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        async with AsyncSuprsend(
            hub.workspace_key, hub.workspace_secret, base_url=base_url
        ) as client:
            await client.workflows.trigger(
                WorkflowTriggerRequest(workflow="digest", recipients=["ann"], tenant_id="acme")
            )
        answer = await http.post(
            path, json=body, headers={"Authorization": f"Bearer {hub.api_key}"}
        )
    assert answer.status_code == 400
    assert message in answer.json()["message"]
    assert [run.status for run in hub.runs.runs] == ["pending"]


async def test_legacy_paths_need_the_workspace_with_an_api_key() -> None:
    hub = HubEmulator()
    async with serve(hub) as base_url:
        client = AsyncSuprsend.from_api_key(hub.api_key, base_url=base_url)
        async with client:
            with pytest.raises(SuprsendConfigError, match="workspace_uid"):
                await client.subscriber_lists.broadcast(launch())
            with pytest.raises(SuprsendConfigError, match="workspace_uid"):
                client.bulk_workflows.new_instance()
        client = AsyncSuprsend.from_api_key(
            hub.api_key, workspace_uid=hub.workspace_uid, base_url=base_url, retry=RETRY
        )
        async with client:
            await client.subscriber_lists.create({"list_id": "beta"})
            assert (await client.subscriber_lists.broadcast(launch())).success


# -- the emulator's own controls ------------------------------------------------------------------


def test_the_command_line_declares_delays_and_templates() -> None:
    parser = argparse.ArgumentParser()
    add_emulator_arguments(parser)
    args = parser.parse_args(
        ["--workflow-delay", "digest=3600", "--workflow-delay", "a=b=1.5", "--template", "receipt"]
    )
    hub = build_hub(args)
    assert hub.workflow_delays == {"digest": 3600.0, "a=b": 1.5}
    assert "receipt" in hub.templates
    for wrong in ("digest", "digest=-1", "=5", "digest=soon"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--workflow-delay", wrong])


async def test_the_run_clock_moves_over_http_too() -> None:
    hub = HubEmulator(workflow_delays={"digest": 60})
    async with serve(hub) as base_url:
        client = AsyncSuprsend(hub.workspace_key, hub.workspace_secret, base_url=base_url)
        async with client, httpx.AsyncClient(base_url=base_url) as control:
            trigger = WorkflowTriggerRequest(workflow="digest", recipients=["ann"])
            assert (await client.workflows.trigger(trigger)).success
            refused = await control.post("_emulator/advance", params={"seconds": "soon"})
            assert refused.status_code == 400
            assert (await client.messages.list())["results"] == []
            moved = await control.post("_emulator/advance", params={"seconds": "60"})
            assert moved.json() == {"status": "success", "advanced": 60.0}
            [message] = (await client.messages.list())["results"]
    assert message["workflow"] == {"slug": "digest"}
