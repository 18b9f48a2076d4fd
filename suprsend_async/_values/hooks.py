"""Checks for the callables users hand in as hooks (``on_retry``, ``on_progress``)."""

from __future__ import annotations

import inspect

from .errors import SuprsendConfigError

__all__ = ["check_hook"]


def check_hook(hook: object, name: str) -> None:
    """Refuse a hook that cannot be called as one, before anything is sent.

    Hooks are called synchronously where their event happens and are never
    awaited: an ``async def`` hook would return a coroutine that nobody runs,
    its metrics or progress silently lost. Refused, with the way out.
    """
    if hook is None:
        return
    if not callable(hook):
        raise SuprsendConfigError(f"{name} must be callable, got {type(hook).__name__}")
    # (The second test: an object whose class has an async __call__.)
    if inspect.iscoroutinefunction(hook) or inspect.iscoroutinefunction(type(hook).__call__):
        raise SuprsendConfigError(
            f"{name} must be a plain function, not async: it is called between requests"
            " and never awaited (to do async work, hand the value to a queue or a task)"
        )
