"""Everything the emulator keeps for one workspace: one store per REST resource.

``hub.store(workspace)`` gives it (made on first use); ``hub.users`` is the
first workspace's users. A new resource adds its store here, its routes in
its own module.
"""

from __future__ import annotations

from collections.abc import Callable

from ._object_store import ObjectStore
from ._preferences import PreferenceRules
from ._tenant_store import TenantStore
from ._user_store import UserStore

__all__ = ["Workspace"]


class Workspace:
    """One workspace's state: its users, objects and tenants (brands), and the
    preference categories they share.

    ``user_limit``, ``user_bytes_limit``, ``count_applications`` and
    ``on_user_evicted`` bound the users (see :class:`UserStore`).
    """

    def __init__(
        self,
        *,
        user_limit: int | None = None,
        user_bytes_limit: int | None = None,
        count_applications: bool = True,
        on_user_evicted: Callable[[], None] | None = None,
    ) -> None:
        self.preference_rules = PreferenceRules()
        self.users = UserStore(
            self.preference_rules,
            limit=user_limit,
            byte_limit=user_bytes_limit,
            count_applications=count_applications,
            on_evict=on_user_evicted,
        )
        self.objects = ObjectStore(self.users, count_applications=count_applications)
        self.tenants = TenantStore(self.preference_rules)
