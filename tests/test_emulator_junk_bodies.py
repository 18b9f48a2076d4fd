"""Every REST endpoint of the emulator answers a body of the wrong shape with a 4xx, never a
5xx or a dropped connection: a test that sends one learns what the hub would say.

Walks the route table (users, objects, tenants, brands, subscriber lists and their versions,
messages, run cancellation), on records that exist, so each handler gets past its lookup to
the body.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from suprsend_async import WorkspaceSignatureAuth
from suprsend_async._wire.endpoints import EVERY_ENDPOINT
from suprsend_async._wire.routes import Endpoint
from suprsend_async.testing import HubEmulator

IDS = {
    "distinct_id": "u1",
    "object_type": "teams",
    "object_id": "eng",
    "tenant_id": "acme",
    "brand_id": "acme",
    "category": "newsletter",
    "list_id": "beta",
    "version_id": "emu-version-000001",  # the first sync a fresh emulator starts
}
# Each key a handler reads, with a value of the wrong type.
WRONG = {
    key: [1]
    for key in (
        "tenant_name",
        "brand_name",
        "properties",
        "social_links",
        "preference",
        "blocked_channels",
        "opt_in_channels",
        "visible_to_subscriber",
        "recipients",
        "operations",
        "channel_preferences",
        "categories",
        "distinct_ids",
        "from_user_id",
    )
}
JUNK: list[Any] = [[], "text", 7, None, {"x": {"y": []}}, WRONG, {k: 5 for k in WRONG}]
WRITES = [e for e in EVERY_ENDPOINT if e.method != "GET" and e.route.template != "event/"]


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", WRITES, ids=str)
async def test_a_body_of_the_wrong_shape_gets_a_4xx(endpoint: Endpoint[Any]) -> None:
    hub = HubEmulator()
    auth = WorkspaceSignatureAuth(hub.workspace_key, hub.workspace_secret)
    transport = httpx.ASGITransport(app=hub)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub", auth=auth) as http:

        async def send(method: str, path: str, body: Any) -> httpx.Response:
            return await http.request(
                method,
                "/" + path,
                content=json.dumps(body).encode(),
                headers={"Content-Type": "application/json; charset=utf-8"},
            )

        # The records the path names exist, so the handler reads the body.
        for path, body in (
            ("v1/user/u1/", {"name": "U"}),
            ("v1/user/u2/", {"name": "U2"}),
            ("v1/object/teams/eng/", {"name": "Eng"}),
            ("v1/tenant/acme/", {"tenant_name": "Acme"}),
            ("v1/subscriber_list/", {"list_id": "beta"}),
            ("v1/subscriber_list/beta/start_sync/", {}),
        ):
            assert (await send("POST", path, body)).status_code == 201
        path = endpoint.at(**{hole: IDS[hole] for hole in endpoint.route.holes}).path
        for body in JUNK:
            answer = await send(endpoint.method, path, body)
            assert answer.status_code < 500, (body, answer.status_code, answer.text)
