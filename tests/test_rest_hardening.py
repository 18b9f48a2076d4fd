"""Every REST method, walked generically, against a hostile hub and a careless caller.

The methods are found by introspection (every public method of every
resource on the client), and their arguments come from one table by
parameter name, so a resource added later is covered by these tests as soon
as its parameter names are in the table (an unknown one fails loudly here).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suprsend_async import (
    AsyncSuprsend,
    Event,
    ObjectEdit,
    RetryPolicy,
    SuprsendAPIError,
    SuprsendConfigError,
    SuprsendTransportError,
    SuprsendValidationError,
    TriggerResponse,
    UserEdit,
)
from suprsend_async._core.retry import parse_retry_after
from suprsend_async.resources._base import Resource
from suprsend_async.testing import HubEmulator, serve
from tests._doubles import raw_http_server

pytestmark = pytest.mark.anyio

# Builders return a value object, not a request: nothing to send.
# Builders, and the calls that do not go through the REST request core: records sent with
# an idempotency key or not at all (triggers, broadcasts), list membership through the bulk
# engine (its failures come back as a BulkResponse), and replace(), a context manager.
NOT_REST = frozenset(
    {
        "get_edit_instance",
        "get_bulk_edit_instance",
        "trigger",
        "bulk_trigger",
        "bulk_trigger_instance",
        "broadcast",
        "replace",
        "add",
        "remove",
        "add_to_version",
        "remove_from_version",
    }
)


def valid_arguments() -> dict[str, Any]:
    """A valid value for every parameter name a REST method takes."""
    return {
        "distinct_id": "ann",
        "tenant_id": "t1",
        "category": "newsletter",
        "from_user_id": "bob",
        "payload": {"distinct_ids": ["ann"], "list_id": "beta"},
        "options": {"tenant_id": "t1"},
        "edit_ins_or_distinct_id": UserEdit("ann").set("plan", "pro"),
        "edit_payload": {"operations": [{"$set": {"plan": "pro"}}]},
        "edit_instance": UserEdit("ann").set("plan", "pro"),
        "object_type": "teams",
        "object_id": "devs",
        "edit_ins_or_object_type": ObjectEdit("teams", "devs").set("plan", "pro"),
        "brand_id": "b1",
        "tenant_payload": {"tenant_name": "T1"},
        "brand_payload": {"brand_name": "B1"},
        "limit": 20,
        "offset": 0,
        "retry": None,
        "list_id": "beta",
        "version_id": "v1",
        "template_slug": "welcome",
        "channel_slug": "email",
        "messages": [{"message_id": "m1", "action": "read"}],
        "execution_id": "run-1",
        "recipients": ["ann"],
        "idempotency_key": "k1",
        "workflow_slug": "welcome",
    }


def rest_methods(client: AsyncSuprsend) -> dict[str, Callable[..., Any]]:
    """``"users.get"`` -> the bound method, for every REST method of every resource."""
    methods: dict[str, Callable[..., Any]] = {}
    for resource_name, resource in vars(client).items():
        if not isinstance(resource, Resource):
            continue
        for name, method in inspect.getmembers(resource, inspect.ismethod):
            if not name.startswith("_") and name not in NOT_REST:
                methods[f"{resource_name.lstrip('_')}.{name}"] = method
    return methods


def call_with(method: Callable[..., Any], chosen: dict[str, Any]) -> Awaitable[Any]:
    """Call ``method`` with a value from ``chosen`` for each of its parameters;
    a paginator is awaited for its first page."""
    args, kwargs = [], {}
    for parameter in inspect.signature(method).parameters.values():
        if parameter.annotation == "None":
            continue  # takes nothing but its default (runs' cancel refuses a tenant_id)
        assert parameter.name in chosen, f"add {parameter.name!r} to valid_arguments()"
        if parameter.kind is parameter.KEYWORD_ONLY:
            kwargs[parameter.name] = chosen[parameter.name]
        else:
            args.append(chosen[parameter.name])
    result = method(*args, **kwargs)

    async def answer() -> Any:
        return await result

    return answer()


def method_names() -> list[str]:
    return sorted(rest_methods(AsyncSuprsend("key", "secret")))


def test_the_walk_finds_every_rest_method() -> None:
    names = method_names()
    assert {"users.delete", "users.async_edit", "users.list"} <= set(names)
    assert len(names) >= 20


# -- 1. a redirect is never a success ------------------------------------------------------


class Redirecting:
    """A hub that answers every request with ``status`` pointing elsewhere."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.requests = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.requests += 1
        location = b"https://elsewhere.example:8443/v1/user/ann%40example.com/?tenant_id=t1"
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [(b"location", location), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})


@pytest.mark.parametrize("status", [301, 307])
async def test_a_redirect_fails_every_rest_method_and_is_never_followed(status: int) -> None:
    hub = Redirecting(status)
    async with serve(hub) as base_url, AsyncSuprsend("key", "secret", base_url=base_url) as client:
        for name, method in rest_methods(client).items():
            before = hub.requests
            with pytest.raises(SuprsendAPIError) as info:
                await call_with(method, valid_arguments())
            assert info.value.status_code == status, name
            assert info.value.error_type == "redirect", name
            assert "https://elsewhere.example:8443" in str(info.value), name
            assert "example.com" not in str(info.value).replace("elsewhere.example", ""), name
            assert hub.requests == before + 1, name  # never followed, never repeated


# -- 2. a Retry-After that overflows ----------------------------------------------------------

HUGE_DATES = [
    "Fri, 31 Dec 99999999999999999999 23:59:59 GMT",
    "Fri, 31 Dec 2027 23:59:59 +99999999999999999999",
]


@pytest.mark.parametrize("value", HUGE_DATES)
def test_a_retry_after_date_out_of_range_reads_as_none(value: str) -> None:
    assert parse_retry_after(value) is None


async def test_an_overflowing_retry_after_on_success_loses_no_bulk_response() -> None:
    hub = HubEmulator()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        async def send_with_header(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [*message["headers"], (b"retry-after", HUGE_DATES[0].encode())]
                message = {**message, "headers": headers}
            await send(message)

        await hub(scope, receive, send_with_header)

    async with (
        serve(app) as base_url,
        AsyncSuprsend(hub.workspace_key, hub.workspace_secret, base_url=base_url) as client,
    ):
        events = [Event(f"u{i}", "paid", idempotency_key=f"k{i}") for i in range(3)]
        response = await client.bulk_events.send(events)
        assert (response.success, response.failure) == (3, 0)
        assert (await client.users.upsert("ann", {"plan": "pro"}))["distinct_id"] == "ann"
        assert (await client.track_event(Event("u1", "paid"))).success


# -- 3. answers nested too deep ---------------------------------------------------------------


def deep(levels: int) -> bytes:
    return b'{"error":' + b"[" * levels + b"]" * levels + b"}"


async def test_a_deeply_nested_error_answer_is_a_typed_error_everywhere() -> None:
    body = deep(990)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, content=body, headers={"Content-Type": "application/json"})

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    async with http, AsyncSuprsend("key", "secret", http_client=http) as client:
        with pytest.raises(SuprsendAPIError) as info:
            await client.users.get("ann")
        assert info.value.status_code == 400
        bulk = await client.bulk_events.send([Event("u1", "paid", idempotency_key="k")])
        assert [f.code for f in bulk.failed_records] == [400]
        edits = client.users.get_bulk_edit_instance()
        edits.append(UserEdit("ann").set("plan", "pro"))
        saved = await edits.save()
        assert [f.code for f in saved.failed_records] == [400]


# -- 4, 5. deep or oversized values in edits ----------------------------------------------------


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("levels", [65, 500, 979])
def test_a_deep_value_is_refused_by_every_operation_at_the_call(levels: int) -> None:
    edit = UserEdit("ann")
    for operation in (edit.set, edit.set_once, edit.append, edit.remove):
        with pytest.raises(SuprsendValidationError, match="nested more than 64"):
            operation("key", nested(levels))
    assert edit.operations == []


def test_an_oversized_value_or_edit_is_refused_at_the_call() -> None:
    with pytest.raises(SuprsendValidationError, match=r"set\.big: .* more than the 102400"):
        UserEdit("ann").set("big", "x" * 200_000)
    edit = UserEdit("ann")
    for i in range(8):
        edit.set(f"k{i}", "x" * 100_000)
    with pytest.raises(SuprsendValidationError, match="larger than 819200"):
        edit.set("k8", "x" * 100_000)


def test_an_edit_holds_what_was_given_at_the_call() -> None:
    tags = ["a"]
    edit = UserEdit("ann").set("tags", tags)
    tags.append(nested(990))  # later changes to the caller's list are not the edit's
    assert edit.get_payload() == {"operations": [{"$set": {"tags": ["a"]}}]}
    assert edit.copy().operations == edit.operations


@pytest.mark.parametrize("tenant_id", ["", "t" * 65])
def test_a_tenant_id_is_refused_when_empty_or_longer_than_the_hubs_limit(tenant_id: str) -> None:
    with pytest.raises(SuprsendValidationError, match="tenant_id"):
        UserEdit("ann", tenant_id)


async def test_an_edit_the_hub_would_refuse_fails_alone_before_sending() -> None:
    from suprsend_async import Limits

    hub = HubEmulator(limits=Limits(max_tenant_id_length=8))
    async with hub.client(limits=Limits(max_tenant_id_length=8)) as client:
        edits = client.users.get_bulk_edit_instance()
        edits.append(
            UserEdit("ann").set("plan", "pro"),
            UserEdit("bob", "a-tenant-id-too-long").set("plan", "pro"),
            UserEdit("cy").set("plan", "pro"),
        )
        response = await edits.save()
    assert (response.success, response.failure) == (2, 1)
    [failed] = response.failed_records
    assert (failed.index, failed.code) == (1, None)
    assert "tenant_id" in failed.error
    assert {"ann", "cy"} <= set(hub.users)


# -- 6. no personal data in errors and logs ---------------------------------------------------

_MALFORMED = b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n"


async def test_a_malformed_answer_names_the_route_not_the_ids_on_every_transport(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # aiohttp's pool on asyncio (its errors quote the whole URL), httpcore's on trio.
    def respond(n: int, head: bytes) -> tuple[bytes, bool]:
        return _MALFORMED, True

    caplog.set_level(logging.DEBUG, logger="suprsend_async")
    with anyio.fail_after(30):  # a guard against a hang, nothing is timed
        async with (
            raw_http_server(respond) as (base_url, _),
            AsyncSuprsend(
                "key", "secret", base_url=base_url, retry=RetryPolicy.instant(attempts=2)
            ) as client,
        ):
            with pytest.raises(SuprsendTransportError) as info:
                await client.users.get("jane.doe@example.com", {"tenant_id": "acme-corp"})
    texts = [str(info.value), repr(info.value), repr(info.value.__cause__)]
    texts += [record.getMessage() for record in caplog.records]
    assert "v1/user/{distinct_id}/" in str(info.value)
    for text in texts:
        for secret in ("jane", "example.com", "jane.doe%40example.com", "acme-corp"):
            assert secret not in text, text


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")

    __str__ = __repr__

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # for hypothesis's reports
        printer.text("BadRepr()")


class HugeInt(int):
    """An int too long to write as text (str() raises)."""

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text("HugeInt(10**5000)")


class Deep(list[Any]):
    """A list nested ``levels`` deep (hypothesis's reports show its depth, not it)."""

    def __init__(self, levels: int) -> None:
        super().__init__([nested(levels - 1)])
        self.levels = levels

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(f"Deep({self.levels})")


def test_validation_errors_do_not_echo_the_refused_value() -> None:
    phone = "+14155550123"
    with pytest.raises(SuprsendValidationError) as info:
        UserEdit("ann").add_email(["not", phone])  # type: ignore[arg-type]
    assert phone not in str(info.value)
    with pytest.raises(SuprsendValidationError) as info:
        UserEdit("ann").set_locale(BadRepr())  # type: ignore[arg-type]
    assert "BadRepr" in str(info.value)


async def test_an_edit_payload_with_keys_that_cannot_be_shown_is_refused_not_crashed() -> None:
    hub = HubEmulator()
    async with hub.client() as client:
        for operation in ({BadRepr(): 1}, {"$add": {BadRepr(): 1}}, {"$append": {BadRepr(): 1}}):
            with pytest.raises(SuprsendValidationError, match=r"payload"):
                await client.users.edit("ann", {"operations": [operation]})
    assert hub.stats.requests == 0


# -- 7. ids and options that cannot be sent ---------------------------------------------------


@pytest.mark.parametrize(
    ("distinct_id", "options", "field"),
    [
        ("ann\ud800", None, "distinct_id"),
        ("a" * 120_000, None, "distinct_id"),
        ("ann", {"tenant_id": "t\udfff"}, "options.tenant_id"),
        ("ann", {"tenant_id": "t" * 100_000}, "options.tenant_id"),
        ("ann", {"tags": "t" * 100_000}, "options"),
        ("ann", {"x": BadRepr()}, "options.x"),
        ("ann", {"n": 10**5000}, "options"),
    ],
)
async def test_an_id_or_option_that_cannot_be_sent_is_a_validation_error(
    distinct_id: str, options: dict[str, Any] | None, field: str
) -> None:
    hub = HubEmulator()
    async with hub.client() as client:
        with pytest.raises(SuprsendValidationError) as info:
            await client.users.get(distinct_id, options)
    assert info.value.field == field
    assert hub.stats_dict()["requests"] == 0


async def test_a_user_cannot_be_merged_into_itself() -> None:
    hub = HubEmulator()
    async with hub.client() as client:
        await client.users.upsert("u1", {"plan": "pro"})
        with pytest.raises(SuprsendValidationError, match="merged into itself"):
            await client.users.merge("u1", " u1 ")
    assert "u1" in hub.users


# -- the fuzz: every REST method's arguments ---------------------------------------------------


def _hostile() -> st.SearchStrategy[Any]:
    every_char = st.characters(codec=None, exclude_categories=())
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(alphabet=every_char, max_size=20),
        st.binary(max_size=10),
        st.builds(lambda: "x" * 120_000),
        st.builds(lambda: HugeInt(10**5000)),
        st.builds(BadRepr),
    )
    containers = st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(
                st.one_of(st.text(alphabet=every_char, max_size=5), leaves), inner, max_size=3
            ),
        ),
        max_leaves=8,
    )
    return st.one_of(
        containers,
        st.builds(Deep, st.sampled_from([70, 500, 990])),
        st.builds(lambda: {"operations": Deep(500)}),
        st.builds(lambda ops: {"operations": ops}, st.lists(containers, max_size=3)),
    )


def _fuzzed_arguments(name: str) -> st.SearchStrategy[dict[str, Any]]:
    method = rest_methods(AsyncSuprsend("key", "secret"))[name]
    valid = valid_arguments()
    return st.fixed_dictionaries(
        {p: st.one_of(st.just(valid[p]), _hostile()) for p in inspect.signature(method).parameters}
    )


OK_PAGE = json.dumps({"meta": {"has_next": False}, "results": []}).encode()


@pytest.mark.parametrize("name", method_names())
def test_fuzzed_arguments_give_only_typed_errors_before_anything_is_sent(name: str) -> None:
    sent: list[httpx.Request] = []

    def hub(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, content=OK_PAGE)

    @settings(
        max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(arguments=_fuzzed_arguments(name))
    def check(arguments: dict[str, Any]) -> None:
        async def main() -> None:
            http = httpx.AsyncClient(transport=httpx.MockTransport(hub))
            async with http, AsyncSuprsend("key", "secret", http_client=http) as client:
                method = rest_methods(client)[name]
                before = len(sent)
                try:
                    await call_with(method, arguments)
                except (SuprsendValidationError, SuprsendConfigError):
                    assert len(sent) == before, "refused after sending"

        anyio.run(main)

    check()


# -- 11. the emulator ----------------------------------------------------------------------------


async def test_the_emulator_builds_only_the_page_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    from suprsend_async.testing.resources._user_store import StoredUser

    hub = HubEmulator()
    for i in range(300):
        hub.users.upsert(f"u{i}", {"i": i})
    built: list[str] = []
    to_json = StoredUser.to_json

    def counted(self: StoredUser) -> dict[str, Any]:
        built.append(self.distinct_id)
        return to_json(self)

    monkeypatch.setattr(StoredUser, "to_json", counted)
    async with hub.client() as client:
        seen = [user["distinct_id"] async for user in client.users.list({"limit": 10})]
    assert seen == [f"u{i}" for i in range(300)]
    assert len(built) == 300  # each user once: a page costs its own users, not all of them


async def test_the_emulator_bounds_its_users_in_bytes_and_reads_change_nothing() -> None:
    hub = HubEmulator(keep_records=False, user_bytes_limit=1_000_000)
    async with hub.client() as client:
        for i in range(10):
            await client.users.upsert(f"u{i}", {"blob": "x" * 300_000})
        assert hub.users.bytes <= 1_000_000
        assert "u9" in hub.users
        assert "u0" not in hub.users
        assert hub.stats.users_evicted >= 7
        await client.users.get_full_preference("u9")
        await client.users.get_global_channels_preference("u9", {"tenant_id": "t1"})
        await client.users.get_category_preference("u9", "newsletter")
    assert hub.users["u9"].preferences == {}


@pytest.mark.parametrize(
    ("call", "arguments"),
    [
        ("update_full_preference", ("u1", {"categories": 5})),
        ("edit", ("u1", {"operations": [{"$unset": [[1]]}]})),
    ],
)
async def test_a_malformed_but_parseable_body_is_a_400_not_a_500(
    call: str, arguments: tuple[Any, ...]
) -> None:
    hub = HubEmulator()
    async with hub.client() as client:
        await client.users.upsert("u1", {"plan": "pro"})
        with pytest.raises(SuprsendAPIError) as info:
            await getattr(client.users, call)(*arguments)
    assert info.value.status_code == 400


async def test_every_emulator_request_is_all_or_nothing() -> None:
    hub = HubEmulator()
    store = hub.users
    async with hub.client() as client:
        # A refused edit makes no user, nor a tenant of an existing one.
        with pytest.raises(SuprsendAPIError, match="incremented"):
            await client.users.edit("nobody", {"operations": [{"$add": {"n": "x"}}]})
        assert "nobody" not in store
        await client.users.upsert("u1", {"plan": "pro"})
        operations = [{"$set": {"a": "text"}}, {"$add": {"a": 1}}]
        with pytest.raises(SuprsendAPIError, match="incremented"):
            await client.users.edit("u1", {"operations": operations}, "t1")
        assert store["u1"].tenants == {}
        assert store["u1"].properties == {"plan": "pro"}
        # A full-preference update that ends in 404 applies none of itself.
        payload = {
            "channel_preferences": [{"channel": "email", "is_restricted": True}],
            "categories": [{"category": "no-such-category", "preference": "opt_out"}],
        }
        with pytest.raises(SuprsendAPIError) as info:
            await client.users.update_full_preference("u1", payload)
        assert info.value.status_code == 404
        channels = await client.users.get_global_channels_preference("u1")
        assert not any(c["is_restricted"] for c in channels["channel_preferences"])
    # A merge of a user into itself is refused, and deletes nothing.
    with pytest.raises(Exception, match="merged into itself"):
        store.merge("u1", {"from_user_id": "u1"})
    assert "u1" in store


def test_a_huge_or_unsendable_key_is_refused_and_never_echoed_whole() -> None:
    for key in ("k" * 5_000, "name\ud800"):
        with pytest.raises(SuprsendValidationError) as info:
            UserEdit("ann").set(key, 1)
        assert len(str(info.value)) < 200
    with pytest.raises(SuprsendValidationError) as info:
        UserEdit("ann").set("k" * 1000, nested(70))
    assert info.value.field == "set." + "k" * 40 + "..."


# -- 12. reprs free of personal data --------------------------------------------------------------


async def test_reprs_of_responses_and_builders_carry_no_personal_data() -> None:
    email, phone = "jane.doe@example.com", "+14155550123"
    hub = HubEmulator()
    async with hub.client() as client:
        edit = UserEdit(email, "tenant-of-jane").add_email(email).add_sms(phone)
        edits = client.users.get_bulk_edit_instance()
        edits.append(edit, email)  # fails, and is kept as given
        bulk = await edits.save()
        paginator = client.users.list({"tenant_id": "tenant-of-jane"})
    assert bulk.failure == 1
    single = TriggerResponse.from_http(404, f'{{"message": "no user {email}"}}'.encode())
    texts = [repr(edit), repr(bulk), repr(bulk.failed_records), repr(single), repr(paginator)]
    for text in texts:
        for secret in ("jane", phone):
            assert secret not in text, text


async def test_an_id_is_stripped_and_an_empty_one_refused_wherever_it_goes() -> None:
    hub = HubEmulator()
    async with hub.client() as client:
        await client.users.upsert_for_tenant(" ann ", " t1 ", {"plan": "pro"})
        assert set(hub.users["ann"].tenants) == {"t1"}
        # The same id, as an option: the same tenant.
        email = {"channel_preferences": [{"channel": "email", "is_restricted": True}]}
        await client.users.update_global_channels_preference("ann", email, {"tenant_id": " t1 "})
        channels = await client.users.get_global_channels_preference("ann", {"tenant_id": "t1"})
        assert {"channel": "email", "is_restricted": True} in channels["channel_preferences"]
        for call in (
            client.users.get_full_preference("ann", {"tenant_id": "  "}),
            client.users.edit("ann", {"operations": []}, tenant_id=""),
        ):
            with pytest.raises(SuprsendValidationError, match="tenant_id"):
                await call
    with pytest.raises(SuprsendValidationError, match="tenant_id"):
        UserEdit("ann", "")
