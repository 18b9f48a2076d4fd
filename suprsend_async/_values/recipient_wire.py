"""A recipient's wire form: the dict the hub's JSON has for it.

A module of its own so that models.py (which validates a recipient by its wire
form as it is built) and _wire/serialization.py (which sends it) both use it
without importing each other: models.py registers its recipient classes here
as it defines them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from .limits import CHANNEL_KEYS

__all__ = ["recipient_to_wire", "register_object_recipient", "register_recipient"]

_converter = cattrs.Converter()
_registered: tuple[type, ...] = ()

# Fields sent under a "$" name: the channel identities and the user settings.
_DOLLAR_FIELDS = (
    *(key.removeprefix("$") for key in CHANNEL_KEYS),
    "channels",
    "timezone",
    "locale",
    "preferred_language",
)


def register_recipient(cls: type) -> None:
    """``cls`` (the Recipient class) unstructures with "$" names, defaults left out,
    tuples as lists and its ``properties`` merged in as they are."""
    global _registered
    renames: dict[str, Any] = {name: override(rename=f"${name}") for name in _DOLLAR_FIELDS}
    fields: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
        cls, _converter, _cattrs_omit_if_default=True, properties=override(omit=True), **renames
    )

    def unstructure(recipient: Any) -> dict[str, Any]:
        wire = fields(recipient)
        for key, value in wire.items():
            if isinstance(value, tuple):
                wire[key] = list(value)
        wire.update(recipient.properties)
        return wire

    _converter.register_unstructure_hook(cls, unstructure)
    _registered = (*_registered, cls)


def register_object_recipient(cls: type) -> None:
    """``cls`` (the ObjectRecipient class) as ``{"object_type": ..., "id": ...}``."""
    global _registered
    _converter.register_unstructure_hook(cls, lambda o: {"object_type": o.object_type, "id": o.id})
    _registered = (*_registered, cls)


def recipient_to_wire(recipient: object) -> Any:
    """A recipient as the hub's JSON sees it; other values pass through for validation."""
    if isinstance(recipient, _registered):
        return _converter.unstructure(recipient)
    return recipient
