"""A local SuprSend hub for offline tests: ``HubEmulator``, ``serve`` and fault injection.

In-process (no socket)::

    hub = HubEmulator(workflows={"welcome"})
    async with hub.client() as client:
        await client.track_event(Event("u1", "signed_up"))
    assert hub.events[0].distinct_id == "u1"

On a real loopback socket, with faults::

    hub = HubEmulator(faults=Faults.mix(0.3, seed=7, latency=0.01))
    async with serve(hub) as base_url:
        ...  # AsyncSuprsend(hub.workspace_key, hub.workspace_secret, base_url=base_url)

The pytest plugin (installed with the package) gives the fixtures
``suprsend_hub``, ``suprsend_client`` and ``suprsend_hub_url``.
"""

from ._faults import ConnectionDropped, Fault, FaultKind, Faults
from ._hub import HubEmulator, HubStats
from ._server import serve
from .resources.broadcasts import ProcessedBroadcast
from .resources.events import ProcessedEvent, ProcessedIdentityEvent
from .resources.workflows import ProcessedTrigger

__all__ = [
    "ConnectionDropped",
    "Fault",
    "FaultKind",
    "Faults",
    "HubEmulator",
    "HubStats",
    "ProcessedBroadcast",
    "ProcessedEvent",
    "ProcessedIdentityEvent",
    "ProcessedTrigger",
    "serve",
]
