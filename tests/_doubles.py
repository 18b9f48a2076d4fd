"""Stand-ins for the hub shared by several test modules."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from suprsend_async import AsyncSuprsend
from suprsend_async.testing import HubEmulator, serve


class ScriptedHub:
    """A MockTransport handler answering a script of statuses (the last one repeats).

    An exception in the script is raised instead of answering, as a transport would.
    """

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers) or [202]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        if request.url.path.startswith("/v2/bulk/"):
            records = [{"status": "success", "status_code": 202}] * len(json.loads(request.content))
            return httpx.Response(answer, json={"status": "success", "records": records})
        return httpx.Response(answer, json={"status": "success", "message_id": "m"})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def bodies(self) -> list[Any]:
        return [json.loads(request.content) for request in self.requests]

    def only(self) -> httpx.Request:
        [request] = self.requests
        return request


@asynccontextmanager
async def served(hub: HubEmulator, **options: Any) -> AsyncIterator[AsyncSuprsend]:
    """A client talking to ``hub`` over a loopback socket."""
    async with (
        serve(hub) as base_url,
        AsyncSuprsend(
            hub.workspace_key, hub.workspace_secret, base_url=base_url, **options
        ) as client,
    ):
        yield client
