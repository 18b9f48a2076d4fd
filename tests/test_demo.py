"""The demo's own accounting: "lost" is measured against what the hub processed."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from suprsend_async import BulkResponse, FailedRecord
from suprsend_async._demo import WORKFLOWS, _events, _lost, _triggers
from suprsend_async.testing import HubEmulator

pytestmark = pytest.mark.anyio


def claimed(records: list[Any], failed: set[int]) -> BulkResponse:
    """What a client would report: everything sent except the ``failed`` indexes."""
    return BulkResponse(
        status="partial" if failed else "success",
        total=len(records),
        success=len(records) - len(failed),
        failure=len(failed),
        failed_records=tuple(FailedRecord(i, records[i], "503", 503) for i in sorted(failed)),
    )


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
    assert _lost(args, hub, claimed(events, {3}), claimed(triggers, set())) == 2
    # Trigger 1 reported failed instead: only event 2 is lost.
    assert _lost(args, hub, claimed(events, {3}), claimed(triggers, {1})) == 1
