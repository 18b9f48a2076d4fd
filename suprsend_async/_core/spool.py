"""The background sender's spool: accepted records in a SQLite file (standard library).

Blocking by nature: every method here runs in a worker thread (the sender
calls them through ``anyio.to_thread``), never on the event loop.

What a row is: one record's final wire bytes (its ``$insert_id``, ``$time``
and idempotency key fixed when it was accepted, so a resend is the same
record to the hub), its kind, and its state: *pending* (to send) or
*failed* (the hub refused it; kept with the reason until retried or purged).
A record the hub accepted is deleted. The file is in WAL mode; with
``fsync=True`` (the default) ``synchronous=FULL``: a committed record
survives the process being killed and the machine losing power; with
``fsync=False``, ``synchronous=NORMAL``: it survives the process being
killed (it is in the operating system's hands), not the machine crashing,
and a commit costs a write instead of a flush to the device.

Sending is one process's job at a time: :class:`UploadLock` is an ``flock``
on a file beside the spool, which the kernel releases when its holder dies,
however it dies. Any number of processes may *accept* into one spool (SQLite
serializes their commits); only the lock's holder sends, so no record is
ever sent by two processes at once, and when the holder dies another one
takes over what it left, unconfirmed records included (their keys make the
hub drop a second copy).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final, Literal, TypeVar

import attrs

from .._values.errors import SuprsendSpoolError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "ACCEPTED_AT",
    "BODY",
    "ID",
    "KEY",
    "KIND",
    "Pending",
    "RecordKind",
    "Spool",
    "SpoolCounts",
    "SpooledRecord",
    "UploadLock",
    "holder_of",
]

RecordKind = Literal["event", "workflow"]
T = TypeVar("T")
PENDING, FAILED = 0, 1
# 'SSAS': what PRAGMA application_id says of a file this module created.
_APPLICATION_ID = 0x53534153
_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    body BLOB NOT NULL,
    accepted_at REAL NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    code INTEGER
);
CREATE INDEX IF NOT EXISTS records_by_state ON records (state, id);
"""
# Seconds a write waits for another process's commit before failing.
_BUSY_TIMEOUT = 30.0
# Pages freed by deleted records are given back to the file system once this
# many are free (8 MB of 4 KB pages): confirmed records must not make the file
# grow forever, and a sender that keeps up must not shrink it after every
# upload only for the next records to grow it again (with 256, the rebuilds of
# an emptied file cost 0.2 us per record of a stream of concurrent accepts).
_VACUUM_FREE_PAGES = 2048
# Gaps between the runs of sent ids looked into before a settle empties the table
# in one statement (each an index lookup); with more, the runs are deleted.
_GAPS_LOOKED_INTO = 16
_WAL_LIMIT_BYTES = 4 * 1024 * 1024

# Connections a forked child inherited: never used nor closed there (SQLite
# forbids carrying a connection across fork), and never collected (which
# would close them).
_LEFT_BY_FORK: list[object] = []


# A record waiting to be sent, in a spool or in a sender's memory:
# ``(id, kind, idempotency_key, body, accepted_at)``, read with the indices below
# (claimed from a spool, its key and time are left blank: see Spool.claim).
# A plain tuple, not a class, for the garbage collector: it stops tracking a
# tuple of numbers, strings and bytes, while it traverses every instance of a
# class at each full collection; with thousands of records claimed, that was
# a seventh of a spool upload's CPU.
Pending = tuple[int, RecordKind, str, bytes, float]
ID: Final = 0
KIND: Final = 1
KEY: Final = 2
BODY: Final = 3
ACCEPTED_AT: Final = 4


@attrs.frozen
class SpooledRecord:
    """A record a background sender holds as failed (the hub refused it), with why.

    ``body`` is its wire JSON, exactly as it was (and will be) sent; ``id`` is
    its number in the spool (or in the sender, without a spool).
    """

    id: int
    kind: RecordKind
    idempotency_key: str
    body: bytes
    accepted_at: float = 0.0
    attempts: int = 0
    error: str | None = None
    code: int | None = None

    def record(self) -> Any:
        """The record as JSON (a dict)."""
        return json.loads(self.body)


@attrs.frozen
class SpoolCounts:
    pending: int
    failed: int
    size_bytes: int


def _locked_retried(step: Callable[[], T]) -> T:
    """``step()``, again while another process's lock refuses it, up to the busy timeout.

    Putting a file in WAL mode takes an exclusive lock, for which SQLite does
    not always wait (its busy handler is skipped where waiting could deadlock):
    a process opening the spool while another one writes it would fail at once.
    """
    deadline = time.monotonic() + _BUSY_TIMEOUT
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.01)  # (in a worker thread: a spool is opened there)


def _fail(path: str, problem: str, exc: BaseException | None = None) -> SuprsendSpoolError:
    detail = f": {exc}" if exc is not None else ""
    return SuprsendSpoolError(path, f"{problem}{detail}")


class Spool:
    """One SQLite connection to a spool file; opened and checked at once."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = os.fspath(path)
        self.fsync = fsync
        if not self.path or self.path == ":memory:":
            raise _fail(self.path or "''", "a spool is a file path")
        if os.path.isdir(self.path):
            raise _fail(self.path, "is a directory, not a spool file")
        try:
            self._db = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise _fail(self.path, "cannot be opened", exc) from None
        try:
            self._prepare()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            problem = "cannot be used (corrupt, not a spool, or not writable)"
            raise _fail(self.path, problem, exc) from None
        except SuprsendSpoolError:
            self._db.close()
            raise

    def _prepare(self) -> None:
        db = self._db
        # Checked, and made a spool if new, in one write transaction: processes
        # opening a new file at the same moment take turns (SQLite's busy handler
        # waits), and none reads it half made (tables, and no application id yet).
        # It also fails now, not at the first record, on a read-only file.
        # (auto_vacuum first, outside it: it takes effect when the first table is
        # made, and does nothing to a file that has tables.)
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        db.execute("BEGIN IMMEDIATE")
        try:
            application_id = db.execute("PRAGMA application_id").fetchone()[0]
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if application_id == 0 and not tables:  # a new (or empty) file: make it a spool
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            elif application_id != _APPLICATION_ID or "records" not in tables:
                raise _fail(self.path, "is an SQLite file but not a suprsend-async spool")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version != _SCHEMA_VERSION:
                raise _fail(self.path, f"has schema version {version}; this release reads 1")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        mode = _locked_retried(lambda: db.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        if str(mode).lower() != "wal":
            raise _fail(self.path, f"cannot be put in WAL mode (it stays {mode!r})")
        db.execute(f"PRAGMA synchronous = {'FULL' if self.fsync else 'NORMAL'}")
        db.execute(f"PRAGMA journal_size_limit = {_WAL_LIMIT_BYTES}")
        # Deleted records are overwritten where that costs no write of its own (the
        # pages a delete changes anyway), not page by page when a settle empties the
        # table (where it cost as much as deleting the rows one by one); the freed
        # pages leave the file at the next compaction. (Some builds default to ON,
        # SQLite's own default is OFF; before 3.20, FAST reads as OFF.)
        db.execute("PRAGMA secure_delete = FAST")
        check = db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise _fail(self.path, f"is corrupt ({check})")

    # -- accepting --------------------------------------------------------------------

    def add(self, rows: Sequence[tuple[str, str, bytes, float]]) -> int:
        """Store ``(kind, idempotency_key, body, accepted_at)`` rows in one commit;
        the last row's id."""
        try:
            with self._transaction():
                self._db.executemany(
                    "INSERT INTO records (kind, idempotency_key, body, accepted_at)"
                    " VALUES (?, ?, ?, ?)",
                    rows,
                )
                last: int = self._db.execute("SELECT last_insert_rowid()").fetchone()[0]
        except sqlite3.Error as exc:
            raise _fail(self.path, "the records could not be written", exc) from None
        return last

    # -- sending ----------------------------------------------------------------------

    def claim(self, limit: int, after: int = 0) -> list[Pending]:
        """The oldest ``limit`` pending records with an id above ``after`` (only the
        upload lock's holder sends them; it claims on from the last id it took, so
        that records it already has in flight are not read again).

        Their key and acceptance time are left blank (``''`` and ``0``): sending
        needs neither, and each column read costs a Python object and (in 3.11's
        sqlite3) a release and retake of the GIL per record, most of a claim's
        cost; two columns fewer made a claim a third cheaper. :meth:`keys` reads
        the keys of the few records whose refusal is logged."""
        with self._reading("its records could not be read"):
            rows = self._db.execute(
                "SELECT id, kind, body FROM records WHERE state = 0 AND id > ? ORDER BY id LIMIT ?",
                (after, limit),
            ).fetchall()
        return [(i, kind, "", body, 0) for i, kind, body in rows]

    def keys(self, ids: Iterable[int]) -> dict[int, str]:
        """The idempotency keys of these records (those still in the file)."""
        with self._reading("its records could not be read"):
            return {
                i: row[0]
                for i in ids
                for row in self._db.execute(
                    "SELECT idempotency_key FROM records WHERE id = ?", (i,)
                ).fetchall()
            }

    def settle(
        self,
        sent: Sequence[int],
        failed: Iterable[tuple[int, str, int | None]],
        retry: Iterable[tuple[int, str, int | None]],
    ) -> None:
        """Delete what the hub accepted, mark what it refused, note why the rest waits.

        When the records sent are all the file holds (a backlog sent to its end, or
        each upload of a sender keeping up), the table is emptied in one statement,
        which frees its pages whole: deleting rows one by one cost about 1 µs each,
        the most expensive step of sending a spool's records.

        Not flushed to the device (``synchronous=NORMAL`` for this commit, whatever
        ``fsync`` says): an outcome lost to a power cut only sends records again,
        which their keys make harmless, and a flush per settle would hold up the
        accepts, which share this connection, for milliseconds each.
        """
        try:
            self._db.execute("PRAGMA synchronous = NORMAL")
            try:
                with self._transaction():
                    # Sent records come in runs of consecutive ids (a chunk's, claimed in
                    # order): one range delete per run, not one statement per record.
                    runs = list(_runs(sorted(sent)))
                    if runs and self._holds_only(runs):
                        self._db.execute("DELETE FROM records")
                    else:
                        self._db.executemany("DELETE FROM records WHERE id BETWEEN ? AND ?", runs)
                    self._db.executemany(
                        "UPDATE records SET state = 1, attempts = attempts + 1, error = ?,"
                        " code = ? WHERE id = ?",
                        ((error, code, i) for i, error, code in failed),
                    )
                    self._db.executemany(
                        "UPDATE records SET attempts = attempts + 1, error = ?, code = ?"
                        " WHERE id = ?",
                        ((error, code, i) for i, error, code in retry),
                    )
            finally:
                self._db.execute(f"PRAGMA synchronous = {'FULL' if self.fsync else 'NORMAL'}")
        except sqlite3.Error as exc:
            raise _fail(self.path, "the outcome could not be written", exc) from None

    def _holds_only(self, runs: Sequence[tuple[int, int]]) -> bool:
        """Whether every record in the file has an id in one of these runs (in a write
        transaction: no other process adds one meanwhile)."""
        db = self._db
        first = db.execute("SELECT id FROM records ORDER BY id LIMIT 1").fetchone()
        last = db.execute("SELECT id FROM records ORDER BY id DESC LIMIT 1").fetchone()
        if first is None or first[0] < runs[0][0] or last[0] > runs[-1][1]:
            return False
        if len(runs) > _GAPS_LOOKED_INTO + 1:
            return False
        return not any(
            db.execute(
                "SELECT 1 FROM records WHERE id > ? AND id < ? LIMIT 1", (end, start)
            ).fetchone()
            for (_, end), (start, _) in itertools.pairwise(runs)
        )

    def compact(self) -> int:
        """Give pages freed by sent records back to the file system; the file's size
        after. Between uploads, not after each settle, and only from a file that
        holds no records any more, or one that is mostly free pages (a backlog
        sent, a few records left): while records keep coming, freed pages are
        reused by new ones, and moving pages to shrink a file still in use cost
        0.2 to 0.5 µs per record sent."""
        try:
            self._compact()
        except sqlite3.Error as exc:
            raise _fail(self.path, "could not be compacted", exc) from None
        return self.size_bytes()

    def _compact(self) -> None:
        db = self._db
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        if free < _VACUUM_FREE_PAGES:
            return
        if not db.execute("SELECT 1 FROM records LIMIT 1").fetchall():
            # Nothing left to move: rebuilding the empty file takes under a
            # millisecond, freeing its pages one at a time about 6 µs each.
            db.execute("VACUUM")
        elif 2 * free >= db.execute("PRAGMA page_count").fetchone()[0]:
            # A script: execute() steps a statement once, and a step of this pragma
            # frees one page (the file never shrank).
            db.executescript("PRAGMA incremental_vacuum;")

    # -- reading and repairing (the sender's stats, the CLI) -----------------------------

    def counts(self) -> SpoolCounts:
        with self._reading("its counts could not be read"):
            by_state = dict(self._db.execute("SELECT state, COUNT(*) FROM records GROUP BY state"))
        return SpoolCounts(
            pending=by_state.get(PENDING, 0),
            failed=by_state.get(FAILED, 0),
            size_bytes=self.size_bytes(),
        )

    def size_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += os.path.getsize(self.path + suffix)
        return total

    def last_id(self) -> int:
        """The newest record's id (0 for an empty spool)."""
        with self._reading("its last record could not be read"):
            row = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM records").fetchone()
        return int(row[0])

    def pending_up_to(self, last_id: int) -> int:
        """Records with an id up to ``last_id`` still waiting to be sent."""
        with self._reading("its pending records could not be read"):
            row = self._db.execute(
                "SELECT COUNT(*) FROM records WHERE state = 0 AND id <= ?", (last_id,)
            ).fetchone()
        return int(row[0])

    def failed(self, limit: int | None = None) -> list[SpooledRecord]:
        with self._reading("its failed records could not be read"):
            rows = self._db.execute(
                "SELECT id, kind, idempotency_key, body, accepted_at, attempts, error, code"
                " FROM records WHERE state = 1 ORDER BY id LIMIT ?",
                (-1 if limit is None else limit,),
            ).fetchall()
        return [SpooledRecord(*row) for row in rows]

    def retry_failed(self, ids: Sequence[int] | None = None) -> int:
        """Failed records (all, or those of ``ids``) back to pending; how many."""
        return self._change_failed("UPDATE records SET state = 0 WHERE state = 1", ids)

    def purge_failed(self, ids: Sequence[int] | None = None) -> int:
        """Failed records (all, or those of ``ids``) deleted; how many. Pending ones never are."""
        return self._change_failed("DELETE FROM records WHERE state = 1", ids)

    def _change_failed(self, statement: str, ids: Sequence[int] | None) -> int:
        try:
            with self._transaction():
                if ids is None:
                    changed = self._db.execute(statement).rowcount
                else:
                    changed = sum(
                        self._db.execute(f"{statement} AND id = ?", (i,)).rowcount for i in ids
                    )
            self._compact()
        except sqlite3.Error as exc:
            raise _fail(self.path, "could not be changed", exc) from None
        return int(changed)

    # -- lifecycle ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _reading(self, problem: str) -> Iterator[None]:
        """SQLite's errors as this library's (a read fails on a damaged or changed file)."""
        try:
            yield
        except sqlite3.Error as exc:
            raise _fail(self.path, problem, exc) from None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        try:
            self._db.execute("COMMIT")
        except BaseException:
            # A COMMIT that fails (a full disk, an I/O error, a deferred constraint)
            # may leave the transaction open: every later BEGIN would then fail.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._db.close()

    def forget_in_child(self) -> None:
        """In a forked child: let go of the parent's connection without touching it."""
        _LEFT_BY_FORK.append(self._db)


def _runs(ids: Sequence[int]) -> Iterator[tuple[int, int]]:
    """``(first, last)`` of each run of consecutive ids in sorted ``ids``."""
    if not ids:
        return
    first = last = ids[0]
    for i in ids[1:]:
        if i != last + 1:
            yield first, last
            first = i
        last = i
    yield first, last


class UploadLock:
    """Who sends a spool's records: an exclusive ``flock`` on ``PATH-uploader``.

    Not SQLite's own locks: those last a transaction, this lasts the
    sender's life, and the kernel drops it when the holding process dies
    (SIGKILL included), so a successor never waits for a lease to run out.
    The holder writes its pid into the file, for the command line to show.
    """

    def __init__(self, spool_path: str) -> None:
        self.path = spool_path + "-uploader"
        if fcntl is None:  # pragma: no cover - Windows
            raise _fail(spool_path, "a spool needs flock(), which this platform lacks")
        try:
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise _fail(spool_path, f"its lock file {self.path} cannot be opened", exc) from None
        self.held = False

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; never waits."""
        if self.held:
            return True
        if self._fd is None:
            return False
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        self.held = True
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, str(os.getpid()).encode(), 0)
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor drops the lock
            self._fd = None
        self.held = False

    def forget_in_child(self) -> None:
        """In a forked child: close our copy of the descriptor. The parent's copy
        keeps its lock; the child must never hold it (if the parent died, a
        child that inherited it would keep every other process from sending)."""
        self.release()


def holder_of(spool_path: str) -> int | None:
    """The pid of the process sending this spool's records, if one is; None otherwise."""
    if fcntl is None:  # pragma: no cover - Windows
        return None
    path = spool_path + "-uploader"
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        return None
    finally:
        os.close(fd)
