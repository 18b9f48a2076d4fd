"""The benchmark matrix: both clients, same emulator, same run; medians and ratios."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from ._emulator import cpu_seconds, emulator, reset, stats
from ._report import write_reports

RESULTS = Path(__file__).parent / "results"
RECORDS_PER_REQUEST = 100


def _run(spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks._worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{spec['run']} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _summary(samples: list[dict[str, Any]], key: str) -> dict[str, float]:
    values = [s[key] for s in samples]
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _repeat(spec: dict[str, Any], reps: int, emu: dict[str, Any]) -> dict[str, Any]:
    samples = []
    for _ in range(reps):
        reset(emu)
        before = cpu_seconds(emu["pid"])
        sample = _run(spec)
        sample["emulator_cpu_s"] = cpu_seconds(emu["pid"]) - before
        samples.append(sample)
        if "success" in sample and "records" in spec:
            assert sample["success"] == spec["records"], (spec, sample)
    keys = [k for k in samples[0] if isinstance(samples[0][k], (int, float))]
    return {"samples": len(samples), **{k: _summary(samples, k) for k in keys}}


def _machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {}
    for dist in ("suprsend-async", "suprsend-py-sdk", "httpx", "anyio", "orjson", "requests"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def _credentials(emu: dict[str, Any]) -> dict[str, Any]:
    return {
        "base_url": emu["base_url"],
        "key": emu["workspace_key"],
        "secret": emu["workspace_secret"],
    }


def _bulk(args: argparse.Namespace, emu: dict[str, Any], latency: float) -> list[dict[str, Any]]:
    rows = []
    base = {
        "base_url": emu["base_url"],
        "key": emu["workspace_key"],
        "secret": emu["workspace_secret"],
    }
    for kind in ("events", "workflows"):
        for records in args.sizes:
            spec = {**base, "kind": kind, "records": records}
            print(f"  {kind} x {records:,} at {latency:g} ms", flush=True)
            encode = _repeat({**spec, "run": "encode_only"}, args.reps, emu)
            sdk = _repeat({**spec, "run": "sdk_bulk"}, args.reps, emu)
            ours = {
                c: _repeat({**spec, "run": "ours_bulk", "concurrency": c}, args.reps, emu)
                for c in args.concurrency
            }
            requests = math.ceil(records / RECORDS_PER_REQUEST)
            for c, run in ours.items():
                bound = math.ceil(requests / c) * latency / 1000 + encode["wall_s"]["median"]
                rows.append(
                    {
                        "kind": kind,
                        "records": records,
                        "latency_ms": latency,
                        "concurrency": c,
                        "sdk": sdk,
                        "ours": run,
                        "encode_only_s": encode["wall_s"]["median"],
                        "lower_bound_s": bound,
                        "speedup": sdk["wall_s"]["median"] / run["wall_s"]["median"],
                        "cpu_ratio": sdk["cpu_s"]["median"] / run["cpu_s"]["median"],
                        "sdk_cpu_us_per_record": sdk["cpu_s"]["median"] / records * 1e6,
                        "ours_cpu_us_per_record": run["cpu_s"]["median"] / records * 1e6,
                        "wall_over_bound": run["wall_s"]["median"] / bound,
                        "emulator_records_per_cpu_s": records / run["emulator_cpu_s"]["median"]
                        if run["emulator_cpu_s"]["median"]
                        else None,
                    }
                )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 repetitions")
    parser.add_argument("--reps", type=int, help="repetitions per measurement (default 5)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.concurrency = (2_000,), (1, 16)
        args.reps = args.reps or 2
        stream_records, sdk_memory_records, calls = 100_000, 20_000, 200
    else:
        args.sizes, args.concurrency = (10_000, 100_000), (1, 4, 16, 32)
        args.reps = args.reps or 5
        stream_records, sdk_memory_records, calls = 1_000_000, 100_000, 1_000
    started = time.monotonic()
    results: dict[str, Any] = {
        "machine": _machine(),
        "command": "nox -s bench" + (" -- --quick" if args.quick else ""),
        "repetitions": args.reps,
        "bulk": [],
    }
    for latency in (0.0, 50.0):
        print(f"bulk uploads, emulator latency {latency:g} ms", flush=True)
        with emulator(latency) as emu:
            results["bulk"] += _bulk(args, emu, latency)
    with emulator(0.0) as emu:
        base = {
            "base_url": emu["base_url"],
            "key": emu["workspace_key"],
            "secret": emu["workspace_secret"],
        }
        print("single calls", flush=True)
        single = _repeat({**base, "run": "single_overhead", "calls": calls}, args.reps, emu)
        burst = _repeat({**base, "run": "concurrent_singles", "calls": calls}, args.reps, emu)
        results["single"] = {
            "calls": calls,
            "ours_median_ms": single["ours_median_ms"],
            "raw_median_ms": single["raw_median_ms"],
            "overhead_ratio": single["ours_median_ms"]["median"]
            / single["raw_median_ms"]["median"],
            "concurrent_calls": calls,
            "concurrent_wall_s": burst["wall_s"],
            "concurrent_calls_per_s": calls / burst["wall_s"]["median"],
        }
        print("memory", flush=True)
        # A million records takes about a minute per run: three runs, not five.
        stream_reps = min(args.reps, 3)
        stream = _repeat(
            {**base, "run": "ours_stream", "records": stream_records, "concurrency": 16},
            stream_reps,
            emu,
        )
        sdk_memory = _repeat(
            {**base, "run": "sdk_bulk", "kind": "events", "records": sdk_memory_records},
            stream_reps,
            emu,
        )
        idle = _repeat({**base, "run": "idle"}, stream_reps, emu)
        results["memory"] = {
            "ours_stream_records": stream_records,
            "ours_stream_peak_rss_mb": stream["peak_rss_mb"],
            "ours_stream_wall_s": stream["wall_s"],
            "sdk_records": sdk_memory_records,
            "sdk_peak_rss_mb": sdk_memory["peak_rss_mb"],
            "idle_peak_rss_mb": idle["peak_rss_mb"],
            "repetitions": stream_reps,
        }
        results["emulator"] = {
            "records_per_cpu_s": stream_records / stream["emulator_cpu_s"]["median"],
            "records_per_wall_s_streamed": stream_records / stream["wall_s"]["median"],
        }
        stats(emu)  # still answering at the end
    results["elapsed_s"] = time.monotonic() - started
    write_reports(results, args.out)
    print(f"wrote {args.out}/latest.json, latest.md, chart.png in {results['elapsed_s']:.0f}s")
    return 0
