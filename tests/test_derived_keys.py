"""derive_idempotency_key: deterministic, distinct, within the hub's 255 characters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suprsend_async import SuprsendValidationError, derive_idempotency_key
from suprsend_async._values import rules
from suprsend_async._values.limits import DEFAULT_LIMITS

job_ids = st.text(min_size=1, max_size=400).filter(lambda s: bool(s.strip()))
items = st.one_of(
    st.integers(min_value=0, max_value=10**30),
    st.text(min_size=1, max_size=400).filter(lambda s: bool(s.strip())),
)


@given(job_ids, items)
def test_a_key_is_valid_and_the_same_every_time(job_id: str, item: str | int) -> None:
    key = derive_idempotency_key(job_id, item)
    assert key == derive_idempotency_key(job_id, item)
    assert len(key) <= DEFAULT_LIMITS.max_idempotency_key_length
    # What the client itself accepts as a key (no surrounding-whitespace surprises).
    assert rules.idempotency_key(key, "k", DEFAULT_LIMITS.max_idempotency_key_length) == key
    assert key == key.strip()


@given(job_ids, items, job_ids, items)
def test_different_records_get_different_keys(
    job_a: str, item_a: str | int, job_b: str, item_b: str | int
) -> None:
    if (job_a, str(item_a)) != (job_b, str(item_b)):
        assert derive_idempotency_key(job_a, item_a) != derive_idempotency_key(job_b, item_b)


def test_a_short_plain_pair_reads_as_itself() -> None:
    assert derive_idempotency_key("campaign-2026-12", 41) == "campaign-2026-12:41"
    assert derive_idempotency_key("import-9", "order-77") == "import-9:order-77"
    # The position and its digits are the same record.
    assert derive_idempotency_key("j", 3) == derive_idempotency_key("j", "3")
    # A ":" in the job id would make "a:b" + "c" and "a" + "b:c" one key: hashed instead.
    assert derive_idempotency_key("a:b", "c") != derive_idempotency_key("a", "b:c")
    long = derive_idempotency_key("j" * 300, 1)
    assert long.startswith("j" * 120 + ":")
    assert len(long) == 120 + 1 + 64


@pytest.mark.parametrize(
    ("job_id", "item", "field"),
    [("", 1, "job_id"), ("  ", 1, "job_id"), (None, 1, "job_id"), ("j", "", "item"),
     ("j", True, "item"), ("j", 1.5, "item"), ("j", None, "item")],
)  # fmt: skip
def test_bad_input_is_a_typed_error_naming_the_field(
    job_id: object, item: object, field: str
) -> None:
    with pytest.raises(SuprsendValidationError, match=field):
        derive_idempotency_key(job_id, item)  # type: ignore[arg-type]
