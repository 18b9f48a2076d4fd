"""UserEdit records what the official builder records, refuses what it would drop, and says
which edits are safe to send twice."""

from __future__ import annotations

import math
from typing import Any

import pytest
import suprsend
from hypothesis import given
from hypothesis import strategies as st

from suprsend_async import SuprsendValidationError, UserEdit
from suprsend_async._values.idempotency import edit_safety

KEY, SECRET = "WS_TEST_KEY_000000000001", "test-secret"

keys = st.text(min_size=1, max_size=10).filter(lambda k: k.strip() and not k.startswith("$"))
json_values = st.recursive(
    st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)
numbers = st.integers() | st.floats(allow_nan=False, allow_infinity=False)
texts = st.text(min_size=1, max_size=12).filter(str.strip)
channel_dicts = st.dictionaries(st.text(min_size=1, max_size=5), st.text(), min_size=1, max_size=3)
providers = st.none() | texts

# One call: (method name, positional arguments), valid for both builders.
calls = st.one_of(
    st.tuples(
        st.sampled_from(["set", "set_once", "append", "remove"]), st.tuples(keys, json_values)
    ),
    st.tuples(
        st.sampled_from(["set", "set_once", "append", "remove"]),
        st.tuples(st.dictionaries(keys, json_values, min_size=1, max_size=3)),
    ),
    st.tuples(st.just("increment"), st.tuples(keys, numbers)),
    st.tuples(st.just("increment"), st.tuples(st.dictionaries(keys, numbers, min_size=1))),
    st.tuples(st.just("unset"), st.tuples(keys | st.lists(keys, min_size=1, max_size=3))),
    st.tuples(
        st.sampled_from(["set_preferred_language", "set_locale", "set_timezone"]),
        st.tuples(texts),
    ),
    st.tuples(
        st.sampled_from(
            [f"{op}_{ch}" for op in ("add", "remove") for ch in ("email", "sms", "whatsapp")]
        ),
        st.tuples(texts),
    ),
    st.tuples(
        st.sampled_from(["add_androidpush", "remove_androidpush", "add_iospush", "remove_iospush"]),
        st.tuples(texts, providers, providers),
    ),
    st.tuples(
        st.sampled_from(["add_webpush", "remove_webpush"]), st.tuples(channel_dicts, providers)
    ),
    st.tuples(
        st.sampled_from(["add_slack", "remove_slack", "add_ms_teams", "remove_ms_teams"]),
        st.tuples(channel_dicts),
    ),
)


def official_edit() -> Any:
    return suprsend.Suprsend(KEY, SECRET).users.get_edit_instance("u1")


@given(st.lists(calls, max_size=8))
def test_any_sequence_of_calls_records_what_the_official_builder_records(
    sequence: list[tuple[str, tuple[Any, ...]]],
) -> None:
    ours, theirs = UserEdit("u1"), official_edit()
    for name, args in sequence:
        assert getattr(ours, name)(*args) is ours  # chaining
        getattr(theirs, name)(*args)
    assert theirs.errors == []
    assert ours.operations == theirs.operations
    assert ours.get_payload() == theirs.get_payload()
    # Ported code that checks the official builder's lists still runs (they stay empty
    # here: a bad operation raises instead of being collected).
    assert (ours.errors, ours.warnings) == (theirs.errors, theirs.warnings) == ([], [])


@given(st.lists(calls, max_size=8))
def test_an_edit_is_retried_only_without_increments_and_list_appends(
    sequence: list[tuple[str, tuple[Any, ...]]],
) -> None:
    edit = UserEdit("u1")
    for name, args in sequence:
        getattr(edit, name)(*args)
    unsafe = [
        op
        for op in edit.operations
        if "$add" in op or any(not k.startswith("$") for k in op.get("$append", {}))
    ]
    safety = edit_safety(edit.operations)
    assert safety.retry is (not unsafe)
    if unsafe:
        assert safety.reason is not None
        assert "twice" in safety.reason


def test_the_reason_names_the_operation_and_the_key() -> None:
    safety = edit_safety(UserEdit("u1").set("a", 1).increment("logins", 1).operations)
    assert safety.reason is not None
    assert "'logins'" in safety.reason
    assert "$add" in safety.reason
    appended = edit_safety(UserEdit("u1").add_email("a@b.co").append("tags", "x").operations)
    assert appended.reason is not None
    assert "'tags'" in appended.reason
    assert edit_safety(UserEdit("u1").add_androidpush("t", "fcm").unset("x").operations).retry


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda e: e.set("name", None), "set.name"),
        (lambda e: e.set(5, "x"), "set"),
        (lambda e: e.set({"  ": 1}), "set"),
        (lambda e: e.set(["a"]), "set"),
        (lambda e: e.set("blob", object()), "set.blob"),
        (lambda e: e.set_once({"x": {1, 2}}), "set_once.x"),
        (lambda e: e.increment("n", "1"), "increment.n"),
        (lambda e: e.increment("n", True), "increment.n"),
        (lambda e: e.increment({"n": math.nan}), "increment.n"),
        (lambda e: e.append("tags", None), "append.tags"),
        (lambda e: e.append({"$email": ""}), "append.$email"),
        (lambda e: e.remove({"$slack": "not a dict"}), "remove.$slack"),
        (lambda e: e.unset(5), "unset"),
        (lambda e: e.unset(["ok", ""]), "unset"),
        (lambda e: e.set_locale(""), "set_locale"),
        (lambda e: e.set_timezone(None), "set_timezone"),
        (lambda e: e.add_email(None), "add_email.$email"),
        (lambda e: e.add_sms(5), "add_sms.$sms"),
        (lambda e: e.add_androidpush("tok", provider=5), "add_androidpush.$androidpush.provider"),
        (lambda e: e.add_iospush("tok", bundle_id=1), "add_iospush.$iospush.bundle_id"),
        (lambda e: e.add_webpush("endpoint"), "add_webpush.$webpush"),
        (lambda e: e.add_slack({}), "add_slack.$slack"),
        (lambda e: e.remove_ms_teams(None), "remove_ms_teams.$ms_teams"),
    ],
)
def test_a_bad_operation_is_refused_naming_the_operation_and_key(call: Any, field: str) -> None:
    edit = UserEdit("u1").set("kept", 1)
    with pytest.raises(SuprsendValidationError) as caught:
        call(edit)
    assert caught.value.field == field
    assert edit.operations == [{"$set": {"kept": 1}}]  # nothing half-recorded


@pytest.mark.parametrize("distinct_id", ["", "  ", None, 3])
def test_an_edit_needs_a_distinct_id(distinct_id: Any) -> None:
    with pytest.raises(SuprsendValidationError) as caught:
        UserEdit(distinct_id)
    assert caught.value.field == "distinct_id"


def test_a_copy_is_independent_and_operations_cannot_be_changed_from_outside() -> None:
    edit = UserEdit(" u1 ", "t1").set("a", [1])
    twin = edit.copy()
    twin.set("b", 2)
    edit.operations[0]["$set"]["a"].append(2)
    assert edit.operations == [{"$set": {"a": [1]}}]
    assert twin.operations == [{"$set": {"a": [1]}}, {"$set": {"b": 2}}]
    assert (twin.distinct_id, twin.tenant_id) == ("u1", "t1")
    assert "operations=1" in repr(edit)
