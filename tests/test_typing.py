"""The public API's annotations: mypy --strict refuses the wrong calls and infers the right types.

Runs mypy (as a user's project would) over tests/typing/: every line of
``wrong_calls.py`` marked ``# E: code ...`` must get exactly those errors and
no other line any; ``right_calls.py`` must pass, its ``assert_type`` checks
included.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tokenize
from collections import Counter
from pathlib import Path

import pytest

TYPING = Path(__file__).resolve().parent / "typing"
_ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")


def expected_errors(path: Path) -> Counter[tuple[int, str]]:
    """(line, code) for each code in each ``# E: ...`` comment (comments only, not docstrings)."""
    expected: Counter[tuple[int, str]] = Counter()
    with path.open() as source:
        for token in tokenize.generate_tokens(source.readline):
            if token.type == tokenize.COMMENT and token.string.startswith("# E: "):
                codes = token.string.removeprefix("# E: ").split()
                expected.update((token.start[0], code) for code in codes)
    return expected


@pytest.fixture(scope="module")
def mypy_output(request: pytest.FixtureRequest) -> str:
    # pytest's cache keeps mypy's between runs (a cold run takes several seconds).
    pytest_cache = getattr(request.config, "cache", None)
    args = [sys.executable, "-m", "mypy", "--strict", "--config-file=", "--no-error-summary"]
    if pytest_cache is not None:
        args.append(f"--cache-dir={pytest_cache.mkdir('mypy')}")
    else:
        args.append("--cache-dir=/dev/null")
    done = subprocess.run(
        [*args, str(TYPING / "wrong_calls.py"), str(TYPING / "right_calls.py")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr  # 2 would be a crash or a usage error
    return done.stdout


def errors_in(output: str, name: str) -> Counter[tuple[int, str]]:
    found: Counter[tuple[int, str]] = Counter()
    for line in output.splitlines():
        match = _ERROR.match(line)
        if match and Path(match["file"]).name == name:
            found[(int(match["line"]), match["code"])] += 1
    return found


def test_mypy_refuses_each_wrong_call(mypy_output: str) -> None:
    expected = expected_errors(TYPING / "wrong_calls.py")
    assert len(expected) >= 20
    assert errors_in(mypy_output, "wrong_calls.py") == expected, mypy_output


def test_mypy_accepts_the_right_calls_with_the_types_asserted(mypy_output: str) -> None:
    assert errors_in(mypy_output, "right_calls.py") == Counter(), mypy_output
    assert "right_calls.py" not in mypy_output, mypy_output  # not even a note
