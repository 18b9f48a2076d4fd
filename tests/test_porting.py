"""Code ported from the official SDK runs as it is: its positional and keyword forms, and
help() that documents the arguments."""

from __future__ import annotations

import pydoc
import re
import types
from pathlib import Path

import pytest

from suprsend_async import (
    AsyncSuprsend,
    Attachment,
    Event,
    SuprsendValidationError,
    WorkflowTriggerRequest,
)


def test_event_takes_the_official_positional_order() -> None:
    positional = Event("u1", "order_paid", {"amount": 10}, "order-42", "tenant-1", "brand-1")
    keywords = Event(
        distinct_id="u1",
        event_name="order_paid",
        properties={"amount": 10},
        idempotency_key="order-42",
        tenant_id="tenant-1",
        brand_id="brand-1",
    )
    assert positional == keywords
    assert (positional.idempotency_key, positional.tenant_id, positional.brand_id) == (
        "order-42",
        "tenant-1",
        "brand-1",
    )


def test_events_built_without_properties_do_not_share_a_dict() -> None:
    first, second = Event("u1", "order_paid"), Event("u2", "order_paid")
    assert first.properties == second.properties == {}
    assert first.properties is not second.properties


@pytest.mark.anyio
async def test_attachments_take_the_official_file_name_keyword(tmp_path: Path) -> None:
    by_url = Attachment.from_url("https://example.com/a.pdf", file_name="Invoice.pdf")
    assert (by_url.url, by_url.filename) == ("https://example.com/a.pdf", "Invoice.pdf")
    (tmp_path / "r.csv").write_text("a,b\n")
    by_path = await Attachment.from_path(tmp_path / "r.csv", file_name="Report.csv")
    assert by_path is not None
    assert (by_path.filename, by_path.content_type) == ("Report.csv", "text/csv")
    positional = Attachment.from_url("https://example.com/a.pdf", "Invoice.pdf", True)
    assert (positional.filename, positional.ignore_if_error) == ("Invoice.pdf", True)


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (
            Event,
            [
                "Event(distinct_id: 'str', event_name: 'str', properties: "
                "'Mapping[str, Any] | None' = None, idempotency_key: 'str | None' = None,",
                "- ``idempotency_key``: the hub processes a key once in 24 hours",
            ],
        ),
        (
            WorkflowTriggerRequest,
            [
                "WorkflowTriggerRequest(body: 'Mapping[str, Any] | None' = None, /, *,"
                " workflow: 'str', recipients: 'Recipients', "
                "data: 'Mapping[str, Any] | None' = None,",
                "- ``recipients``: a list of recipients, each a distinct_id string",
            ],
        ),
        (Attachment, ["Build one with :meth:`from_url`", "``file_name`` is the name"]),
    ],
)
def test_help_shows_the_typed_signature_and_what_each_argument_is(
    cls: type, expected: list[str]
) -> None:
    text = pydoc.render_doc(cls, renderer=pydoc.plaintext)  # type: ignore[attr-defined]
    for part in expected:
        assert part in text


def migration_table() -> list[str]:
    """The left column of the README's migration table: what the official SDK calls things."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("### Migrating from `suprsend-py-sdk`", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [row.split(" | ", 1)[0] for row in rows[1:]]  # past the header


def official_public_names() -> list[str]:
    """Every public name the official SDK exports, and every public attribute of its client."""
    suprsend = pytest.importorskip("suprsend")
    exported = [
        name
        for name, value in vars(suprsend).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    ]
    client = suprsend.Suprsend("workspace-key", "workspace-secret")
    attributes = [f"supr_client.{name}" for name in dir(client) if not name.startswith("_")]
    return [*exported, "__version__", *attributes]


def test_the_migration_table_has_a_row_for_every_public_name_of_the_official_sdk() -> None:
    left = " ".join(migration_table())
    missing = [
        name
        for name in official_public_names()
        if not re.search(rf"(?<![\w.]){re.escape(name)}\b", left)
        # Suprsend.with_workspace_api_key is spelled on the class, as it is called.
        and not re.search(rf"\b{re.escape(name.replace('supr_client.', 'Suprsend.'))}\b", left)
    ]
    assert missing == []


# -- names of the official SDK (issue 21) ---------------------------------------------------


def test_the_official_exception_names_resolve_to_ours() -> None:
    import suprsend_async
    from suprsend_async import InputValueError, SuprsendAPIException

    assert SuprsendAPIException is suprsend_async.SuprsendAPIError
    assert InputValueError is suprsend_async.SuprsendValidationError


@pytest.mark.parametrize(
    ("name", "says"),
    [("Suprsend", "AsyncSuprsend"), ("AppInfo", "app_info=")],
)
def test_an_official_name_we_lack_says_what_to_use(name: str, says: str) -> None:
    with pytest.raises(ImportError, match=says):
        exec(f"from suprsend_async import {name}", {})


@pytest.mark.parametrize(
    ("name", "says"),
    [("user", "client.users"), ("bulk_users", "get_bulk_edit_instance")],
)
def test_an_official_namespace_we_lack_says_what_to_use(name: str, says: str) -> None:
    client = AsyncSuprsend("WS_KEY_0001", "secret")
    with pytest.raises(AttributeError, match=says):
        getattr(client, name)
    assert not hasattr(client, "no_such_thing")


@pytest.mark.parametrize(
    "name", ["tenants", "brands", "objects", "messages", "subscriber_lists", "bulk_workflows"]
)
def test_an_official_namespace_we_have_is_there_under_its_name(name: str) -> None:
    client = AsyncSuprsend("WS_KEY_0001", "secret")
    assert type(getattr(client, name)).__module__.startswith("suprsend_async.resources.")


def test_official_names_we_have_import_as_they_are() -> None:
    from suprsend_async import ObjectEdit, SubscriberListBroadcast, Workflow

    assert {ObjectEdit.__name__, SubscriberListBroadcast.__name__, Workflow.__name__} == {
        "ObjectEdit",
        "SubscriberListBroadcast",
        "Workflow",
    }


def test_a_workflow_trigger_request_ported_verbatim_works() -> None:
    body = {"workflow": "welcome", "recipients": ["u1"], "data": {"n": 1}}
    ported = WorkflowTriggerRequest(body, idempotency_key="k1", tenant_id="acme")
    assert ported == WorkflowTriggerRequest(
        workflow="welcome", recipients=["u1"], data={"n": 1}, idempotency_key="k1", tenant_id="acme"
    )
    with pytest.raises(SuprsendValidationError, match="not both"):
        WorkflowTriggerRequest(body, data={})
