"""latest.json, latest.md (side-by-side tables, targets with pass/miss) and chart.png."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

ORDER = (
    "floor",
    "floor_list",
    "aiohttp",
    "httpx",
    "httpx2",
    "ours",
    "ours_gen",
    "ours_streamed",
    "ours_no_otel",
    "ours_httpcore",
    "ours_httpcore_gen",
    "ours_trio",
    "ours_trio_gen",
    "ours_httpx2",
    "ours_httpx2_trio",
    "sdk",
)


def _bulk(results: dict[str, Any], records: int, latency: float) -> dict[str, Any] | None:
    return next(
        (b for b in results["bulk"] if b["records"] == records and b["latency_ms"] == latency),
        None,
    )


LABELS_SHORT = {"ours_httpcore": "asyncio, httpcore", "ours_trio": "trio, httpcore"}
# Who is given a list built first (the rest build their records as they are taken):
# each is held to the floor fed the same way.
GIVEN_A_LIST = {"floor_list", "sdk", "ours", "ours_no_otel", "ours_httpcore", "ours_trio",
                "ours_httpx2", "ours_httpx2_trio"}  # fmt: skip


_FED = {
    "ours": "a list",
    "ours_gen": "a generator",
    "ours_streamed": "an async generator",
    "ours_httpcore": "a list",
    "ours_httpcore_gen": "a generator",
    "ours_trio": "a list",
    "ours_trio_gen": "a generator",
}


def floor_for(cpu: dict[str, float], name: str) -> float:
    """The floor's CPU per record fed as ``name`` is (the lazy floor if the other is missing)."""
    return cpu.get("floor_list", cpu["floor"]) if name in GIVEN_A_LIST else cpu["floor"]


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for each goal of the performance issue.

    "ours" is the default path on asyncio (with the aiohttp extra).
    """
    out: list[tuple[str, str, bool]] = []
    for bulk in results["bulk"]:
        if bulk["latency_ms"] != 0.0:
            continue
        cpu = bulk["cpu_us_per_record"]
        n = f"{bulk['records']:,} events, c={bulk['concurrency']}"
        for names, bound, path in (
            (("ours", "ours_gen", "ours_streamed"), 1.5, "aiohttp path"),
            (("ours_httpcore", "ours_httpcore_gen"), 2.0, LABELS_SHORT["ours_httpcore"]),
            (("ours_trio", "ours_trio_gen"), 2.0, LABELS_SHORT["ours_trio"]),
        ):
            ratios = [(name, cpu[name] / floor_for(cpu, name)) for name in names if name in cpu]
            if not ratios:
                continue
            measured = "; ".join(
                f"{_FED[name]}: {cpu[name]:.1f} vs {floor_for(cpu, name):.1f} µs, {ratio:.2f}x"
                for name, ratio in ratios
            )
            out.append(
                (f"bulk {n}: CPU per record within {bound:g}x of the floor fed alike ({path})",
                 measured, all(ratio <= bound for _, ratio in ratios))
            )  # fmt: skip
        less = cpu["sdk"] / cpu["ours"]
        out.append(
            (f"bulk {n}: CPU per record at least 8x less than the official SDK",
             f"{cpu['sdk']:.1f} vs {cpu['ours']:.1f} µs: {less:.2f}x less "
             f"(the floor: {cpu['sdk'] / cpu['floor']:.1f}x)", less >= 8)
        )  # fmt: skip
    for bulk in results["bulk"]:
        if bulk["latency_ms"] == 0.0:
            continue
        wall = bulk["wall_s"]
        speedup = wall["sdk"] / wall["ours"]
        # Requests of at most 100 records, at most c at a time: at least this many
        # round trips one after another, each at least the latency long.
        round_trips = math.ceil(math.ceil(bulk["records"] / 100) / bulk["concurrency"])
        bound = wall["sdk"] / (round_trips * bulk["latency_ms"] / 1000)
        out.append(
            (f"bulk {bulk['records']:,} events at {bulk['latency_ms']:g} ms latency, "
             f"c={bulk['concurrency']}: at least 15x faster than the official SDK",
             f"{speedup:.1f}x (the floor: {wall['sdk'] / wall['floor']:.1f}x; {round_trips} "
             f"round trips in a row allow at most {bound:.1f}x)", speedup >= 15)
        )  # fmt: skip
    singles = results.get("concurrent_singles")
    if singles:
        cpu = singles["cpu_ms_per_call"]
        ratio = cpu["ours"] / cpu["aiohttp"]
        out.append(
            (f"{singles['calls']:,} concurrent track_event: CPU per call within 1.5x of raw "
             "aiohttp", f"{cpu['ours']:.3f} vs {cpu['aiohttp']:.3f} ms: {ratio:.2f}x", ratio <= 1.5)
        )  # fmt: skip
        if "ours_no_otel" in cpu:
            otel = cpu["ours"] / cpu["ours_no_otel"]
            out.append(
                ("OpenTelemetry's API installed, no SDK: track_event CPU within 5 % of the same "
                 "client without the package (nothing measurable)",
                 f"{cpu['ours']:.3f} vs {cpu['ours_no_otel']:.3f} ms: {otel:.2f}x", otel <= 1.05)
            )  # fmt: skip
    for rest in results.get("rest", []):
        if rest["latency_ms"] != 0.0:
            continue
        cpu = rest["cpu_ms_per_call"]
        ratio = cpu["ours"] / cpu["aiohttp"]
        out.append(
            (f"{rest['calls']:,} concurrent {rest['op']} on one client: CPU per call within "
             "1.5x of raw aiohttp sending the same signed bytes",
             f"{cpu['ours']:.3f} vs {cpu['aiohttp']:.3f} ms: {ratio:.2f}x", ratio <= 1.5)
        )  # fmt: skip
    sequential = results.get("sequential_singles")
    if sequential:
        ratio = sequential["ratio"]["ours"]
        out.append(
            ("sequential track_event within 1.2x of a raw post through the same transport",
             f"{ratio:.2f}x", ratio <= 1.2)
        )  # fmt: skip
    lag = results.get("lag")
    if lag:
        ours = {n: c for n, c in lag["cases"].items() if c["client"].startswith("ours")}
        worst_p99 = max(ours, key=lambda n: ours[n]["wall_ms"]["p99"])
        worst_max = max(ours, key=lambda n: ours[n]["wall_ms"]["max"])
        outside = max(c["max_outside_full_gc_ms"] for c in ours.values())
        n = f"{lag['records']:,} keyed events with nested properties, c={lag['concurrency']}"
        p99, top = ours[worst_p99]["wall_ms"]["p99"], ours[worst_max]["wall_ms"]["max"]
        out.append(
            (f"event-loop lag p99 under 5 ms, every case of ours ({n}; a 1 ms sleeper)",
             f"worst {p99:.1f} ms ({worst_p99}); the loop's own CPU in it: "
             f"{ours[worst_p99]['cpu_ms']['p99']:.1f} ms", p99 < 5)
        )  # fmt: skip
        out.append(
            (f"event-loop lag max under 15 ms, every case of ours ({n})",
             f"worst {top:.1f} ms ({worst_max}); outside full garbage collections "
             f"{outside:.1f} ms", top < 15)
        )  # fmt: skip
    memory = results.get("memory")
    if memory:
        growth = memory["growth_mb"]
        out.append(
            (f"memory flat in the records: +10 MB at most for {memory['records']:,} streamed",
             f"+{growth:.1f} MB ({memory['small_peak_rss_mb']:.0f} → "
             f"{memory['peak_rss_mb']:.0f} MB peak RSS)", growth <= 10)
        )  # fmt: skip
    return out


def _markdown(results: dict[str, Any]) -> str:
    machine, labels = results["machine"], results["labels"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    reps = results["repetitions"]
    load = ", ".join(f"{x:.1f}" for x in machine["load_average_at_start"])
    end = machine.get("load_average_at_end")
    if end:  # what else ran meanwhile: the wall-clock figures depend on it
        load += f" at the start, {', '.join(f'{x:.1f}' for x in end)} at the end"
    else:
        load += " at the start"
    lines = [
        "# Benchmarks: suprsend-async, the official SDK, raw httpx/aiohttp and the floor",
        "",
        f"Produced by `{results['command']}` in {results['elapsed_s'] / 60:.1f} minutes. Every "
        f"figure is a median of {reps['small']} runs ({reps['large']} for the 100,000-event "
        "ones, 3 at 50 ms), each in a fresh process, the clients taking turns, against one hub "
        "emulator on a loopback socket in its own process. Machine: "
        f"{machine['cpu']}, {machine['cores']} cores (load average {load}), "
        f"Python {machine['python']}; {versions}.",
        "Absolute times move with the machine and its load; read the ratios, all measured in "
        "this one run.",
        "",
        "The **floor** is a minimal client on raw asyncio streams, in `benchmarks/_worker.py` "
        "only: orjson bodies of 100 records, the HMAC signature, the same headers, reading and "
        "checking the 207, and nothing else. Raw httpx, raw httpx2 and raw aiohttp post the same "
        "signed bytes. *Ours* is `AsyncSuprsend` on asyncio with the `aiohttp` extra (the "
        "default when installed); its httpcore path (without the extra), trio, and both on "
        'httpx2 (`http_stack="httpx2"`) are shown too.',
        "",
        "## Targets",
        "",
        "| target | measured | |",
        "|---|---|---|",
    ]
    for name, measured, met in targets(results):
        lines.append(f"| {name} | {measured} | {'pass' if met else '**miss**'} |")
    for bulk in results["bulk"]:
        cpu, wall = bulk["cpu_us_per_record"], bulk["wall_s"]
        lines += [
            "",
            f"## Bulk: {bulk['records']:,} events, concurrency {bulk['concurrency']}, "
            f"emulator latency {bulk['latency_ms']:g} ms",
            "",
            "Each client's *x the floor* is against the floor fed the same way: a list built"
            " first (`floor_list`) for a client given a list, the floor building each body as"
            " it is taken for the others.",
            "",
            "| client | wall | speed-up over the SDK | CPU µs/record | x the floor fed alike | "
            "SDK's CPU ÷ this |",
            "|---|---|---|---|---|---|",
        ]
        for name in ORDER:
            if name in cpu:
                lines.append(
                    f"| {labels[name]} | {wall[name]:.2f}s | {wall['sdk'] / wall[name]:.1f}x | "
                    f"{cpu[name]:.1f} | {cpu[name] / floor_for(cpu, name):.2f}x | "
                    f"{cpu['sdk'] / cpu[name]:.1f}x |"
                )
    singles = results.get("concurrent_singles")
    if singles:
        cpu, rate = singles["cpu_ms_per_call"], singles["calls_per_s"]
        lines += [
            "",
            f"## {singles['calls']:,} concurrent single calls on one client",
            "",
            "Ours: `track_event`; raw: a post of the same signed bytes.",
            "",
            "| client | CPU ms/call | calls/s | x raw aiohttp (CPU) |",
            "|---|---|---|---|",
        ]
        for name in ORDER:
            if name in cpu:
                lines.append(
                    f"| {labels[name]} | {cpu[name]:.3f} | {rate[name]:,.0f} | "
                    f"{cpu[name] / cpu['aiohttp']:.2f}x |"
                )
    lines += rest_tables(results)
    sequential = results.get("sequential_singles")
    if sequential:
        lines += [
            "",
            f"## {sequential['calls']:,} sequential single calls",
            "",
            "`track_event` against a raw `post` of the same bytes through the same "
            "`httpx.AsyncClient` and pool, interleaved; medians per call.",
            "",
            "| path | track_event | raw post | ratio |",
            "|---|---|---|---|",
        ]
        for name, ratio in sequential["ratio"].items():
            lines.append(
                f"| {labels[name]} | {sequential['ours_ms'][name]:.3f} ms | "
                f"{sequential['raw_ms'][name]:.3f} ms | {ratio:.2f}x |"
            )
    lines += lag_table(results)
    memory = results.get("memory")
    if memory:
        lines += [
            "",
            "## Memory (peak RSS of the whole process)",
            "",
            f"- ours, events streamed from an async generator: {memory['small_records']:,} → "
            f"**{memory['small_peak_rss_mb']:.0f} MB**, {memory['records']:,} → "
            f"**{memory['peak_rss_mb']:.0f} MB** (in {memory['wall_s']:.0f}s)",
            f"- official SDK, {memory['sdk_records']:,} events (a list): "
            f"{memory['sdk_peak_rss_mb']:.0f} MB",
        ]
    emu = results.get("emulator")
    if emu:
        lines += [
            "",
            f"The emulator spent {emu['cpu_us_per_record']:.0f} µs of CPU per record during the "
            f"streamed upload, which ran at {emu['records_per_wall_s_streamed']:,.0f} records/s "
            "end to end.",
        ]
    return "\n".join(lines) + "\n"


def lag_table(results: dict[str, Any]) -> list[str]:
    """The event-loop lag cases side by side: wall and CPU, p50, p99, max."""
    lag = results.get("lag")
    if not lag:
        return []
    ours = [c for c in lag["cases"].values() if c["client"].startswith("ours")]
    otel = (
        "installed without an SDK"
        if all(c["otel"] for c in ours)
        else "not installed"
        if not any(c["otel"] for c in ours)
        else "installed for some paths only"
    )
    lines = [
        "",
        f"## Event-loop lag during a {lag['records']:,}-event upload",
        "",
        f"{lag['records']:,} events with nested properties and idempotency keys "
        """(`Event(f"lag-{i}", "ev", {"i": i, "nested": {"a": [1, 2]}}, """
        f"idempotency_key=...)`), c={lag['concurrency']}, OpenTelemetry's API "
        f"{otel}, the hub in another process. Four tasks on the same loop, started "
        "0.25 ms apart, each sleeping 1 ms at a time: how late each wakes (wall time: on a "
        "loaded machine the time the OS gives other processes counts too), and the CPU "
        "time this process spent during the wait beyond the 1 ms (the loop's own work that "
        f"held it back). Every wake-up of {lag['reps']} runs pooled; each run starts the "
        "upload at a different point of the garbage collector's cycle, the same points for "
        "every client. *Full GCs*: the full collections of the process's heap that fell "
        "within the runs' uploads; *max outside* leaves out the waits one fell into; *a full "
        "GC*: the CPU time of one full collection of the process's heap, measured after its "
        "upload (median of the runs).",
        "",
        "| client, records from | wake-ups | wall p50 | p99 | max | CPU p50 | p99 | max | "
        "max outside full GCs | full GCs | a full GC |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in lag["cases"].values():
        wall, cpu = case["wall_ms"], case["cpu_ms"]
        lines.append(
            f"| {case['label']} | {case['samples']:,} | {wall['p50']:.1f} ms | "
            f"{wall['p99']:.1f} ms | {wall['max']:.1f} ms | {cpu['p50']:.1f} ms | "
            f"{cpu['p99']:.1f} ms | {cpu['max']:.1f} ms | "
            f"{case['max_outside_full_gc_ms']:.1f} ms | {case['full_gcs']} in {case['runs']} "
            f"runs | {case['full_gc_cpu_ms']:.0f} ms |"
        )
    return lines


def rest_tables(results: dict[str, Any]) -> list[str]:
    rests = results.get("rest", [])
    if not rests:
        return []
    labels = results["labels"]
    lines = [
        "",
        f"## REST calls: {rests[0]['calls']:,} at once on one client",
        "",
        "Ours and raw aiohttp (the same signed bytes, one pool of 100 connections) make "
        "every call at once; the official SDK, synchronous, makes them one after another. "
        f"At a latency the SDK makes a tenth of the calls ({rests[-1]['sdk_calls']:,}) and its "
        "wall time is scaled up tenfold: one after another, each call waits the latency out.",
        "",
        "| call | latency | client | wall | faster than the SDK | CPU ms/call | "
        "x raw aiohttp (CPU) |",
        "|---|---|---|---|---|---|---|",
    ]
    for rest in rests:
        cpu, wall = rest["cpu_ms_per_call"], rest["wall_s"]
        for name in ORDER:
            if name in cpu:
                lines.append(
                    f"| {rest['op']} | {rest['latency_ms']:g} ms | {labels[name]} | "
                    f"{wall[name]:.2f}s | {wall['sdk'] / wall[name]:.1f}x | {cpu[name]:.3f} | "
                    f"{cpu[name] / cpu['aiohttp']:.2f}x |"
                )
    return lines


def _chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = results["labels"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    at_zero = [b for b in results["bulk"] if b["latency_ms"] == 0.0]
    names = [n for n in ORDER if n in at_zero[0]["cpu_us_per_record"]]
    width = 0.8 / len(names)
    colours: dict[str, Any] = {n: plt.cm.viridis(i / len(names)) for i, n in enumerate(names)}
    colours["sdk"] = "#999999"
    for g, bulk in enumerate(at_zero):
        for b, name in enumerate(names):
            axes[0].bar(
                g + (b - (len(names) - 1) / 2) * width,
                bulk["cpu_us_per_record"][name],
                width,
                color=colours[name],
                label=labels[name] if g == 0 else None,
            )
    axes[0].set_xticks(range(len(at_zero)))
    axes[0].set_xticklabels([f"{b['records']:,} events, 0 ms" for b in at_zero])
    axes[0].set_ylabel("CPU µs per record (median, lower is better)")
    axes[0].set_title(f"bulk upload, concurrency {at_zero[0]['concurrency']}: CPU per record")
    axes[0].legend(fontsize=8)
    slow = [b for b in results["bulk"] if b["latency_ms"] != 0.0]
    if slow:
        bulk = slow[0]
        slow_names = [n for n in names if n in bulk["wall_s"]]
        values = [bulk["wall_s"][n] for n in slow_names]
        axes[1].bar(range(len(slow_names)), values, color=[colours[n] for n in slow_names])
        axes[1].set_xticks(range(len(slow_names)))
        axes[1].set_xticklabels([labels[n].replace(" (", "\n(") for n in slow_names], fontsize=7)
        axes[1].set_yscale("log")
        axes[1].set_ylabel("seconds (median, log scale)")
        axes[1].set_title(
            f"{bulk['records']:,} events at {bulk['latency_ms']:g} ms latency: wall time"
        )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_reports(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    results["targets"] = [
        {"target": name, "measured": measured, "met": met}
        for name, measured, met in targets(results)
    ]
    (out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "latest.md").write_text(_markdown(results))
    try:
        _chart(results, out / "chart.png")
    except ImportError:
        print("matplotlib is not installed: no chart (nox -s bench installs it)")


def readme_section(results: dict[str, Any]) -> str:
    """The README's "Benchmarks" section, from a full run's results."""
    labels = results["labels"]
    lines = [
        "## Benchmarks",
        "",
        "Install the extras that make it fast: orjson, and httpx over aiohttp's connection pool "
        "(used automatically on asyncio; trio keeps httpcore's):",
        "",
        "```bash",
        'python -m pip install "suprsend-async[fast]"',
        "```",
        "",
        "```bash",
        "nox -s bench             # every figure below, one run; about "
        f"{results['elapsed_s'] / 60:.0f} minutes on 2 cores",
        "nox -s bench -- --quick  # a one-minute smoke run",
        "nox -s bench -- ab       # each performance lever A/B",
        "nox -s bench -- profile  # where a bulk upload's CPU goes, layer by layer",
        "nox -s bench -- lists    # list membership: a 100,000-member replace, ids/s",
        "nox -s bench -- rest     # the REST calls alone (users.get, objects.upsert...)",
        "nox -s bench -- outbox   # the PostgreSQL outbox: enqueue cost, records/s with 1, 2"
        " and 4 workers",
        "nox -s bench -- background  # the background sender: accept CPU, spool accepts/s,"
        " throughput, FastAPI",
        "nox -s bench -- lag      # the event-loop lag cases alone (p50, p99, max; wall and CPU)",
        "nox -s bench -- loop     # what an asyncio loop iteration holds during an upload",
        "nox -s bench -- instructions  # bulk instructions per record under callgrind (needs"
        " valgrind): steady under load",
        "```",
        "",
        "One run measures, side by side against one emulator process on loopback: the "
        "**floor** (a minimal client on raw asyncio streams, in `benchmarks/` only, sending the "
        "same signed orjson bodies of 100 records and checking the 207), raw httpx, raw httpx2 "
        "and raw aiohttp posting the same signed bytes, the official SDK, and this client on "
        "asyncio (with the aiohttp transport, the default when installed, and without it) and on "
        'trio, on httpx and on httpx2 (`http_stack="httpx2"`). '
        "Each figure is a median of runs in fresh processes, clients taking turns; "
        "[latest.md](benchmarks/results/latest.md) has every table, "
        "[latest.json](benchmarks/results/latest.json) min and max and the machine. Absolute "
        "times move with the machine and its load (2 shared cores here); read the ratios.",
        "",
        "![CPU per record and wall time, every client](benchmarks/results/chart.png)",
        "",
        "| target | measured | |",
        "|---|---|---|",
    ]
    for name, measured, met in targets(results):
        lines.append(f"| {name} | {measured} | {'pass' if met else '**miss**'} |")
    names = [n for n in ORDER if n in results["bulk"][0]["cpu_us_per_record"]]
    header = " | ".join(
        f"{b['records']:,}, {b['latency_ms']:g} ms" for b in results["bulk"]
    )  # one column per bulk run
    lines += [
        "",
        f"Bulk events at concurrency {results['bulk'][0]['concurrency']}: CPU µs per record "
        "(and wall time):",
        "",
        f"| client | {header} |",
        "|---|" + "---|" * len(results["bulk"]),
    ]
    for name in names:
        cells = " | ".join(
            f"{b['cpu_us_per_record'][name]:.1f} ({b['wall_s'][name]:.2f}s)"
            if name in b["cpu_us_per_record"]
            else "-"  # (not run at this latency)
            for b in results["bulk"]
        )
        lines.append(f"| {labels[name]} | {cells} |")
    singles, sequential = results["concurrent_singles"], results["sequential_singles"]
    lag, memory = results["lag"], results["memory"]
    lines += [
        "",
        f"- {singles['calls']:,} concurrent `track_event` calls on one client: "
        + ", ".join(
            f"{labels[n]} {singles['cpu_ms_per_call'][n]:.2f} ms of CPU per call"
            for n in ("aiohttp", "httpx", "httpx2", *(n for n in ORDER if n.startswith("ours")))
            if n in singles["cpu_ms_per_call"]
        )
        + ".",
        "- Sequential `track_event` over a raw post of the same bytes through the same client: "
        + ", ".join(f"{labels[n]} {r:.2f}x" for n, r in sequential["ratio"].items())
        + ".",
        *(
            f"- {r['calls']:,} concurrent `{r['op']}` at {r['latency_ms']:g} ms: "
            f"{r['wall_s']['ours']:.2f}s, {r['wall_s']['sdk'] / r['wall_s']['ours']:.0f}x faster "
            f"than the official SDK one call after another; CPU per call "
            f"{r['cpu_ms_per_call']['ours'] / r['cpu_ms_per_call']['aiohttp']:.2f}x raw aiohttp's."
            for r in results.get("rest", [])
        ),
        _lag_line(lag, labels),
        f"- Memory: {memory['records']:,} events streamed, {memory['peak_rss_mb']:.0f} MB peak "
        f"RSS ({memory['small_records']:,}: {memory['small_peak_rss_mb']:.0f} MB); the official "
        f"SDK with {memory['sdk_records']:,}: {memory['sdk_peak_rss_mb']:.0f} MB.",
        "",
        "Where the remaining CPU goes, what each lever was worth, and why the 10,000-event "
        "CPU target and the 50 ms target are out of reach of any client on this machine (the "
        "floor's own figure, and the round trips' bound, say how close one can come): "
        "[benchmarks/README.md](benchmarks/README.md).",
        "",
    ]
    return "\n".join(lines)


def _lag_line(lag: dict[str, Any], labels: dict[str, str]) -> str:
    """The lag cases grouped by client: p99 (wall, and the loop's own CPU) and max."""

    def span(values: list[float]) -> str:
        low, high = min(values), max(values)
        return f"{low:.1f}" if f"{low:.1f}" == f"{high:.1f}" else f"{low:.1f}-{high:.1f}"

    groups: dict[str, list[dict[str, Any]]] = {}
    for case in lag["cases"].values():
        who = "ours" if case["client"].startswith("ours") else case["client"]
        groups.setdefault(who, []).append(case)
    parts = []
    for who, cases in groups.items():
        name = "ours" if who == "ours" else labels[who]
        parts.append(
            f"{name} ({len(cases)} cases) {span([c['wall_ms']['p99'] for c in cases])} ms "
            f"({span([c['cpu_ms']['p99'] for c in cases])}), max "
            f"{span([c['wall_ms']['max'] for c in cases])} ms"
        )
    return (
        f"- Event-loop lag, a 1 ms sleeper during a {lag['records']:,}-event upload (keyed, "
        "nested properties; a list, a generator or an async generator), p99 of the wall time "
        "(of the loop's own CPU): " + "; ".join(parts) + ". The longest waits of ours are full "
        "garbage collections of the heap ([why](benchmarks/README.md#event-loop-lag))."
    )


def update_readme(results: dict[str, Any], readme: Path) -> None:
    """Replace the README's "## Benchmarks" section (up to the next "## ") with a fresh one."""
    text = readme.read_text()
    start = text.index("## Benchmarks\n")
    end = text.index("\n## ", start + 1) + 1
    readme.write_text(text[:start] + readme_section(results) + "\n" + text[end:])
