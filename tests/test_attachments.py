"""Attachments: by URL, or a small file read without blocking, base64-encoded, within the cap."""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from pathlib import Path

import anyio
import httpx
import pytest

from suprsend_async import (
    AsyncSuprsend,
    Attachment,
    Event,
    SuprsendValidationError,
    WorkflowTriggerRequest,
)

KEY, SECRET = "WS_TEST_KEY_000000000001", "test-secret"
MAX_BASE64 = 50 * 1024
# base64 turns every 3 bytes (or part of them) into 4 characters: the largest file whose
# base64 stays under 50 KB (51,200 characters) has 38,397 bytes (51,196 characters).
LARGEST_FILE = 38_397


async def sent_bodies(*records: Event | WorkflowTriggerRequest) -> list[dict[str, object]]:
    """What the hub receives for ``records``, sent one by one through the client."""
    seen: list[httpx.Request] = []

    def hub(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"status": "success", "message_id": "m"})

    async with AsyncSuprsend(KEY, SECRET, transport=httpx.MockTransport(hub)) as client:
        for record in records:
            if isinstance(record, Event):
                assert (await client.track_event(record)).success
            else:
                assert (await client.workflows.trigger(record)).success
    return [json.loads(request.content) for request in seen]


# -- by URL -----------------------------------------------------------------------------------


def test_from_url_keeps_the_url_and_sends_the_official_five_keys() -> None:
    attachment = Attachment.from_url(" https://example.com/terms.pdf ", "terms.pdf", True)
    assert attachment.to_wire() == {
        "filename": "terms.pdf",
        "contentType": None,
        "data": None,
        "url": "https://example.com/terms.pdf",
        "ignore_if_error": True,
    }
    plain = Attachment.from_url("http://example.com/a")
    assert (plain.filename, plain.ignore_if_error) == (None, False)


@pytest.mark.parametrize("url", ["ftp://example.com/a", "/tmp/local.pdf", "example.com/a", ""])
def test_from_url_takes_only_http_urls(url: str) -> None:
    with pytest.raises(SuprsendValidationError) as info:
        Attachment.from_url(url)
    assert info.value.field == "attachment.url"


def test_every_way_in_takes_only_http_urls() -> None:
    with pytest.raises(SuprsendValidationError, match=r"^attachment\.url: must be an http"):
        Attachment(url="ftp://example.com/a")
    with pytest.raises(SuprsendValidationError) as info:
        Event("u1", "order_paid", {"$attachments": [{"url": "/tmp/local.pdf"}]})
    assert (info.value.field, info.value.rule) == (
        "properties.$attachments[0].url",
        "must be an http(s) URL",
    )


# -- by file ----------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("invoice.pdf", "application/pdf"),
        ("report.csv", "text/csv"),
        ("photo.PNG", "image/png"),
        ("notes.txt", "text/plain"),
        ("blob.unknownext", "application/octet-stream"),
        ("no_extension", "application/octet-stream"),
    ],
)
async def test_from_path_reads_encodes_and_guesses_the_mime_type(
    tmp_path: Path, name: str, content_type: str
) -> None:
    content = bytes(range(256)) * 3
    path = tmp_path / name
    path.write_bytes(content)
    attachment = await Attachment.from_path(path)
    assert attachment is not None
    assert attachment.url is None
    assert attachment.data is not None
    assert base64.b64decode(attachment.data, validate=True) == content
    assert (attachment.filename, attachment.content_type) == (name, content_type)
    assert attachment.ignore_if_error is False


@pytest.mark.anyio
async def test_from_path_takes_str_paths_a_home_tilde_and_a_chosen_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.pdf").write_bytes(b"%PDF-1.4")
    monkeypatch.setenv("HOME", str(tmp_path))
    by_str = await Attachment.from_path(str(tmp_path / "a.pdf"), file_name="  Invoice 42.pdf ")
    by_tilde = await Attachment.from_path("~/a.pdf", file_name="   ")
    assert by_str is not None
    assert by_tilde is not None
    assert by_str.filename == "Invoice 42.pdf"  # stripped, as the official SDK does
    assert by_tilde.filename == "a.pdf"  # a blank name falls back to the file's
    assert by_str.data == by_tilde.data == base64.b64encode(b"%PDF-1.4").decode()


@pytest.mark.anyio
async def test_an_empty_file_is_a_valid_attachment(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    attachment = await Attachment.from_path(tmp_path / "empty.txt")
    assert attachment is not None
    assert (attachment.data, attachment.content_type) == ("", "text/plain")


@pytest.mark.anyio
@pytest.mark.parametrize("what", ["missing file", "directory"])
async def test_an_unreadable_file_raises_or_with_ignore_if_error_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, what: str
) -> None:
    path = tmp_path / "gone.pdf" if what == "missing file" else tmp_path
    with pytest.raises(OSError):  # noqa: PT011 - FileNotFoundError or IsADirectoryError
        await Attachment.from_path(path)
    with caplog.at_level(logging.WARNING, logger="suprsend_async"):
        assert await Attachment.from_path(path, ignore_if_error=True) is None
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert path.name in record.getMessage()
    # The None is accepted by with_attachment and changes nothing.
    event = Event("u1", "report_ready")
    assert event.with_attachment(None) is event


@pytest.mark.anyio
async def test_the_size_cap_is_exact_and_applies_even_with_ignore_if_error(tmp_path: Path) -> None:
    fits = tmp_path / "fits.bin"
    fits.write_bytes(b"x" * LARGEST_FILE)
    attachment = await Attachment.from_path(fits)
    assert attachment is not None
    assert len(attachment.data or "") == MAX_BASE64 - 4

    too_big = tmp_path / "too_big.bin"
    too_big.write_bytes(b"x" * (LARGEST_FILE + 1))
    for ignore_if_error in (False, True):
        with pytest.raises(SuprsendValidationError) as info:
            await Attachment.from_path(too_big, ignore_if_error=ignore_if_error)
        assert info.value.field == "attachment.data"
        assert f"under {MAX_BASE64} bytes" in info.value.rule
        assert "from_url" in info.value.rule  # and says what to do instead


def test_the_repr_summarises_file_data_instead_of_dumping_it() -> None:
    attachment = Attachment(data="QUJD" * 1000, filename="a.bin")
    assert "<4000 base64 chars>" in repr(attachment)
    assert "QUJD" not in repr(attachment)


# -- on events and workflow triggers ------------------------------------------------------------


@pytest.mark.anyio
async def test_with_attachment_returns_a_new_event_and_keeps_the_order(tmp_path: Path) -> None:
    (tmp_path / "report.csv").write_text("a,b\n1,2\n")
    from_file = await Attachment.from_path(tmp_path / "report.csv")
    by_url = Attachment.from_url("https://example.com/terms.pdf", "terms.pdf")
    original = Event("u1", "report_ready", {"week": 47})
    attached = original.with_attachment(from_file).with_attachment(by_url)
    assert original.attachments == ()
    assert attached.attachments == (from_file, by_url)
    assert attached.properties is original.properties  # the user's dict is not touched
    assert "$attachments" not in original.properties
    assert Event("u1", "report_ready", attachments=[by_url]).attachments == (by_url,)

    [body] = await sent_bodies(attached)
    properties = body["properties"]
    assert isinstance(properties, dict)
    assert list(properties) == ["week", "$attachments", "$ss_sdk_version"]
    assert [a["filename"] for a in properties["$attachments"]] == ["report.csv", "terms.pdf"]
    assert properties["$attachments"][0]["contentType"] == "text/csv"


@pytest.mark.anyio
async def test_attachments_join_ones_already_in_the_properties() -> None:
    existing = {"url": "https://example.com/old.pdf", "filename": None, "ignore_if_error": False}
    event = Event("u1", "report_ready", {"$attachments": [existing]}).with_attachment(
        Attachment.from_url("https://example.com/new.pdf")
    )
    [body] = await sent_bodies(event)
    properties = body["properties"]
    assert isinstance(properties, dict)
    assert [a["url"] for a in properties["$attachments"]] == [
        "https://example.com/old.pdf",
        "https://example.com/new.pdf",
    ]


@pytest.mark.anyio
async def test_trigger_requests_take_attachments_the_same_way(tmp_path: Path) -> None:
    (tmp_path / "invoice.pdf").write_bytes(b"%PDF-1.4 tiny")
    original = WorkflowTriggerRequest(workflow="w", recipients=["u1"], data={"n": 1})
    request = original.with_attachment(await Attachment.from_path(tmp_path / "invoice.pdf"))
    request = request.with_attachment(
        Attachment.from_url("https://example.com/a.pdf", ignore_if_error=True)
    ).with_attachment(None)
    assert original.attachments == ()
    assert len(request.attachments) == 2
    [body] = await sent_bodies(request)
    data = body["data"]
    assert isinstance(data, dict)
    assert list(data) == ["n", "$attachments"]
    first, second = data["$attachments"]
    assert base64.b64decode(first["data"]) == b"%PDF-1.4 tiny"
    assert (first["filename"], first["contentType"]) == ("invoice.pdf", "application/pdf")
    assert (second["url"], second["ignore_if_error"]) == ("https://example.com/a.pdf", True)


@pytest.mark.anyio
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a POSIX named pipe")
async def test_from_path_reads_without_blocking_the_event_loop(tmp_path: Path) -> None:
    # A named pipe holds its reader until the writer (a plain thread) has written. The
    # writer writes only after the event loop has run a step while from_path was reading;
    # a read that blocked the loop would leave the writer waiting out its 10 s instead.
    pipe = tmp_path / "streamed.txt"
    os.mkfifo(pipe)
    reader_opened, loop_ran = threading.Event(), threading.Event()
    writer_saw_the_loop_run: list[bool] = []

    def writer() -> None:
        try:
            with open(pipe, "wb") as f:  # returns once from_path has opened the pipe
                reader_opened.set()
                writer_saw_the_loop_run.append(loop_ran.wait(timeout=10))
                f.write(b"streamed content")
        except OSError:  # the reader gave up
            pass

    thread = threading.Thread(target=writer)
    thread.start()
    results: list[Attachment | None] = []

    async def read() -> None:
        results.append(await Attachment.from_path(pipe))

    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(read)
            await anyio.to_thread.run_sync(reader_opened.wait, 10)
            loop_ran.set()  # only possible while the loop is free
    finally:
        loop_ran.set()
        if not reader_opened.is_set():  # release the writer if from_path never opened
            os.close(os.open(pipe, os.O_RDONLY | os.O_NONBLOCK))
        thread.join()
    assert writer_saw_the_loop_run == [True]
    [attachment] = results
    assert attachment is not None
    assert base64.b64decode(attachment.data or "") == b"streamed content"
