"""AsyncSuprsend: configuration, pool ownership, timeouts, auth schemes, single-call retries."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from suprsend_async import (
    AsyncSuprsend,
    Attachment,
    Event,
    RetryPolicy,
    SuprsendConfigError,
    SuprsendError,
    WorkflowTriggerRequest,
)

pytestmark = pytest.mark.anyio

KEY, SECRET, API_KEY = "WS_TEST_KEY_000000000001", "very-secret-value", "api-key-secret-value"


class Recorder:
    """A MockTransport handler answering a script of statuses (the last one repeats)."""

    def __init__(self, *statuses: int | Exception) -> None:
        self.statuses = list(statuses) or [202]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        outcome = self.statuses[min(len(self.requests), len(self.statuses)) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return httpx.Response(outcome, json={"status": "success", "message_id": "m"})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


# -- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("", SECRET), {}, "workspace_key"),
        ((KEY, "  "), {}, "workspace_secret"),
        ((None, SECRET), {}, "workspace_key"),
        ((KEY, SECRET), {"base_url": "ftp://hub"}, "base_url"),
        ((KEY, SECRET), {"base_url": "not a url"}, "base_url"),
        ((KEY, SECRET), {"base_url": "https://user:pw@hub.example/"}, "credentials"),
        ((KEY, SECRET), {"timeout": None}, "forever"),
        ((KEY, SECRET), {"timeout": httpx.Timeout(5.0, read=None)}, "None"),
        ((KEY, SECRET), {"max_concurrency": 0}, "max_concurrency"),
        ((KEY, SECRET), {"http_client": object()}, "http_client"),
    ],
)
def test_config_errors_at_construction(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(SuprsendConfigError, match=message):
        AsyncSuprsend(*args, **kwargs)


def test_base_url_is_normalised_and_defaults_to_the_hub() -> None:
    assert str(AsyncSuprsend(KEY, SECRET).base_url) == "https://hub.suprsend.com/"
    assert str(AsyncSuprsend(KEY, SECRET, base_url="http://h:1/x").base_url) == "http://h:1/x/"


async def test_every_request_carries_the_default_timeout() -> None:
    recorder = Recorder()
    async with AsyncSuprsend(KEY, SECRET, transport=recorder.transport()) as client:
        await client.track_event(Event("u1", "paid"))
        await client.bulk_events.send([Event("u1", "paid")])
    for request in recorder.requests:
        timeout = request.extensions["timeout"]
        assert timeout == {"connect": 5.0, "read": 30.0, "write": 30.0, "pool": 30.0}


async def test_a_custom_timeout_applies() -> None:
    recorder = Recorder()
    client = AsyncSuprsend(KEY, SECRET, transport=recorder.transport(), timeout=2.5)
    async with client:
        await client.track_event(Event("u1", "paid"))
    assert recorder.requests[0].extensions["timeout"]["read"] == 2.5


# -- ownership of the connection pool ---------------------------------------------------------


async def test_a_user_supplied_http_client_is_never_closed() -> None:
    recorder = Recorder()
    http = httpx.AsyncClient(transport=recorder.transport())
    async with AsyncSuprsend(KEY, SECRET, http_client=http) as client:
        await client.track_event(Event("u1", "paid"))
    assert not http.is_closed
    response = await http.get("http://elsewhere.test/")  # still usable by its owner
    assert response.status_code == 202
    await http.aclose()


async def test_an_owned_pool_is_closed_and_the_client_refuses_further_use() -> None:
    client = AsyncSuprsend(KEY, SECRET, transport=Recorder().transport())
    async with client:
        await client.track_event(Event("u1", "paid"))
        pool = client._transport.http_client
    assert pool is not None
    assert pool.is_closed
    with pytest.raises(SuprsendError, match="closed"):
        await client.track_event(Event("u1", "paid"))


def test_http_client_and_transport_are_exclusive() -> None:
    with pytest.raises(SuprsendConfigError, match="not both"):
        AsyncSuprsend(
            KEY, SECRET, http_client=httpx.AsyncClient(), transport=Recorder().transport()
        )


# -- auth schemes and headers ------------------------------------------------------------------


async def test_workspace_signature_on_the_sdk_paths() -> None:
    recorder = Recorder()
    async with AsyncSuprsend(KEY, SECRET, transport=recorder.transport()) as client:
        await client.track_event(Event("u1", "paid"))
        await client.workflows.trigger(WorkflowTriggerRequest(workflow="w", recipients=["u1"]))
    assert [r.url.path for r in recorder.requests] == ["/v2/event/", "/trigger/"]
    for request in recorder.requests:
        assert request.headers["Authorization"].startswith(f"{KEY}:")
        assert request.headers["Date"].endswith(" GMT")
        assert request.headers["User-Agent"].startswith("suprsend-async/")


async def test_from_api_key_sends_bearer_to_the_rest_paths() -> None:
    recorder = Recorder()
    client = AsyncSuprsend.from_api_key(API_KEY, transport=recorder.transport())
    async with client:
        await client.track_event(Event("u1", "paid"))
        await client.workflows.trigger(WorkflowTriggerRequest(workflow="w", recipients=["u1"]))
    assert [r.url.path for r in recorder.requests] == ["/event/", "/trigger/"]
    for request in recorder.requests:
        assert request.headers["Authorization"] == f"Bearer {API_KEY}"
        assert "Date" not in request.headers
    assert "env" not in json.loads(recorder.requests[0].content)
    with pytest.raises(SuprsendConfigError, match="api_key"):
        AsyncSuprsend.from_api_key(" ")


async def test_app_info_is_sent_in_the_client_header() -> None:
    recorder = Recorder()
    client = AsyncSuprsend(KEY, SECRET, transport=recorder.transport(), app_info="billing/2.1")
    async with client:
        await client.track_event(Event("u1", "paid"))
    header = json.loads(recorder.requests[0].headers["X-Suprsend-Client-User-Agent"])
    assert header["app_info"] == "billing/2.1"


# -- single-call retries --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure", [503, 429, 500, 502, 504, 408, httpx.ConnectError("refused")], ids=str
)
async def test_a_keyed_call_is_retried_on_transient_failures(failure: int | Exception) -> None:
    recorder = Recorder(failure, failure, 202)
    client = AsyncSuprsend(KEY, SECRET, transport=recorder.transport(), retry=RetryPolicy.instant())
    async with client:
        r = await client.track_event(Event("u1", "paid", idempotency_key="k"))
    assert (r.success, r.attempts, len(recorder.requests)) == (True, 3, 3)
    assert {json.loads(q.content)["$idempotency_key"] for q in recorder.requests} == {"k"}


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
async def test_other_4xx_are_never_retried(status: int) -> None:
    recorder = Recorder(status, 202)
    client = AsyncSuprsend(KEY, SECRET, transport=recorder.transport(), retry=RetryPolicy.instant())
    async with client:
        r = await client.track_event(Event("u1", "paid", idempotency_key="k"))
    assert (r.success, r.attempts, len(recorder.requests)) == (False, 1, 1)


async def test_an_unkeyed_call_is_sent_exactly_once() -> None:
    recorder = Recorder(503, 202)
    client = AsyncSuprsend(KEY, SECRET, transport=recorder.transport(), retry=RetryPolicy.instant())
    async with client:
        r = await client.track_event(Event("u1", "paid"))
        t = await client.workflows.trigger(WorkflowTriggerRequest(workflow="w", recipients=["u"]))
    assert (r.success, r.status_code, r.attempts) == (False, 503, 1)
    assert t.success  # the second request got the 202
    assert len(recorder.requests) == 2


async def test_generated_keys_make_a_call_retryable_with_one_key_across_attempts() -> None:
    recorder = Recorder(503, 503, 202)
    client = AsyncSuprsend(
        KEY,
        SECRET,
        transport=recorder.transport(),
        retry=RetryPolicy.instant(),
        auto_idempotency_keys=True,
    )
    async with client:
        r = await client.track_event(Event("u1", "paid"))
    assert (r.success, r.attempts) == (True, 3)
    keys = {json.loads(q.content).get("$idempotency_key") for q in recorder.requests}
    assert len(keys) == 1
    assert None not in keys


async def test_per_call_policy_overrides_the_clients() -> None:
    recorder = Recorder(503, 503, 202)
    client = AsyncSuprsend(KEY, SECRET, transport=recorder.transport(), retry=RetryPolicy.instant())
    async with client:
        r = await client.track_event(
            Event("u1", "paid", idempotency_key="k"), retry=RetryPolicy.disabled()
        )
    assert (r.success, r.attempts) == (False, 1)


# -- secrets ------------------------------------------------------------------------------------


async def test_secrets_never_appear_in_reprs_errors_or_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    recorder = Recorder(httpx.ConnectError("refused"), 401)
    signed = AsyncSuprsend(
        KEY, SECRET, transport=recorder.transport(), retry=RetryPolicy.instant(attempts=2)
    )
    bearer = AsyncSuprsend.from_api_key(API_KEY, transport=Recorder(401).transport())
    texts = [repr(signed), str(signed), repr(bearer), repr(signed._transport.auth)]
    async with signed, bearer:
        for r in (
            await signed.track_event(Event("u1", "paid", idempotency_key="k")),
            await bearer.track_event(Event("u1", "paid")),
        ):
            texts += [repr(r), str(r.to_dict())]
            with pytest.raises(SuprsendError) as info:
                r.raise_for_status()
            texts += [str(info.value), repr(info.value)]
    try:
        AsyncSuprsend(KEY, SECRET, base_url=f"https://{SECRET}@hub/")
    except SuprsendConfigError as exc:
        texts.append(str(exc))
    texts += [record.getMessage() for record in caplog.records]
    assert len(caplog.records) > 0
    joined = "\n".join(texts)
    for secret in (SECRET, API_KEY):
        assert secret not in joined


# -- attachments ---------------------------------------------------------------------------------


async def test_attachments_from_files_and_urls(tmp_path: Path) -> None:
    report = tmp_path / "report.csv"
    report.write_text("a,b\n1,2\n")
    attachment = await Attachment.from_path(report, ignore_if_error=True)
    assert attachment is not None
    assert (attachment.filename, attachment.content_type) == ("report.csv", "text/csv")
    assert "base64" in repr(attachment)  # data is summarised, not dumped
    missing = await Attachment.from_path(tmp_path / "gone.pdf", ignore_if_error=True)
    assert missing is None
    with pytest.raises(OSError, match="gone"):
        await Attachment.from_path(tmp_path / "gone.pdf")
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 40_000)  # 53,336 base64 bytes: over the 50 KB cap
    with pytest.raises(SuprsendError, match="from_url"):
        await Attachment.from_path(big)

    event = Event("u1", "report_ready")
    with_file = event.with_attachment(attachment).with_attachment(missing)
    assert event.attachments == ()
    assert len(with_file.attachments) == 1
    request = WorkflowTriggerRequest(workflow="w", recipients=["u"]).with_attachment(
        Attachment.from_url("https://example.com/a.pdf", ignore_if_error=True)
    )
    recorder = Recorder()
    async with AsyncSuprsend(KEY, SECRET, transport=recorder.transport()) as client:
        await client.track_event(with_file)
        await client.workflows.trigger(request)
    event_attachments = json.loads(recorder.requests[0].content)["properties"]["$attachments"]
    assert event_attachments[0]["filename"] == "report.csv"
    trigger_attachments = json.loads(recorder.requests[1].content)["data"]["$attachments"]
    assert trigger_attachments[0]["url"] == "https://example.com/a.pdf"
    assert trigger_attachments[0]["ignore_if_error"] is True
