"""The event wire form, built directly on the hot path, is byte for byte what the
cattrs-based wire class it replaced produced; insert ids are real, unique UUID4s; a bulk
chunk encoded in one call is byte for byte its records encoded one at a time.

The old path lives on here only, as the oracle.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import attrs
import pytest
from cattrs import Converter
from cattrs.gen import make_dict_unstructure_fn, override
from hypothesis import given
from hypothesis import strategies as st

from suprsend_async import Attachment, Event
from suprsend_async._values.json_codec import JSON_ENCODER, dumps, dumps_array, split_array
from suprsend_async._wire.serialization import Serializer, _with_attachments, new_insert_id


@attrs.frozen
class _EventWire:
    insert_id: str
    time: int
    event: str
    env: str | None
    distinct_id: str
    properties: dict[str, Any]
    idempotency_key: str | None = None
    tenant_id: str | None = None
    brand_id: str | None = None


_unstructure_event = make_dict_unstructure_fn(
    _EventWire,
    Converter(),
    _cattrs_omit_if_default=True,
    insert_id=override(rename="$insert_id", omit_if_default=False),
    time=override(rename="$time", omit_if_default=False),
    properties=override(omit_if_default=False, unstruct_hook=lambda v: v),
    idempotency_key=override(rename="$idempotency_key"),
)


def oracle_event_body(
    serializer: Serializer, event: Event, insert_id: str, idempotency_key: str | None
) -> dict[str, Any]:
    """The wire dict as the previous release built it, through _EventWire and cattrs."""
    wire = _EventWire(
        insert_id=insert_id,
        time=int(serializer.clock() * 1000),
        event=event.event_name,
        env=serializer.env,
        distinct_id=event.distinct_id,
        properties=_with_attachments(
            event.properties, event.attachments, {"$ss_sdk_version": serializer.sdk_version}
        ),
        idempotency_key=idempotency_key or event.idempotency_key,
        tenant_id=event.tenant_id,
        brand_id=event.brand_id,
    )
    body: dict[str, Any] = _unstructure_event(wire)
    if body["env"] is None:
        del body["env"]
    return body


ids = st.text(min_size=1, max_size=12).filter(str.strip)
optional_keys = st.none() | st.just("") | st.text(max_size=12).filter(str.strip)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
attachments = st.lists(
    st.builds(
        Attachment.from_url,
        st.sampled_from(["https://example.com/a.pdf", "https://example.com/b.png"]),
        st.none() | st.text(min_size=1, max_size=8).filter(str.strip),
    ),
    max_size=2,
)
event_names = st.sampled_from(["order_paid", "signup", "$user_login", "Order Shipped"])
event_properties = st.dictionaries(st.text(max_size=8), json_values, max_size=4)


@given(
    distinct_id=ids,
    event_name=event_names,
    properties=event_properties,
    key=optional_keys,
    tenant_id=optional_keys,
    brand_id=optional_keys,
    attached=attachments,
    env=st.none() | st.just("workspace-key"),
    send_key=st.none() | st.just("") | st.just("generated-key"),
)
def test_the_direct_event_body_is_byte_identical_to_the_cattrs_one(
    distinct_id: str,
    event_name: str,
    properties: dict[str, Any],
    key: str | None,
    tenant_id: str | None,
    brand_id: str | None,
    attached: list[Attachment],
    env: str | None,
    send_key: str | None,
) -> None:
    event = Event(
        distinct_id,
        event_name,
        properties,
        idempotency_key=key,
        tenant_id=tenant_id,
        brand_id=brand_id,
        attachments=attached,
    )
    serializer = Serializer(env=env, sdk_version="suprsend-async/1", clock=lambda: 1.8e9)
    ours = serializer.event_body(event, idempotency_key=send_key)
    theirs = oracle_event_body(serializer, event, ours["$insert_id"], send_key)
    assert list(ours) == list(theirs)  # the same keys in the same order
    assert dumps(ours) == dumps(theirs)


def test_insert_ids_are_uuid4_strings_as_uuid_writes_them_and_never_repeat() -> None:
    many = [new_insert_id() for _ in range(5 * 256 + 7)]  # across several batches
    assert len(set(many)) == len(many)
    for insert_id in many:
        parsed = uuid.UUID(insert_id)
        assert str(parsed) == insert_id
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
    # Every hex digit a random one can be shows up in the random positions:
    # no position is stuck (a formatting slip would fix one).
    for position in (0, 9, 15, 20, 35):
        digits = {i[position] for i in many}
        assert len(digits) == 16, position
    assert {i[19] for i in many} == set("89ab")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_never_reuses_the_parents_insert_ids() -> None:
    new_insert_id()  # the parent holds a batch now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.write(write, "".join(new_insert_id() for _ in range(300)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    child_ids = {child[i : i + 36] for i in range(0, len(child), 36)}
    parent_ids = {new_insert_id() for _ in range(300)}
    assert len(child_ids) == 300
    assert not child_ids & parent_ids


# Anything a property may hold, JSON's edge cases included: what the encoder refuses (NaN,
# infinities, integers past 64 bits, which only the standard library writes) and what
# merely looks like it (a string holding "null").
wire_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text()
    | st.just("null"),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


def _plain(record: dict[str, Any]) -> bool:
    """Taken by the fast encoder as it is: nothing refused (NaN, infinity), nothing left
    to the standard library (integers past 64 bits)."""
    try:
        dumps(record)
    except (TypeError, ValueError):
        return False
    if JSON_ENCODER == "orjson":
        import orjson

        try:
            orjson.dumps(record)
        except TypeError:
            return False
    return True


@given(records=st.lists(st.dictionaries(st.text(max_size=6), wire_values, max_size=4), max_size=8))
def test_a_chunk_encoded_at_once_is_its_records_encoded_one_by_one(
    records: list[dict[str, Any]],
) -> None:
    """The bulk engine's fast path: a chunk's array in one call, or None to say that the
    records must go one by one; and split back into each record's bytes, for a resend of
    some of them, exactly what encoding each alone gives."""
    whole = dumps_array(records)
    if whole is None:
        assert not all(_plain(record) for record in records)
        return
    alone = [dumps(record) for record in records]
    assert whole == b"[" + b",".join(alone) + b"]"
    assert split_array(whole) == alone


@given(
    event=st.builds(
        Event,
        ids,
        event_names,
        event_properties,
        idempotency_key=optional_keys,
        tenant_id=optional_keys,
        attachments=attachments,
    ),
    send_key=st.none() | st.just("generated-key"),
)
def test_a_failed_event_rebuilt_from_its_bytes_sends_the_same_record(
    event: Event, send_key: str | None
) -> None:
    """The bulk engine lets go of an event once its chunk is encoded, and a failure
    reports it read back from its bytes: fed back in, that sends the record first sent,
    but for the per-send insert id."""
    from suprsend_async.resources.events import EVENT_RECORDS

    assert EVENT_RECORDS.drafting is not None
    serializer = Serializer(
        env="workspace-key", sdk_version="suprsend-async/1", clock=lambda: 1.8e9
    )
    first = serializer.event_body(event, idempotency_key=send_key)
    rebuilt = EVENT_RECORDS.drafting.rebuild(serializer.event_wire_bytes(first))
    again = serializer.event_body(rebuilt)
    assert again.pop("$insert_id") != first.pop("$insert_id")
    assert dumps(again) == dumps(first)
