"""The demo's own accounting: "lost" is measured against what the hub processed."""

from __future__ import annotations

import argparse

import pytest

from suprsend_async import BulkResponse, FailedRecord
from suprsend_async._demo import WORKFLOWS, _events, _lost, _triggers
from suprsend_async.testing import HubEmulator

pytestmark = pytest.mark.anyio


async def test_a_record_reported_sent_but_never_processed_counts_as_lost() -> None:
    hub = HubEmulator(workflows=set(WORKFLOWS))
    events, triggers = _events(4), _triggers(2)
    async with hub.client() as client:
        # The hub processes events 0 and 1 and trigger 0 only.
        for event in events[:2]:
            assert (await client.track_event(event)).success
        assert (await client.workflows.trigger(triggers[0])).success
    args = argparse.Namespace(events=4, triggers=2)
    # The client claims everything but event 3 (which it reports failed) was sent:
    # event 2 and trigger 1 were not processed, so two are lost.
    claimed_events = BulkResponse(
        status="partial",
        total=4,
        success=3,
        failure=1,
        failed_records=(FailedRecord(3, events[3], "503", 503),),
    )
    claimed_triggers = BulkResponse(status="success", total=2, success=2, failure=0)
    assert _lost(args, hub, claimed_events, claimed_triggers) == 2
    honest_triggers = BulkResponse(
        status="partial",
        total=2,
        success=1,
        failure=1,
        failed_records=(FailedRecord(1, triggers[1], "503", 503),),
    )
    assert _lost(args, hub, claimed_events, honest_triggers) == 1
