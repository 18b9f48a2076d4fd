"""Endpoints as data: a method, a path template, a retry safety, and how it pages.

Each hub endpoint is declared once (``_wire.endpoints``) as an
:class:`Endpoint`; the client builds its escaped path from it, the emulator
routes on its template, and the tests walk the table. A client method turns
an endpoint and its ids into a :class:`Call`, the one value the request core
takes: ``USERS.get.at(distinct_id="ann")``.

An endpoint is generic in the JSON it answers (``Endpoint[UserJSON]``, a
``TypedDict`` of ``_values.answers``), declared with it in the table; its
calls carry that type to the resource's helpers, so a method's return type
is checked against its endpoint's by mypy. At run time nothing changes: the
answer is the hub's JSON as parsed.

An id goes into its hole through :func:`~suprsend_async._wire.query.path_segment`:
stripped, refused when empty, ``.`` or ``..``, and escaped whole, so an id
holding ``/`` stays one segment and cannot reach another route.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from typing import Any, Generic, Literal, TypeAlias

import attrs

from .._values.errors import SuprsendValidationError
from .._values.idempotency import RetrySafety
from .query import path_segment

__all__ = [
    "NO_BODY",
    "AnswerT",
    "Call",
    "Endpoint",
    "Method",
    "Paging",
    "Route",
    "Safety",
]

Method = Literal["GET", "POST", "PATCH", "DELETE"]
# How a list endpoint pages: by ``meta.after`` cursors, or by ``limit``/``offset``.
Paging = Literal["cursor", "offset"]
# A safety fixed per endpoint, or decided from the body (an edit: by its operations).
Safety: TypeAlias = "RetrySafety | Callable[[Any], RetrySafety]"

if sys.version_info >= (3, 13):
    from typing import TypeVar
else:  # a type variable's default came in 3.13
    from typing_extensions import TypeVar

# The JSON an endpoint answers; undeclared, a plain JSON object. Covariant: a call
# answering a user within a tenant is a call answering a user.
AnswerT = TypeVar("AnswerT", covariant=True, default=dict[str, Any])

_HOLE = re.compile(r"\{(\w+)\}")


class _NoBody:
    def __repr__(self) -> str:
        return "NO_BODY"


# A request without a body (distinct from a JSON ``null`` one).
NO_BODY: Any = _NoBody()


@attrs.frozen
class Route:
    """A path template relative to the base URL: ``v1/user/{distinct_id}/``.

    ``route / "merge/"`` is the template below it.
    """

    template: str
    # The template split at its holes, once: literal text at even positions,
    # hole names at odd ones (every REST call fills one in).
    _pieces: tuple[str, ...] = attrs.field(init=False, repr=False, eq=False)

    @_pieces.default
    def _split(self) -> tuple[str, ...]:
        return tuple(_HOLE.split(self.template))

    def __truediv__(self, below: str) -> Route:
        return Route(self.template + below)

    @property
    def holes(self) -> tuple[str, ...]:
        """The names of its ids, in path order."""
        return self._pieces[1::2]

    def path(self, ids: Mapping[str, object]) -> str:
        """The template with each hole replaced by its id, escaped as one segment."""
        pieces = list(self._pieces)
        for name in pieces[1::2]:
            if name not in ids:  # a programming error of the caller: name it all the same
                raise SuprsendValidationError(name, "is required")
        for at in range(1, len(pieces), 2):
            pieces[at] = path_segment(ids[pieces[at]], pieces[at])
        return "".join(pieces)


@attrs.frozen
class Endpoint(Generic[AnswerT]):
    """One hub operation: ``get: Endpoint[UserJSON] = Endpoint("GET", USER, READ)``.

    ``safety`` is a :class:`RetrySafety`, or a function of the body giving one
    (``_values.idempotency.body_edit_safety``); ``paged`` says how a list pages
    (``None`` for a single answer). ``deletes``: the call deletes what its path
    names (every ``DELETE``, and the hub's ``PATCH .../delete/``), so a retry's
    404 after an attempt that may have deleted it is the success it is.
    ``repeated_query``: a list value in the query is the key repeated once per
    item (``status[]=a&status[]=b``), as the official SDK sends the messages
    filters; elsewhere it sends the list as one value.
    """

    method: Method
    route: Route
    safety: Safety = attrs.field(repr=False)
    paged: Paging | None = None
    deletes: bool = attrs.field(kw_only=True)
    repeated_query: bool = attrs.field(default=False, kw_only=True)

    @deletes.default
    def _deletes_by_method(self) -> bool:
        return self.method == "DELETE"

    @property
    def template(self) -> str:
        return self.route.template

    def at(self, **ids: object) -> Call[AnswerT]:
        """The call of this endpoint on these ids (validated and escaped now)."""
        return Call(self, self.route.path(ids))

    def __str__(self) -> str:
        return f"{self.method} {self.route.template}"


@attrs.frozen
class Call(Generic[AnswerT]):
    """Everything the request core needs to send one request, as one value.

    ``path`` is escaped; :attr:`route` (the template) names the call in logs,
    spans, retry events and errors, never the ids in it.
    """

    endpoint: Endpoint[AnswerT]
    path: str
    query: Mapping[str, Any] | None = None
    body: Any = NO_BODY
    # Decided by the caller when the body alone cannot say (an edit sent pre-encoded).
    decided_safety: RetrySafety | None = None

    @property
    def method(self) -> Method:
        return self.endpoint.method

    @property
    def route(self) -> str:
        return self.endpoint.route.template

    @property
    def safety(self) -> RetrySafety:
        if self.decided_safety is not None:
            return self.decided_safety
        safety = self.endpoint.safety
        return safety if isinstance(safety, RetrySafety) else safety(self.body)

    # (Built directly rather than by attrs.evolve, which inspects the class on
    # every use: these run on every REST call.)
    def with_query(self, query: Mapping[str, Any] | None) -> Call[AnswerT]:
        return Call(self.endpoint, self.path, query, self.body, self.decided_safety)

    def with_body(self, body: Any) -> Call[AnswerT]:
        return Call(self.endpoint, self.path, self.query, body, self.decided_safety)

    def with_query_and_body(self, query: Mapping[str, Any] | None, body: Any) -> Call[AnswerT]:
        return Call(self.endpoint, self.path, query, body, self.decided_safety)

    def with_safety(self, safety: RetrySafety) -> Call[AnswerT]:
        return Call(self.endpoint, self.path, self.query, self.body, safety)
