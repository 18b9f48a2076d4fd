"""Membership at scale: any number of ids, split into requests the hub accepts, every id
accounted for (property tests against the emulator, in process)."""

from __future__ import annotations

import math

import anyio
from hypothesis import given, settings
from hypothesis import strategies as st

from suprsend_async import Limits, RetryPolicy
from suprsend_async.testing import HubEmulator

ids = st.lists(st.sampled_from([f"u{n}" for n in range(40)] + ["é ü", "a/b", " spaced "]))


@settings(max_examples=40, deadline=None)
@given(ids, st.integers(1, 7), st.integers(1, 4))
def test_every_id_lands_once_whatever_the_chunking(
    distinct_ids: list[str], per_request: int, concurrency: int
) -> None:
    hub = HubEmulator(limits=Limits(max_list_ids_per_request=per_request))

    async def main() -> None:
        limits = Limits(max_list_ids_per_request=per_request)
        async with hub.client(limits=limits, retry=RetryPolicy.disabled()) as client:
            await client.subscriber_lists.create({"list_id": "beta"})
            before = hub.stats.requests
            added = await client.subscriber_lists.add(
                "beta", iter(distinct_ids), max_concurrency=concurrency
            )
            sent = hub.stats.requests - before
            if distinct_ids:
                assert added == {"success": True, "affected_count": len(set(distinct_ids))}
            assert sent == math.ceil(len(distinct_ids) / per_request)
            removed = await client.subscriber_lists.remove("beta", distinct_ids[::2])
            if distinct_ids:
                assert removed["affected_count"] == len(set(distinct_ids[::2]))

    anyio.run(main)
    members = set(hub.lists["beta"].members)
    assert members == set(distinct_ids) - set(distinct_ids[::2])
