"""``suprsend-async demo``: the main job, end to end, against a local emulator.

Starts the hub emulator on a free loopback port with latency and faults,
uploads generated events and workflow triggers concurrently with generated
idempotency keys, and checks with the emulator that every record was
processed exactly once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import anyio

from ._client import DEFAULT_MAX_CONNECTIONS, AsyncSuprsend
from ._core.bulk import BulkResponse
from ._progress import ProgressDisplay
from ._values.json_codec import JSON_ENCODER
from ._values.models import Event, WorkflowTriggerRequest

__all__ = ["add_demo_arguments", "run_demo"]

WORKFLOWS = ("order-shipped", "weekly-digest", "password-reset")


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--triggers", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="emulated hub latency")
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.2,
        help="share of requests hit by 503, 429, or a connection dropped before or after "
        "processing",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", action="store_true", help="print a one-line JSON summary")


def run_demo(args: argparse.Namespace) -> int:
    if args.events < 0 or args.triggers < 0 or args.concurrency < 1:
        print("suprsend-async: error: counts must be >= 0, --concurrency >= 1", file=sys.stderr)
        return 2
    try:
        from .testing import Faults, HubEmulator
    except ImportError:  # pragma: no cover - the testing extra is missing
        print("suprsend-async: error: the demo needs the 'testing' extra", file=sys.stderr)
        return 2
    try:
        faults = Faults.mix(
            args.fault_rate,
            seed=args.seed,
            latency=args.latency_ms / 1000,
            jitter=args.latency_ms / 2000,
            retry_after=0.5,
        )
    except ValueError as exc:
        print(f"suprsend-async: error: {exc}", file=sys.stderr)
        return 2
    hub = HubEmulator(workflows=WORKFLOWS, faults=faults)
    summary: dict[str, Any] = anyio.run(_demo, args, hub)
    if args.json or not sys.stdout.isatty():
        print(json.dumps(summary))
    else:
        _print_summary(summary)
    return 0 if summary["exactly_once"] and summary["lost"] == 0 else 1


def _events(count: int) -> list[Event]:
    kinds = ("order_placed", "cart_abandoned", "profile_updated")
    return [
        Event(
            f"user-{i % 5000}",
            kinds[i % len(kinds)],
            {"order_id": f"ord-{i}", "amount": round(9.5 + i % 90, 2), "items": i % 7 + 1},
        )
        for i in range(count)
    ]


def _triggers(count: int) -> list[WorkflowTriggerRequest]:
    return [
        WorkflowTriggerRequest(
            workflow=WORKFLOWS[i % len(WORKFLOWS)],
            recipients=[
                f"user-{i % 5000}",
                {"distinct_id": f"team-{i % 40}", "$channels": ["email"]},
            ],
            data={"ticket": i, "url": f"https://example.com/t/{i}"},
        )
        for i in range(count)
    ]


async def _demo(args: argparse.Namespace, hub: Any) -> dict[str, Any]:
    from .testing import serve

    interactive = sys.stderr.isatty() and not args.json
    async with serve(hub) as base_url:
        if interactive:
            print(
                f"hub emulator on {base_url}: {args.latency_ms:g} ms latency, "
                f"{args.fault_rate:.0%} of requests faulted (seed {args.seed})",
                file=sys.stderr,
            )
        client = AsyncSuprsend(
            hub.workspace_key,
            hub.workspace_secret,
            base_url=base_url,
            auto_idempotency_keys=True,
            max_concurrency=args.concurrency,
            max_connections=max(args.concurrency, DEFAULT_MAX_CONNECTIONS),
        )
        started = time.monotonic()
        async with client:
            with ProgressDisplay("events   ", enabled=interactive) as bar:
                events = await client.bulk_events.send(_events(args.events), on_progress=bar.update)
            with ProgressDisplay("workflows", enabled=interactive) as bar:
                triggers = await client.workflows.bulk_trigger(
                    _triggers(args.triggers), on_progress=bar.update
                )
        elapsed = time.monotonic() - started
    return _summary(args, hub, events, triggers, elapsed)


def _summary(
    args: argparse.Namespace,
    hub: Any,
    events: BulkResponse,
    triggers: BulkResponse,
    elapsed: float,
) -> dict[str, Any]:
    stats = hub.stats_dict()
    sent = events.success + triggers.success
    processed = stats["processed_events"] + stats["processed_triggers"]
    return {
        "events": _counts(events),
        "workflow_triggers": _counts(triggers),
        "elapsed_s": round(elapsed, 2),
        "records_per_s": round((events.total + triggers.total) / elapsed) if elapsed else None,
        "concurrency": args.concurrency,
        "json_encoder": JSON_ENCODER,
        "emulator": {
            "requests": stats["requests"],
            "faults": stats["faults"],
            "processed_events": stats["processed_events"],
            "processed_triggers": stats["processed_triggers"],
            "duplicates_suppressed": stats["duplicates_suppressed"],
            "keys_processed_more_than_once": stats["keys_processed_more_than_once"],
        },
        # Exactly once: every record the client counts as sent was processed
        # by the hub once, none twice, and none went unaccounted for.
        "exactly_once": processed == sent == stats["keys_processed"]
        and stats["keys_processed_more_than_once"] == 0,
        "lost": _lost(args, hub, events, triggers),
    }


def _lost(args: argparse.Namespace, hub: Any, events: BulkResponse, triggers: BulkResponse) -> int:
    """Records the client reports as delivered that the hub never processed.

    Counted against what the emulator recorded, record by record (each
    generated event has its own order_id, each trigger its own ticket).
    """
    failed_events = {f.index for f in events.failed_records}
    failed_triggers = {f.index for f in triggers.failed_records}
    orders = {e.properties.get("order_id") for e in hub.events}
    tickets = {t.data.get("ticket") for t in hub.triggers}
    return sum(
        i not in failed_events and f"ord-{i}" not in orders for i in range(args.events)
    ) + sum(i not in failed_triggers and i not in tickets for i in range(args.triggers))


def _counts(response: BulkResponse) -> dict[str, Any]:
    return {
        "status": response.status,
        "total": response.total,
        "success": response.success,
        "failure": response.failure,
        "retried_requests": response.retried_requests,
        "retried_records": response.retried_records,
    }


def _print_summary(s: dict[str, Any]) -> None:
    emu = s["emulator"]
    faults = ", ".join(f"{n} {kind}" for kind, n in emu["faults"].items()) or "none"
    lines = [
        "",
        f"sent in {s['elapsed_s']:.2f}s ({s['records_per_s']:,} records/s, "
        f"concurrency {s['concurrency']}, JSON by {s['json_encoder']})",
    ]
    for name, key in (("events", "events"), ("workflow triggers", "workflow_triggers")):
        c = s[key]
        lines.append(
            f"  {name:18} {c['success']:>6,} of {c['total']:,} succeeded, {c['failure']} failed, "
            f"{c['retried_requests']} requests retried ({c['retried_records']} records)"
        )
    lines += [
        f"emulator saw {emu['requests']:,} requests; faults injected: {faults}",
        f"  processed {emu['processed_events']:,} events and "
        f"{emu['processed_triggers']:,} workflow triggers; "
        f"{emu['duplicates_suppressed']} resent records deduplicated by idempotency key",
        f"  processed more than once: {emu['keys_processed_more_than_once']}, "
        f"lost: {s['lost']}  ->  "
        + ("delivered exactly once" if s["exactly_once"] and not s["lost"] else "MISMATCH"),
    ]
    print("\n".join(lines))
