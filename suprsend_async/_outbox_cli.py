"""The outbox's commands: ``outbox-worker`` and ``outbox install|status|retry|purge``.

Registered by ``_cli`` with two calls; kept here so the outbox's options live
in one place. ``suprsend_async.outbox`` (asyncpg, pgqueuer) is imported only
when one of these commands runs, so the tool works without the extra.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from ._client import AsyncSuprsend
    from .outbox import PostgresOutbox

__all__ = ["COMMANDS", "add_outbox_commands", "run_outbox_command"]

COMMANDS = ("outbox-worker", "outbox")
DSN_VAR = "SUPRSEND_OUTBOX_DSN"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _dsn_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dsn",
        default=None,
        help=f"the PostgreSQL DSN (default: {DSN_VAR}; prefer the environment for a password)",
    )


def add_outbox_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    connection: argparse.ArgumentParser,
) -> None:
    """Add the outbox's subcommands; ``connection`` is the hub connection options' parent."""
    worker = sub.add_parser(
        "outbox-worker",
        parents=[connection],
        help="deliver the PostgreSQL outbox's records to SuprSend (run any number, anywhere)",
    )
    _dsn_option(worker)
    worker.add_argument(
        "--exit-when-empty",
        action="store_true",
        help="exit once nothing is queued or in flight (batch jobs, tests)",
    )
    worker.add_argument("--batch-size", type=int, default=1000, help="records per dequeue")
    worker.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    worker.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=30.0,
        help="seconds without a heartbeat before another worker takes a batch over",
    )
    worker.add_argument(
        "--poll-interval", type=float, default=5.0, help="seconds between looks at an idle queue"
    )
    worker.add_argument(
        "--requeue-after",
        type=float,
        default=10.0,
        help="seconds before a record that failed for a passing reason is tried again (doubles)",
    )
    worker.add_argument(
        "--max-deliveries",
        type=int,
        default=20,
        help="deliveries before a record is kept as failed",
    )

    outbox = sub.add_parser("outbox", help="install or inspect the PostgreSQL outbox")
    actions = outbox.add_subparsers(dest="action", required=True)
    _dsn_option(actions.add_parser("install", help="create pgqueuer's tables and the outbox's"))
    status = actions.add_parser("status", help="queued, in flight and failed records (JSON)")
    _dsn_option(status)
    status.add_argument("--limit", type=int, default=20, help="failed records to list")
    retry = actions.add_parser("retry", help="queue failed records again (all, or --id)")
    _dsn_option(retry)
    retry.add_argument("--id", type=int, action="append", dest="ids", metavar="ID")
    purge = actions.add_parser("purge", help="delete failed records (--id, or --all)")
    _dsn_option(purge)
    chosen = purge.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--id", type=int, action="append", dest="ids", metavar="ID")
    chosen.add_argument("--all", action="store_true", help="every failed record")


class OutboxUsageError(Exception):
    pass


def _outbox(args: argparse.Namespace) -> PostgresOutbox:
    dsn = args.dsn or os.environ.get(DSN_VAR)
    if not dsn:
        raise OutboxUsageError(f"give --dsn or set {DSN_VAR}")
    try:
        from .outbox import PostgresOutbox
    except ImportError as exc:
        raise OutboxUsageError(str(exc)) from None
    return PostgresOutbox(dsn)


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, default=str))


async def _watch_signals(stop: anyio.Event, abandon: anyio.Event) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            if not stop.is_set():
                print(
                    "outbox-worker: stopping: finishing the batch out (again to abandon it)",
                    file=sys.stderr,
                )
                stop.set()
            else:
                print(
                    "outbox-worker: abandoning the batch: its records go back to the queue",
                    file=sys.stderr,
                )
                abandon.set()


async def _worker(args: argparse.Namespace, make_client: Callable[..., AsyncSuprsend]) -> int:
    if args.concurrency < 1:
        raise OutboxUsageError("--concurrency must be at least 1")
    from .outbox import OutboxWorker, WorkerSettings

    settings = WorkerSettings(
        exit_when_empty=args.exit_when_empty,
        batch_size=args.batch_size,
        heartbeat_timeout=args.heartbeat_timeout,
        poll_interval=args.poll_interval,
        requeue_after=args.requeue_after,
        max_deliveries=args.max_deliveries,
    )
    outbox = _outbox(args)
    client = make_client(
        args, max_concurrency=args.concurrency, max_connections=max(args.concurrency, 100)
    )
    stop, abandon = anyio.Event(), anyio.Event()
    async with outbox, client, anyio.create_task_group() as tg:
        tg.start_soon(_watch_signals, stop, abandon)
        try:
            report = await OutboxWorker(outbox, client, settings).run(stop=stop, abandon=abandon)
        finally:
            tg.cancel_scope.cancel()
    _print_json(report.to_dict())
    return EXIT_OK


async def _manage(args: argparse.Namespace) -> int:
    async with _outbox(args) as outbox:
        if args.action == "install":
            await outbox.install()
            _print_json({"installed": True})
        elif args.action == "status":
            if args.limit < 0:
                raise OutboxUsageError("--limit must not be negative")
            status = (await outbox.status()).to_dict()
            failures = await outbox.failures(limit=args.limit) if args.limit else []
            _print_json({**status, "failures": [f.to_dict() for f in failures]})
        elif args.action == "retry":
            _print_json({"requeued": await outbox.retry(args.ids)})
        else:
            _print_json({"purged": await outbox.purge(None if args.all else args.ids)})
    return EXIT_OK


def run_outbox_command(args: argparse.Namespace, make_client: Callable[..., AsyncSuprsend]) -> int:
    """Run an outbox command (asyncio: asyncpg's loop). Exit codes as the tool's."""
    try:
        if args.command == "outbox-worker":
            return int(anyio.run(_worker, args, make_client))
        return int(anyio.run(_manage, args))
    except OutboxUsageError as exc:
        print(f"suprsend-async: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        # A database that cannot be reached or refuses: its message, never the DSN.
        import asyncpg

        cause = _sole(exc)
        if isinstance(cause, (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)):
            print(
                f"suprsend-async: database error: {type(cause).__name__}: {cause}", file=sys.stderr
            )
            return EXIT_FAILED
        if cause is not exc:
            raise cause from None  # the tool's own handlers know it (a config error: exit 2)
        raise


def _sole(exc: BaseException) -> BaseException:
    """The one error inside (nested) exception groups of one, or ``exc`` itself."""
    inner = getattr(exc, "exceptions", None)
    while isinstance(inner, tuple) and len(inner) == 1:
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc
