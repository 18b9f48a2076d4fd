"""A live progress bar for the command line tool (rich, from the ``cli`` extra)."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any

from ._core.bulk import BulkProgress

__all__ = ["ProgressDisplay"]


class ProgressDisplay:
    """Draws records/s, done/total and failures on stderr; silent when disabled."""

    def __init__(self, label: str, *, enabled: bool) -> None:
        self._label = label
        self._enabled = enabled
        self._progress: Any = None
        self._task: Any = None
        self._started = time.monotonic()

    def __enter__(self) -> ProgressDisplay:
        if not self._enabled:
            return self
        try:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )
        except ImportError:  # the cli extra is not installed: plain output only
            self._enabled = False
            return self
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8.0f} rec/s"),
            TextColumn("[red]{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            console=Console(file=sys.stderr),
            refresh_per_second=8,
        )
        self._progress.__enter__()
        self._task = self._progress.add_task(self._label, total=None, rate=0.0, failed=0)
        return self

    def update(self, progress: BulkProgress) -> None:
        if self._progress is None:
            return
        elapsed = max(time.monotonic() - self._started, 1e-9)
        self._progress.update(
            self._task,
            completed=progress.done,
            total=progress.total,
            rate=progress.done / elapsed,
            failed=progress.failed,
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.__exit__(exc_type, exc, tb)
