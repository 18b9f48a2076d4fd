"""The emulator command line (`suprsend-async emulator`, `python -m suprsend_async.testing`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
from typing import Any

import anyio

from ._faults import Faults
from ._hub import (
    DEFAULT_API_KEY,
    DEFAULT_WORKSPACE_KEY,
    DEFAULT_WORKSPACE_SECRET,
    DEFAULT_WORKSPACE_UID,
    HubEmulator,
)
from ._server import (
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_BODY_BYTES,
    serve,
)

__all__ = ["add_emulator_arguments", "build_hub", "run_emulator"]


def add_emulator_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--workspace-key", default=DEFAULT_WORKSPACE_KEY)
    parser.add_argument("--workspace-secret", default=DEFAULT_WORKSPACE_SECRET)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument(
        "--workspace-uid",
        default=DEFAULT_WORKSPACE_UID,
        help="what API-key clients call the workspace (env, legacy paths)",
    )
    parser.add_argument(
        "--workflow",
        action="append",
        metavar="SLUG",
        help="a workflow that exists (repeat); without any, every slug is accepted",
    )
    parser.add_argument(
        "--workflow-delay",
        action="append",
        metavar="SLUG=SECONDS",
        type=_workflow_delay,
        help="runs of this workflow wait this long on the emulator's clock, cancellable"
        " until then (repeat); POST /_emulator/advance?seconds=N moves the clock",
    )
    parser.add_argument(
        "--template",
        action="append",
        metavar="SLUG",
        help="a template the templates API knows (repeat), besides each --workflow's slug",
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
    server = parser.add_argument_group("server")
    server.add_argument(
        "--header-timeout",
        type=float,
        default=DEFAULT_HEADER_TIMEOUT,
        help="seconds for a request's headers, and then its body, to arrive (default %(default)s)",
    )
    server.add_argument(
        "--idle-timeout",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT,
        help="seconds a kept-alive connection may idle (default %(default)s)",
    )
    server.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help="larger request bodies get 413 (default %(default)s)",
    )
    parser.add_argument(
        "--json-status",
        action="store_true",
        help="print the base URL and credentials as one JSON line (for scripts)",
    )


def _workflow_delay(text: str) -> tuple[str, float]:
    slug, sep, seconds = text.rpartition("=")
    try:
        delay = float(seconds)
    except ValueError:
        delay = -1.0
    if not sep or not slug.strip() or not delay >= 0:
        raise argparse.ArgumentTypeError(f"expected SLUG=SECONDS (seconds >= 0), got {text!r}")
    return slug.strip(), delay


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
        workspace_uids={args.workspace_key: args.workspace_uid},
        workflows=args.workflow,
        workflow_delays=dict(args.workflow_delay or ()),
        templates=args.template,
        faults=faults,
        keep_records=not args.no_records,
    )


def run_emulator(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM, then exit 0: being stopped is how a server ends
    normally, and wrapper scripts under ``set -e`` should not see a failure. The
    stats go to stderr. 2 for a usage error, a port in use included."""
    try:
        for flag in ("header_timeout", "idle_timeout", "max_body_bytes"):
            if not getattr(args, flag) > 0:
                raise ValueError(f"--{flag.replace('_', '-')} must be positive")
        hub = build_hub(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="emulator: %(message)s")

    cannot_listen: list[OSError] = []

    async def main() -> None:
        # While the receiver is open, SIGINT and SIGTERM are only messages: a
        # second Ctrl-C during shutdown cannot interrupt it halfway.
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with anyio.create_task_group() as tg:
                try:
                    await tg.start(_serve_and_announce, hub, args)
                except OSError as exc:  # the port is taken, the host is not this machine's
                    cannot_listen.append(exc)
                    return
                async for _ in signals:
                    tg.cancel_scope.cancel()
                    break

    try:
        # A Ctrl-C before the receiver opens, or just as it closes, ends the run
        # the same way: no traceback, exit 0.
        with contextlib.suppress(KeyboardInterrupt):
            anyio.run(main)
    finally:
        # Closing the receiver restored the default handlers; a late signal
        # now would kill the process mid-report, or at exit.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if cannot_listen:
        print(
            f"error: cannot listen on {args.host}:{args.port}: {cannot_listen[0]}", file=sys.stderr
        )
        return 2
    print(json.dumps(hub.stats_dict()), file=sys.stderr, flush=True)
    return 0


async def _serve_and_announce(
    hub: HubEmulator,
    args: argparse.Namespace,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    options = {
        "header_timeout": args.header_timeout,
        "idle_timeout": args.idle_timeout,
        "max_body_bytes": args.max_body_bytes,
    }
    async with serve(hub, host=args.host, port=args.port, **options) as base_url:
        info: dict[str, Any] = {
            "base_url": base_url,
            "workspace_key": hub.workspace_key,
            "workspace_secret": hub.workspace_secret,
            "api_key": hub.api_key,
            "workspace_uid": hub.workspace_uid,
            "stats_url": base_url + "_emulator/stats",
        }
        if args.json_status:
            print(json.dumps(info), flush=True)
        else:
            print(f"SuprSend hub emulator listening on {base_url}", flush=True)
            for name in ("workspace_key", "workspace_secret", "api_key", "workspace_uid"):
                print(f"  {name:17} {info[name]}")
            print(f"  {'stats_url':17} {info['stats_url']}")
            print(f"  faults            {hub.faults}")
            print("Ctrl-C to stop.", flush=True)
        task_status.started()
        await anyio.sleep_forever()
