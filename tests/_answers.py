"""Whether a JSON value is what a typed answer (``suprsend_async.types``) declares.

The types are for mypy; this reads them at run time, so a test can hold an
answer from the emulator against the type its method is annotated with:
every required key present, every value of its declared type (extra keys
allowed, as the hub may add fields).
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from typing_extensions import is_typeddict

from suprsend_async import CursorPaginator, OffsetPaginator
from suprsend_async.types import CursorPage, OffsetPage


def mismatches(value: Any, declared: Any, where: str = "answer") -> list[str]:
    """Where ``value`` is not of the ``declared`` type (empty when it is)."""
    return _check(value, declared, where, {})


def _check(value: Any, declared: Any, where: str, bound: dict[Any, Any]) -> list[str]:
    if isinstance(declared, TypeVar):
        declared = bound[declared]
    origin, args = get_origin(declared), get_args(declared)
    if declared is Any:
        return []
    if declared is None or declared is type(None):
        return [] if value is None else [f"{where}: {value!r} is not None"]
    if origin in (Union, types.UnionType):
        results = [_check(value, arg, where, bound) for arg in args]
        return [] if any(not r for r in results) else [f"{where}: {value!r} is not {declared}"]
    if origin is Literal:
        return [] if value in args else [f"{where}: {value!r} is not one of {args}"]
    typed_dict = origin if is_typeddict(origin) else declared
    if is_typeddict(typed_dict):
        if not isinstance(value, dict):
            return [f"{where}: {value!r} is not an object"]
        parameters = getattr(typed_dict, "__parameters__", ())
        bound = {**bound, **dict(zip(parameters, args, strict=False))}
        missing = [
            f"{where}: no {key!r}" for key in sorted(typed_dict.__required_keys__ - value.keys())
        ]
        hints = get_type_hints(typed_dict)
        return missing + [
            problem
            for key, item in value.items()
            if key in hints
            for problem in _check(item, hints[key], f"{where}[{key!r}]", bound)
        ]
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: {value!r} is not a list"]
        return [p for i, v in enumerate(value) for p in _check(v, args[0], f"{where}[{i}]", bound)]
    if origin is dict:
        return [] if isinstance(value, dict) else [f"{where}: {value!r} is not an object"]
    if declared is int and isinstance(value, bool):
        return [f"{where}: {value!r} is a bool, not an int"]
    return [] if isinstance(value, declared) else [f"{where}: {value!r} is not {declared}"]


async def answer_of(method: Callable[..., Any], *args: Any) -> tuple[Any, Any]:
    """Call a REST method; its answer (a paginator's first page) and the type it declares."""
    declared = get_type_hints(method)["return"]
    result = method(*args)
    origin = get_origin(declared)
    if origin is CursorPaginator or origin is OffsetPaginator:
        page = CursorPage if origin is CursorPaginator else OffsetPage
        return await result, page[get_args(declared)[0]]
    return await result, declared
