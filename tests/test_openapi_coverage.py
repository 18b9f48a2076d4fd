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
from suprsend_async.resources._runs import BROADCAST_FILTERS, WORKFLOW_FILTERS, RunFilters

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


def _operation_lines(method: str, path: str) -> list[str]:
    """The document's lines of one operation (``path`` as the document spells it)."""
    if not DOCUMENT.exists():
        pytest.skip(f"the OpenAPI document is not beside the checkout ({DOCUMENT})")
    lines = DOCUMENT.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"  {path}:")
    start = next(i for i in range(start, len(lines)) if lines[i] == f"    {method}:")
    end = next(
        (i for i in range(start + 1, len(lines)) if re.match(r"^ {0,4}\S", lines[i])), len(lines)
    )
    return lines[start:end]


def _body_properties(lines: list[str]) -> list[str]:
    """The top-level properties of the operation's JSON request body, in order."""
    body = lines.index("      requestBody:")
    properties = next(i for i in range(body, len(lines)) if lines[i] == "              properties:")
    names = []
    for line in lines[properties + 1 :]:
        if line.strip() and not line.startswith(" " * 16):
            break
        if match := re.match(r"^ {16}(\w+):\s*$", line):
            names.append(match[1])
    return names


@pytest.mark.parametrize(
    "filters", [WORKFLOW_FILTERS, BROADCAST_FILTERS], ids=["workflow", "broadcast"]
)
def test_the_cancel_filters_are_the_documents_and_the_required_ones_its_400s(
    filters: RunFilters,
) -> None:
    # A filter the hub does not know could be ignored by it: the cancel would then reach
    # runs it was meant to leave out. So the client sends the document's filters, no other.
    lines = _operation_lines("post", filters.path)
    assert sorted(_body_properties(lines)) == sorted(filters.names)
    [required] = {
        m[1]
        for line in lines
        if (m := re.search(r"at least one filter is required: ([\w, ]+)", line))
    }
    assert tuple(required.split(", ")) == filters.required
