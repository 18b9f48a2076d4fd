"""``python -m benchmarks.instructions``: bulk CPU as instructions per record (callgrind).

CPU seconds move with whatever else the machine runs (a second core's load moves a
client's CPU per record by a tenth or more here); callgrind counts the instructions the
client's process executes, the same within about 1 % from run to run whatever the load.
So an A/B of a change to the record path is read here, and the seconds in ``nox -s bench``.

Each client uploads ``--records`` (plus 1,000) events and 1,000 events in two runs of
``benchmarks._worker`` under ``valgrind --tool=callgrind``, against one emulator in its
own process (not counted); the difference divided by ``--records`` leaves out the
interpreter's start-up and the imports. Needs valgrind (Debian's ``valgrind``). Slow:
some 40 times a plain run (10,000 records: about a minute per client).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ._emulator import emulator, reset
from ._suite import _credentials

CLIENTS: dict[str, dict[str, Any]] = {
    "floor": {"impl": "floor"},
    "aiohttp": {"impl": "aiohttp"},
    "ours": {"impl": "ours", "transport": "aiohttp"},
    "ours_httpcore": {"impl": "ours", "transport": "httpcore"},
    "ours_trio": {"impl": "ours", "backend": "trio", "transport": "httpcore"},
}
_BASELINE = 1_000


def _instructions(spec: dict[str, Any]) -> int:
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-m",
            "benchmarks._worker",
            json.dumps(spec),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parent.parent,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{spec['impl']} failed under callgrind:\n{done.stderr[-3000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument(
        "--clients", default="floor,aiohttp,ours", help=f"comma-separated: {', '.join(CLIENTS)}"
    )
    parser.add_argument("--code", help="a tree holding another suprsend_async: 'ours (code)'")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        parser.error("needs valgrind (Debian: apt-get install valgrind)")
    clients = {name: CLIENTS[name] for name in args.clients.split(",")}
    if args.code:
        clients["ours (code)"] = {**CLIENTS["ours"], "code": str(Path(args.code).resolve())}
    print(f"instructions per record, {args.records:,} events, c=16 (callgrind)")
    floor = None
    with emulator(0.0) as emu:
        for name, client in clients.items():
            counts = []
            for records in (_BASELINE, args.records + _BASELINE):
                reset(emu)
                spec = {"run": "bulk", "records": records, "concurrency": 16, **client}
                counts.append(_instructions({**spec, **_credentials(emu)}))
            per_record = (counts[1] - counts[0]) / args.records
            floor = floor or per_record
            print(f"| {name} | {per_record:,.0f} | {per_record / floor:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
