"""The emulator command line (`suprsend-async emulator`, `python -m suprsend_async.testing`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

import anyio

from ._faults import Faults
from ._hub import DEFAULT_API_KEY, DEFAULT_WORKSPACE_KEY, DEFAULT_WORKSPACE_SECRET, HubEmulator
from ._server import serve

__all__ = ["add_emulator_arguments", "build_hub", "run_emulator"]


def add_emulator_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--workspace-key", default=DEFAULT_WORKSPACE_KEY)
    parser.add_argument("--workspace-secret", default=DEFAULT_WORKSPACE_SECRET)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument(
        "--workflow",
        action="append",
        metavar="SLUG",
        help="a workflow that exists (repeat); without any, every slug is accepted",
    )
    faults = parser.add_argument_group("latency and faults (seeded, reproducible)")
    faults.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    faults.add_argument("--jitter-ms", type=float, default=0.0, help="plus uniform 0..jitter")
    faults.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        help="share of requests faulted, split evenly over 503, 429, drop before and "
        "drop after processing",
    )
    faults.add_argument("--error-rate", type=float, default=0.0, help="503 answers")
    faults.add_argument("--rate-limit-rate", type=float, default=0.0, help="429 answers")
    faults.add_argument("--drop-before-rate", type=float, default=0.0)
    faults.add_argument("--drop-after-rate", type=float, default=0.0)
    faults.add_argument("--retry-after", type=float, default=1.0, help="seconds, on 429")
    faults.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-records",
        action="store_true",
        help="keep counters only, not every processed record (for very long runs)",
    )
    parser.add_argument(
        "--json-status",
        action="store_true",
        help="print the base URL and credentials as one JSON line (for scripts)",
    )


def build_hub(args: argparse.Namespace) -> HubEmulator:
    share = args.fault_rate / 4
    faults = Faults(
        latency=args.latency_ms / 1000,
        jitter=args.jitter_ms / 1000,
        error_rate=args.error_rate + share,
        rate_limit_rate=args.rate_limit_rate + share,
        drop_before_rate=args.drop_before_rate + share,
        drop_after_rate=args.drop_after_rate + share,
        retry_after=args.retry_after,
        seed=args.seed,
    )
    return HubEmulator(
        workspaces={args.workspace_key: args.workspace_secret},
        api_keys={args.api_key: args.workspace_key},
        workflows=args.workflow,
        faults=faults,
        keep_records=not args.no_records,
    )


def run_emulator(args: argparse.Namespace) -> int:
    try:
        hub = build_hub(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def main() -> None:
        async with serve(hub, host=args.host, port=args.port) as base_url:
            info: dict[str, Any] = {
                "base_url": base_url,
                "workspace_key": hub.workspace_key,
                "workspace_secret": hub.workspace_secret,
                "api_key": hub.api_key,
                "stats_url": base_url + "_emulator/stats",
            }
            if args.json_status:
                print(json.dumps(info), flush=True)
            else:
                print(f"SuprSend hub emulator listening on {base_url}", flush=True)
                for name in ("workspace_key", "workspace_secret", "api_key", "stats_url"):
                    print(f"  {name:17} {info[name]}")
                print(f"  faults            {hub.faults}")
                print("Ctrl-C to stop.", flush=True)
            await anyio.sleep_forever()

    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(main)
    print(json.dumps(hub.stats_dict()), file=sys.stderr, flush=True)
    return 0
