"""Runs one README snippet in a fresh interpreter; tests/test_readme_snippets.py starts it.

``python -m tests._readme_runner SNIPPET_FILE KIND``. The snippet runs as written, top-level
``await`` allowed; a fragment finds the names the README assumes (``client``, ``event``,
``db``...) already defined, ``client`` connected to the test's hub through the environment.
A FastAPI or aiohttp app the snippet defines is then served in-process and sent a request;
the pytest plugin's example tests are called with real fixtures. Any error exits non-zero.
"""

from __future__ import annotations

import ast
import inspect
import json
import sys
import types
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import suprsend_async
import suprsend_async.testing
from suprsend_async import AsyncSuprsend, Event, RetryPolicy, WorkflowTriggerRequest
from suprsend_async._core.environment import WorkspaceCredentials, credentials_from
from suprsend_async.testing import HubEmulator, serve


def public_names() -> dict[str, Any]:
    names = {n: getattr(suprsend_async, n) for n in suprsend_async.__all__}
    names.update({n: getattr(suprsend_async.testing, n) for n in suprsend_async.testing.__all__})
    return names


class FakeDb:
    """The ``db.stream(...)`` of the bulk example: a few rows."""

    async def stream(self, query: str) -> AsyncIterator[Any]:
        for i in range(3):
            yield types.SimpleNamespace(user_id=f"user-{i}", items=[i], week="2026-47")


async def _signup(user_id: str, notifier: AsyncSuprsend) -> None:
    await notifier.track_event(Event(user_id, "signed_up"))


def fragment_names() -> dict[str, Any]:
    env = credentials_from()
    assert isinstance(env, WorkspaceCredentials)
    return {
        "key": env.key,
        "secret": env.secret,
        "event": Event("user-1", "order_paid", idempotency_key="order-1-paid"),
        "e1": Event("user-1", "order_paid"),
        "e2": Event("user-2", "order_paid"),
        "w1": WorkflowTriggerRequest(workflow="welcome", recipients=["user-1"]),
        "w2": WorkflowTriggerRequest(workflow="welcome", recipients=["user-2"]),
        "db": FakeDb(),
        "my_app": types.SimpleNamespace(signup=_signup),
        "pytest": pytest,
        "signing_key": _signing_key(),
    }


def _signing_key() -> str:
    """A P-256 private key in PEM, as the dashboard gives one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    return (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


async def exercise(kind: str, ns: dict[str, Any]) -> None:
    if kind == "fastapi":
        app = ns["app"]
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as web,
        ):
            response = await web.post("/users/user-7/orders/o-9/paid")
        print(json.dumps({"status": response.status_code, "body": response.json()}))
    elif kind == "aiohttp":
        from aiohttp.test_utils import TestClient, TestServer

        async with TestClient(TestServer(ns["app"])) as web:
            answer = await web.post("/users/user-7/orders/o-9/paid")
            body = await answer.json()
        print(json.dumps({"status": answer.status, "body": body}))
    elif kind == "pytest-plugin":
        # Each example test the snippet defines, called with real fixtures by name.
        ran = []
        for name, test in list(ns.items()):
            if name.startswith("test_") and inspect.iscoroutinefunction(test):
                await _call_with_fixtures(test)
                ran.append(name)
        assert ran, "the pytest plugin snippet defines no test"
        print(json.dumps({"ran": ran}))


async def _call_with_fixtures(test: Any) -> None:
    hub = HubEmulator()
    async with serve(hub) as url, hub.client(retry=RetryPolicy.instant()) as client:
        fixtures = {"suprsend_hub": hub, "suprsend_hub_url": url, "suprsend_client": client}
        await test(**{p: fixtures[p] for p in inspect.signature(test).parameters})


def main(path: str, kind: str) -> None:
    code = compile(Path(path).read_text(), path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    ns: dict[str, Any] = {"__name__": "readme_snippet", **public_names(), **fragment_names()}

    async def run_async() -> None:
        async with AsyncSuprsend() as client:
            ns["client"] = client
            result = eval(code, ns)  # the README's own code
            if inspect.isawaitable(result):
                await result
            await exercise(kind, ns)

    async def exercise_only() -> None:
        await exercise(kind, ns)

    if code.co_flags & inspect.CO_COROUTINE:
        anyio.run(run_async)
    else:
        exec(code, ns)  # the README's own code
        anyio.run(exercise_only)


if __name__ == "__main__":
    # A warning in a snippet (aiohttp's NotAppKeyWarning, a deprecation) is a bug in it.
    warnings.simplefilter("error")
    main(sys.argv[1], sys.argv[2])
