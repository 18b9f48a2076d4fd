"""The benchmark matrix: every client side by side in one run, against one emulator; medians."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from ._emulator import cpu_seconds, emulator, reset, stats
from ._report import lag_table, rest_tables, update_readme, write_reports

RESULTS = Path(__file__).parent / "results"
CONCURRENCY = 16

# (name, spec) of every client measured; "ours" is the default path on asyncio.
RAW = {
    "floor": {"impl": "floor"},
    "httpx": {"impl": "httpx"},
    "httpx2": {"impl": "httpx2"},
    "aiohttp": {"impl": "aiohttp"},
}
SDK = {"sdk": {"impl": "sdk"}}
OURS = {
    "ours": {"impl": "ours", "backend": "asyncio", "transport": "aiohttp"},
    "ours_httpcore": {"impl": "ours", "backend": "asyncio", "transport": "httpcore"},
    "ours_trio": {"impl": "ours", "backend": "trio", "transport": "httpcore"},
    # http_stack="httpx2": httpx-aiohttp's httpx2 variant on asyncio, httpcore2 on trio.
    "ours_httpx2": {
        "impl": "ours",
        "backend": "asyncio",
        "transport": "aiohttp",
        "stack": "httpx2",
    },
    "ours_httpx2_trio": {
        "impl": "ours",
        "backend": "trio",
        "transport": "httpcore",
        "stack": "httpx2",
    },
}
LABELS = {
    "floor": "floor (raw asyncio streams)",
    "httpx": "raw httpx",
    "httpx2": "raw httpx2",
    "aiohttp": "raw aiohttp",
    "sdk": "official SDK",
    "ours": "ours (asyncio, aiohttp transport)",
    "floor_list": "floor (raw asyncio streams), given a list of its records built first",
    "ours_streamed": "ours (asyncio, aiohttp transport), events from an async generator",
    "ours_gen": "ours (asyncio, aiohttp transport), events from a generator expression",
    "ours_httpcore_gen": "ours (asyncio, httpcore), events from a generator expression",
    "ours_trio_gen": "ours (trio, httpcore), events from a generator expression",
    "ours_httpcore": "ours (asyncio, httpcore)",
    "ours_trio": "ours (trio, httpcore)",
    "ours_httpx2": "ours on httpx2 (asyncio, aiohttp transport)",
    "ours_httpx2_trio": "ours on httpx2 (trio, httpcore2)",
    "ours_no_otel": "ours (asyncio, aiohttp transport; opentelemetry-api not installed)",
}


def run_worker(spec: dict[str, Any], worker: tuple[str, ...] = ("benchmarks._worker",)) -> Any:
    """One measured run in a fresh process (``python -m *worker SPEC``); its JSON result."""
    done = subprocess.run(
        [sys.executable, "-m", *worker, json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{spec} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _repeat(spec: dict[str, Any], reps: int, emu: dict[str, Any]) -> dict[str, Any]:
    samples = []
    for _ in range(reps):
        reset(emu)
        before = cpu_seconds(emu["pid"])
        sample = run_worker({**spec, **_credentials(emu)})
        sample["emulator_cpu_s"] = cpu_seconds(emu["pid"]) - before
        samples.append(sample)
        expected = spec.get("records", spec.get("calls"))
        if "success" in sample:
            assert sample["success"] == expected, (spec, sample)
    keys = [k for k in samples[0] if isinstance(samples[0][k], (int, float))]
    return {"samples": len(samples), **{k: _summary([s[k] for s in samples]) for k in keys}}


def _interleaved(
    specs: dict[str, dict[str, Any]], base: dict[str, Any], reps: int, emu: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Each client ``reps`` times, round-robin, so a burst of load hits all of them alike."""
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in specs}
    for _ in range(reps):
        for name, spec in specs.items():
            print(f"    {name}", end="", flush=True)
            samples[name].append(_repeat({**base, **spec}, 1, emu))
        print(flush=True)
    out = {}
    for name, runs in samples.items():
        keys = [k for k in runs[0] if k != "samples"]
        out[name] = {
            "samples": len(runs),
            **{k: _summary([r[k]["median"] for r in runs]) for k in keys},
        }
    return out


def _machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions: dict[str, str | None] = {}
    for dist in (
        "suprsend-async",
        "suprsend-py-sdk",
        "httpx",
        "httpcore",
        "httpx2",
        "httpcore2",
        "httpx-aiohttp",
        "aiohttp",
        "anyio",
        "trio",
        "orjson",
    ):
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
        "load_average_at_start": os.getloadavg(),
    }


def _credentials(emu: dict[str, Any]) -> dict[str, Any]:
    return {
        "base_url": emu["base_url"],
        "key": emu["workspace_key"],
        "secret": emu["workspace_secret"],
    }


def _per_record(run: dict[str, Any], n: int) -> float:
    return float(run["cpu_s"]["median"]) / n * 1e6


def _bulk(
    records: int, latency: float, reps: int, emu: dict[str, Any], clients: dict[str, Any]
) -> dict[str, Any]:
    print(f"  bulk: {records:,} events, c={CONCURRENCY}, {latency:g} ms", flush=True)
    base = {"run": "bulk", "records": records, "concurrency": CONCURRENCY}
    runs = _interleaved(clients, base, reps, emu)
    return {
        "records": records,
        "latency_ms": latency,
        "concurrency": CONCURRENCY,
        "runs": runs,
        "cpu_us_per_record": {name: _per_record(run, records) for name, run in runs.items()},
        "wall_s": {name: run["wall_s"]["median"] for name, run in runs.items()},
    }


# The event-loop lag cases: the client, the producer and whether the process froze its heap
# (gc.freeze()) once started. The floor and raw aiohttp build their wire dicts beforehand
# (list) or by the body as they are taken (gen); ours is given a list, a generator
# expression or an async generator on the default path, and a generator on every other.
LAG_CASES: dict[str, dict[str, Any]] = {
    "floor/list": {"client": "floor", "producer": "list"},
    "floor/gen": {"client": "floor", "producer": "gen"},
    "aiohttp/list": {"client": "aiohttp", "producer": "list"},
    "aiohttp/gen": {"client": "aiohttp", "producer": "gen"},
    "ours/list": {"client": "ours", "producer": "list"},
    "ours/gen": {"client": "ours", "producer": "gen"},
    "ours/agen": {"client": "ours", "producer": "agen"},
    **{f"{name}/gen": {"client": name, "producer": "gen"} for name in OURS if name != "ours"},
    "ours/gen, frozen": {"client": "ours", "producer": "gen", "freeze": True},
}
PRODUCERS = {
    "list": "a list built beforehand",
    "gen": "a generator expression",
    "agen": "an async generator",
}


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(int(len(ordered) * q), len(ordered) - 1)]


def lag_runs(
    records: int, reps: int, emu: dict[str, Any], cases: dict[str, dict[str, Any]] = LAG_CASES
) -> dict[str, Any]:
    """The 1 ms probe during ``records``-event uploads, ``reps`` runs of each case taking
    turns; every run's samples pooled, so the p99 rests on thousands of wake-ups."""
    print(f"  event-loop lag: 1 ms probe, {records:,} keyed nested events, c={CONCURRENCY}")
    every = {**RAW, **OURS}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in cases}
    for rep in range(reps):
        for name, case in cases.items():
            print(f"    {name}", end="", flush=True)
            reset(emu)
            spec = {
                "run": "lag",
                "records": records,
                "concurrency": CONCURRENCY,
                "producer": case["producer"],
                "freeze": case.get("freeze", False),
                "code": case.get("code"),  # another version of the library, for an A/B
                # Where in the collector's cycle the upload starts: the same for every
                # client in a repetition, spread over the cycle across repetitions.
                "gc_phase": (rep + 0.5) / reps,
                **every[case["client"]],
                **_credentials(emu),
            }
            sample = run_worker(spec)
            assert sample["success"] == records, (spec, sample["success"])
            runs[name].append(sample)
        print(flush=True)
    out: dict[str, Any] = {}
    for name, samples in runs.items():
        wall = sorted(x for s in samples for x in s["lag_ms"])
        cpu = sorted(x for s in samples for x in s["busy_ms"])
        # The waits no full collection of the process's heap fell into: the engine's own
        # stalls, apart from the garbage collector's.
        outside = [
            x for s in samples for x, full in zip(s["lag_ms"], s["in_full_gc"], strict=True)
            if not full
        ]  # fmt: skip
        case = cases[name]
        label = f"{LABELS[case['client']]}, {PRODUCERS[case['producer']]}"
        out[name] = {
            **case,
            "label": label + (", heap frozen (gc.freeze())" if case.get("freeze") else ""),
            "samples": len(wall),
            "runs": len(samples),
            "wall_ms": {
                "p50": _percentile(wall, 0.5),
                "p99": _percentile(wall, 0.99),
                "max": wall[-1],
            },
            "cpu_ms": {
                "p50": _percentile(cpu, 0.5),
                "p99": _percentile(cpu, 0.99),
                "max": cpu[-1],
            },
            "max_outside_full_gc_ms": max(outside, default=0.0),
            # Each run's worst wake-up (the pooled max is the worst of these).
            "run_max_ms": [s["lag_max_ms"] for s in samples],
            "full_gcs": sum(s["gc_collections"][2] for s in samples),
            "gc_collections": [
                statistics.median(s["gc_collections"][g] for s in samples) for g in range(3)
            ],
            "gc_longest_cpu_ms": [max(s["gc_longest_ms"][g] for s in samples) for g in range(3)],
            "full_gc_cpu_ms": statistics.median(s["full_gc_ms"] for s in samples),
            "otel": any(s.get("otel") for s in samples),
        }
    return {"records": records, "concurrency": CONCURRENCY, "reps": reps, "cases": out}


# The REST calls measured (benchmarks/_worker.py's REST_OPS), and who: raw aiohttp sending the
# same signed bytes, ours on asyncio and on trio, the official SDK one call after another.
REST_OPS = ("users.get", "objects.upsert", "tenants.upsert")
REST_CLIENTS = {
    "aiohttp": RAW["aiohttp"],
    **SDK,
    "ours": OURS["ours"],
    "ours_trio": OURS["ours_trio"],
}
# At a latency, the official SDK's calls each wait it out in turn: 1,000 of them at 50 ms
# would take a minute per repetition. It makes a tenth of them, and its wall time for all
# is that tenth's times ten (one call after another, it is linear in the calls).
SDK_SHARE_WITH_LATENCY = 10


def _rest(op: str, calls: int, latency: float, reps: int, emu: dict[str, Any]) -> dict[str, Any]:
    print(f"  {calls:,} x {op}, {latency:g} ms", flush=True)
    sdk_calls = calls if latency == 0 else max(calls // SDK_SHARE_WITH_LATENCY, 1)
    clients: dict[str, dict[str, Any]] = {
        **REST_CLIENTS,
        "sdk": {**SDK["sdk"], "calls": sdk_calls},
    }
    runs = _interleaved(clients, {"run": "rest", "op": op, "calls": calls}, reps, emu)
    made = {name: clients[name].get("calls", calls) for name in runs}
    return {
        "op": op,
        "calls": calls,
        "sdk_calls": sdk_calls,
        "latency_ms": latency,
        "runs": runs,
        "cpu_ms_per_call": {n: r["cpu_s"]["median"] / made[n] * 1e3 for n, r in runs.items()},
        # The wall time of all ``calls`` (the SDK's scaled up from its share, if it made one).
        "wall_s": {n: r["wall_s"]["median"] * calls / made[n] for n, r in runs.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 repetition")
    parser.add_argument("--reps", type=int, help="repetitions of the small runs (default 5)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        small, large, stream, calls, reps, large_reps = 2_000, 10_000, 50_000, 200, 1, 1
        lag_records, lag_reps = 10_000, 1
    else:
        small, large, stream, calls, reps, large_reps = 10_000, 100_000, 1_000_000, 1_000, 5, 3
        # The upload: 30,000 events, each run some 0.5 s and 500 to 1,500
        # wake-ups of the probe's 4 sleepers; 5 runs pooled make thousands.
        lag_records, lag_reps = 30_000, 5
    reps = args.reps or reps
    started = time.monotonic()
    everyone = {**RAW, **SDK, **OURS}
    # Each client fed two ways, and held to the floor fed the same way: a list built
    # first (ours, the official SDK; the floor's list of wire dicts), or records built
    # as they are taken (the raw clients and the floor build each body so; ours from a
    # generator). A list of 100,000 records is the caller's: the collector's full passes
    # over it while it is built are charged to whoever is given it, the floor included.
    bulk_clients = {
        **everyone,
        "floor_list": {**RAW["floor"], "producer": "list"},
        "ours_gen": {**OURS["ours"], "producer": "gen"},
        "ours_streamed": {**OURS["ours"], "stream": True},
        "ours_httpcore_gen": {**OURS["ours_httpcore"], "producer": "gen"},
        "ours_trio_gen": {**OURS["ours_trio"], "producer": "gen"},
    }
    results: dict[str, Any] = {
        "machine": _machine(),
        "command": "nox -s bench" + (" -- --quick" if args.quick else ""),
        "repetitions": {"small": reps, "large": large_reps},
        "labels": LABELS,
        "bulk": [],
        "rest": [],
    }
    with emulator(0.0) as emu:
        print("emulator latency 0 ms", flush=True)
        results["bulk"].append(_bulk(small, 0.0, reps, emu, bulk_clients))
        results["bulk"].append(_bulk(large, 0.0, large_reps, emu, bulk_clients))

        results["lag"] = lag_runs(lag_records, lag_reps, emu)

        print(f"  {calls:,} concurrent single calls", flush=True)
        singles = {"run": "concurrent_singles", "calls": calls}
        raw_clients = {name: RAW[name] for name in ("httpx", "httpx2", "aiohttp")}
        # And ours without OpenTelemetry's API installed: the price of having it, no SDK.
        no_otel = {"ours_no_otel": {**OURS["ours"], "otel": False}}
        burst = _interleaved({**raw_clients, **OURS, **no_otel}, singles, reps, emu)
        results["concurrent_singles"] = {
            "calls": calls,
            "cpu_ms_per_call": {n: r["cpu_s"]["median"] / calls * 1e3 for n, r in burst.items()},
            "calls_per_s": {n: calls / r["wall_s"]["median"] for n, r in burst.items()},
            "runs": burst,
        }

        print(f"  {calls:,} sequential single calls", flush=True)
        sequential = _interleaved(OURS, {"run": "sequential_singles", "calls": calls}, 3, emu)
        results["sequential_singles"] = {
            "calls": calls,
            "ours_ms": {n: r["ours_median_ms"]["median"] for n, r in sequential.items()},
            "raw_ms": {n: r["raw_median_ms"]["median"] for n, r in sequential.items()},
            "ratio": {
                n: r["ours_median_ms"]["median"] / r["raw_median_ms"]["median"]
                for n, r in sequential.items()
            },
        }

        for op in REST_OPS:
            results["rest"].append(_rest(op, calls, 0.0, min(reps, 3), emu))

        print(f"  memory: {small:,} and {stream:,} events streamed", flush=True)
        streamed = {"run": "bulk", "concurrency": CONCURRENCY, "stream": True, **OURS["ours"]}
        few = _repeat({**streamed, "records": small}, 1, emu)
        many = _repeat({**streamed, "records": stream}, 1, emu)
        results["memory"] = {
            "small_records": small,
            "records": stream,
            "small_peak_rss_mb": few["peak_rss_mb"]["median"],
            "peak_rss_mb": many["peak_rss_mb"]["median"],
            "growth_mb": many["peak_rss_mb"]["median"] - few["peak_rss_mb"]["median"],
            "wall_s": many["wall_s"]["median"],
            "sdk_records": large,
            "sdk_peak_rss_mb": results["bulk"][1]["runs"]["sdk"]["peak_rss_mb"]["median"],
        }
        results["emulator"] = {
            "cpu_us_per_record": many["emulator_cpu_s"]["median"] / stream * 1e6,
            "records_per_wall_s_streamed": stream / many["wall_s"]["median"],
        }
        stats(emu)  # still answering at the end

    with emulator(50.0) as emu:
        print("emulator latency 50 ms", flush=True)
        results["bulk"].append(_bulk(small, 50.0, min(reps, 3), emu, everyone))
        for op in REST_OPS:
            results["rest"].append(_rest(op, calls, 50.0, min(reps, 3), emu))

    results["elapsed_s"] = time.monotonic() - started
    results["machine"]["load_average_at_end"] = os.getloadavg()
    write_reports(results, args.out)
    print(f"wrote {args.out}/latest.json, latest.md, chart.png in {results['elapsed_s']:.0f}s")
    if not args.quick and args.out == RESULTS:
        update_readme(results, Path(__file__).parent.parent / "README.md")
        print("regenerated the README's Benchmarks section")
    return 0


def rest(argv: list[str] | None = None) -> int:
    """The REST calls alone, at 0 and 50 ms: ``results/rest.md`` (the full run has them too)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rest", description=rest.__doc__)
    parser.add_argument("--calls", type=int, default=1_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"labels": LABELS, "rest": []}
    for latency in (0.0, 50.0):
        with emulator(latency) as emu:
            for op in REST_OPS:
                results["rest"].append(_rest(op, args.calls, latency, args.reps, emu))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rest.json").write_text(json.dumps(results, indent=2) + "\n")
    table = "\n".join(rest_tables(results)).strip() + "\n"
    (args.out / "rest.md").write_text(
        f"Produced by `nox -s bench -- rest` (medians of {args.reps} runs).\n\n{table}"
    )
    print(table)
    return 0


def lag(argv: list[str] | None = None) -> int:
    """The event-loop lag cases alone: ``results/lag.md`` (the full run has them too)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lag", description=lag.__doc__)
    parser.add_argument("--records", type=int, default=30_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument(
        "--cases", help="comma-separated names (default: all): " + ", ".join(LAG_CASES)
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    cases = {n: LAG_CASES[n] for n in args.cases.split(",")} if args.cases else LAG_CASES
    load = os.getloadavg()
    with emulator(0.0) as emu:
        results: dict[str, Any] = {
            "labels": LABELS,
            "lag": lag_runs(args.records, args.reps, emu, cases),
        }
    results["load_average"] = {"start": load, "end": os.getloadavg()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lag.json").write_text(json.dumps(results, indent=2) + "\n")
    table = "\n".join(lag_table(results)).strip() + "\n"
    loads = "; ".join(
        f"{when} {', '.join(f'{x:.1f}' for x in values)}"
        for when, values in results["load_average"].items()
    )
    (args.out / "lag.md").write_text(
        f"Produced by `nox -s bench -- lag` (load average at the {loads}).\n\n{table}"
    )
    print(table)
    return 0


# The end of the first round of levers; the second (this tree) is described in README.md.
FIRST_PASS = "c97ef66"


def ab(argv: list[str] | None = None) -> int:
    """Each lever on its own, A/B in one run: cumulative steps from ``--base`` to this tree."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ab", description=ab.__doc__)
    parser.add_argument("--base", default="85ab817", help="the git revision before the levers")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=1_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    root = Path(__file__).parent.parent
    with tempfile.TemporaryDirectory() as trees:

        def tree(revision: str) -> str:
            """The library as it was at ``revision``, unpacked (``git archive``)."""
            path = Path(trees) / revision
            path.mkdir()
            archive = subprocess.run(
                ["git", "archive", revision, "suprsend_async"],
                cwd=root,
                capture_output=True,
                check=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(path)], input=archive, check=True)
            return str(path)

        base = tree(args.base)
        first_pass = tree(FIRST_PASS)
        steps: dict[str, dict[str, Any]] = {
            "before": {"code": base, "sniffio": False, "transport": "httpcore"},
            "+ sniffio installed": {"code": base, "transport": "httpcore"},
            "+ record path and engine": {"code": first_pass, "transport": "httpcore"},
            "+ aiohttp transport": {"code": first_pass, "transport": "aiohttp"},
            "+ second pass (see below)": {"transport": "aiohttp"},
        }
        steps = {name: {"impl": "ours", **spec} for name, spec in steps.items()}
        with emulator(0.0) as emu:
            print(f"bulk: {args.records:,} events, c={CONCURRENCY}", flush=True)
            bulk_spec = {"run": "bulk", "records": args.records, "concurrency": CONCURRENCY}
            bulk = _interleaved(steps, bulk_spec, args.reps, emu)
            print(f"{args.calls:,} concurrent track_event", flush=True)
            burst = _interleaved(steps, {"run": "concurrent_singles", "calls": args.calls},
                                 args.reps, emu)  # fmt: skip
    rows = []
    previous: tuple[float, float] | None = None
    for name in steps:
        per_record = _per_record(bulk[name], args.records)
        per_call = burst[name]["cpu_s"]["median"] / args.calls * 1e6
        change = (
            " | "
            if previous is None
            else f"{per_record / previous[0] - 1:+.0%} | {per_call / previous[1] - 1:+.0%}"
        )
        rows.append(f"| {name} | {per_record:.1f} | {per_call:.0f} | {change} |")
        previous = (per_record, per_call)
    table = "\n".join(
        [
            f"A/B of each lever (`nox -s bench -- ab --base {args.base} --records "
            f"{args.records}`), medians of "
            f"{args.reps} interleaved runs; each step adds one lever to the one above.",
            "",
            f"| step | bulk CPU µs/record ({args.records:,}, c={CONCURRENCY}) | concurrent "
            "track_event CPU µs/call | change per record | change per call |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ab.md").write_text(table + "\n")
    print(table)
    return 0
