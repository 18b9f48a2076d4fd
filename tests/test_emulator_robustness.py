"""The emulator's server stays up: every request gets an answer, slow and idle
connections are closed, bodies are capped before they are buffered, running out
of file handles only delays connections, signals stop it cleanly, and state
stays bounded without records.

Loops are bounded and nothing waits on wall-clock time to pass a check: the
timeouts under test are set small, and each wait has a generous ceiling that
only turns a hang into a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

import anyio
import anyio.abc
import httpx
import pytest

from suprsend_async import AsyncSuprsend, Event
from suprsend_async.testing import HubEmulator, serve

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parent.parent
CEILING = 30  # seconds: only ever reached by a hang


def port_of(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1].strip("/"))


async def exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes; everything the server answers until it closes the connection."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(request)
        return await read_to_close(stream)


async def read_to_close(stream: anyio.abc.SocketStream) -> bytes:
    received = b""
    with anyio.fail_after(CEILING):
        while True:
            try:
                received += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return received


async def still_serving(base_url: str) -> None:
    async with httpx.AsyncClient() as http:
        assert (await http.get(base_url + "_emulator/stats")).status_code == 200


@pytest.fixture
async def served(anyio_backend: object) -> AsyncIterator[str]:
    async with serve(HubEmulator(), header_timeout=0.5, idle_timeout=0.5) as base_url:
        yield base_url


# -- every request gets an HTTP answer ----------------------------------------------------------


async def test_head_is_answered_without_a_body_and_the_server_lives(served: str) -> None:
    port = port_of(served)
    request = b"HEAD %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    stats = await exchange(port, request % b"/_emulator/stats")
    missing = await exchange(port, request % b"/")
    too_long = await exchange(port, request % (b"/" + b"a" * 70_000))  # refused by the server
    assert too_long.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert too_long.endswith(b"\r\n\r\n")
    head, _, body = stats.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-length: " in head.lower()  # what a GET would carry
    assert body == b""
    assert missing.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert missing.endswith(b"\r\n\r\n")
    await still_serving(served)


async def test_options_and_odd_methods_are_answered(served: str) -> None:
    async with httpx.AsyncClient(base_url=served) as http:
        options = await http.options("trigger/")
        brew = await http.request("BREW", "trigger/")
        delete = await http.delete("v2/bulk/event/")
    assert options.status_code == 204
    assert options.headers["allow"] == "POST, OPTIONS"
    assert brew.status_code == delete.status_code == 405
    assert delete.headers["allow"] == "POST, OPTIONS"
    assert delete.json()["message"] == "DELETE is not allowed on /v2/bulk/event/"


@pytest.mark.parametrize(
    ("request_bytes", "status_line"),
    [
        (b"\x00\x01\x02garbage\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
            b"HTTP/1.1 431 Request Header Fields Too Large",
        ),
    ],
    ids=["garbage", "malformed header", "oversize headers"],
)
async def test_malformed_requests_get_an_error_answer(
    served: str, request_bytes: bytes, status_line: bytes
) -> None:
    reply = await exchange(port_of(served), request_bytes)
    assert reply.startswith(status_line + b"\r\n")
    assert json.loads(reply.partition(b"\r\n\r\n")[2])["status"] == "fail"
    await still_serving(served)


async def test_a_client_that_expects_100_continue_is_told_to_send_its_body(served: str) -> None:
    async with await anyio.connect_tcp("127.0.0.1", port_of(served)) as stream:
        await stream.send(
            b"POST /event/ HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Length: 2\r\nConnection: close\r\n\r\n"
        )
        with anyio.fail_after(CEILING):
            interim = await stream.receive()
        await stream.send(b"{}")
        reply = interim + await read_to_close(stream)
    assert reply.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert b"\r\n\r\nHTTP/1.1 401 Unauthorized\r\n" in reply  # the body was read and judged


# -- slow, half-open and idle connections -------------------------------------------------------


async def test_a_request_whose_headers_never_finish_gets_408_and_is_closed(served: str) -> None:
    reply = await exchange(port_of(served), b"POST /event/ HTTP/1.1\r\nHost: x\r\n")
    assert reply.startswith(b"HTTP/1.1 408 Request Timeout\r\n")


async def test_a_connection_that_never_speaks_is_closed_without_an_answer(served: str) -> None:
    assert await exchange(port_of(served), b"") == b""


async def test_a_stalled_body_gets_408(served: str) -> None:
    request = b"POST /event/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
    assert (await exchange(port_of(served), request)).startswith(b"HTTP/1.1 408 ")


async def test_a_body_trickled_in_short_pauses_still_gets_408(served: str) -> None:
    # Each pause is well inside the timeout; the whole body takes six times it.
    async with await anyio.connect_tcp("127.0.0.1", port_of(served)) as stream:
        await stream.send(b"POST /event/ HTTP/1.1\r\nHost: x\r\nContent-Length: 60\r\n\r\n")

        async def trickle() -> None:
            with contextlib.suppress(anyio.BrokenResourceError):
                for _ in range(60):
                    await anyio.sleep(0.05)
                    await stream.send(b" ")

        async with anyio.create_task_group() as tg:
            tg.start_soon(trickle)
            reply = await read_to_close(stream)
            tg.cancel_scope.cancel()
    assert reply.startswith(b"HTTP/1.1 408 Request Timeout\r\n")


async def test_an_idle_keep_alive_connection_is_closed(served: str) -> None:
    async with await anyio.connect_tcp("127.0.0.1", port_of(served)) as stream:
        await stream.send(b"GET /_emulator/stats HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = await read_to_close(stream)  # answered, then closed once idle
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    assert reply.count(b"HTTP/1.1") == 1


async def test_a_client_that_stops_reading_answers_is_let_go(served: str) -> None:
    # It keeps sending requests and never reads: once the answers fill the socket
    # buffers the server gives up on it (after the idle timeout) and closes, so
    # the client's next send fails instead of blocking forever.
    request = b"GET /" + b"a" * 60_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"  # a 404 echoing it

    async def send_until_cut_off(stream: anyio.abc.SocketStream) -> None:
        with anyio.fail_after(CEILING):
            while True:
                await stream.send(request)

    async with await anyio.connect_tcp("127.0.0.1", port_of(served)) as stream:
        raw = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        with pytest.raises(anyio.BrokenResourceError):
            await send_until_cut_off(stream)
    await still_serving(served)


async def test_two_hundred_half_open_connections_do_not_stop_others(served: str) -> None:
    port = port_of(served)
    streams = []
    try:
        for _ in range(200):
            stream = await anyio.connect_tcp("127.0.0.1", port)
            streams.append(stream)
            await stream.send(b"POST /event/ HTTP/1.1\r\nHost: x\r\n")  # never finished
        await still_serving(served)
        # And the server lets go of every one of them.
        for stream in streams:
            assert (await read_to_close(stream)).startswith(b"HTTP/1.1 408 ")
    finally:
        for stream in streams:
            await stream.aclose()
    await still_serving(served)


# -- request bodies are capped before they are buffered -----------------------------------------


async def test_a_declared_oversize_body_is_refused_before_it_is_sent(
    anyio_backend: object,
) -> None:
    async with serve(HubEmulator(), max_body_bytes=1024) as base_url:
        # 1.5 GiB declared, none of it sent: the answer must not wait for it.
        request = b"POST /event/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1610612736\r\n\r\n"
        reply = await exchange(port_of(base_url), request)
        await still_serving(base_url)
    assert reply.startswith(b"HTTP/1.1 413 Request Entity Too Large\r\n")
    assert (
        "over the server's limit of 1024" in json.loads(reply.partition(b"\r\n\r\n")[2])["message"]
    )


async def test_a_chunked_body_is_refused_once_it_passes_the_cap(anyio_backend: object) -> None:
    hub = HubEmulator()
    async with serve(hub, max_body_bytes=1024) as base_url:
        chunk = b"400\r\n" + b"x" * 0x400 + b"\r\n"
        request = b"POST /event/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        async with await anyio.connect_tcp("127.0.0.1", port_of(base_url)) as stream:
            await stream.send(request + chunk * 2)  # 2 KiB so far, and no end in sight
            reply = await read_to_close(stream)
        await still_serving(base_url)
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert hub.stats.requests == 0  # the app never saw it


# -- shutting down ------------------------------------------------------------------------------


async def test_serve_exits_cleanly_with_connections_open(anyio_backend: object) -> None:
    streams = []
    async with serve(HubEmulator()) as base_url:
        port = port_of(base_url)
        for request in (
            b"",
            b"POST /event/ HTTP/1.1\r\n",
            b"GET /_emulator/stats HTTP/1.1\r\n\r\n",
        ):
            stream = await anyio.connect_tcp("127.0.0.1", port)
            streams.append(stream)
            await stream.send(request) if request else None
        await still_serving(base_url)
    # Leaving the block raised nothing, and closed every connection.
    for stream in streams:
        await read_to_close(stream)
        await stream.aclose()


async def test_an_error_raised_in_the_block_comes_out_as_itself(anyio_backend: object) -> None:
    # Not wrapped in an exception group: pytest.raises and except clauses around
    # the block see the block's own error, connections open or not.
    streams: list[anyio.abc.SocketStream] = []

    async def fail_while_serving() -> None:
        async with serve(HubEmulator()) as base_url:
            streams.append(await anyio.connect_tcp("127.0.0.1", port_of(base_url)))
            await streams[0].send(b"POST /event/ HTTP/1.1\r\n")
            await still_serving(base_url)
            raise LookupError("the test's own failure")

    with pytest.raises(LookupError, match="the test's own failure"):
        await fail_while_serving()
    await read_to_close(streams[0])  # the server closed it on the way out
    await streams[0].aclose()


def emulator_command(*flags: str) -> list[str]:
    return [sys.executable, "-m", "suprsend_async.testing", "--json-status", *flags]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def launch_emulator(
    *flags: str, limit_files: int | None = None, command: list[str] | None = None
) -> subprocess.Popen[str]:
    def lower_file_limit() -> None:  # in the child only: the test process keeps its own
        if limit_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit_files, limit_files))

    return subprocess.Popen(
        command or emulator_command(*flags),
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lower_file_limit,
    )


def announced(process: subprocess.Popen[str]) -> dict[str, str]:
    """The base URL and credentials the emulator prints once it is listening."""
    assert process.stdout is not None
    info: dict[str, str] = json.loads(process.stdout.readline())
    return info


def start_emulator(
    *flags: str, limit_files: int | None = None, command: list[str] | None = None
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = launch_emulator(*flags, limit_files=limit_files, command=command)
    return process, announced(process)


@pytest.mark.parametrize(
    "signals",
    [[signal.SIGINT], [signal.SIGTERM], [signal.SIGINT, signal.SIGINT]],
    ids=["SIGINT", "SIGTERM", "double SIGINT"],
)
def test_signals_stop_the_emulator_cleanly(signals: list[signal.Signals]) -> None:
    trials = 10 if len(signals) == 2 else 2
    # Started all at once: the trials start up side by side instead of in turn.
    processes = [launch_emulator() for _ in range(trials)]
    try:
        for process in processes:
            httpx.get(announced(process)["stats_url"], timeout=CEILING).raise_for_status()
            for signum in signals:
                process.send_signal(signum)
        for process in processes:
            try:
                _, stderr = process.communicate(timeout=CEILING)
            except subprocess.TimeoutExpired:
                pytest.fail(f"the emulator hung after {signals}")
            assert process.returncode == 0, stderr
            assert "Traceback" not in stderr
            assert json.loads(stderr.strip().splitlines()[-1])["requests"] == 0  # the final stats
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()


def test_a_port_already_in_use_is_a_usage_error_not_a_traceback() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            emulator_command("--port", str(port)),
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=CEILING,
        )
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
    assert "Traceback" not in result.stderr


def wait_for_output(stream: IO[str], text: str) -> str:
    """Read ``stream`` until ``text`` appears (a hang fails at the ceiling)."""
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    seen = ""
    while text not in seen:  # raw reads: nothing may sit unseen in a buffer
        assert selector.select(timeout=CEILING), f"no {text!r} from the emulator: {seen}"
        chunk = os.read(stream.fileno(), 4096).decode()
        assert chunk, f"the emulator ended without {text!r}: {seen}"
        seen += chunk
    return seen


# serve() on trio, where a failed accept reaches the server wrapped in BrokenResourceError.
SERVE_ON_TRIO = """
import json, logging, anyio
from suprsend_async.testing import HubEmulator, serve
logging.basicConfig(format="emulator: %(message)s")
async def main():
    async with serve(HubEmulator()) as base_url:
        info = {"base_url": base_url, "stats_url": base_url + "_emulator/stats"}
        print(json.dumps(info), flush=True)
        await anyio.sleep_forever()
anyio.run(main, backend="trio")
"""


@pytest.mark.parametrize(
    "command",
    [None, [sys.executable, "-c", SERVE_ON_TRIO]],
    ids=["emulator command (asyncio)", "serve() on trio"],
)
def test_running_out_of_file_handles_only_delays_connections(command: list[str] | None) -> None:
    process, info = start_emulator(limit_files=48, command=command)
    assert process.stderr is not None
    held: list[socket.socket] = []
    early = ""
    try:
        port = port_of(info["base_url"])
        request = b"GET /_emulator/stats HTTP/1.1\r\nHost: x\r\n\r\n"
        for _ in range(60):  # more than the emulator has file handles for
            sock = socket.create_connection(("127.0.0.1", port), timeout=CEILING)
            sock.sendall(request)
            held.append(sock)
        early = wait_for_output(process.stderr, "cannot accept connections")
        assert held[0].recv(1024).startswith(b"HTTP/1.1 200 OK")  # the first were served
        for sock in held:
            sock.close()
        held.clear()
        # Handles free up, and the emulator takes new connections again.
        assert httpx.get(info["stats_url"], timeout=CEILING).status_code == 200
    finally:
        for sock in held:
            sock.close()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=CEILING)
    if command is None:  # the emulator command stops cleanly; the bare script just dies
        assert process.returncode == 0, stderr
    assert "Traceback" not in early + stderr


# -- bounded state without records --------------------------------------------------------------


async def test_idempotency_state_is_bounded_without_records(anyio_backend: object) -> None:
    hub = HubEmulator(keep_records=False, idempotency_key_limit=100)
    async with hub.client() as client:
        for i in range(1000):
            await client.track_event(Event("u", "paid", idempotency_key=f"k{i}"))
        recent = await client.track_event(Event("u", "paid", idempotency_key="k999"))
        forgotten = await client.track_event(Event("u", "paid", idempotency_key="k0"))
    assert recent.success
    assert forgotten.success
    assert hub.stats.duplicates_suppressed == 1  # the recent key is still known
    assert hub.stats.processed_events == 1001  # the oldest one was forgotten
    assert hub.stats.idempotency_keys_evicted == 901
    assert hub.processed_keys == hub.received_keys == {}  # no per-key counters either
    assert hub.stats_dict()["keys_processed_more_than_once"] is None


async def test_users_are_bounded_without_records(anyio_backend: object) -> None:
    hub = HubEmulator(keep_records=False, user_limit=100)

    async def edit_users(client: AsyncSuprsend, ids: range) -> None:
        bulk = client.users.get_bulk_edit_instance()
        bulk.append(*(client.users.get_edit_instance(f"u{i}").set("n", i) for i in ids))
        assert (await bulk.save()).success == len(ids)

    async with hub.client() as client:
        await edit_users(client, range(100))
        await client.users.edit(client.users.get_edit_instance("u0").set("n", -1))
        await edit_users(client, range(100, 199))  # the 99 least recently changed go
        kept = set(hub.users.users)
        await edit_users(client, range(199, 1000))
    assert kept == {"u0", *(f"u{i}" for i in range(100, 199))}
    assert len(hub.users) == 100
    assert hub.stats.users_evicted == 900
    assert hub.users.applications == {}  # per-user counters are not kept either
