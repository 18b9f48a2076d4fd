"""Which HTTP library a client speaks through: httpx (the default) or httpx2.

httpx2 is httpx's continuation under another import name: the same API,
name for name, but its own classes. It refuses httpx's (an httpx ``Auth``,
``Timeout`` or byte stream is not one of its own), so the few classes this
package derives from the library's are made once per library, by functions
that take the library module and name it ``httpx`` inside: one code path,
type-checked against httpx's API, which httpx2 keeps.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from types import ModuleType
from typing import Literal

import httpx

from .._values.errors import SuprsendConfigError

__all__ = [
    "HTTP_STACKS",
    "HTTP_STACK_VAR",
    "HttpStack",
    "as_httpx_error",
    "chosen_stack",
    "library",
    "stack_of",
]

HttpStack = Literal["httpx", "httpx2"]
HTTP_STACKS: tuple[HttpStack, ...] = ("httpx", "httpx2")
HTTP_STACK_VAR = "SUPRSEND_HTTP_STACK"


def library(stack: HttpStack) -> ModuleType:
    """The module of ``stack``; SuprsendConfigError naming the extra if it is missing."""
    if stack == "httpx":
        return httpx
    try:
        return importlib.import_module("httpx2")
    except ImportError:
        raise SuprsendConfigError(
            "http_stack='httpx2' needs httpx2: pip install 'suprsend-async[httpx2]'"
            " (Python 3.11 or later)"
        ) from None


def stack_of(value: object, kinds: tuple[str, ...]) -> HttpStack | None:
    """The library ``value`` is an instance of one of the classes ``kinds`` of, if any."""
    for stack in HTTP_STACKS:
        # Never imported here: an httpx2 object exists only if httpx2 already is.
        module = sys.modules.get(stack)
        if module is not None and isinstance(value, tuple(getattr(module, k) for k in kinds)):
            return stack
    return None


def chosen_stack(
    http_stack: object,
    given: HttpStack | None,
    environ: Mapping[str, str] = os.environ,
) -> HttpStack:
    """The stack a client uses: ``http_stack`` if set, else that of the ``http_client``
    or ``transport`` given (``given``), else ``SUPRSEND_HTTP_STACK``, else httpx.
    """
    if http_stack is not None:
        if http_stack not in HTTP_STACKS:
            raise SuprsendConfigError(
                f"http_stack must be 'httpx' or 'httpx2', got {http_stack!r}"[:200]
            )
        if given is not None and given != http_stack:
            raise SuprsendConfigError(
                f"http_stack={http_stack!r}, but the http_client or transport given is {given}'s"
            )
        library(http_stack)
        return http_stack
    if given is not None:
        return given
    from_env = environ.get(HTTP_STACK_VAR, "").strip()
    if not from_env:
        return "httpx"
    if from_env not in HTTP_STACKS:
        raise SuprsendConfigError(
            f"{HTTP_STACK_VAR} must be 'httpx' or 'httpx2', got {from_env!r}"[:200]
        )
    library(from_env)
    return from_env


def as_httpx_error(exc: Exception) -> Exception:
    """An httpx2 error as httpx's error of the same name (anything else as it is).

    What the client does with a failed request (retry it or not, the message
    it gives) is decided on httpx's exception classes; an httpx2 stack's
    errors are translated into them at the edge, so that one decision
    covers both libraries.
    """
    for cls in type(exc).__mro__:
        if not cls.__module__.startswith("httpx2"):
            continue
        twin = getattr(httpx, cls.__name__, None)
        if isinstance(twin, type) and issubclass(twin, httpx.RequestError):
            return twin(str(exc), request=getattr(exc, "_request", None))
        if isinstance(twin, type) and issubclass(twin, Exception):
            try:
                return twin(str(exc))
            except TypeError:  # StreamConsumed and its kin take no message
                return twin()
    return exc
