"""Every public constructor and option, fuzzed: only our two typed errors may escape.

Whatever a user passes to a value object, a policy, the limits or the
client's options, it is either accepted or refused at construction with a
SuprsendValidationError (a record's field) or a SuprsendConfigError (a
setting), never with a TypeError, ValueError, RecursionError, OverflowError
or AttributeError from deep inside, and never later, on the first send.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suprsend_async import (
    AsyncSuprsend,
    Attachment,
    Event,
    Limits,
    ObjectRecipient,
    Recipient,
    RetryPolicy,
    SuprsendConfigError,
    SuprsendValidationError,
    WorkflowTriggerRequest,
)

TYPED = (SuprsendValidationError, SuprsendConfigError)

FUZZ = settings(
    max_examples=300,
    deadline=None,  # a loaded machine must not turn slowness into a failure
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Weird:
    """An object no option expects: no len, no str subclass, odd comparisons."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("compared")

    __hash__ = object.__hash__


def _self_referential_dict() -> dict[str, Any]:
    d: dict[str, Any] = {}
    d["self"] = d
    return d


def _self_referential_list() -> list[Any]:
    items: list[Any] = []
    items.append(items)
    return items


_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["u1", "order_paid", " ", "", "$email", "a\nb", "é", "\x00", "w"])
    | st.binary(max_size=6)
    | st.builds(Weird)
    | st.builds(_self_referential_dict)
    | st.builds(_self_referential_list)
    | st.builds(object)
)

anything = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=6) | st.integers(), inner, max_size=4)
        | st.frozensets(st.integers() | st.text(max_size=4), max_size=3)
    ),
    max_leaves=12,
)

# Deep nesting, the way a careless or hostile input builds it.
deep = st.integers(min_value=1, max_value=5_000).map(lambda n: _nest(n))


class Nested(dict):  # type: ignore[type-arg]
    """A dict nested ``depth`` levels deep, with a short repr (hypothesis prints examples)."""

    def __init__(self, depth: int) -> None:
        value: Any = "x"
        for _ in range(depth - 1):
            value = {"k": [value]}
        super().__init__(k=[value])
        self.depth = depth

    def __repr__(self) -> str:
        return f"Nested({self.depth})"


def _nest(depth: int) -> Any:
    return Nested(depth)


value = anything | deep
maybe = st.just(_missing := object()) | value


def call_only_typed(build: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    kwargs = {k: v for k, v in kwargs.items() if v is not _missing}
    with contextlib.suppress(*TYPED):
        build(*args, **kwargs)


@FUZZ
@given(value, value, value, maybe, maybe, maybe, maybe)
def test_event(
    distinct_id: Any,
    name: Any,
    properties: Any,
    key: Any,
    tenant: Any,
    brand: Any,
    attachments: Any,
) -> None:
    call_only_typed(
        Event,
        distinct_id,
        name,
        properties,
        idempotency_key=key,
        tenant_id=tenant,
        brand_id=brand,
        attachments=attachments,
    )


@FUZZ
@given(st.dictionaries(st.sampled_from(["event", "distinct_id", "properties", "$idempotency_key",
                                        "tenant_id", "brand_id", "env", "x"]) | st.text(max_size=4),
                       value, max_size=6) | value)  # fmt: skip
def test_event_from_body(body: Any) -> None:
    call_only_typed(Event.from_body, body)


RECIPIENT_OPTIONS = (
    "distinct_id",
    "is_transient",
    "email",
    "sms",
    "whatsapp",
    "inbox",
    "androidpush",
    "iospush",
    "webpush",
    "slack",
    "ms_teams",
    "channels",
    "timezone",
    "locale",
    "preferred_language",
    "properties",
)


@FUZZ
@given(st.dictionaries(st.sampled_from(RECIPIENT_OPTIONS), value, max_size=5))
def test_recipient(options: dict[str, Any]) -> None:
    call_only_typed(Recipient, **options)


@FUZZ
@given(value, value)
def test_object_recipient(object_type: Any, id_: Any) -> None:
    call_only_typed(ObjectRecipient, object_type, id_)


TRIGGER_OPTIONS = (
    "data",
    "actor",
    "metadata",
    "tenant_id",
    "idempotency_key",
    "cancellation_key",
    "attachments",
)


@FUZZ
@given(value, value, st.dictionaries(st.sampled_from(TRIGGER_OPTIONS), value, max_size=4))
def test_workflow_trigger_request(workflow: Any, recipients: Any, options: dict[str, Any]) -> None:
    call_only_typed(WorkflowTriggerRequest, workflow=workflow, recipients=recipients, **options)


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(["workflow", "recipients", "actor", "data", "metadata", "tenant_id",
                         "$idempotency_key", "cancellation_key", "nope"]),
        value,
        max_size=6,
    )
    | value,
    maybe,
    maybe,
    maybe,
)  # fmt: skip
def test_workflow_trigger_request_from_body(body: Any, key: Any, tenant: Any, cancel: Any) -> None:
    call_only_typed(
        WorkflowTriggerRequest.from_body,
        body,
        idempotency_key=key,
        tenant_id=tenant,
        cancellation_key=cancel,
    )


ATTACHMENT_OPTIONS = ("url", "data", "filename", "content_type", "ignore_if_error")


@FUZZ
@given(st.dictionaries(st.sampled_from(ATTACHMENT_OPTIONS), value, max_size=5))
def test_attachment(options: dict[str, Any]) -> None:
    call_only_typed(Attachment, **options)


@FUZZ
@given(value, maybe, maybe)
def test_attachment_from_url(url: Any, file_name: Any, ignore: Any) -> None:
    call_only_typed(Attachment.from_url, url, file_name=file_name, ignore_if_error=ignore)


numbers = (
    st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, 1, -1, 1e200, 1e-300, math.inf, -math.inf, math.nan, True, 10**400])
)
option = numbers | value

RETRY_OPTIONS = (
    "attempts",
    "bulk_attempts",
    "deadline",
    "wait_initial",
    "wait_max",
    "wait_exp_base",
    "wait_jitter",
    "max_retry_after",
)


@FUZZ
@given(st.dictionaries(st.sampled_from(RETRY_OPTIONS), option, max_size=4))
def test_retry_policy(options: dict[str, Any]) -> None:
    try:
        policy = RetryPolicy(**options)
    except TYPED:
        return
    # An accepted policy works for as many retries as it allows: no overflow later.
    for retry_number in (1, 2, 50, policy.attempts, policy.bulk_attempts):
        wait = policy.backoff(retry_number, rng=lambda: 1.0)
        assert 0 <= wait <= policy.wait_max + policy.wait_jitter
        assert math.isfinite(wait)


@FUZZ
@given(option, option)
def test_retry_policy_constructors(attempts: Any, deadline: Any) -> None:
    call_only_typed(RetryPolicy.instant, attempts, deadline=deadline)
    call_only_typed(RetryPolicy.disabled, deadline=deadline)


LIMIT_OPTIONS = tuple(a.name for a in Limits.__attrs_attrs__)


@FUZZ
@given(st.dictionaries(st.sampled_from(LIMIT_OPTIONS), option, max_size=4))
def test_limits(options: dict[str, Any]) -> None:
    try:
        limits = Limits(**options)
    except TYPED:
        return
    # Accepted limits are whole numbers the chunker and the checks can use.
    for name in LIMIT_OPTIONS:
        number = getattr(limits, name)
        assert isinstance(number, int)
        assert not isinstance(number, bool)
        assert number >= 0


CLIENT_OPTIONS = (
    "base_url",
    "timeout",
    "http_client",
    "transport",
    "retry",
    "auto_idempotency_keys",
    "max_concurrency",
    "max_connections",
    "on_retry",
    "app_info",
    "limits",
)

client_option = option | st.sampled_from(
    [
        "http://127.0.0.1:1/",
        "https://user:pw@host/",
        "ftp://host/",
        "http://[::1",
        httpx.Timeout(5.0),
        httpx.Timeout(None),
        httpx.Timeout(5.0, connect=math.nan),
        httpx.Timeout(math.inf),
        RetryPolicy(),
        Limits(),
        print,
    ]
)

credential = (
    value | st.text(max_size=20) | st.sampled_from(["k\n", "k\r\nX: y", "ké", "k\x7f", "🔑"])
)


@FUZZ
@given(
    credential,
    credential,
    st.dictionaries(st.sampled_from(CLIENT_OPTIONS), client_option, max_size=3),
)
def test_client_options(key: Any, secret: Any, options: dict[str, Any]) -> None:
    call_only_typed(AsyncSuprsend, key, secret, **options)


@FUZZ
@given(
    credential,
    maybe,
    st.dictionaries(st.sampled_from(CLIENT_OPTIONS), client_option, max_size=3),
)
def test_api_key_client_options(api_key: Any, workspace_uid: Any, options: dict[str, Any]) -> None:
    if workspace_uid is not _missing:
        options["workspace_uid"] = workspace_uid
    call_only_typed(AsyncSuprsend.from_api_key, api_key, **options)


# -- the specific cases the fuzzing found, kept as plain examples ------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": math.nan},
        {"timeout": math.inf},
        {"timeout": httpx.Timeout(5.0, read=math.inf)},
        {"timeout": "5"},
        {"timeout": True},
        {"max_connections": 10**9},
        {"max_connections": True},
        {"max_concurrency": 2.5},
        {"base_url": 5},
        {"app_info": object()},
        {"auto_idempotency_keys": "no"},
        {"limits": {"max_records_per_request": 10}},
        {"retry": {"attempts": 3}},
        {"transport": object()},
    ],
)
def test_bad_client_options_are_config_errors_at_construction(options: dict[str, Any]) -> None:
    with pytest.raises(SuprsendConfigError):
        AsyncSuprsend("key", "secret", **options)


@pytest.mark.parametrize(
    "options",
    [
        {"wait_exp_base": 1e200},
        {"attempts": "4"},
        {"attempts": 2.5},
        {"attempts": True},
        {"deadline": math.nan},
        {"deadline": math.inf},
        {"wait_initial": math.nan},
        {"wait_max": math.inf},
        {"wait_jitter": -1},
        {"max_retry_after": math.nan},
        {"bulk_attempts": 0},
        {"wait_exp_base": 2, "bulk_attempts": 10**12},
    ],
)
def test_bad_retry_policies_are_config_errors(options: dict[str, Any]) -> None:
    if "wait_exp_base" in options:
        # Accepted (a steep curve, a whole-number base), but never overflowing or
        # computed as a giant integer, however far the retries go.
        policy = RetryPolicy(**options)
        assert policy.backoff(10_000, rng=lambda: 0.0) == policy.wait_max
        assert policy.backoff(10**12, rng=lambda: 0.0) == policy.wait_max
        return
    with pytest.raises(SuprsendConfigError):
        RetryPolicy(**options)


def test_a_deeply_nested_recipient_is_a_validation_error() -> None:
    with pytest.raises(SuprsendValidationError):
        Recipient(distinct_id="u1", properties=_nest(5_000), email=[_nest(5_000)])
