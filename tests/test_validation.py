"""Bad input fails where it is built, with a typed error naming the field and the rule.

Every rule of the wire reference is checked when an Event, a WorkflowTriggerRequest (or
``from_body``), a Recipient or an Attachment is built; the size caps when a record is
serialized. In every case the hub never sees a request: the client here sits on an
httpx.MockTransport that records what would have been sent.
"""

from __future__ import annotations

import enum
import json
import operator
import string
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import httpx
import pytest
from hypothesis import given, settings
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
from suprsend_async._values import models as _models
from suprsend_async._values import rules as _rules
from suprsend_async._values.attachments import attachment_tuple
from suprsend_async._values.json_codec import _stdlib_dumps, dumps
from suprsend_async._values.limits import (
    ALLOWED_RESERVED_EVENT_NAMES,
    CHANNEL_KEYS,
    CHANNEL_NAMES,
    TRIGGER_KEYS,
)
from suprsend_async._wire.serialization import Serializer, event_json

KEY, SECRET = "WS_TEST_KEY_000000000001", "test-secret"
MAX_EVENT_BYTES = 100 * 1024
MAX_TRIGGER_BYTES = 800 * 1024 - 200  # the hub adds up to 200 bytes to each workflow record
MAX_BASE64 = 50 * 1024


class Hub:
    """A MockTransport standing in for the hub, recording what reaches it."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.client = AsyncSuprsend(KEY, SECRET, transport=httpx.MockTransport(self))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(202, json={"status": "success", "message_id": "m"})


def error_of(build: Callable[[], object]) -> SuprsendValidationError:
    with pytest.raises(SuprsendValidationError) as info:
        build()
    return info.value


async def refused_before_sending(
    send: Callable[[AsyncSuprsend], Awaitable[object]],
) -> SuprsendValidationError:
    """Run ``send`` on a client and return its validation error; assert nothing was sent."""
    hub = Hub()
    async with hub.client as client:
        with pytest.raises(SuprsendValidationError) as info:
            await send(client)
    assert hub.requests == []
    error = info.value
    assert str(error) == f"{error.field}: {error.rule}"
    assert isinstance(error, ValueError)  # also catchable as the builtin
    return error


# -- events --------------------------------------------------------------------------------


def event_case(
    case_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], field: str, rule: str
) -> Any:
    return pytest.param(args, kwargs, field, rule, id=case_id)


INVALID_EVENTS = [
    event_case("empty distinct_id", ("", "paid"), {}, "distinct_id", "must not be empty"),
    event_case("blank distinct_id", (" \t\n", "paid"), {}, "distinct_id", "must not be empty"),
    event_case("int distinct_id", (42, "paid"), {}, "distinct_id", "must be a string, got int"),
    event_case("None distinct_id", (None, "paid"), {}, "distinct_id", "must be a string"),
    event_case("bytes distinct_id", (b"u1", "paid"), {}, "distinct_id", "got bytes"),
    event_case("empty event name", ("u", ""), {}, "event_name", "must not be empty"),
    event_case("one-letter event name", ("u", " x "), {}, "event_name", "at least 2"),
    event_case("int event name", ("u", 7), {}, "event_name", "must be a string"),
    event_case("$ prefix", ("u", "$custom"), {}, "event_name", "reserved"),
    event_case("ss_ prefix", ("u", "ss_thing"), {}, "event_name", "reserved"),
    event_case("SS_ prefix", ("u", "SS_Thing"), {}, "event_name", "reserved"),
    event_case("allowed name in capitals", ("u", "$IDENTIFY"), {}, "event_name", "reserved"),
    event_case("allowed name extended", ("u", "$identify_x"), {}, "event_name", "reserved"),
    event_case("list properties", ("u", "paid", [1]), {}, "properties", "mapping (dict)"),
    event_case("str properties", ("u", "paid", "a=1"), {}, "properties", "mapping (dict)"),
    event_case("int keys", ("u", "paid", {1: "x"}), {}, "properties", "keys must be strings"),
    event_case(
        "256-char idempotency key",
        ("u", "paid"),
        {"idempotency_key": "k" * 256},
        "idempotency_key",
        "at most 255 characters",
    ),
    event_case(
        "int idempotency key",
        ("u", "paid"),
        {"idempotency_key": 5},
        "idempotency_key",
        "must be a string or None",
    ),
    event_case("65-char tenant", ("u", "paid"), {"tenant_id": "t" * 65}, "tenant_id", "at most 64"),
    event_case("65-char brand", ("u", "paid"), {"brand_id": "b" * 65}, "brand_id", "at most 64"),
    event_case("int tenant", ("u", "paid"), {"tenant_id": 1}, "tenant_id", "must be a string"),
    event_case(
        "attachment not an Attachment",
        ("u", "paid"),
        {"attachments": ["https://x.test/a.pdf"]},
        "attachments[0]",
        "must be an Attachment",
    ),
    event_case(
        "attachments a string",
        ("u", "paid"),
        {"attachments": "https://x.test/a.pdf"},
        "attachments",
        "sequence of Attachment",
    ),
    event_case(
        "$attachments not a list",
        ("u", "paid", {"$attachments": {"url": "https://x.test/a"}}),
        {},
        "properties.$attachments",
        "must be a list",
    ),
    event_case(
        "$attachments item without url or data",
        ("u", "paid", {"$attachments": [{"filename": "a.pdf"}]}),
        {},
        "properties.$attachments[0]",
        "either 'url' or 'data'",
    ),
    event_case(
        "$attachments base64 at the cap",
        ("u", "paid", {"$attachments": [{"data": "A" * MAX_BASE64}]}),
        {},
        "properties.$attachments[0].data",
        f"under {MAX_BASE64} bytes",
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("args", "kwargs", "field", "rule"), INVALID_EVENTS)
async def test_an_invalid_event_is_refused_naming_field_and_rule_before_sending(
    args: tuple[Any, ...], kwargs: dict[str, Any], field: str, rule: str
) -> None:
    error = await refused_before_sending(lambda c: c.track_event(Event(*args, **kwargs)))
    assert error.field == field
    assert rule in error.rule


def test_the_allowed_system_events_are_accepted_exactly_and_ids_are_stripped() -> None:
    assert {
        "$identify",
        "$notification_delivered",
        "$notification_dismiss",
        "$notification_clicked",
        "$app_launched",
        "$user_login",
        "$user_logout",
    } == ALLOWED_RESERVED_EVENT_NAMES
    for name in ALLOWED_RESERVED_EVENT_NAMES:
        assert Event("u1", f"  {name} ").event_name == name
    event = Event("  u1 ", "  paid  ")
    assert (event.distinct_id, event.event_name) == ("u1", "paid")
    # Near misses of the reserved prefixes are ordinary names.
    for name in ("ss", "ss-x", "s$x", "ssx_", "s_s_", "_ss_x", "x$"):
        assert Event("u1", name).event_name == name


def test_optional_keys_at_their_limits_and_empty_ones_count_as_unset() -> None:
    event = Event("u", "paid", idempotency_key="k" * 255, tenant_id="t" * 64, brand_id="b" * 64)
    assert (len(event.idempotency_key or ""), len(event.tenant_id or "")) == (255, 64)
    assert Event("u", "paid", idempotency_key="", tenant_id="").idempotency_key is None
    assert Event("u", "paid", properties=None).properties == {}


def test_event_from_body_takes_the_official_dict_form_and_refuses_unknown_keys() -> None:
    body = {
        "event": "paid",
        "distinct_id": "u1",
        "properties": {"a": 1},
        "$idempotency_key": "k",
        "tenant_id": "t",
        "brand_id": "b",
        # per-send keys of a captured wire body are ignored, so it can be replayed
        "$insert_id": "x",
        "$time": 1,
        "env": "other",
    }
    event = Event.from_body(body)
    assert (event.distinct_id, event.event_name, event.properties) == ("u1", "paid", {"a": 1})
    assert (event.idempotency_key, event.tenant_id, event.brand_id) == ("k", "t", "b")
    assert error_of(lambda: Event.from_body({**body, "surprise": 1})).field == "surprise"
    assert error_of(lambda: Event.from_body({"event": "paid"})).field == "distinct_id"
    assert error_of(lambda: Event.from_body(["paid"])).field == "body"  # type: ignore[arg-type]


def test_value_objects_are_frozen() -> None:
    event = Event("u1", "paid")
    with pytest.raises(AttributeError):
        event.distinct_id = "u2"  # type: ignore[misc]
    request = WorkflowTriggerRequest(workflow="w", recipients=["u"])
    with pytest.raises(AttributeError):
        request.workflow = "x"  # type: ignore[misc]


# -- the size caps, checked on the bytes to be sent --------------------------------------------


async def sent_size(client: AsyncSuprsend, hub: Hub, record: Event | WorkflowTriggerRequest) -> int:
    before = len(hub.requests)
    if isinstance(record, Event):
        assert (await client.track_event(record)).success
    else:
        assert (await client.workflows.trigger(record)).success
    assert len(hub.requests) == before + 1
    return len(hub.requests[-1].content)


@pytest.mark.anyio
async def test_a_single_event_is_capped_at_100_kb_to_the_byte() -> None:
    hub = Hub()
    async with hub.client as client:
        overhead = await sent_size(client, hub, Event("u1", "paid", {"blob": ""}))
        fits = Event("u1", "paid", {"blob": "x" * (MAX_EVENT_BYTES - overhead)})
        assert await sent_size(client, hub, fits) == MAX_EVENT_BYTES
        too_big = Event("u1", "paid", {"blob": "x" * (MAX_EVENT_BYTES - overhead + 1)})
        with pytest.raises(SuprsendValidationError) as info:
            await client.track_event(too_big)
    assert len(hub.requests) == 2  # the refused one never left
    assert info.value.field == "body"
    assert f"{MAX_EVENT_BYTES + 1} bytes, larger than the limit of {MAX_EVENT_BYTES}" in (
        info.value.rule
    )


@pytest.mark.anyio
async def test_a_single_workflow_trigger_is_capped_with_room_for_the_hubs_keys() -> None:
    hub = Hub()
    async with hub.client as client:

        def trigger(size: int) -> WorkflowTriggerRequest:
            return WorkflowTriggerRequest(workflow="w", recipients=["u"], data={"b": "x" * size})

        overhead = await sent_size(client, hub, trigger(0))
        assert await sent_size(client, hub, trigger(MAX_TRIGGER_BYTES - overhead)) == (
            MAX_TRIGGER_BYTES
        )
        with pytest.raises(SuprsendValidationError, match="larger than the limit"):
            await client.workflows.trigger(trigger(MAX_TRIGGER_BYTES - overhead + 1))
    assert len(hub.requests) == 2


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("properties", "rule"),
    [
        ({"x": object()}, "JSON-serializable"),
        ({"x": float("nan")}, "JSON-serializable"),
        ({"x": float("inf")}, "JSON-serializable"),
        ({"x": {"y": [float("-inf")]}}, "JSON-serializable"),
        ({"x": b"bytes"}, "JSON-serializable"),
        ({"x": "\ud800 lone surrogate"}, "JSON-serializable"),
    ],
    ids=["object", "NaN", "Infinity", "nested -Infinity", "bytes", "lone surrogate"],
)
async def test_values_json_cannot_carry_are_refused_not_altered(
    properties: dict[str, Any], rule: str
) -> None:
    # NaN and Infinity are not JSON: orjson would write them as null, silently changing
    # the user's data; they are refused whichever encoder is installed.
    error = await refused_before_sending(lambda c: c.track_event(Event("u", "paid", properties)))
    assert error.field == "properties"
    assert rule in error.rule


@pytest.mark.anyio
async def test_uuids_and_enums_are_sent_as_text_and_values_whichever_encoder_is_installed() -> None:
    properties = {"order": uuid.UUID(int=1), "plan": Plan.FREE, "tier": Tier.GOLD}
    expected = {"order": "00000000-0000-0000-0000-000000000001", "plan": "free", "tier": 1}
    hub = Hub()
    async with hub.client as client:
        assert (await client.track_event(Event("u", "paid", properties))).success
    sent = json.loads(hub.requests[0].content)["properties"]
    del sent["$ss_sdk_version"]
    assert sent == expected
    assert json.loads(_stdlib_dumps(properties)) == expected  # without the "fast" extra too


@pytest.mark.anyio
async def test_nesting_too_deep_or_cyclic_is_a_validation_error_not_a_crash() -> None:
    deep: Any = "leaf"
    for _ in range(5000):
        deep = [deep]
    error = await refused_before_sending(lambda c: c.track_event(Event("u", "paid", {"d": deep})))
    assert error.field == "properties"
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    error = await refused_before_sending(
        lambda c: c.workflows.trigger(
            WorkflowTriggerRequest(workflow="w", recipients=["u"], data=cyclic)
        )
    )
    assert error.field == "data"


# -- workflow triggers ---------------------------------------------------------------------


def trigger_case(case_id: str, body: dict[str, Any], field: str, rule: str) -> Any:
    return pytest.param(body, field, rule, id=case_id)


W: dict[str, Any] = {"workflow": "w", "recipients": ["u"]}
INVALID_TRIGGERS = [
    trigger_case("no workflow", {"recipients": ["u"]}, "workflow", "must be a string"),
    trigger_case("int workflow", {**W, "workflow": 5}, "workflow", "must be a string, got int"),
    trigger_case("blank workflow", {**W, "workflow": "  "}, "workflow", "must not be empty"),
    trigger_case("no recipients", {"workflow": "w"}, "recipients", "must be a list"),
    trigger_case("recipients a string", {**W, "recipients": "u1"}, "recipients", "must be a list"),
    trigger_case("zero recipients", {**W, "recipients": []}, "recipients", "1 to 100 items"),
    trigger_case(
        "101 recipients",
        {**W, "recipients": [f"u{i}" for i in range(101)]},
        "recipients",
        "must have 1 to 100 items, got 101",
    ),
    trigger_case("blank recipient", {**W, "recipients": ["u", " "]}, "recipients[1]", "empty"),
    trigger_case("int recipient", {**W, "recipients": [5]}, "recipients[0]", "got int"),
    trigger_case(
        "recipient without distinct_id",
        {**W, "recipients": [{"$email": ["a@b.co"]}]},
        "recipients[0].distinct_id",
        "must be a string",
    ),
    trigger_case(
        "recipient int distinct_id",
        {**W, "recipients": [{"distinct_id": 7}]},
        "recipients[0].distinct_id",
        "must be a string, got int",
    ),
    trigger_case(
        "object recipient without id",
        {**W, "recipients": [{"object_type": "teams"}]},
        "recipients[0].id",
        "must be a string",
    ),
    trigger_case(
        "channel list not a list",
        {**W, "recipients": [{"distinct_id": "u", "$sms": 5}]},
        "recipients[0].$sms",
        "list of channel identities",
    ),
    trigger_case(
        "$channels not a list",
        {**W, "recipients": [{"distinct_id": "u", "$channels": "email"}]},
        "recipients[0].$channels",
        "list of channel names",
    ),
    trigger_case(
        "unknown channel",
        {**W, "recipients": [{"distinct_id": "u", "$channels": ["email", "pigeon"]}]},
        "recipients[0].$channels",
        "unknown channels ['pigeon']",
    ),
    trigger_case("data a string", {**W, "data": "x"}, "data", "mapping (dict)"),
    trigger_case("data int keys", {**W, "data": {1: 2}}, "data", "keys must be strings"),
    trigger_case("metadata an int", {**W, "metadata": 3}, "metadata", "mapping (dict)"),
    trigger_case("unknown top-level key", {**W, "surprise": 1}, "surprise", "not an allowed"),
    trigger_case("SDK-only key", {**W, "env": "x"}, "env", "not an allowed top-level key"),
    trigger_case("blank actor", {**W, "actor": ""}, "actor", "must not be empty"),
    trigger_case("int actor", {**W, "actor": 5}, "actor", "got int"),
    trigger_case(
        "actor channels",
        {**W, "actor": {"distinct_id": "a", "$email": ["e"] * 11}},
        "actor.$email",
        "at most 10 entries, got 11",
    ),
    trigger_case(
        "256-char cancellation key",
        {**W, "cancellation_key": "c" * 256},
        "cancellation_key",
        "at most 255",
    ),
    trigger_case(
        "256-char idempotency key in the body",
        {**W, "$idempotency_key": "k" * 256},
        "idempotency_key",
        "at most 255",
    ),
    trigger_case("65-char tenant", {**W, "tenant_id": "t" * 65}, "tenant_id", "at most 64"),
    trigger_case(
        "attachment with blank url",
        {**W, "data": {"$attachments": [{"url": " "}]}},
        "data.$attachments[0].url",
        "must not be empty",
    ),
    trigger_case(
        "attachment data not base64 text",
        {**W, "data": {"$attachments": [{"data": 5}]}},
        "data.$attachments[0].data",
        "base64 string",
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("body", "field", "rule"), INVALID_TRIGGERS)
async def test_an_invalid_trigger_body_is_refused_naming_field_and_rule_before_sending(
    body: dict[str, Any], field: str, rule: str
) -> None:
    error = await refused_before_sending(
        lambda c: c.workflows.trigger(WorkflowTriggerRequest.from_body(body))
    )
    assert error.field == field
    assert rule in error.rule


def test_from_body_refuses_what_is_not_a_dict() -> None:
    for body in (["w"], "w", None):
        error = error_of(lambda: WorkflowTriggerRequest.from_body(body))  # type: ignore[arg-type]  # noqa: B023
        assert error.field == "body"


def test_every_allowed_top_level_key_is_accepted() -> None:
    body = {
        "workflow": "w",
        "recipients": ["u"],
        "actor": "a",
        "data": {"x": 1},
        "metadata": {"m": 1},
        "tenant_id": "t",
        "$idempotency_key": "k",
        "cancellation_key": "c",
    }
    assert set(body) == TRIGGER_KEYS
    request = WorkflowTriggerRequest.from_body(body)
    assert (request.tenant_id, request.idempotency_key, request.cancellation_key) == ("t", "k", "c")


def test_from_body_keywords_win_over_the_same_keys_in_the_body() -> None:
    in_body = WorkflowTriggerRequest.from_body({**W, "$idempotency_key": "in-body"})
    assert in_body.idempotency_key == "in-body"
    request = WorkflowTriggerRequest.from_body(
        {**W, "$idempotency_key": "in-body", "tenant_id": "t-body", "cancellation_key": "c-body"},
        idempotency_key="arg",
        tenant_id="t-arg",
        cancellation_key="c-arg",
    )
    assert (request.idempotency_key, request.tenant_id, request.cancellation_key) == (
        "arg",
        "t-arg",
        "c-arg",
    )


def test_the_keyword_constructor_checks_the_same_rules() -> None:
    no_list: Any = 5
    assert error_of(lambda: WorkflowTriggerRequest(workflow="w", recipients=no_list)).field == (
        "recipients"
    )
    lone: Any = "u"  # mypy refuses a lone string; at run time it is refused too
    assert error_of(lambda: WorkflowTriggerRequest(workflow="w", recipients=lone)).field == (
        "recipients"
    )
    assert error_of(lambda: WorkflowTriggerRequest(workflow=5, recipients=["u"])).field == (  # type: ignore[arg-type]
        "workflow"
    )
    too_long = "c" * 256
    assert error_of(
        lambda: WorkflowTriggerRequest(workflow="w", recipients=["u"], cancellation_key=too_long)
    ).field == ("cancellation_key")
    # Any iterable of recipients is taken, generators included.
    generated = WorkflowTriggerRequest(workflow="w", recipients=(f"u{i}" for i in range(3)))
    assert generated.recipients == ("u0", "u1", "u2")


@pytest.mark.parametrize("key", CHANNEL_KEYS)
def test_every_channel_list_holds_at_most_10_entries(key: str) -> None:
    ten = {**W, "recipients": [{"distinct_id": "u", key: [f"id{i}" for i in range(10)]}]}
    assert WorkflowTriggerRequest.from_body(ten).recipients[0][key] == [  # type: ignore[index]
        f"id{i}" for i in range(10)
    ]
    eleven = {**W, "recipients": [{"distinct_id": "u", key: [f"id{i}" for i in range(11)]}]}
    error = error_of(lambda: WorkflowTriggerRequest.from_body(eleven))
    assert error.field == f"recipients[0].{key}"
    assert "at most 10 entries, got 11" in error.rule
    # The same rule on the typed Recipient, whose fields drop the "$".
    name = key.removeprefix("$")
    ten_ids: dict[str, Any] = {name: ["x"] * 10}
    eleven_ids: dict[str, Any] = {name: ["x"] * 11}
    not_a_list: dict[str, Any] = {name: 5}
    assert len(getattr(Recipient(distinct_id="u", **ten_ids), name)) == 10
    error = error_of(lambda: Recipient(distinct_id="u", **eleven_ids))
    assert error.field == f"recipient.{key}"
    error = error_of(lambda: Recipient(distinct_id="u", **not_a_list))
    assert (error.field, error.rule) == (f"recipient.{key}", "must be a list, got int")


def test_channels_names_are_the_documented_set() -> None:
    assert {
        "email",
        "sms",
        "whatsapp",
        "inbox",
        "androidpush",
        "iospush",
        "webpush",
        "slack",
        "ms_teams",
        "messenger",
    } == CHANNEL_NAMES
    every = Recipient(distinct_id="u", channels=sorted(CHANNEL_NAMES))
    assert every.channels == tuple(sorted(CHANNEL_NAMES))
    error = error_of(lambda: Recipient(distinct_id="u", channels=["email", "Email"]))
    assert error.field == "recipient.$channels"
    assert "unknown channels ['Email']" in error.rule


def test_typed_recipients_are_validated_like_their_dict_form() -> None:
    assert error_of(lambda: Recipient(distinct_id=" ")).field == "recipient.distinct_id"
    assert error_of(lambda: Recipient()).field == "recipient.distinct_id"
    assert error_of(lambda: Recipient(distinct_id=5)).rule == "must be a string, got int"  # type: ignore[arg-type]
    assert error_of(lambda: Recipient(distinct_id="u", properties=5)).field == (  # type: ignore[arg-type]
        "recipient.properties"
    )
    assert error_of(lambda: ObjectRecipient(object_type="", id="x")).field == (
        "recipient.object_type"
    )
    assert error_of(lambda: ObjectRecipient(object_type="t", id=5)).field == "recipient.id"  # type: ignore[arg-type]
    assert Recipient(is_transient=True, email=["a@b.co"]).distinct_id is None
    # A single identity is taken as a list of one.
    assert Recipient(distinct_id="u", email="a@b.co").email == ("a@b.co",)


# -- attachments -----------------------------------------------------------------------------


def test_an_attachment_needs_a_url_or_base64_data_under_the_cap() -> None:
    assert Attachment(data="A" * (MAX_BASE64 - 1), filename="f").data is not None
    error = error_of(lambda: Attachment(data="A" * MAX_BASE64, filename="f"))
    assert (error.field, error.rule) == (
        "attachment.data",
        f"base64 file data must be under {MAX_BASE64} bytes, got {MAX_BASE64}",
    )
    assert error_of(lambda: Attachment()).field == "attachment"
    assert error_of(lambda: Attachment(url=" ")).field == "attachment.url"
    assert error_of(lambda: Attachment(data=b"AAAA")).rule == "must be a base64 string"  # type: ignore[arg-type]
    error = error_of(lambda: Attachment.from_url("ftp://example.com/x"))
    assert (error.field, error.rule) == ("attachment.url", "must be an http(s) URL")
    assert error_of(lambda: Attachment.from_url("  ")).field == "attachment.url"


# -- property-based --------------------------------------------------------------------------

RESERVED_PREFIXES = st.sampled_from(["$", "ss_", "SS_", "Ss_", "sS_"])


@given(st.text(min_size=1, max_size=60))
def test_any_unreserved_stripped_name_is_accepted_and_round_trips(name: str) -> None:
    stripped = name.strip()
    reserved = stripped[:3].lower().startswith(("$", "ss_"))
    if len(stripped) < 2 or (reserved and stripped not in ALLOWED_RESERVED_EVENT_NAMES):
        assert error_of(lambda: Event("u1", name)).field == "event_name"
        return
    event = Event("u1", name, {"n": name})
    assert event.event_name == stripped
    assert Event.from_body(event_json(event)) == event
    wire = json.loads(Serializer(env=KEY, sdk_version="t").encode_event(event).body)
    assert (wire["event"], wire["properties"]["n"]) == (stripped, name)


@given(RESERVED_PREFIXES, st.text(max_size=20), st.text(alphabet=" \t\n", max_size=3))
def test_any_name_with_a_reserved_prefix_in_any_case_is_refused(
    prefix: str, rest: str, padding: str
) -> None:
    name = padding + prefix + rest + padding
    if name.strip() in ALLOWED_RESERVED_EVENT_NAMES:
        assert Event("u1", name).event_name == name.strip()
        return
    error = error_of(lambda: Event("u1", name))
    assert error.field == "event_name"
    assert "reserved" in error.rule or "at least 2" in error.rule


@given(st.text(alphabet=" \t\n\r\u00a0\u2003\u3000", max_size=10))
def test_ids_made_of_whitespace_are_refused_everywhere(value: str) -> None:
    assert error_of(lambda: Event(value, "paid")).field == "distinct_id"
    assert error_of(lambda: WorkflowTriggerRequest(workflow=value, recipients=["u"])).field == (
        "workflow"
    )
    assert error_of(lambda: WorkflowTriggerRequest(workflow="w", recipients=[value])).field == (
        "recipients[0]"
    )
    assert error_of(lambda: ObjectRecipient(object_type="t", id=value)).field == "recipient.id"


@given(
    key=st.none() | st.text(max_size=300),
    first=st.none() | st.text(alphabet=string.ascii_letters, min_size=1, max_size=9),
    tenant=st.none() | st.sampled_from(["t1", "acme"]),
    properties=st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5)),
)
def test_an_event_given_a_key_is_the_event_built_with_that_key(
    key: str | None, first: str | None, tenant: str | None, properties: dict[str, Any]
) -> None:
    """with_idempotency_key copies the checked fields and checks the key alone: the
    same event, or the same error, as building it with that key."""
    event = Event("u1", "paid", properties, first, tenant)
    try:
        expected: Any = Event("u1", "paid", properties, key, tenant)
    except SuprsendValidationError as exc:
        expected = (exc.field, exc.rule)
    try:
        got: Any = event.with_idempotency_key(key)
    except SuprsendValidationError as exc:
        got = (exc.field, exc.rule)
    assert got == expected
    assert event.idempotency_key == first  # the original is left as it was


@given(
    blank=st.text(alphabet=" \t\n\r\u00a0\u2003\u3000", min_size=1, max_size=10),
    key=st.text(alphabet=string.ascii_letters + "-", min_size=1, max_size=20),
)
def test_an_idempotency_key_of_only_whitespace_is_refused_not_sent_as_a_key(
    blank: str, key: str
) -> None:
    # The hub trims it to an empty key that deduplicates nothing, while the
    # client would retry the request as if it were keyed: a double delivery.
    builds: list[Callable[[str], Event | WorkflowTriggerRequest]] = [
        lambda v: Event("u", "paid", idempotency_key=v),
        lambda v: Event("u", "paid").with_idempotency_key(v),
        lambda v: Event.from_body({"distinct_id": "u", "event": "paid", "$idempotency_key": v}),
        lambda v: WorkflowTriggerRequest(workflow="w", recipients=["u"], idempotency_key=v),
        lambda v: WorkflowTriggerRequest.from_body(
            {"workflow": "w", "recipients": ["u"]}, idempotency_key=v
        ),
    ]
    for build in builds:
        error = error_of(lambda: build(blank))  # noqa: B023 - called at once
        assert error.field in ("idempotency_key", "$idempotency_key")
        assert "whitespace" in error.rule
        # Surrounding whitespace around a real key is kept as given: the hub
        # trims it to the same non-empty key every time, so it deduplicates.
        assert build(blank + key + blank).idempotency_key == blank + key + blank


@pytest.mark.parametrize(
    ("field", "limit", "build"),
    [
        ("idempotency_key", 255, lambda v: Event("u", "paid", idempotency_key=v)),
        ("tenant_id", 64, lambda v: Event("u", "paid", tenant_id=v)),
        ("brand_id", 64, lambda v: Event("u", "paid", brand_id=v)),
        (
            "idempotency_key",
            255,
            lambda v: WorkflowTriggerRequest(workflow="w", recipients=["u"], idempotency_key=v),
        ),
        (
            "tenant_id",
            64,
            lambda v: WorkflowTriggerRequest(workflow="w", recipients=["u"], tenant_id=v),
        ),
        (
            "cancellation_key",
            255,
            lambda v: WorkflowTriggerRequest(workflow="w", recipients=["u"], cancellation_key=v),
        ),
    ],
    ids=["event key", "event tenant", "event brand", "trigger key", "trigger tenant", "cancel"],
)
@settings(max_examples=40)  # half the draws land within 3 of the limit
@given(data=st.data())
def test_key_lengths_are_limited_to_the_character(
    field: str, limit: int, build: Callable[[str], Any], data: st.DataObject
) -> None:
    length = data.draw(st.integers(min_value=limit - 3, max_value=limit + 3) | st.integers(0, 400))
    value = data.draw(
        st.text(alphabet=string.ascii_letters + "é東😀-", min_size=length, max_size=length)
    )
    if length <= limit:
        assert getattr(build(value), field) == (value or None)
    else:
        error = error_of(lambda: build(value))
        assert error.field == field
        assert error.rule == f"must be at most {limit} characters, got {length}"


@given(st.integers(min_value=0, max_value=130))
def test_recipient_count_limit_is_exact(count: int) -> None:
    recipients = [f"u{i}" for i in range(count)]
    if 1 <= count <= 100:
        assert len(WorkflowTriggerRequest(workflow="w", recipients=recipients).recipients) == count
    else:
        error = error_of(lambda: WorkflowTriggerRequest(workflow="w", recipients=recipients))
        assert error.field == "recipients"
        assert error.rule == f"must have 1 to 100 items, got {count}"


# Mostly plausible input, with anything at all (including what JSON cannot carry) mixed in,
# so that both outcomes are common.
class Plan(enum.Enum):
    FREE = "free"
    PRO = 2
    ODD = object()


class Tier(enum.IntEnum):
    GOLD = 1


class Label(str):
    pass


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.binary(max_size=4)
    | st.builds(object)
    | st.uuids()
    | st.sampled_from([*Plan, *Tier])
    | st.datetimes()
    | st.builds(Label, st.text(max_size=3))
)
keys = (
    st.text(max_size=5)
    | st.integers()
    | st.floats()
    | st.booleans()
    | st.none()
    | st.uuids()
    | st.sampled_from([*Plan, *Tier])
    | st.dates()
)
anything = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.tuples(inner) | st.dictionaries(keys, inner, max_size=3)
    ),
    max_leaves=8,
)
json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
plausible_id = st.text(
    alphabet=string.ascii_letters + string.digits + "_-. é", min_size=2, max_size=9
)
ids = st.one_of(plausible_id, plausible_id, plausible_id, anything)
values = st.one_of(json_like, json_like, json_like, anything)
mappings = st.one_of(*[st.dictionaries(st.text(max_size=6), values, max_size=4)] * 3, anything)
maybe_key = st.one_of(st.none(), st.none(), st.none(), st.text(max_size=300), anything)


def strict_json(body: bytes) -> Any:
    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(body, parse_constant=refuse)


@given(
    distinct_id=ids,
    event_name=ids,
    properties=mappings,
    idempotency_key=maybe_key,
    tenant_id=maybe_key,
    brand_id=maybe_key,
)
def test_any_event_input_gives_a_request_the_hub_accepts_or_a_validation_error(
    distinct_id: Any,
    event_name: Any,
    properties: Any,
    idempotency_key: Any,
    tenant_id: Any,
    brand_id: Any,
) -> None:
    try:
        event = Event(
            distinct_id,
            event_name,
            properties,
            idempotency_key=idempotency_key,
            tenant_id=tenant_id,
            brand_id=brand_id,
        )
        body = Serializer(env=KEY, sdk_version="t").encode_event(event).body
    except SuprsendValidationError:
        return
    wire = strict_json(body)
    _rules.event_body(wire)  # what the hub would check
    assert (wire["distinct_id"], wire["event"]) == (event.distinct_id, event.event_name)
    del wire["properties"]["$ss_sdk_version"]
    assert wire["properties"] == json.loads(_stdlib_dumps(event.properties))  # nothing altered


names = st.one_of(
    plausible_id,
    st.text(alphabet="$sS_ \t", max_size=5),  # around the reserved prefixes
    st.builds(operator.add, st.sampled_from(["$", "ss_", "Ss_", "s", "S"]), plausible_id),
    st.sampled_from(sorted(ALLOWED_RESERVED_EVENT_NAMES)),
    st.builds(lambda n: f" {n} ", plausible_id),
    anything,
)
attachment_values = st.one_of(
    st.just(()),
    st.just([]),
    st.builds(Attachment.from_url, st.just("https://example.com/a.pdf")),
    st.lists(st.builds(Attachment.from_url, st.just("https://example.com/a.pdf")), max_size=2),
    anything,
)


def checked_event(
    distinct_id: Any,
    event_name: Any,
    properties: Any = None,
    idempotency_key: Any = None,
    tenant_id: Any = None,
    brand_id: Any = None,
    attachments: Any = (),
) -> dict[str, Any]:
    """Event's fields by the general checks alone, in field order, without its short paths."""
    fields: dict[str, Any] = {
        "distinct_id": _models._distinct_id(distinct_id),
        "event_name": _models._event_name(event_name),
        "properties": _models._properties(properties),
        "idempotency_key": _models._idempotency_key(idempotency_key),
        "tenant_id": _models._tenant_id(tenant_id),
        "brand_id": _models._brand_id(brand_id),
        "attachments": attachment_tuple(attachments),
    }
    if "$attachments" in fields["properties"]:
        _rules.attachments(fields["properties"]["$attachments"], "properties.$attachments")
    return fields


def outcome(build: Callable[[], Any]) -> Any:
    try:
        return build()
    except SuprsendValidationError as exc:
        return ("refused", exc.field, str(exc))


@settings(max_examples=1000)  # cheap examples; each short path needs its own near-misses
@given(
    distinct_id=ids,
    event_name=names,
    properties=st.one_of(mappings, st.just({"$attachments": [{"url": "ftp://x"}]})),
    idempotency_key=maybe_key,
    tenant_id=maybe_key,
    brand_id=maybe_key,
    attachments=attachment_values,
)
def test_an_events_short_paths_give_the_general_checks_answer_and_errors(
    distinct_id: Any,
    event_name: Any,
    properties: Any,
    idempotency_key: Any,
    tenant_id: Any,
    brand_id: Any,
    attachments: Any,
) -> None:
    # Event.__init__ takes short paths for the usual values; whatever the
    # input, they must keep exactly what the general checks alone give.
    args = (distinct_id, event_name, properties, idempotency_key, tenant_id, brand_id)
    built = outcome(lambda: attrs.asdict(Event(*args, attachments=attachments), recurse=False))
    assert built == outcome(lambda: checked_event(*args, attachments))


recipient_like = st.one_of(
    ids,
    st.fixed_dictionaries(
        {"distinct_id": ids},
        optional={
            "$email": st.lists(plausible_id, max_size=12) | anything,
            "$channels": st.lists(st.sampled_from([*CHANNEL_NAMES, "pigeon"]), max_size=3)
            | anything,
            "is_transient": st.booleans(),
            "name": values,
        },
    ),
    st.fixed_dictionaries({"object_type": ids, "id": ids}),
    st.builds(ObjectRecipient, object_type=st.just("teams"), id=st.just("t1")),
    st.builds(Recipient, distinct_id=st.just("u"), email=st.lists(plausible_id, max_size=3)),
)


@given(
    body=st.fixed_dictionaries(
        {},
        optional={
            "workflow": ids,
            "recipients": st.one_of(*[st.lists(recipient_like, max_size=3)] * 3, anything),
            "actor": recipient_like,
            "data": mappings,
            "metadata": mappings,
            "tenant_id": maybe_key,
            "$idempotency_key": maybe_key,
            "cancellation_key": maybe_key,
        },
    ).map(lambda body: {"workflow": "w", "recipients": ["u"], **body})
    | st.dictionaries(st.sampled_from(sorted(TRIGGER_KEYS | {"surprise"})), anything, max_size=4)
)
def test_any_trigger_body_gives_a_request_the_hub_accepts_or_a_validation_error(
    body: dict[str, Any],
) -> None:
    try:
        request = WorkflowTriggerRequest.from_body(body)
        encoded = Serializer(env=KEY, sdk_version="t").encode_trigger(request).body
    except SuprsendValidationError:
        return
    wire = strict_json(encoded)
    _rules.trigger_body(wire)  # what the hub would check
    assert wire["workflow"] == request.workflow
    assert len(wire["recipients"]) == len(request.recipients)
    assert wire["data"] == json.loads(_stdlib_dumps(request.data))  # nothing altered


@given(anything)
def test_the_fast_encoder_takes_and_writes_exactly_what_the_stdlib_does(value: Any) -> None:
    """Installing the optional orjson extra never changes what is accepted or sent."""
    try:
        expected = json.loads(_stdlib_dumps(value))
    except (TypeError, ValueError, RecursionError):
        with pytest.raises((TypeError, ValueError, RecursionError)):
            dumps(value)
        return
    assert json.loads(dumps(value)) == expected


# -- an offset list's page: tenants.list and brands.list ------------------------------------------


@given(
    limit=st.one_of(st.integers(-5, 1005), st.booleans(), st.floats(), st.text(max_size=3)),
    offset=st.one_of(st.integers(-5, 10**9), st.booleans(), st.none()),
)
def test_a_page_window_is_a_limit_from_1_to_1000_and_an_offset_of_0_or_more(
    limit: Any, offset: Any
) -> None:
    def whole(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if whole(limit) and 1 <= limit <= 1000 and whole(offset) and offset >= 0:
        assert _rules.page_window(limit, offset) == {"limit": limit, "offset": offset}
        return
    with pytest.raises(SuprsendValidationError) as caught:
        _rules.page_window(limit, offset)
    # The first of the two that is wrong is the one named.
    assert caught.value.field == ("offset" if whole(limit) and 1 <= limit <= 1000 else "limit")
