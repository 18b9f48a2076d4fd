"""The hub emulator in its own process, so the client under test has a core to itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

_TICKS = os.sysconf("SC_CLK_TCK")


@contextmanager
def emulator(latency_ms: float) -> Iterator[dict[str, Any]]:
    """Start ``python -m suprsend_async.testing`` on a free port; yields its JSON status."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "suprsend_async.testing",
            "--json-status",
            "--no-records",
            "--latency-ms",
            str(latency_ms),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        info: dict[str, Any] = json.loads(process.stdout.readline())
        info["pid"] = process.pid
        yield info
    finally:
        process.terminate()
        process.wait(timeout=30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def stats(info: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(info["stats_url"], timeout=30).json()
    return result


def reset(info: dict[str, Any]) -> None:
    httpx.post(info["base_url"] + "_emulator/reset", timeout=30).raise_for_status()
