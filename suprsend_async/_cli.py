"""The ``suprsend-async`` command line tool (also ``python -m suprsend_async``).

Exit codes: 0 everything succeeded, 1 some records failed (or the run was
interrupted), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import httpx

from ._client import DEFAULT_MAX_CONNECTIONS, AsyncSuprsend
from ._core.bulk import BulkResponse, run_bulk
from ._core.environment import credentials_from
from ._core.spool import Spool, holder_of
from ._core.transport import DEFAULT_TIMEOUT, user_agent
from ._outbox_cli import COMMANDS as OUTBOX_COMMANDS
from ._outbox_cli import add_outbox_commands, run_outbox_command
from ._progress import ProgressDisplay
from ._values.errors import (
    SuprsendConfigError,
    SuprsendSpoolError,
    SuprsendTransportError,
    SuprsendValidationError,
)
from ._values.limits import DEFAULT_LIMITS
from ._values.models import Event, WorkflowTriggerRequest
from ._version import __version__
from ._wire.chunking import ChunkBuilder, TooLarge
from ._wire.jsonl import FailedOutput, JsonlSource, bad_line_entry, failed_entry, unknown_entry
from ._wire.responses import TriggerResponse
from ._wire.serialization import Serializer
from .resources.events import EVENT_RECORDS
from .resources.workflows import TRIGGER_RECORDS

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _UsageError(Exception):
    pass


# -- arguments ---------------------------------------------------------------------


def _connection_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection (flags win over the environment)")
    group.add_argument("--workspace-key", help="or SUPRSEND_WORKSPACE_KEY")
    group.add_argument(
        "--workspace-secret",
        help="or SUPRSEND_WORKSPACE_SECRET (prefer the environment: flags show in `ps`)",
    )
    group.add_argument(
        "--api-key",
        help="or SUPRSEND_API_KEY; the environment's is used when no workspace key/secret is given",
    )
    group.add_argument("--base-url", help="or SUPRSEND_BASE_URL")
    group.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    group.add_argument("--json", action="store_true", help="print a one-line JSON summary")
    return parent


def _parser() -> argparse.ArgumentParser:
    conn = _connection_options()
    parser = argparse.ArgumentParser(
        prog="suprsend-async",
        description="Send events and workflow triggers to SuprSend, in bulk and concurrently.",
        epilog="Credentials come from SUPRSEND_WORKSPACE_KEY and SUPRSEND_WORKSPACE_SECRET (or"
        " SUPRSEND_API_KEY), the hub from SUPRSEND_BASE_URL; flags win. Exit codes: 0 everything"
        " succeeded, 1 some records failed (or the run was interrupted), 2 usage or"
        " configuration error. `suprsend-async COMMAND --help` describes each command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    track = sub.add_parser("track", parents=[conn], help="send one event")
    track.add_argument("--distinct-id", required=True)
    track.add_argument("--event", required=True)
    track.add_argument(
        "--prop",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a property; VALUE is read as JSON when it parses (10, true, [1]), else as text",
    )
    track.add_argument("--idempotency-key")
    track.add_argument("--tenant-id")

    trigger = sub.add_parser("trigger", parents=[conn], help="trigger one workflow")
    trigger.add_argument("--workflow", required=True)
    trigger.add_argument("--recipient", action="append", required=True, metavar="DISTINCT_ID")
    trigger.add_argument("--data", default="{}", help="a JSON object")
    trigger.add_argument("--actor")
    trigger.add_argument("--idempotency-key")
    trigger.add_argument("--tenant-id")

    bulk = sub.add_parser("bulk", help="send a JSON Lines file of events or triggers")
    bulk_sub = bulk.add_subparsers(dest="kind", required=True)
    for kind, what in (("events", "events"), ("workflows", "workflow trigger bodies")):
        p = bulk_sub.add_parser(kind, parents=[conn], help=f"one of {what} per line")
        p.add_argument("file", help="a JSON Lines file, or - for standard input")
        p.add_argument(
            "--concurrency", type=int, default=8, help="requests in flight at once (default 8)"
        )
        p.add_argument(
            "--dry-run",
            action="store_true",
            help="validate and chunk as a real run would, and send nothing",
        )
        p.add_argument(
            "--failed-out",
            metavar="PATH",
            help="write failed and unread records, with errors, as JSON Lines that are safe"
            " to send again (default: NAME.failed-TIME.jsonl next to the input, created only"
            " if something fails)",
        )
        p.add_argument(
            "--unknown-out",
            metavar="PATH",
            help="write records without an idempotency key whose outcome is unknown (the hub"
            " may have processed them) here; default: next to --failed-out, as"
            " NAME.unknown.jsonl. A replay never sends them again",
        )
        p.add_argument(
            "--auto-idempotency-keys",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="give each record without an idempotency key a generated one, so a retry"
            " after a lost answer cannot deliver it twice (default: on; --no-auto-idempotency-keys"
            " sends keyless records as they are, never retried once they may have been"
            " delivered)",
        )

    emulator = sub.add_parser("emulator", help="run the local SuprSend hub emulator")
    demo = sub.add_parser("demo", help="upload generated records to a local emulator")
    try:
        from .testing._cli import add_emulator_arguments

        add_emulator_arguments(emulator)
    except ImportError:  # pragma: no cover - the testing extra is missing
        pass
    from ._demo import add_demo_arguments

    add_demo_arguments(demo)
    _add_spool_commands(sub)
    add_outbox_commands(sub, conn)
    return parser


def _client(args: argparse.Namespace, **options: Any) -> AsyncSuprsend:
    # Flags win over the environment, each scheme as a whole: an --api-key
    # flag is not overridden by workspace credentials in the environment.
    credentials = credentials_from(
        workspace_key=args.workspace_key,
        workspace_secret=args.workspace_secret,
        api_key=args.api_key,
    )
    return AsyncSuprsend._from_credentials(
        credentials,
        base_url=args.base_url,  # None: SUPRSEND_BASE_URL, as for the library
        # The library's default split: a dead host is noticed in 5 s.
        timeout=httpx.Timeout(args.timeout, connect=min(args.timeout, DEFAULT_TIMEOUT.connect)),
        **options,
    )


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, default=str))


# -- single calls ------------------------------------------------------------------


async def _track(args: argparse.Namespace) -> int:
    properties: dict[str, Any] = {}
    for item in args.prop:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _UsageError(f"--prop {item!r}: expected KEY=VALUE")
        properties[key] = _json_value(value)
    event = Event(
        args.distinct_id,
        args.event,
        properties,
        idempotency_key=args.idempotency_key,
        tenant_id=args.tenant_id,
    )
    _single_call_logging()
    async with _client(args) as client:
        response = await client.track_event(event)
    return _print_single(response)


async def _trigger(args: argparse.Namespace) -> int:
    data = _json_value(args.data)
    if not isinstance(data, dict):
        raise _UsageError("--data must be a JSON object")
    request = WorkflowTriggerRequest(
        workflow=args.workflow,
        recipients=args.recipient,
        data=data,
        actor=args.actor,
        idempotency_key=args.idempotency_key,
        tenant_id=args.tenant_id,
    )
    _single_call_logging()
    async with _client(args) as client:
        response = await client.workflows.trigger(request)
    return _print_single(response)


def _single_call_logging() -> None:
    """A single call's failure is printed by the command itself (below): the library's
    WARNING for it would say the same again through Python's last-resort handler."""
    logging.getLogger("suprsend_async").addHandler(logging.NullHandler())


def _print_single(response: TriggerResponse) -> int:
    """The official dict shape, except that no answer is said as such (not as a 500)."""
    result = response.to_dict()
    result["status_code"] = response.status_code  # null: no answer came
    result["message_id"] = response.message_id
    result["attempts"] = response.attempts
    if response.error_type is not None:
        result["error_type"] = response.error_type
    _print_json(result)
    if not response.success:
        reason = response.message or "failed"
        error = response.error
        if isinstance(error, SuprsendTransportError) and not error.sent:
            print(f"suprsend-async: {reason} (safe to send again)", file=sys.stderr)
        else:
            answer = "no answer" if response.status_code is None else f"HTTP {response.status_code}"
            print(f"suprsend-async: {answer}: {reason}", file=sys.stderr)
    return EXIT_OK if response.success else EXIT_FAILED


# -- bulk ----------------------------------------------------------------------------


async def _dry_run(args: argparse.Namespace, source: JsonlSource, failed: FailedOutput) -> int:
    """Validate and chunk exactly as a real run would, and send nothing."""
    workflow = args.kind == "workflows"
    workspace = args.workspace_key or os.environ.get("SUPRSEND_WORKSPACE_KEY")
    serializer = Serializer(env=workspace or "dry-run", sdk_version=user_agent())
    limits = DEFAULT_LIMITS
    builder: ChunkBuilder[int] = ChunkBuilder(
        limits.max_records_per_request,
        limits.max_body_bytes,
        limits.workflow_record_overhead_bytes if workflow else 0,
    )
    valid = requests = body_bytes = index = 0
    # Reported in line order, as a real run reports them (bad JSON is only known
    # at the end, a record too large when its chunk is built).
    entries: list[dict[str, Any]] = []
    async for item in source.records():
        line = source.line_of(index)
        index += 1
        try:
            # With the key the real run would give it: chunks are sized with its bytes.
            if workflow:
                request = WorkflowTriggerRequest.from_body(_require_dict(item))
                if request.idempotency_key is None and args.auto_idempotency_keys:
                    request = request.with_idempotency_key(str(uuid.uuid4()))
                encoded = serializer.encode_trigger(request)
            else:
                event = Event.from_body(_require_dict(item))
                if event.idempotency_key is None and args.auto_idempotency_keys:
                    event = event.with_idempotency_key(str(uuid.uuid4()))
                encoded = serializer.encode_event(event)
        except SuprsendValidationError as exc:
            entries.append(failed_entry(line, item, str(exc), None))
            continue
        ready = builder.add(line, encoded.body)
        if isinstance(ready, TooLarge):
            entries.append(failed_entry(line, item, ready.reason, None))
        elif ready is not None:
            valid += len(ready)
            requests += 1
            body_bytes += len(ready.body())
    last = builder.flush()
    if last is not None:
        valid += len(last)
        requests += 1
        body_bytes += len(last.body())
    entries += [bad_line_entry(*bad) for bad in source.bad_lines]
    for entry in sorted(entries, key=lambda e: int(e["line"])):
        failed.write(entry)
    bad, held = len(source.bad_lines), len(source.held)
    _print_json(
        {
            "dry_run": True,
            # Every line as the real run counts it: a record, a bad line, or an
            # earlier run's unknown-outcome record held back.
            "total": index + bad + held,
            "valid": valid,
            "invalid": failed.count,
            "invalid_lines": bad,
            "held": held,
            "requests": requests,
            "body_bytes": body_bytes,
        }
    )
    return EXIT_OK if failed.count + held == 0 else EXIT_FAILED


def _require_dict(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise SuprsendValidationError("record", f"must be a JSON object, got {type(item).__name__}")
    return item


async def _watch_interrupts(source: JsonlSource, abandon: anyio.Event) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        count = 0
        async for _ in signals:
            count += 1
            if count == 1:
                print(
                    "\ninterrupted: finishing the requests in flight (again to abort)",
                    file=sys.stderr,
                )
                source.stop()
            elif count == 2:
                print(
                    "\naborting: requests in flight are abandoned; writing down what was"
                    " sent and what was not",
                    file=sys.stderr,
                )
                abandon.set()
            else:  # the accounting is what makes a replay safe: it is always finished
                print("\nstill writing down what was sent; one moment", file=sys.stderr)


def _unknown_path(args: argparse.Namespace) -> str | None:
    if args.unknown_out or not args.failed_out:
        return str(args.unknown_out) if args.unknown_out else None
    root, ext = os.path.splitext(args.failed_out)
    return f"{root}.unknown{ext or '.jsonl'}"


def _check_paths(args: argparse.Namespace, unknown_path: str | None) -> None:
    def same(a: str | None, b: str | None) -> bool:
        return a is not None and b is not None and os.path.abspath(a) == os.path.abspath(b)

    if same(args.failed_out, unknown_path):
        raise _UsageError("--unknown-out must not be the --failed-out file")
    if args.file != "-" and (same(args.file, args.failed_out) or same(args.file, unknown_path)):
        # Written while it is read: records would be lost, or read back forever.
        raise _UsageError(f"{args.file} is also an output file; write failures elsewhere")


def _default_failed_out(args: argparse.Namespace) -> str:
    """Where failed lines go without --failed-out: next to the input (or here, for
    standard input), named by the time of the run, so no earlier file is overwritten."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    if args.file == "-":
        return f"suprsend-async-failed-{stamp}.jsonl"
    root, _ = os.path.splitext(args.file)
    return f"{root}.failed-{stamp}.jsonl"


async def _bulk(args: argparse.Namespace) -> int:
    if args.concurrency < 1:
        raise _UsageError("--concurrency must be at least 1")
    chosen = args.failed_out is not None
    if not chosen:
        # Failed lines are never only counted: they go to a file the report names.
        args.failed_out = _default_failed_out(args)
    unknown_path = _unknown_path(args)
    _check_paths(args, unknown_path)
    source = JsonlSource(args.file)
    # The unknown file is appended to: it lists what someone has to check in
    # SuprSend, and a second run must not wipe the first run's list.
    with (
        FailedOutput(args.failed_out, lazy=not chosen) as failed,
        FailedOutput(unknown_path, append=True) as unknown,
    ):
        if args.dry_run:
            return await _dry_run(args, source, failed)
        client = _client(
            args,
            max_concurrency=args.concurrency,
            max_connections=max(args.concurrency, DEFAULT_MAX_CONNECTIONS),
            auto_idempotency_keys=args.auto_idempotency_keys,
        )
        interactive = sys.stderr.isatty() and not args.json
        started = time.monotonic()
        abandon = anyio.Event()
        async with client, anyio.create_task_group() as tg:
            tg.start_soon(_watch_interrupts, source, abandon)
            with ProgressDisplay(f"bulk {args.kind}", enabled=interactive) as bar:
                response = await run_bulk(
                    client,
                    source.records(),
                    kind=EVENT_RECORDS if args.kind == "events" else TRIGGER_RECORDS,
                    on_progress=bar.update,
                    abandon=abandon,
                )
            # The watcher keeps listening while the failures are written: a
            # third Ctrl-C must not cut the accounting short.
            _write_failures(response, source, failed, unknown)
            not_sent = 0
            if source.stopped:
                async for entry in source.unsent():
                    failed.write(entry)
                    not_sent += 1
            tg.cancel_scope.cancel()
        elapsed = time.monotonic() - started
    summary = _summary(response, source, failed, unknown, elapsed)
    summary["not_sent"] = not_sent
    summary["aborted"] = abandon.is_set()
    if interactive:
        _print_human(summary)
    else:
        _print_json(summary)
    if unknown.count:
        print(
            f"suprsend-async: {unknown.count} records without an idempotency key may have been"
            f" processed (their answer was lost): they were written to {unknown.path}, not"
            " with the failed lines. Replaying never sends them again; check in SuprSend"
            " before sending any of them yourself.",
            file=sys.stderr,
        )
    ok = summary["failure"] == 0 and not source.stopped
    return EXIT_OK if ok else EXIT_FAILED


def _write_failures(
    response: BulkResponse, source: JsonlSource, failed: FailedOutput, unknown: FailedOutput
) -> None:
    """Failures safe to send again to ``failed``, keyless ones that may have been processed
    (and such lines of an earlier run, read again) to ``unknown``."""
    entries = [
        (
            f.safe_to_resend,
            failed_entry(source.line_of(f.index), f.to_dict()["record"], f.error, f.code),
        )
        for f in response.failed_records
    ]
    entries += [(True, bad_line_entry(*bad)) for bad in source.bad_lines]
    entries += [(False, entry) for entry in source.held]
    for safe, entry in sorted(entries, key=lambda e: int(e[1]["line"])):
        if safe:
            failed.write(entry)
        else:
            unknown.write(unknown_entry(entry))


def _summary(
    response: BulkResponse,
    source: JsonlSource,
    failed: FailedOutput,
    unknown: FailedOutput,
    elapsed: float,
) -> dict[str, Any]:
    # Every line read is a record (sent or failed), a bad line, or an earlier
    # run's unknown record held back; every line not read is "not_sent".
    bad, held = len(source.bad_lines), len(source.held)
    total = response.total + bad + held
    failure = response.failure + bad + held
    # From the counts of every line, bad lines included, not the upload's alone.
    if source.stopped:
        status = "interrupted"
    elif failure == 0:
        status = "success"
    elif response.success == 0:
        status = "fail"
    else:
        status = "partial"
    return {
        "status": status,
        "total": total,
        "success": response.success,
        "failure": failure,
        "unknown": unknown.count,
        "invalid_lines": bad,
        "lines_read": source.lines_read,
        "retried_requests": response.retried_requests,
        "retried_records": response.retried_records,
        "elapsed_s": round(elapsed, 3),
        "records_per_s": round(total / elapsed, 1) if elapsed > 0 else None,
        "failed_out": failed.path,
        "unknown_out": unknown.path,
        "warnings": list(response.warnings),
    }


def _print_human(summary: dict[str, Any]) -> None:
    print(
        f"{summary['status']}: {summary['success']} of {summary['total']} records sent,"
        f" {summary['failure']} failed, in {summary['elapsed_s']:.1f}s"
        f" ({summary['records_per_s']} records/s)",
    )
    if summary["status"] == "interrupted":
        print(
            f"stopped after line {summary['lines_read']};"
            f" {summary['not_sent']} unread records written to --failed-out"
            if summary["failed_out"]
            else f"stopped after line {summary['lines_read']}; resume from the next line"
        )
    safe = summary["failure"] - summary["unknown"]
    if safe and summary["failed_out"]:
        print(f"{safe} failed records written to {summary['failed_out']} (safe to send again)")


# -- a background sender's spool -----------------------------------------------------


def _add_spool_commands(sub: Any) -> None:
    spool = sub.add_parser(
        "spool", help="look at a background sender's spool file; retry or purge failed records"
    )
    commands = spool.add_subparsers(dest="spool_command", required=True)
    show = commands.add_parser("show", help="counts, and the failed records with the hub's reason")
    show.add_argument("path", help="the spool file (client.background(spool=PATH))")
    show.add_argument("--limit", type=int, default=20, help="failed records listed (default 20)")
    for name, what in (
        ("retry", "queue failed records again, for the sender to send (all, or each --id)"),
        ("purge", "delete failed records (all, or each --id); pending records are never deleted"),
    ):
        command = commands.add_parser(name, help=what)
        command.add_argument("path", help="the spool file")
        command.add_argument(
            "--id", type=int, action="append", dest="ids", metavar="ID", help="a record's id"
        )


def _spool(args: argparse.Namespace) -> int:
    """``suprsend-async spool show|retry|purge PATH``: safe beside a running sender
    (SQLite serializes the writes); retried records go out with its next round."""
    if not os.path.isfile(args.path):  # opening would create an empty spool
        print(f"suprsend-async: error: {args.path}: no such spool file", file=sys.stderr)
        return EXIT_USAGE
    try:
        spool = Spool(args.path)
    except SuprsendSpoolError as exc:
        print(f"suprsend-async: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.spool_command == "retry":
            _print_json({"retried": spool.retry_failed(args.ids)})
        elif args.spool_command == "purge":
            _print_json({"purged": spool.purge_failed(args.ids)})
        else:
            counts = spool.counts()
            failed = spool.failed(max(args.limit, 0))
            _print_json(
                {
                    "path": args.path,
                    "pending": counts.pending,
                    "failed": counts.failed,
                    "size_bytes": counts.size_bytes,
                    "sending_pid": holder_of(spool.path),
                    "failed_records": [
                        {
                            "id": r.id,
                            "kind": r.kind,
                            "idempotency_key": r.idempotency_key,
                            "code": r.code,
                            "error": r.error,
                            "attempts": r.attempts,
                            "accepted_at": r.accepted_at,
                            "record": r.record(),
                        }
                        for r in failed
                    ],
                }
            )
    finally:
        spool.close()
    return EXIT_OK


# -- entry point ---------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    commands: dict[str, Callable[[argparse.Namespace], Any]] = {
        "track": _track,
        "trigger": _trigger,
        "bulk": _bulk,
    }
    try:
        if args.command == "emulator":
            from .testing._cli import run_emulator

            return int(run_emulator(args) or 0)
        if args.command == "demo":
            from ._demo import run_demo

            return int(run_demo(args))
        if args.command == "spool":
            return _spool(args)
        if args.command in OUTBOX_COMMANDS:
            return run_outbox_command(args, _client)
        if args.command == "bulk" and args.file != "-" and not os.path.isfile(args.file):
            raise _UsageError(f"{args.file}: no such file")
        result: int = anyio.run(commands[args.command], args)
        return result
    except (SuprsendConfigError, _UsageError) as exc:
        print(f"suprsend-async: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SuprsendValidationError as exc:
        print(f"suprsend-async: invalid input: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # an output file that cannot be written, a file that vanished
        print(f"suprsend-async: error: {exc.strerror or exc}: {exc.filename}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("suprsend-async: aborted", file=sys.stderr)
        return EXIT_FAILED
