"""Every tenants and brands call sends what the official SDK 0.20.0 sends, signed as the hub
checks it; the tenant calls no SDK has are sent as the OpenAPI document's operations say.

The official SDK is the independent check of each path: our client and our
emulator read the same route table, so a wrong path would pass every test
between them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import suprsend

from ._parity import (
    AUTHS,
    assert_every_official_method_is_here,
    assert_same_requests,
    assert_sent_as_documented,
)

CATEGORY = {
    "preference": "cant_unsubscribe",
    "visible_to_subscriber": True,
    "mandatory_channels": ["email"],
    "blocked_channels": [],
    "digest_schedule": None,
}

TENANTS: dict[str, Callable[[Any], Any]] = {
    "list": lambda t: t.list(),
    "list with a page": lambda t: t.list(limit=50, offset=100),
    "list positionally": lambda t: t.list(1000, 0),
    "get": lambda t: t.get("acme/eu é"),
    "get with spaces around the id": lambda t: t.get(" acme "),
    "upsert": lambda t: t.upsert(
        "acme",
        {
            "tenant_name": "Acme",
            "primary_color": "#ff0000",
            "social_links": {"website": "https://acme.example"},
            "properties": {"plan": "pro", "seats": 3},
        },
    ),
    "upsert with an empty payload": lambda t: t.upsert("acme", {}),
    "upsert by keyword": lambda t: t.upsert(tenant_id="acme", tenant_payload={"logo": None}),
    "delete": lambda t: t.delete("acme"),
    "list_preference_categories": lambda t: t.list_preference_categories(
        "acme", {"limit": 10, "offset": 20, "tags": "billing", "include_disabled": False}
    ),
    "list_preference_categories without options": lambda t: t.list_preference_categories("acme"),
    "get_preference_category": lambda t: t.get_preference_category(
        "acme", "status update", {"locale": "es-AR"}
    ),
    "get_preference_category without options": lambda t: t.get_preference_category("acme", "news"),
    "update_preference_category": lambda t: t.update_preference_category(
        "acme", "news", CATEGORY, {"locale": "fr"}
    ),
    "update_preference_category without options": lambda t: t.update_preference_category(
        "acme", "news/letter", {"preference": "opt_out"}
    ),
}

BRANDS: dict[str, Callable[[Any], Any]] = {
    "list": lambda b: b.list(),
    "list with a page": lambda b: b.list(limit=3, offset=6),
    "get": lambda b: b.get("brand 1/é"),
    "get with spaces around the id": lambda b: b.get(" brand-1 "),
    "upsert": lambda b: b.upsert("brand-1", {"brand_name": "Acme", "properties": {"k": "v"}}),
    "upsert with an empty payload": lambda b: b.upsert("brand-1", {}),
    "upsert by keyword": lambda b: b.upsert(brand_id="b", brand_payload={"brand_name": "B"}),
}


CASES = [
    pytest.param(namespace, call, id=f"{namespace}.{name}")
    for namespace, cases in (("tenants", TENANTS), ("brands", BRANDS))
    for name, call in cases.items()
]


@pytest.mark.anyio
@pytest.mark.parametrize("auth", AUTHS)
@pytest.mark.parametrize(("namespace", "call"), CASES)
async def test_our_request_is_the_official_sdks(
    monkeypatch: pytest.MonkeyPatch, namespace: str, call: Callable[[Any], Any], auth: str
) -> None:
    await assert_same_requests(monkeypatch, namespace, call, auth)


@pytest.mark.parametrize(
    ("namespace", "api", "cases"),
    [
        ("tenants", suprsend.tenant.TenantsApi, TENANTS),
        ("brands", suprsend.brand.BrandsApi, BRANDS),
    ],
)
def test_every_method_of_the_official_namespace_is_covered_and_exists_here(
    namespace: str, api: type, cases: dict[str, Any]
) -> None:
    # detail_url and cleaned_limit_offset are helpers, not calls to the hub.
    assert_every_official_method_is_here(
        api, namespace, cases, besides=("detail_url", "cleaned_limit_offset")
    )


# The tenant endpoints no official Python SDK has: as the OpenAPI document gives them.
EXTRAS: dict[str, tuple[Callable[[Any], Any], str, str, Any]] = {
    "get_full_preference (get-tenant-full-preference)": (
        lambda t: t.get_full_preference("acme", {"locale": "es"}),
        "GET",
        "/v1/tenant/acme/preference/?locale=es",
        None,
    ),
    "get_default_preference (get-tenant-default-preference)": (
        lambda t: t.get_default_preference("acme/eu", {"locale": "fr", "limit": 5}),
        "GET",
        "/v1/tenant/acme%2Feu/category/?locale=fr&limit=5",
        None,
    ),
    "update_default_category_preference (update-brand-default-preference)": (
        lambda t: t.update_default_category_preference(
            "acme", "status-update-alert", {"preference": "opt_in", "visible_to_subscriber": True}
        ),
        "PATCH",
        "/v1/tenant/acme/category/status-update-alert/",
        {"preference": "opt_in", "visible_to_subscriber": True},
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("call", "method", "target", "body"), list(EXTRAS.values()), ids=list(EXTRAS)
)
async def test_the_openapi_only_tenant_calls_are_sent_as_documented(
    call: Callable[[Any], Any], method: str, target: str, body: Any
) -> None:
    await assert_sent_as_documented("tenants", call, method, target, body)
