"""The hub's answers as typed dicts, for annotating what the REST calls return.

``from suprsend_async.types import UserJSON, CursorPage``. At run time each is
the plain dict the hub sent (as the official SDK returns it); mypy and editors
know its keys and their types. Defined in ``suprsend_async._values.answers``
and (lists, messages, runs, templates) ``suprsend_async._values.audience_answers``.
"""

from ._values import answers as _answers
from ._values import audience_answers as _audience
from ._values.answers import *  # noqa: F403 - this module is their public name
from ._values.audience_answers import *  # noqa: F403

__all__ = [*_answers.__all__, *_audience.__all__]
