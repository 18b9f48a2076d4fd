"""Every operation of the hub's OpenAPI document is reachable from the client.

The route table (``_wire/endpoints.py``) declares the REST endpoints; the three
record-carrying operations go through the bulk engine and single sends instead,
and their paths are held to the official SDK's by the parity tests named below.
The document is read from ``../shared/reference`` beside the checkout.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from suprsend_async._wire.endpoints import EVERY_ENDPOINT

DOCUMENT = Path(__file__).resolve().parents[2] / "shared/reference/suprsend-hub-openapi.yml"
# The management API (workspaces, keys, workflows, templates v2...): not the hub's.
MANAGEMENT = re.compile(r"^/(v1/workspace/|v1/\{workspace\}/|v2/\{workspace\}/)")
# Sent by the bulk engine and the single-send path, not through the route table.
RECORD_OPERATIONS = {
    ("POST", "/trigger/"),  # workflows.trigger: tests/test_wire_conformance.py
    ("POST", "/{}/trigger/"),  # trigger_workflow (dynamic): tests/test_audience_parity.py
    ("POST", "/{}/broadcast/"),  # subscriber_lists.broadcast: tests/test_audience_parity.py
}


def _holes(path: str) -> str:
    # The document and the table name ids differently ({id} / {object_id}).
    return re.sub(r"\{[^}]*\}", "{}", path)


def _hub_operations() -> set[tuple[str, str]]:
    if not DOCUMENT.exists():
        pytest.skip(f"the OpenAPI document is not beside the checkout ({DOCUMENT})")
    operations, path = set(), None
    for line in DOCUMENT.read_text(encoding="utf-8").splitlines():
        if match := re.match(r"^  (/\S*):\s*$", line):
            path = match[1]
        elif (match := re.match(r"^    (get|post|put|patch|delete):\s*$", line)) and path:
            operations.add((match[1].upper(), path))
        elif re.match(r"^\S", line):
            path = None
    return {(m, _holes(p)) for m, p in operations if not MANAGEMENT.match(p)}


def test_the_document_has_66_hub_operations() -> None:
    assert len(_hub_operations()) == 66


def test_every_hub_operation_is_declared_in_the_route_table_or_sent_as_records() -> None:
    declared = {(e.method, _holes("/" + e.route.template)) for e in EVERY_ENDPOINT}
    missing = _hub_operations() - declared
    assert missing == RECORD_OPERATIONS
