"""JSON Lines in and out for the command line tool, streamed.

Reading goes through a worker thread a block at a time (not a line at a
time), so a 1 GB file costs one block of memory and few thread hops.
Failed records are written in the official SDK's failed-record shape
(``{"record": ..., "error": ..., "code": ...}``) plus the line number; the
reader unwraps that shape, so a failed-records file can be fed back in.
Entries marked ``"outcome": "unknown"`` (keyless records the hub may have
processed) are the exception: the reader holds them back, so no replay,
even of a file they were copied into, sends them twice.
"""

from __future__ import annotations

import bisect
import json
import sys
from collections.abc import AsyncIterator
from typing import IO, Any

import anyio
import attrs

__all__ = [
    "OUTCOME_UNKNOWN",
    "FailedOutput",
    "JsonlSource",
    "bad_line_entry",
    "failed_entry",
    "unknown_entry",
]

_BLOCK = 256 * 1024


@attrs.define
class JsonlSource:
    """Yields the records of a JSON Lines file; lines that are not records are set aside.

    The bulk engine numbers the records it is given from 0; ``line_of``
    turns that index back into a line number.
    """

    path: str
    stopped: bool = False
    lines_read: int = 0
    bad_lines: list[tuple[int, str, str]] = attrs.field(factory=list)  # (line, error, text)
    # Lines of an earlier run's unknown-outcome file: never sent again (their
    # entries, with the line number of this file).
    held: list[dict[str, Any]] = attrs.field(factory=list)
    # Line numbers of the lines not handed on (blank or bad), for line_of.
    _skipped: list[int] = attrs.field(factory=list)

    def stop(self) -> None:
        """Stop after the current line (Ctrl-C): what was read is still sent."""
        self.stopped = True

    def line_of(self, index: int) -> int:
        # The record at ``index`` is on the line after ``index`` records and
        # every skipped line before it.
        line = index + 1
        seen = 0
        while True:
            skipped_before = bisect.bisect_right(self._skipped, line)
            if skipped_before == seen:
                return line
            line += skipped_before - seen
            seen = skipped_before

    async def _lines(self) -> AsyncIterator[bytes]:
        if self.path == "-":
            stream: IO[bytes] = sys.stdin.buffer
            close = False
        else:
            stream = await anyio.to_thread.run_sync(_open_binary, self.path)
            close = True
        try:
            tail = b""
            while not self.stopped:
                block = await anyio.to_thread.run_sync(stream.read, _BLOCK)
                if not block:
                    break
                lines = (tail + block).split(b"\n")
                tail = lines.pop()
                for line in lines:
                    yield line
                    if self.stopped:
                        return
            if tail and not self.stopped:
                yield tail
        finally:
            if close:
                stream.close()

    async def records(self) -> AsyncIterator[Any]:
        async for raw in self._lines():
            self.lines_read += 1
            line = self.lines_read
            text = raw.strip()
            if not text:
                self._skipped.append(line)
                continue
            try:
                value = json.loads(text)
            except (ValueError, RecursionError) as exc:  # nested too deep: not a record either
                self._skipped.append(line)
                self.bad_lines.append((line, f"invalid JSON: {exc}", raw.decode(errors="replace")))
                continue
            if _is_bad_line_entry(value):
                # An earlier run's line that was not JSON, replayed as it was written.
                self._skipped.append(line)
                self.bad_lines.append((line, _REPLAYED_BAD_LINE, str(value["raw"])))
                continue
            if isinstance(value, dict) and "record" in value and "error" in value:
                if value.get("outcome") == OUTCOME_UNKNOWN:
                    # The hub may have processed it and it has no key: sending it
                    # again could notify someone twice. Held back, still listed.
                    self._skipped.append(line)
                    self.held.append({**value, "line": line, "error": _HELD})
                    continue
                value = value["record"]  # a line of an earlier --failed-out file
            yield value

    async def unsent(self) -> AsyncIterator[dict[str, Any]]:
        """After :meth:`stop`: failed-output entries for every line never read.

        Reads the file again from the start and skips what was read, so an
        interrupted upload can be resumed by replaying the failed output.
        Standard input cannot be read again: nothing is yielded for it.
        """
        if self.path == "-":
            return
        rest = JsonlSource(self.path)
        async for raw in rest._lines():
            rest.lines_read += 1
            text = raw.strip()
            if rest.lines_read <= self.lines_read or not text:
                continue
            try:
                record = json.loads(text)
            except (ValueError, RecursionError) as exc:
                yield bad_line_entry(
                    rest.lines_read, f"invalid JSON: {exc}", raw.decode(errors="replace")
                )
                continue
            if _is_bad_line_entry(record):
                yield bad_line_entry(rest.lines_read, _REPLAYED_BAD_LINE, str(record["raw"]))
                continue
            if isinstance(record, dict) and "record" in record and "error" in record:
                if record.get("outcome") == OUTCOME_UNKNOWN:
                    continue  # never re-sent, so not listed as unread either
                record = record["record"]
            yield failed_entry(rest.lines_read, record, _INTERRUPTED, None)


_INTERRUPTED = "not sent: the upload was interrupted"
_REPLAYED_BAD_LINE = (
    "an earlier run could not read this line as JSON; its text is in 'raw':"
    " replace the line with the record, fixed, to send it"
)


def _is_bad_line_entry(value: Any) -> bool:
    """A line of an earlier failed output that held no record (see :func:`bad_line_entry`)."""
    return isinstance(value, dict) and "raw" in value and "error" in value and "record" not in value


OUTCOME_UNKNOWN = "unknown"
_HELD = (
    "not sent again: an earlier run lost the answer for it and it has no idempotency key,"
    " so the hub may have processed it (remove the 'outcome' key to send it anyway)"
)


def _open_binary(path: str) -> IO[bytes]:
    return open(path, "rb")


# How many failed lines are shown on stderr before the rest is only counted.
SHOWN_FAILURES = 5


@attrs.define
class FailedOutput:
    """Writes failed records as JSON Lines (or only counts them, without a path).

    Either way, when the block ends the first :data:`SHOWN_FAILURES` failed
    lines are reported on stderr with their line number and reason, then how
    many more there were.
    """

    path: str | None
    append: bool = False
    # Created only once something fails (a file the user did not ask for).
    lazy: bool = False
    count: int = 0
    _file: IO[str] | None = None
    _shown: list[tuple[int, str]] = attrs.field(factory=list)

    def __enter__(self) -> FailedOutput:
        # A file appended to is only created once there is something to add.
        if self.path is not None and not self.append and not self.lazy:
            self._file = open(self.path, "w", encoding="utf-8")
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._file is not None:
            self._file.close()
        if exc_type is None:
            self.report(sys.stderr)

    def write(self, entry: dict[str, Any]) -> None:
        self.count += 1
        if len(self._shown) < SHOWN_FAILURES:
            self._shown.append((int(entry["line"]), str(entry["error"])))
        if self._file is None and self.path is not None:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in __exit__
        if self._file is not None:
            self._file.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")

    def report(self, stream: IO[str]) -> None:
        for line, error in self._shown:
            print(f"line {line}: {error}", file=stream)
        more = self.count - len(self._shown)
        if more:
            print(f"... and {more} more failed lines", file=stream)
        if self.count and self.path is not None:
            lines = "line was" if self.count == 1 else f"{self.count} lines were"
            chosen = "; --failed-out PATH chooses the file" if self.lazy else ""
            print(
                f"The failed {lines} written to {self.path}, to fix and send again{chosen}.",
                file=stream,
            )


def failed_entry(line: int, record: Any, error: str, code: int | None) -> dict[str, Any]:
    """A failed record, in the official SDK's shape plus its line number."""
    return {"record": record, "error": error, "code": code, "line": line}


def unknown_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A failed record whose outcome is unknown, marked so that no replay sends it."""
    return {**entry, "outcome": OUTCOME_UNKNOWN}


def bad_line_entry(line: int, error: str, text: str) -> dict[str, Any]:
    """A line that held no record (invalid JSON): kept as text for a human to fix."""
    return {"error": error, "line": line, "raw": text}
