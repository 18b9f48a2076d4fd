"""What the resources and the bulk engine need of the client, without importing it.

``AsyncSuprsend`` satisfies this protocol; typing against it (instead of the
client class) keeps the core and the resources free of imports of ``_client``,
which imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .._values.limits import Limits
    from .._values.options import RequestOptions
    from .._wire.serialization import Serializer
    from .retry import RetryPolicy
    from .transport import HubTransport

__all__ = ["ClientContext"]


class ClientContext(Protocol):
    @property
    def _transport(self) -> HubTransport: ...

    @property
    def _serializer(self) -> Serializer: ...

    @property
    def _env(self) -> str | None: ...

    @property
    def limits(self) -> Limits: ...

    @property
    def max_concurrency(self) -> int: ...

    @property
    def retry_policy(self) -> RetryPolicy: ...

    @property
    def auto_idempotency_keys(self) -> bool: ...

    @property
    def _options(self) -> RequestOptions: ...

    def _check_concurrency(self, max_concurrency: object) -> int: ...

    def _ensure_open(self) -> None: ...
