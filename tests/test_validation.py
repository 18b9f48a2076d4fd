"""Bad input fails at construction with a typed error naming the field and the rule."""

from __future__ import annotations

import string
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from suprsend_async import (
    AsyncSuprsend,
    Attachment,
    Event,
    ObjectRecipient,
    Recipient,
    SuprsendValidationError,
    WorkflowTriggerRequest,
)
from suprsend_async._limits import ALLOWED_RESERVED_EVENT_NAMES


def error_of(build: Any) -> SuprsendValidationError:
    with pytest.raises(SuprsendValidationError) as info:
        build()
    return info.value


# -- events ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "rule"),
    [
        ({"distinct_id": "", "event_name": "paid"}, "distinct_id", "empty"),
        ({"distinct_id": "   ", "event_name": "paid"}, "distinct_id", "empty"),
        ({"distinct_id": 42, "event_name": "paid"}, "distinct_id", "must be a string, got int"),
        ({"distinct_id": None, "event_name": "paid"}, "distinct_id", "must be a string"),
        ({"distinct_id": "u", "event_name": ""}, "event", "empty"),
        ({"distinct_id": "u", "event_name": "x"}, "event", "at least 2"),
        ({"distinct_id": "u", "event_name": "$custom"}, "event", "reserved"),
        ({"distinct_id": "u", "event_name": "ss_thing"}, "event", "reserved"),
        ({"distinct_id": "u", "event_name": "SS_Thing"}, "event", "reserved"),
        ({"distinct_id": "u", "event_name": 7}, "event", "must be a string"),
        (
            {"distinct_id": "u", "event_name": "paid", "properties": [1]},
            "properties",
            "mapping",
        ),
        (
            {"distinct_id": "u", "event_name": "paid", "properties": {1: "x"}},
            "properties",
            "keys must be strings",
        ),
        (
            {"distinct_id": "u", "event_name": "paid", "idempotency_key": "k" * 256},
            "idempotency_key",
            "at most 255",
        ),
        (
            {"distinct_id": "u", "event_name": "paid", "idempotency_key": 5},
            "idempotency_key",
            "must be a string or None",
        ),
        ({"distinct_id": "u", "event_name": "paid", "tenant_id": "t" * 65}, "tenant_id", "64"),
        ({"distinct_id": "u", "event_name": "paid", "brand_id": "b" * 65}, "brand_id", "64"),
    ],
)
def test_invalid_events_name_field_and_rule(kwargs: dict[str, Any], field: str, rule: str) -> None:
    error = error_of(lambda: Event(**kwargs))
    assert field in error.field
    assert rule in error.rule
    assert str(error) == f"{error.field}: {error.rule}"
    assert isinstance(error, ValueError)  # also catchable as the builtin


def test_allowed_system_events_and_stripping() -> None:
    for name in ALLOWED_RESERVED_EVENT_NAMES:
        assert Event("u1", name).event_name == name
    event = Event("  u1 ", "  paid  ")
    assert (event.distinct_id, event.event_name) == ("u1", "paid")


def test_an_oversize_event_is_refused_before_sending() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    client = AsyncSuprsend("k" * 20, "s", transport=httpx.MockTransport(handler))
    big = Event("u1", "paid", {"blob": "x" * 110_000})
    with pytest.raises(SuprsendValidationError, match="larger than the limit"):
        client._serializer.encode_event(big)
    assert seen == []


def test_unserializable_properties_name_the_field() -> None:
    client = AsyncSuprsend("k" * 20, "s")
    error = error_of(lambda: client._serializer.encode_event(Event("u", "paid", {"x": object()})))
    assert error.field == "properties"
    assert "JSON-serializable" in error.rule


def test_event_from_body_accepts_the_official_dict_form() -> None:
    event = Event.from_body(
        {"distinct_id": "u1", "event": "paid", "properties": {"a": 1}, "$idempotency_key": "k"}
    )
    assert (event.distinct_id, event.event_name, event.idempotency_key) == ("u1", "paid", "k")
    with pytest.raises(SuprsendValidationError):
        Event.from_body({"event": "paid"})


# -- property-based ------------------------------------------------------------------------

names = st.text(alphabet=string.ascii_letters + string.digits + "_-. ", min_size=2, max_size=60)


@given(names)
def test_any_unreserved_name_is_accepted_stripped(name: str) -> None:
    stripped = name.strip()
    reserved = stripped.lower().startswith(("$", "ss_"))
    if len(stripped) < 2 or reserved:
        with pytest.raises(SuprsendValidationError):
            Event("u1", name)
    else:
        assert Event("u1", name).event_name == stripped


@given(
    st.sampled_from(["$", "ss_", "SS_", "Ss_", "sS_"]),
    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=20),
)
def test_reserved_prefixes_are_refused_in_any_case(prefix: str, rest: str) -> None:
    name = prefix + rest
    if name in ALLOWED_RESERVED_EVENT_NAMES:
        return
    error = error_of(lambda: Event("u1", name))
    assert "reserved" in error.rule


@given(st.text(alphabet=" \t\n\r", max_size=10))
def test_whitespace_ids_are_refused(value: str) -> None:
    assert error_of(lambda: Event(value, "paid")).field == "distinct_id"
    assert error_of(lambda: WorkflowTriggerRequest(workflow=value, recipients=["u"])).field


@given(st.integers(min_value=0, max_value=400))
def test_idempotency_key_length_limit_is_exact(length: int) -> None:
    key = "k" * length
    if length > 255:
        assert error_of(lambda: Event("u", "paid", idempotency_key=key)).field == "idempotency_key"
    else:
        assert Event("u", "paid", idempotency_key=key).idempotency_key == (key or None)


@given(st.integers(min_value=0, max_value=130))
def test_recipient_count_limit_is_exact(count: int) -> None:
    recipients = [f"u{i}" for i in range(count)]
    if 1 <= count <= 100:
        assert len(WorkflowTriggerRequest(workflow="w", recipients=recipients).recipients) == count
    else:
        error = error_of(lambda: WorkflowTriggerRequest(workflow="w", recipients=recipients))
        assert error.field == "recipients"
        assert "1 to 100" in error.rule


# -- workflow triggers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"recipients": ["u"]}, "workflow", "must be a string"),
        ({"workflow": "w"}, "recipients", "must be a list"),
        ({"workflow": "w", "recipients": "u1"}, "recipients", "must be a list"),
        ({"workflow": "w", "recipients": [""]}, "recipients[0]", "empty"),
        ({"workflow": "w", "recipients": [{"$email": ["a@b.co"]}]}, "distinct_id", "string"),
        (
            {"workflow": "w", "recipients": [{"distinct_id": "u", "$email": ["e"] * 11}]},
            "$email",
            "at most 10",
        ),
        (
            {"workflow": "w", "recipients": [{"distinct_id": "u", "$channels": ["pigeon"]}]},
            "$channels",
            "unknown channels",
        ),
        ({"workflow": "w", "recipients": ["u"], "data": "x"}, "data", "mapping"),
        ({"workflow": "w", "recipients": ["u"], "metadata": 3}, "metadata", "mapping"),
        ({"workflow": "w", "recipients": ["u"], "surprise": 1}, "surprise", "not an allowed"),
        ({"workflow": "w", "recipients": ["u"], "actor": ""}, "actor", "empty"),
        (
            {"workflow": "w", "recipients": ["u"], "cancellation_key": "c" * 256},
            "cancellation_key",
            "255",
        ),
        ({"workflow": "w", "recipients": ["u"], "tenant_id": "t" * 65}, "tenant_id", "64"),
    ],
)
def test_invalid_trigger_bodies_name_field_and_rule(
    body: dict[str, Any], field: str, rule: str
) -> None:
    error = error_of(lambda: WorkflowTriggerRequest.from_body(body))
    assert field in error.field
    assert rule in error.rule


def test_from_body_takes_keys_as_the_official_sdk_does() -> None:
    request = WorkflowTriggerRequest.from_body(
        {"workflow": "w", "recipients": ["u"], "$idempotency_key": "in-body"},
        tenant_id="t",
        cancellation_key="c",
    )
    assert (request.idempotency_key, request.tenant_id, request.cancellation_key) == (
        "in-body",
        "t",
        "c",
    )
    override = WorkflowTriggerRequest.from_body(
        {"workflow": "w", "recipients": ["u"]}, idempotency_key="arg"
    )
    assert override.idempotency_key == "arg"


def test_typed_recipients_are_validated_too() -> None:
    assert error_of(lambda: Recipient(distinct_id=" ")).field.endswith("distinct_id")
    assert "at most 10" in error_of(lambda: Recipient(distinct_id="u", sms=["1"] * 11)).rule
    assert error_of(lambda: ObjectRecipient(object_type="", id="x")).field.endswith("object_type")
    assert Recipient(is_transient=True, email=["a@b.co"]).distinct_id is None


def test_value_objects_are_frozen() -> None:
    event = Event("u1", "paid")
    with pytest.raises(AttributeError):
        event.distinct_id = "u2"  # type: ignore[misc]


def test_attachment_caps() -> None:
    too_big = "A" * (50 * 1024)
    error = error_of(
        lambda: Event("u", "paid").with_attachment(Attachment(data=too_big, filename="f"))
    )
    assert "under" in error.rule
    with pytest.raises(SuprsendValidationError, match="http"):
        Attachment.from_url("ftp://example.com/x")
