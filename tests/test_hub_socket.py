"""The hub emulator on a real loopback socket: the official SDK, our client, the CLI, the plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import suprsend

from suprsend_async import AsyncSuprsend, Event, RetryPolicy, WorkflowTriggerRequest
from suprsend_async.testing import Fault, Faults, HubEmulator, serve
from tests._doubles import PATIENCE, served, wait_for

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parent.parent


def sdk(hub: HubEmulator, base_url: str, secret: str | None = None) -> Any:
    return suprsend.Suprsend(hub.workspace_key, secret or hub.workspace_secret, base_url=base_url)


async def test_official_sdk_track_event_is_accepted() -> None:
    hub = HubEmulator()
    async with serve(hub) as base_url:
        client = sdk(hub, base_url)
        event = suprsend.Event("u1", "order_paid", {"amount": 10}, idempotency_key="k1")
        result = await anyio.to_thread.run_sync(client.track_event, event)
    assert result["success"] is True, result
    [processed] = hub.events
    assert (processed.distinct_id, processed.event, processed.idempotency_key) == (
        "u1",
        "order_paid",
        "k1",
    )
    assert processed.properties["amount"] == 10


async def test_official_sdk_with_wrong_secret_is_refused() -> None:
    hub = HubEmulator()
    async with serve(hub) as base_url:
        client = sdk(hub, base_url, secret="wrong-secret")
        result = await anyio.to_thread.run_sync(
            client.track_event, suprsend.Event("u1", "order_paid")
        )
    assert result["success"] is False
    assert result["status_code"] == 401
    assert hub.events == []


async def test_official_sdk_bulk_events_across_chunks() -> None:
    hub = HubEmulator()
    async with serve(hub) as base_url:
        client = sdk(hub, base_url)

        def send() -> Any:
            bulk = client.bulk_events.new_instance()
            bulk.append(*[suprsend.Event(f"u{i}", "digest", {"i": i}) for i in range(250)])
            return bulk.trigger()

        result = await anyio.to_thread.run_sync(send)
    assert (result.status, result.total, result.success) == ("success", 250, 250)
    assert sorted(e.properties["i"] for e in hub.events) == list(range(250))
    assert hub.stats.statuses[207] == 3  # 100 + 100 + 50


async def test_official_sdk_workflow_triggers_single_and_bulk() -> None:
    hub = HubEmulator(workflows={"welcome"})
    async with serve(hub) as base_url:
        client = sdk(hub, base_url)
        body = {"workflow": "welcome", "recipients": ["u0"], "data": {"n": 0}}
        single = await anyio.to_thread.run_sync(
            client.workflows.trigger, suprsend.WorkflowTriggerRequest(body)
        )

        def send_bulk() -> Any:
            bulk = client.workflows.bulk_trigger_instance()
            bulk.append(
                *[
                    suprsend.WorkflowTriggerRequest(
                        {"workflow": "welcome", "recipients": [f"u{i}"], "data": {"n": i}}
                    )
                    for i in range(1, 151)
                ]
            )
            return bulk.trigger()

        bulk = await anyio.to_thread.run_sync(send_bulk)
    assert single["success"] is True, single
    assert (bulk.status, bulk.total, bulk.success) == ("success", 150, 150)
    assert sorted(t.data["n"] for t in hub.triggers) == list(range(151))


async def test_our_client_over_a_socket_with_every_fault_kind() -> None:
    hub = HubEmulator(workflows={"welcome"})
    hub.script(Fault.error(503))
    hub.script(Fault.rate_limit(0))
    hub.script(Fault.drop_before())
    hub.script(Fault.drop_after())
    async with served(
        hub,
        retry=RetryPolicy(attempts=5, wait_initial=0, wait_max=0, wait_jitter=0),
        auto_idempotency_keys=False,  # the trigger is keyless: one attempt, one record
    ) as client:
        event = await client.track_event(Event("u1", "paid", idempotency_key="k1"))
        trigger = await client.workflows.trigger(
            WorkflowTriggerRequest(workflow="welcome", recipients=["u1"])
        )
    assert event.success
    assert event.attempts == 5  # 503, 429, dropped, lost answer, then the duplicate ack
    assert trigger.success
    assert trigger.attempts == 1
    assert hub.stats.faults == {"error": 1, "rate_limit": 1, "drop_before": 1, "drop_after": 1}
    assert hub.processed_keys == {"k1": 1}
    assert hub.stats.duplicates_suppressed == 1


async def test_latency_is_applied_to_concurrent_requests() -> None:
    # Latency far longer than the test: six concurrent calls all wait inside the hub at
    # once (latency applied per request, not one request at a time), and none is answered.
    hub = HubEmulator(faults=Faults(latency=600.0))
    async with serve(hub) as base_url:
        client = AsyncSuprsend(hub.workspace_key, hub.workspace_secret, base_url=base_url)
        async with client, anyio.create_task_group() as tg:
            for i in range(6):
                tg.start_soon(client.track_event, Event(f"u{i}", "paid"))
            await wait_for(lambda: hub.stats.in_flight == 6)
            assert hub.stats.max_in_flight == 6
            assert hub.stats.processed_events == 0
            tg.cancel_scope.cancel()


async def test_server_closes_cleanly_and_a_new_one_gets_a_new_port() -> None:
    hub = HubEmulator()
    async with serve(hub) as first, httpx.AsyncClient() as http:
        assert (await http.get(first + "_emulator/stats")).status_code == 200
    async with serve(hub) as second:
        assert second.startswith("http://127.0.0.1:")
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as http:
            await http.get(first + "_emulator/stats")


async def test_malformed_http_gets_400_not_a_crash() -> None:
    hub = HubEmulator()
    async with serve(hub) as base_url:
        port = int(base_url.rsplit(":", 1)[1].strip("/"))
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            await stream.send(b"NOT HTTP AT ALL\r\n\r\n")
            reply = await stream.receive()
        assert reply.startswith(b"HTTP/1.1 400")
        async with httpx.AsyncClient() as http:  # the server still serves others
            assert (await http.get(base_url + "_emulator/stats")).status_code == 200


# -- the command line ----------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


async def test_emulator_command_serves_and_reports_its_address() -> None:
    command = [sys.executable, "-m", "suprsend_async.testing", "--json-status", "--workflow", "w"]
    process = await anyio.open_process(command, env=_env())
    try:
        assert process.stdout is not None
        buffer = b""
        with anyio.fail_after(PATIENCE):  # a guard against a hang, nothing is timed
            while not buffer.endswith(b"\n"):
                buffer += await process.stdout.receive()
        info = json.loads(buffer)
        client = AsyncSuprsend(
            info["workspace_key"], info["workspace_secret"], base_url=info["base_url"]
        )
        async with client:
            ok = await client.workflows.trigger(
                WorkflowTriggerRequest(workflow="w", recipients=["u"])
            )
            missing = await client.workflows.trigger(
                WorkflowTriggerRequest(workflow="other", recipients=["u"])
            )
        assert ok.success
        assert missing.status_code == 404
        async with httpx.AsyncClient() as http:
            stats = (await http.get(info["stats_url"])).json()
        assert stats["processed_triggers"] == 1
    finally:
        process.terminate()
        await process.wait()


def test_emulator_command_refuses_impossible_fault_rates() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "suprsend_async.testing",
            "--error-rate",
            "0.5",
            "--fault-rate",
            "0.8",
        ],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "add up" in result.stderr
