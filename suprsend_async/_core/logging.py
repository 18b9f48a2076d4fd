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
handlers, whose levels it is below anyway: a client's through
:class:`ClientLogger`, and any other of the ``suprsend_async`` tree (a module's
``logging.getLogger("suprsend_async")``, the outbox's ``suprsend_async.outbox``)
because ``SUPRSEND_LOG`` widens the level check of those loggers
(:func:`library_logger`). Records never hold payloads or secrets.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, TextIO

__all__ = ["ENV_VAR", "LOGGER", "ClientLogger", "configure_from_environment", "library_logger"]

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
_WIDENED = "_suprsend_widened"
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


def _env_wants(level: int) -> bool:
    env = _HANDLER.level_from_env
    return env is not None and level >= env


def _widen(logger: logging.Logger) -> None:
    """Let the records ``SUPRSEND_LOG`` asks for through ``logger``'s level check, to
    our handler alone; the logger's level and what its handlers get stay as they were.

    The logging module drops a record below a logger's level before any handler
    sees it, and a logger of ours has the application's level (WARNING by
    default): so the check itself is widened, on this logger only.
    """
    if getattr(logger, _WIDENED, False):
        return
    enabled, handle = logger.isEnabledFor, logger.handle

    def is_enabled_for(level: int) -> bool:
        if enabled(level):
            return True
        return _env_wants(level) and not logger.disabled and logger.manager.disable < level

    def handle_record(record: logging.LogRecord) -> None:
        if enabled(record.levelno):
            handle(record)  # as ever: the logger's handlers, then its parents'
        elif not logger.disabled and logger.filter(record):
            _HANDLER.handle(record)  # what only SUPRSEND_LOG asked for

    # Instance attributes, which Logger.info and Logger._log find first.
    logger.isEnabledFor = is_enabled_for  # type: ignore[method-assign]
    logger.handle = handle_record  # type: ignore[method-assign]
    setattr(logger, _WIDENED, True)


def library_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` for a logger of the ``suprsend_async`` tree, whose
    records ``SUPRSEND_LOG`` shows whatever its level (see :func:`_widen`)."""
    if name != LOGGER.name and not name.startswith(LOGGER.name + "."):
        raise ValueError(f"{name!r} is not a logger of the {LOGGER.name} tree")
    logger = logging.getLogger(name)
    if _HANDLER.level_from_env is not None:
        _widen(logger)
    return logger


def _widen_tree() -> None:
    """The library's loggers made so far (those made later come through library_logger)."""
    _widen(LOGGER)
    prefix = LOGGER.name + "."
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith(prefix) and isinstance(logger, logging.Logger):
            _widen(logger)


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
    _widen_tree()
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
