"""The route table (``_wire.endpoints``) holds for every endpoint the client can call.

Every endpoint has an emulator route that reads its ids back by name; every
id slot refuses what would reach another path (``""``, ``.``, ``..``), and an
id holding ``/`` stays one segment; no client method sends anything with such
an id. (Whether the templates are the hub's paths is checked against the
official SDK and the OpenAPI document by the parity tests, not here: client
and emulator read the same table.)
"""

from __future__ import annotations

import inspect
from typing import Any

import httpx
import pytest

from suprsend_async import AsyncSuprsend, SuprsendValidationError
from suprsend_async._wire.endpoints import EVERY_ENDPOINT
from suprsend_async._wire.routes import Endpoint
from suprsend_async.testing import HubEmulator
from suprsend_async.testing._hub import _ROUTES, _match_route

# Ids that exercise escaping: a slash, a space, a percent sign, non-ASCII.
AWKWARD = "team/front end%2F é"
BAD_IDS = ["", "   ", ".", ".."]


def _ids(endpoint: Endpoint[Any], value: str = AWKWARD) -> dict[str, str]:
    return {hole: f"{value}-{n}" for n, hole in enumerate(endpoint.route.holes)}


@pytest.mark.parametrize("endpoint", EVERY_ENDPOINT, ids=str)
def test_every_endpoint_has_an_emulator_route_reading_its_ids_by_name(
    endpoint: Endpoint[Any],
) -> None:
    ids = _ids(endpoint)
    path = endpoint.at(**ids).path
    matched = _match_route("/" + path)
    assert matched is not None, f"no emulator route for {endpoint}"
    template, read = matched
    assert template == "/" + endpoint.template
    assert read == ids  # each id back whole, its "/" included
    assert endpoint.method in _ROUTES[template]


def test_the_table_declares_each_endpoint_once() -> None:
    seen = [(e.method, e.template) for e in EVERY_ENDPOINT]
    assert len(seen) == len(set(seen))


HOLES = [(e, hole) for e in EVERY_ENDPOINT for hole in e.route.holes]


@pytest.mark.parametrize(("endpoint", "hole"), HOLES, ids=lambda v: str(v))
@pytest.mark.parametrize("bad", BAD_IDS)
def test_every_id_slot_refuses_what_would_reach_another_path(
    endpoint: Endpoint[Any], hole: str, bad: str
) -> None:
    ids: dict[str, object] = {**_ids(endpoint, "ok"), hole: bad}
    with pytest.raises(SuprsendValidationError) as caught:
        endpoint.at(**ids)
    assert caught.value.field == hole


@pytest.mark.parametrize(("endpoint", "hole"), HOLES, ids=lambda v: str(v))
def test_a_slash_in_an_id_is_escaped_and_never_changes_the_route(
    endpoint: Endpoint[Any], hole: str
) -> None:
    ids: dict[str, object] = {**_ids(endpoint, "ok"), hole: "../../v1/user"}
    path = endpoint.at(**ids).path
    assert path.count("/") == endpoint.template.count("/")
    assert "%2F" in path


def _public_methods(resource: Any) -> list[tuple[str, inspect.Signature]]:
    return [
        (name, inspect.signature(method))
        for name, method in inspect.getmembers(resource, inspect.ismethod)
        if not name.startswith("_") and "retry" in inspect.signature(method).parameters
    ]


ID_NAMES = {
    "brand_id",
    "distinct_id",
    "edit_ins_or_distinct_id",
    "edit_ins_or_object_type",
    "tenant_id",
    "object_type",
    "object_id",
    "category",
}
# Ids that go in a body, not a path: given a good value.
BODY_IDS = {"from_user_id"}


def _calls_with_a_bad_id() -> list[tuple[str, str, str]]:
    client = AsyncSuprsend("k", "s")
    cases = []
    for resource_name in ("users", "objects", "tenants", "brands"):
        resource = getattr(client, resource_name, None)
        if resource is None:
            continue
        for name, signature in _public_methods(resource):
            for param in signature.parameters:
                if param in ID_NAMES:
                    cases.append((resource_name, name, param))
    return cases


@pytest.mark.anyio
@pytest.mark.parametrize(("resource", "method", "param"), _calls_with_a_bad_id())
async def test_no_client_method_sends_anything_with_a_bad_id(
    resource: str, method: str, param: str
) -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"meta": {"has_next": False}, "results": []})

    hub = HubEmulator()
    async with hub.client(transport=httpx.MockTransport(record)) as client:
        call = getattr(getattr(client, resource), method)
        arguments: dict[str, Any] = {}
        for name, parameter in inspect.signature(call).parameters.items():
            if name in ID_NAMES | BODY_IDS:
                arguments[name] = ".." if name == param else "ok"
            elif parameter.default is inspect.Parameter.empty and parameter.kind in (
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                inspect.Parameter.POSITIONAL_ONLY,
            ):
                arguments[name] = {}

        async def attempt() -> None:
            result = call(**arguments)
            if inspect.isawaitable(result):
                await result

        with pytest.raises(SuprsendValidationError):
            await attempt()
    assert sent == []
