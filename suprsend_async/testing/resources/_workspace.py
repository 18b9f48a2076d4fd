"""Everything the emulator keeps for one workspace: one store per REST resource.

``hub.store(workspace)`` gives it (made on first use); ``hub.users`` is the
first workspace's users. A new resource adds its store here, its routes in
its own module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from ._list_store import ListStore
from ._object_store import ObjectStore
from ._preferences import PreferenceRules
from ._run_store import RunStore
from ._template_store import TemplateStore
from ._tenant_store import TenantStore
from ._user_store import UserStore

__all__ = ["Workspace"]


class Workspace:
    """One workspace's state: its users, objects and tenants (brands), and the
    preference categories they share; its subscriber lists, its workflow and
    broadcast runs and their messages, its templates.

    ``user_limit``, ``user_bytes_limit``, ``count_applications`` and
    ``on_user_evicted`` bound the users (see :class:`UserStore`). Runs wait on
    ``clock`` (the emulator's), those of a workflow in ``workflow_delays`` that
    many seconds; ``keep_messages=False`` keeps only the runs still pending.
    """

    def __init__(
        self,
        *,
        user_limit: int | None = None,
        user_bytes_limit: int | None = None,
        count_applications: bool = True,
        on_user_evicted: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
        workflow_delays: Mapping[str, float] | None = None,
        templates: Iterable[str] = (),
        keep_messages: bool = True,
        max_list_ids_per_request: int = 1000,
    ) -> None:
        self.preference_rules = PreferenceRules()
        self.users = UserStore(
            self.preference_rules,
            limit=user_limit,
            byte_limit=user_bytes_limit,
            count_applications=count_applications,
            on_evict=on_user_evicted,
        )
        self.lists = ListStore(max_list_ids_per_request)
        self.runs = RunStore(
            clock,
            lambda list_id: self.lists[list_id].members if list_id in self.lists else (),
            workflow_delays,
            keep=keep_messages,
        )
        self.templates = TemplateStore(templates)
        self.objects = ObjectStore(self.users, count_applications=count_applications)
        self.tenants = TenantStore(self.preference_rules)
