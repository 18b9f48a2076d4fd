"""Where the library's log records go: nowhere, unless asked.

A library only emits records; the application decides where they go. Two
switches make them visible without touching the application's logging setup:

- ``SUPRSEND_LOG=debug|info|warning|error`` in the environment, read at
  import (as ``OPENAI_LOG`` and ``STRIPE_LOG`` are; ``1``, ``true``, ``yes``
  and ``on`` mean debug, ``0``, ``false``, ``no`` and ``off`` nothing, and a
  value not understood is said so on stderr): every record of the
  ``suprsend_async`` logger at that level or above is printed on stderr. It
  never changes the logger's level, so an application that asked for more
  (``logging.basicConfig(level=logging.DEBUG)``) still gets every record.
- ``AsyncSuprsend(..., debug=True)``: every record *of that one client*,
  debug included, is printed on stderr, whatever the levels.

Both print through one handler on the ``suprsend_async`` logger, so a record
is never printed twice by us. A debug client's records carry
``record.suprsend_debug = True``; the handler lets through the records at or
above ``SUPRSEND_LOG``'s level and those. A record one of the switches asks
for but below the logger's level (which the logging module would drop before
any handler) is handed to that handler alone, not to the application's
handlers, whose levels it is below anyway. Records never hold payloads or
secrets.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, TextIO

__all__ = ["ENV_VAR", "LOGGER", "ClientLogger", "configure_from_environment"]

LOGGER = logging.getLogger("suprsend_async")
ENV_VAR = "SUPRSEND_LOG"
_ENV_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "1": logging.DEBUG,
    "true": logging.DEBUG,
    "yes": logging.DEBUG,
    "on": logging.DEBUG,
}
_ENV_OFF = frozenset({"", "0", "false", "no", "off", "none"})
_DEBUG_ATTRIBUTE = "suprsend_debug"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _StderrHandler(logging.Handler):
    """Prints to whatever ``sys.stderr`` is when a record arrives (as logging.lastResort does).

    ``level_from_env`` is ``SUPRSEND_LOG``'s level; None lets through only
    debug clients' records.
    """

    def __init__(self) -> None:
        super().__init__()
        self.level_from_env: int | None = None
        self.setFormatter(logging.Formatter(_FORMAT))

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _DEBUG_ATTRIBUTE, False):
            return True
        return self.level_from_env is not None and record.levelno >= self.level_from_env

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + "\n")
            self.stream.flush()
        except Exception:
            self.handleError(record)


_HANDLER = _StderrHandler()


def _attach_handler() -> None:
    if _HANDLER not in LOGGER.handlers:
        LOGGER.addHandler(_HANDLER)


def configure_from_environment(environ: Mapping[str, str] = os.environ) -> int | None:
    """Apply ``SUPRSEND_LOG``; returns the level it set, or None (unset, off or not understood)."""
    raw = environ.get(ENV_VAR, "")
    value = raw.strip().lower()
    level = _ENV_LEVELS.get(value)
    if level is None:
        if value not in _ENV_OFF:
            shown = raw[:20].encode("unicode_escape").decode("ascii")  # no control characters
            print(
                f"suprsend_async: {ENV_VAR}='{shown}' is not understood and was ignored;"
                " use debug, info, warning or error (1/true for debug, 0/false for off)",
                file=sys.stderr,
            )
        return None
    # The logger's level is left alone (the application's to set): records
    # below it reach our handler through ClientLogger.log.
    _HANDLER.level_from_env = level
    _attach_handler()
    return level


if TYPE_CHECKING:
    _Adapter = logging.LoggerAdapter[logging.Logger]
else:  # not subscriptable at run time before Python 3.11
    _Adapter = logging.LoggerAdapter


class ClientLogger(_Adapter):
    """The library logger as one client uses it: with ``debug=True`` its records reach stderr."""

    def __init__(self, *, debug: bool = False) -> None:
        super().__init__(LOGGER, {_DEBUG_ATTRIBUTE: debug})
        self.debug_enabled = debug
        if debug:
            _attach_handler()

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        kwargs["extra"] = {**(kwargs.get("extra") or {}), **(self.extra or {})}
        return msg, kwargs

    def _wanted_on_stderr(self, level: int) -> bool:
        env = _HANDLER.level_from_env
        return self.debug_enabled or (env is not None and level >= env)

    def isEnabledFor(self, level: int) -> bool:
        return self._wanted_on_stderr(level) or self.logger.isEnabledFor(level)

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if self.logger.isEnabledFor(level):
            msg, kwargs = self.process(msg, kwargs)
            # Name the library's line that logged, not this method.
            kwargs.setdefault("stacklevel", 2)
            self.logger.log(level, msg, *args, **kwargs)
        elif self._wanted_on_stderr(level) and not self.logger.disabled:
            record = self.logger.makeRecord(
                self.logger.name,
                level,
                "(suprsend_async)",
                0,
                msg,
                args,
                None,
                extra={_DEBUG_ATTRIBUTE: True},
            )
            _HANDLER.handle(record)
