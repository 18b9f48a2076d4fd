"""The hub's answers as typed dicts, for annotating what the REST calls return.

``from suprsend_async.types import UserJSON, CursorPage``. At run time each is
the plain dict the hub sent (as the official SDK returns it); mypy and editors
know its keys and their types. Defined in ``suprsend_async._values.answers``.
"""

from ._values.answers import *  # noqa: F403 - this module is their public name
from ._values.answers import __all__ as __all__
