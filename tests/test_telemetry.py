"""OpenTelemetry: spans and counters for single calls and bulk uploads, read back through the
SDK's in-memory span exporter and metric reader; and nothing imported without the API package.

The SDK is installed as the process's global providers once (as an application would); each
test clears the exporter and reads counters as deltas since the previous read.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from suprsend_async import (
    AsyncSuprsend,
    Event,
    RetryPolicy,
    SuprsendAPIError,
    WorkflowTriggerRequest,
)
from suprsend_async.testing import Faults, HubEmulator, serve
from tests._doubles import Gate, served, served_through

REPO = Path(__file__).resolve().parent.parent
SPANS = InMemorySpanExporter()
METRICS = InMemoryMetricReader(preferred_temporality={Counter: AggregationTemporality.DELTA})
_installed = False


@pytest.fixture
def otel() -> Iterator[None]:
    global _installed
    if not _installed:  # global providers can be set once per process
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(SPANS))
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[METRICS]))
        _installed = True
    SPANS.clear()
    METRICS.get_metrics_data()  # start the deltas here
    yield
    SPANS.clear()


def counters() -> dict[str, list[tuple[dict[str, Any], int]]]:
    """Counter name -> [(attributes, value added since the last read)]."""
    found: dict[str, list[tuple[dict[str, Any], int]]] = {}
    data = METRICS.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            if scope.scope.name != "suprsend_async":
                continue
            for metric in scope.metrics:
                points = [
                    (dict(p.attributes or {}), int(getattr(p, "value", 0)))
                    for p in metric.data.data_points
                ]
                found[metric.name] = [p for p in points if p[1]]
    return found


def total(points: list[tuple[dict[str, Any], int]]) -> int:
    return sum(value for _, value in points)


def all_attribute_values(spans: tuple[ReadableSpan, ...]) -> str:
    return " ".join(str(v) for span in spans for v in (span.attributes or {}).values())


@pytest.mark.anyio
@pytest.mark.usefixtures("otel")
async def test_a_single_call_has_a_span_with_one_child_per_attempt_and_counters() -> None:
    hub = HubEmulator()
    hub.fail_next(1, status=503)
    async with served(hub, retry=RetryPolicy.instant()) as client:
        response = await client.track_event(
            Event("user-private", "order_paid", {"card": "4242-private"}, "order-42")
        )
    assert response.success
    spans = SPANS.get_finished_spans()
    [call] = [s for s in spans if s.name == "suprsend track_event"]
    attempts = [s for s in spans if s.name == "POST /v2/event/"]
    assert call.kind == SpanKind.INTERNAL
    assert dict(call.attributes or {}) == {
        "suprsend.operation": "track_event",
        "http.request.method": "POST",
        "url.template": "/v2/event/",
        "http.response.status_code": 202,
        "suprsend.attempts": 2,
        "suprsend.records": 1,
        "suprsend.records.failed": 0,
        "suprsend.records.retried": 1,
    }
    assert call.status.status_code == StatusCode.UNSET
    assert [a.attributes and a.attributes["http.response.status_code"] for a in attempts] == [
        503,
        202,
    ]
    assert all(a.kind == SpanKind.CLIENT for a in attempts)
    assert all(a.parent is not None and a.parent.span_id == call.context.span_id for a in attempts)
    assert attempts[0].status.status_code == StatusCode.ERROR
    assert (attempts[0].attributes or {}).get("server.address") == "127.0.0.1"
    values = all_attribute_values(spans)
    for private in ("user-private", "4242-private", "order-42", hub.workspace_secret):
        assert private not in values
    seen = counters()
    assert sorted(
        (a["http.response.status_code"], v) for a, v in seen["suprsend.client.requests"]
    ) == [(202, 1), (503, 1)]
    assert seen["suprsend.client.records.sent"] == [({"suprsend.operation": "track_event"}, 1)]
    assert seen["suprsend.client.records.retried"] == [({"suprsend.operation": "track_event"}, 1)]
    assert (
        "suprsend.client.records.failed" not in seen or not seen["suprsend.client.records.failed"]
    )


@pytest.mark.anyio
@pytest.mark.usefixtures("otel")
async def test_a_call_with_no_answer_is_an_error_span_with_the_error_type() -> None:
    hub = HubEmulator()
    async with serve(hub) as base_url:
        pass  # the port is free again: nothing answers there
    async with AsyncSuprsend(
        hub.workspace_key, hub.workspace_secret, base_url=base_url, retry=RetryPolicy.disabled()
    ) as client:
        response = await client.workflows.trigger(
            WorkflowTriggerRequest(workflow="welcome", recipients=["u1"])
        )
    assert response.status_code is None
    spans = SPANS.get_finished_spans()
    [call] = [s for s in spans if s.name == "suprsend workflows.trigger"]
    [attempt] = [s for s in spans if s.name == "POST /trigger/"]
    assert call.status.status_code == StatusCode.ERROR
    assert (call.attributes or {}).get("error.type") == "transport"
    assert "http.response.status_code" not in (call.attributes or {})
    assert (attempt.attributes or {}).get("error.type") == "ConnectError"
    seen = counters()
    assert seen["suprsend.client.records.failed"] == [
        ({"suprsend.operation": "workflows.trigger"}, 1)
    ]
    [(labels, count)] = seen["suprsend.client.requests"]
    assert (labels["error.type"], count) == ("ConnectError", 1)


@pytest.mark.anyio
@pytest.mark.usefixtures("otel")
async def test_a_bulk_upload_has_one_call_span_its_requests_and_record_counters() -> None:
    hub = HubEmulator()
    hub.fail_next(1, status=503)  # one request of the three is retried
    events: list[Any] = [Event(f"u{i}", "digest", idempotency_key=f"d-{i}") for i in range(250)]
    events[7] = {"distinct_id": "u7", "event": "$reserved"}  # invalid: fails without being sent
    async with served(
        hub,
        retry=RetryPolicy.instant(),
        max_concurrency=1,  # the 503 falls on the first request: counts are exact
    ) as client:
        response = await client.bulk_events.send(events)
    assert (response.success, response.failure, response.retried_records) == (249, 1, 100)
    spans = SPANS.get_finished_spans()
    [call] = [s for s in spans if s.name == "suprsend bulk_events.send"]
    requests = [s for s in spans if s.name == "POST /v2/bulk/event/"]
    assert len(requests) == 4  # three chunks, one of them twice
    assert all(r.parent is not None and r.parent.span_id == call.context.span_id for r in requests)
    attributes = dict(call.attributes or {})
    assert {k: attributes[k] for k in attributes if k.startswith("suprsend.")} == {
        "suprsend.operation": "bulk_events.send",
        "suprsend.attempts": 4,
        "suprsend.records": 250,
        "suprsend.records.failed": 1,
        "suprsend.records.retried": 100,
    }
    assert call.status.status_code == StatusCode.UNSET  # partly failed is not an error
    seen = counters()
    assert total(seen["suprsend.client.requests"]) == 4
    labels = {"suprsend.operation": "bulk_events.send"}
    assert seen["suprsend.client.records.sent"] == [(labels, 249)]
    assert seen["suprsend.client.records.failed"] == [(labels, 1)]
    assert seen["suprsend.client.records.retried"] == [(labels, 100)]


@pytest.mark.anyio
@pytest.mark.usefixtures("otel")
async def test_users_calls_are_named_by_their_path_template_and_never_carry_an_id() -> None:
    hub = HubEmulator()
    hub.fail_next(1, status=503)  # the upsert is retried once
    async with served(hub, retry=RetryPolicy.instant()) as client:
        await client.users.upsert("ann@private.example", {"card": "4242-private"})
        with pytest.raises(SuprsendAPIError):  # the hub's message names the id
            await client.users.get("bob@private.example")
    spans = SPANS.get_finished_spans()
    assert [s.name for s in spans] == [
        "POST /v1/user/{distinct_id}/",
        "POST /v1/user/{distinct_id}/",
        "suprsend POST v1/user/{distinct_id}/",
        "GET /v1/user/{distinct_id}/",
        "suprsend GET v1/user/{distinct_id}/",
    ]
    upsert, get = spans[2], spans[4]
    assert dict(upsert.attributes or {}) == {
        "suprsend.operation": "POST v1/user/{distinct_id}/",
        "http.request.method": "POST",
        "url.template": "/v1/user/{distinct_id}/",
        "http.response.status_code": 201,
        "suprsend.attempts": 2,
        "suprsend.records": 1,
        "suprsend.records.failed": 0,
        "suprsend.records.retried": 1,
    }
    # A failed call is an error span with its type and attempts, and nothing else about it:
    # the exception's message (the hub's, naming the user) is not recorded anywhere.
    assert get.status.status_code == StatusCode.ERROR
    assert (get.attributes or {})["http.response.status_code"] == 404
    assert (get.attributes or {})["suprsend.attempts"] == 1
    everything = all_attribute_values(spans) + " ".join(
        f"{s.name} {s.status.description} {[(e.name, dict(e.attributes or {})) for e in s.events]}"
        for s in spans
    )
    for private in ("ann@private", "bob@private", "4242-private", hub.workspace_secret):
        assert private not in everything
    seen = counters()
    # Each request counted; a read is not a record, so a lookup that fails is not a failed one.
    assert total(seen["suprsend.client.requests"]) == 3
    assert seen["suprsend.client.records.sent"] == [
        ({"suprsend.operation": "POST v1/user/{distinct_id}/"}, 1)
    ]
    assert not seen.get("suprsend.client.records.failed")


@pytest.mark.anyio
@pytest.mark.usefixtures("otel")
async def test_a_bulk_user_edit_is_its_own_operation() -> None:
    hub = HubEmulator()
    async with (
        serve(hub) as base_url,
        AsyncSuprsend(hub.workspace_key, hub.workspace_secret, base_url=base_url) as client,
    ):
        bulk = client.users.get_bulk_edit_instance()
        bulk.append(
            *(client.users.get_edit_instance(f"u{i}").set("plan", "free") for i in range(3))
        )
        assert (await bulk.save()).success == 3
    [call] = [s for s in SPANS.get_finished_spans() if s.name.startswith("suprsend ")]
    assert call.name == "suprsend users.bulk_edit"
    assert (call.attributes or {})["suprsend.records"] == 3
    assert counters()["suprsend.client.records.sent"] == [
        ({"suprsend.operation": "users.bulk_edit"}, 3)
    ]


@pytest.mark.anyio
@pytest.mark.usefixtures("otel")
async def test_an_error_raised_through_a_call_is_recorded_by_its_type_only() -> None:
    hub = HubEmulator()

    def private_records() -> Iterator[Event]:
        yield Event("u1", "digest")
        raise ValueError("row for ann@private.example is corrupt")

    async with hub.client() as client:
        with pytest.raises(ValueError, match="corrupt"):
            await client.bulk_events.send(private_records())
    [call] = SPANS.get_finished_spans()[-1:]
    assert call.name == "suprsend bulk_events.send"
    assert call.status.status_code == StatusCode.ERROR
    assert (call.attributes or {})["error.type"] == "ValueError"
    assert call.events == ()  # no exception event: its message may hold anything
    assert "ann@private" not in str(call.status.description)


NO_OTEL = textwrap.dedent(
    """
    import sys, anyio

    class NoOpenTelemetry:
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ImportError(f"blocked: {name}")
            return None

    sys.meta_path.insert(0, NoOpenTelemetry())
    from suprsend_async import Event
    from suprsend_async.testing import HubEmulator

    async def main():
        hub = HubEmulator()
        async with hub.client() as client:
            assert (await client.track_event(Event("u1", "signed_up"))).success
            assert (await client.bulk_events.send([Event("u2", "signed_up")])).success == 1
            assert (await client.users.upsert("u3", {"plan": "pro"}))["distinct_id"] == "u3"

    anyio.run(main)
    print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
    """
)


def test_without_the_api_package_nothing_is_imported_and_calls_work() -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", NO_OTEL], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


PROVIDERS_SET_LATER = textwrap.dedent(
    """
    import anyio
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from suprsend_async import Event
    from suprsend_async.testing import HubEmulator

    made = []
    real_start = trace.ProxyTracer.start_as_current_span

    def counted(self, *args, **kwargs):
        made.append(args[0])
        return real_start(self, *args, **kwargs)

    trace.ProxyTracer.start_as_current_span = counted
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()

    async def main():
        hub = HubEmulator()
        async with hub.client() as client:
            assert (await client.track_event(Event("u1", "signed_up"))).success
            assert (await client.bulk_events.send([Event("u2", "signed_up")])).success == 1
            print("before:", len(made))
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(spans))
            trace.set_tracer_provider(provider)
            metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
            assert (await client.track_event(Event("u3", "signed_up"))).success
        print("after:", sorted(s.name for s in spans.get_finished_spans()))

    anyio.run(main)
    """
)


def test_with_the_api_but_no_sdk_no_span_is_made_until_an_app_sets_the_providers() -> None:
    """OpenTelemetry installed for another package costs a call nothing (no no-op
    span or counter is made), and a client made before the app configures the SDK
    still reports once it has."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", PROVIDERS_SET_LATER],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "before: 0",
        "after: ['POST /v2/event/', 'suprsend track_event']",
    ]


def test_importing_the_library_does_not_import_opentelemetry() -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    code = (
        "import sys, suprsend_async; print(any(m.startswith('opentelemetry') for m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip() == "False", done.stderr


@pytest.mark.anyio
@pytest.mark.usefixtures("otel")
async def test_a_call_cancelled_before_its_answer_counts_no_record_as_sent() -> None:
    hub = HubEmulator()
    hub.faults = Faults(latency=60.0)  # the answer never comes before the cancel
    async with hub.client(retry=RetryPolicy.disabled()) as client:
        with anyio.move_on_after(0.05):
            await client.track_event(Event("u1", "ev_x"))
    found = counters()
    assert total(found.get("suprsend.client.records.sent", [])) == 0
    [span] = [s for s in SPANS.get_finished_spans() if s.name == "suprsend track_event"]
    assert span.status.status_code is StatusCode.ERROR


@pytest.mark.anyio
@pytest.mark.usefixtures("otel")
async def test_a_background_sender_counts_records_by_outcome_and_gauges_its_queue() -> None:
    hub = HubEmulator()
    gate = Gate(hub)  # holds the hub's answers until the gauge is read
    outcomes: collections.Counter[str] = collections.Counter()

    def read() -> dict[str, list[tuple[dict[str, Any], int]]]:
        found = counters()
        for attributes, value in found.get("suprsend.background.records", []):
            outcomes[attributes["suprsend.outcome"]] += value
        return found

    async with (
        served_through(gate, hub) as client,
        client.background(max_queue=3, when_full="drop_new") as sender,
    ):
        for i in range(4):
            await sender.track_event(Event(f"u{i}", "order_placed"))
        await gate.holding.wait()
        assert read()["suprsend.background.queue.depth"] == [({"suprsend.spool": "memory"}, 3)]
        gate.open()
        assert await sender.drain(timeout=60)
    read()
    assert outcomes == {"accepted": 3, "dropped": 1, "sent": 3}
