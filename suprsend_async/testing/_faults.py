"""Fault injection for the hub emulator: seeded, so a failing run can be replayed."""

from __future__ import annotations

import enum
import random
from collections import deque

import attrs

__all__ = ["ConnectionDropped", "Fault", "FaultInjector", "FaultKind", "Faults"]


class ConnectionDropped(Exception):
    """Raised by the emulator app to make the server cut the connection.

    :func:`serve` closes the socket without answering and
    ``HubEmulator.transport()`` turns it into ``httpx.RemoteProtocolError``,
    which is what a client sees when a real connection dies. A generic ASGI
    server will answer 500 instead: drop faults need one of those two.
    """


class FaultKind(enum.Enum):
    ERROR = "error"  # a 5xx answer, nothing processed
    RATE_LIMIT = "rate_limit"  # 429 with Retry-After, nothing processed
    DROP_BEFORE = "drop_before"  # connection cut before processing
    DROP_AFTER = "drop_after"  # processed, then the connection is cut: the answer is lost


@attrs.frozen(kw_only=True)
class Fault:
    """One injected fault; build with the class methods."""

    kind: FaultKind
    status: int = 503
    retry_after: str = "1"

    @classmethod
    def error(cls, status: int = 503) -> Fault:
        """An error answer: ``status`` is 400 to 599 (a lower one is not an error,
        and the socket server could not even send one below 200)."""
        _error_status(None, None, status)
        return cls(kind=FaultKind.ERROR, status=status)

    @classmethod
    def rate_limit(cls, retry_after: float | str = 1) -> Fault:
        """429; ``retry_after`` is seconds or an HTTP date, sent as given."""
        value = retry_after if isinstance(retry_after, str) else f"{retry_after:g}"
        return cls(kind=FaultKind.RATE_LIMIT, status=429, retry_after=value)

    @classmethod
    def drop_before(cls) -> Fault:
        return cls(kind=FaultKind.DROP_BEFORE, status=0)

    @classmethod
    def drop_after(cls) -> Fault:
        return cls(kind=FaultKind.DROP_AFTER, status=0)


def _error_status(_: object, __: object, value: int) -> None:
    if not 400 <= value <= 599:
        raise ValueError(f"an error fault's status must be 400 to 599, got {value!r}")


def _rate(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be between 0 and 1, got {value}")


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value}")


@attrs.frozen(kw_only=True)
class Faults:
    """Random faults and latency applied to every hub request (not to control paths).

    Rates are probabilities per request and may add up to at most 1. The
    same ``seed`` gives the same faults to the n-th request, whatever the
    latency draws (jitter has a stream of its own).
    """

    latency: float = attrs.field(default=0.0, validator=_non_negative)  # seconds
    jitter: float = attrs.field(default=0.0, validator=_non_negative)  # plus uniform 0..jitter
    error_rate: float = attrs.field(default=0.0, validator=_rate)
    error_status: int = attrs.field(default=503, validator=_error_status)
    rate_limit_rate: float = attrs.field(default=0.0, validator=_rate)
    retry_after: float = attrs.field(default=1.0, validator=_non_negative)
    drop_before_rate: float = attrs.field(default=0.0, validator=_rate)
    drop_after_rate: float = attrs.field(default=0.0, validator=_rate)
    seed: int = 0

    def __attrs_post_init__(self) -> None:
        if self.fault_rate > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to {self.fault_rate:.3f}, more than 1")

    @classmethod
    def mix(
        cls,
        rate: float,
        *,
        seed: int = 0,
        retry_after: float = 1.0,
        latency: float = 0.0,
        jitter: float = 0.0,
    ) -> Faults:
        """``rate`` of requests faulted, split evenly over the four fault kinds."""
        share = rate / 4
        return cls(
            error_rate=share,
            rate_limit_rate=share,
            drop_before_rate=share,
            drop_after_rate=share,
            seed=seed,
            retry_after=retry_after,
            latency=latency,
            jitter=jitter,
        )

    @property
    def fault_rate(self) -> float:
        return self.error_rate + self.rate_limit_rate + self.drop_before_rate + self.drop_after_rate


class FaultInjector:
    """Decides, request by request, the delay and the fault (scripted faults first)."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        # Two streams: the n-th request's fault must not depend on how many
        # latency draws concurrent requests made before it.
        self._random = random.Random(faults.seed)  # noqa: S311 - reproducible, not secret
        self._jitter = random.Random(f"jitter-{faults.seed}")  # noqa: S311
        self._script: deque[Fault] = deque()

    def script(self, fault: Fault, times: int = 1) -> None:
        self._script.extend([fault] * times)

    @property
    def scripted(self) -> int:
        return len(self._script)

    def delay(self) -> float:
        f = self.faults
        return f.latency + (self._jitter.random() * f.jitter if f.jitter else 0.0)

    def next_fault(self) -> Fault | None:
        if self._script:
            return self._script.popleft()
        f = self.faults
        if not f.fault_rate:
            return None
        roll = self._random.random()
        if roll < f.error_rate:
            return Fault.error(f.error_status)
        roll -= f.error_rate
        if roll < f.rate_limit_rate:
            return Fault.rate_limit(f.retry_after)
        roll -= f.rate_limit_rate
        if roll < f.drop_before_rate:
            return Fault.drop_before()
        roll -= f.drop_before_rate
        if roll < f.drop_after_rate:
            return Fault.drop_after()
        return None
