"""OpenTelemetry spans and counters, when ``opentelemetry-api`` is installed (extra ``otel``).

The library speaks only the OpenTelemetry *API*: the application installs the
SDK and an exporter and sets the global providers, as with any instrumented
library. Without the API package nothing is imported and every hook is a
no-op; with it but while no SDK has set the global providers, every hook is
skipped too (the API's own no-op spans cost some 20 µs a call), and picked up
as soon as an application sets them.

What is recorded, never payloads, keys or secrets:

- a span per call (``suprsend track_event``, ``suprsend bulk_events.send``,
  ``suprsend GET v1/user/{distinct_id}/``, ...) with the method, the path
  template, the final status code, the number of attempts, records, failed
  records and retried records, and the error type (never the exception's
  message) when it failed;
- a child span per attempt (``POST /v2/event/``, kind CLIENT) with the method,
  path template, server address and status code, or the error type when no
  answer came;
- counters: ``suprsend.client.requests`` (each attempt, by method, path
  template and status or error type), ``suprsend.client.records.sent``
  (records the hub accepted), ``suprsend.client.records.failed`` and
  ``suprsend.client.records.retried`` (records sent again), by operation. A
  users write (an upsert, an edit, a delete) is a record; a read is not.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol, TypeVar

import attrs

from .._version import __version__

__all__ = ["AttemptRecorder", "CallRecorder", "Observed", "Telemetry", "telemetry"]

_SCOPE = "suprsend_async"


_Recorder = TypeVar("_Recorder", bound="_Untraced")


class _Untraced:
    """A recorder is its own context manager when nothing is traced (instead of a
    ``nullcontext`` around it)."""

    __slots__ = ()

    def __enter__(self: _Recorder) -> _Recorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None


class AttemptRecorder(_Untraced):
    """What one attempt learnt: its status code, or why no answer came."""

    __slots__ = ("error_type", "status_code")

    def __init__(self) -> None:
        self.status_code: int | None = None
        self.error_type: str | None = None


class CallRecorder(_Untraced):
    """What a call learnt, set by the caller before the call's span ends."""

    __slots__ = ("attempts", "error_type", "failed", "records", "retried", "status_code")

    def __init__(self, records: int) -> None:
        self.records = records
        self.failed = 0
        self.retried = 0
        self.attempts = 0
        self.status_code: int | None = None
        self.error_type: str | None = None


# What a call or attempt is given to fill when nothing is traced: one of each for
# all, written to and never read (a recorder of its own would be one more object
# made, and kept while the call waits, on every call).
_UNTRACED_CALL = CallRecorder(0)
_UNTRACED_ATTEMPT = AttemptRecorder()


class Observed(Protocol):
    """What a gauge reads of an open background sender."""

    def observe(self) -> tuple[str, int, int | None]:
        """(its spool's path or "memory", queue depth, spool size in bytes or None)."""
        ...


# The open background senders, read by the gauges when a reader collects.
_OBSERVED: weakref.WeakSet[Observed] = weakref.WeakSet()


@attrs.define
class Telemetry:
    """Spans and counters through the OpenTelemetry API; no-ops when it is absent."""

    tracer: Any = None
    requests: Any = None
    records_sent: Any = None
    records_failed: Any = None
    records_retried: Any = None
    background_records: Any = None
    span_kind: Any = None
    status: Any = None  # opentelemetry.trace.Status
    error: Any = None  # opentelemetry.trace.StatusCode.ERROR
    # The API's global provider getters, and the classes they answer with while
    # no SDK is set (its proxies, or its explicit no-ops).
    providers: tuple[Callable[[], object], Callable[[], object]] | None = None
    idle: tuple[type, ...] = ()
    # True while neither provider is set, read off the API's globals (the
    # getters look the environment up on every call, a microsecond each).
    none_set: Callable[[], bool] = bool
    _live: bool = False

    def tracing(self) -> bool:
        """Whether spans are made (OpenTelemetry's API installed and an SDK set)."""
        return self.tracer is not None and self.live()

    def live(self) -> bool:
        """Whether an SDK's tracer or meter provider is set: otherwise spans and
        counters would all be no-ops, and none is made."""
        if self._live or self.providers is None or self.none_set():
            return self._live
        get_tracer_provider, get_meter_provider = self.providers
        # A provider, once set, stays set (the API refuses a second one).
        self._live = not (
            isinstance(get_tracer_provider(), self.idle)
            and isinstance(get_meter_provider(), self.idle)
        )
        return self._live

    def background(self, outcome: str, records: int = 1) -> None:
        """Count ``records`` of a background sender with ``outcome``."""
        if self.background_records is not None and records and self.live():
            self.background_records.add(records, {"suprsend.outcome": outcome})

    def watch(self, sender: Observed) -> None:
        """Report ``sender`` in the gauges until it is forgotten (or collected)."""
        _OBSERVED.add(sender)

    def forget(self, sender: Observed) -> None:
        _OBSERVED.discard(sender)

    def call(
        self, operation: str, method: str, path: str, *, records: int
    ) -> AbstractContextManager[CallRecorder]:
        """Around one user call: a span, and the record counters when it ends."""
        if not self.tracing():
            # Without OpenTelemetry: no generator-based context manager to run
            # on every call (a few µs each), only a recorder the caller fills.
            return _UNTRACED_CALL
        return self._traced_call(operation, method, path, records=records)

    @contextmanager
    def _traced_call(
        self, operation: str, method: str, path: str, *, records: int
    ) -> Iterator[CallRecorder]:
        recorder = CallRecorder(records)
        attributes = {
            "suprsend.operation": operation,
            "http.request.method": method,
            "url.template": "/" + path,
        }
        with self.tracer.start_as_current_span(
            f"suprsend {operation}",
            kind=self.span_kind.INTERNAL,
            attributes=attributes,
            # OpenTelemetry would record the exception's message and traceback,
            # and a message may name a user (the hub's "user [distinct_id: ...]
            # not found") or hold whatever the caller's own code raised.
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            raised = False
            try:
                yield recorder
            except BaseException as exc:
                raised = True
                recorder.error_type = recorder.error_type or type(exc).__name__
                raise
            finally:
                self._end_call(span, recorder, operation, raised=raised)

    def _end_call(self, span: Any, recorder: CallRecorder, operation: str, *, raised: bool) -> None:
        # A call that raised (cancelled, a client closed under it) sent nothing
        # it can vouch for.
        sent = 0 if raised else recorder.records - recorder.failed
        span.set_attributes(
            {
                "suprsend.attempts": recorder.attempts,
                "suprsend.records": recorder.records,
                "suprsend.records.failed": recorder.failed,
                "suprsend.records.retried": recorder.retried,
            }
        )
        if recorder.status_code is not None:
            span.set_attribute("http.response.status_code", recorder.status_code)
        if recorder.error_type is not None:
            span.set_attribute("error.type", recorder.error_type)
        if raised or (recorder.failed and recorder.failed == recorder.records):
            # A partly failed bulk call is not an error: its counts say how it went.
            span.set_status(self.status(self.error, recorder.error_type))
        labels = {"suprsend.operation": operation}
        if sent > 0:
            self.records_sent.add(sent, labels)
        if recorder.failed:
            self.records_failed.add(recorder.failed, labels)
        if recorder.retried:
            self.records_retried.add(recorder.retried, labels)

    def attempt(self, method: str, path: str, url: Any) -> AbstractContextManager[AttemptRecorder]:
        """Around one HTTP request (to ``url``, an httpx or httpx2 URL: read only when
        :meth:`tracing`, and may be None otherwise): a client span and the request
        counter."""
        if not self.tracing():
            return _UNTRACED_ATTEMPT
        return self._traced_attempt(method, path, url.host, url.port)

    @contextmanager
    def _traced_attempt(
        self, method: str, path: str, host: str, port: int | None
    ) -> Iterator[AttemptRecorder]:
        recorder = AttemptRecorder()
        template = "/" + path
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.template": template,
            "server.address": host,
        }
        if port is not None:
            attributes["server.port"] = port
        with self.tracer.start_as_current_span(
            f"{method} {template}",
            kind=self.span_kind.CLIENT,
            attributes=attributes,
            # Our own errors say what happened; the exception event would add a
            # traceback to every refused connection.
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield recorder
            finally:
                labels: dict[str, Any] = {"http.request.method": method, "url.template": template}
                if recorder.status_code is not None:
                    span.set_attribute("http.response.status_code", recorder.status_code)
                    labels["http.response.status_code"] = recorder.status_code
                    failed = recorder.status_code >= 400
                else:
                    recorder.error_type = recorder.error_type or "cancelled"
                    failed = True
                if recorder.error_type is not None:
                    span.set_attribute("error.type", recorder.error_type)
                    labels["error.type"] = recorder.error_type
                if failed:
                    why = recorder.error_type or f"HTTP {recorder.status_code}"
                    span.set_status(self.status(self.error, why))
                self.requests.add(1, labels)


_NO_TELEMETRY = Telemetry()
_loaded: Telemetry | None = None


def telemetry() -> Telemetry:
    """The process's telemetry: OpenTelemetry's global providers, or no-ops without the API."""
    global _loaded
    if _loaded is None:
        _loaded = _load()
    return _loaded


def _load() -> Telemetry:
    try:
        from opentelemetry import metrics, trace
    except ImportError:
        return _NO_TELEMETRY
    # The global providers are looked up through proxies at each use, so an
    # application that sets them after creating the client is still served.
    tracer = trace.get_tracer(_SCOPE, __version__)
    meter = metrics.get_meter(_SCOPE, __version__)
    _gauges(metrics, meter)
    return Telemetry(
        tracer=tracer,
        requests=meter.create_counter(
            "suprsend.client.requests",
            unit="{request}",
            description="HTTP requests sent to the hub, each attempt counted",
        ),
        records_sent=meter.create_counter(
            "suprsend.client.records.sent",
            unit="{record}",
            description="Records (events, workflow triggers, user changes) the hub accepted",
        ),
        records_failed=meter.create_counter(
            "suprsend.client.records.failed",
            unit="{record}",
            description="Records that ended failed, after any retries",
        ),
        records_retried=meter.create_counter(
            "suprsend.client.records.retried",
            unit="{record}",
            description="Records sent again by a retry",
        ),
        background_records=meter.create_counter(
            "suprsend.background.records",
            unit="{record}",
            description="Records of background senders, by outcome",
        ),
        span_kind=trace.SpanKind,
        status=trace.Status,
        error=trace.StatusCode.ERROR,
        providers=(trace.get_tracer_provider, metrics.get_meter_provider),
        idle=_idle_providers(trace, metrics),
        none_set=_none_set(trace),
    )


def _none_set(trace: Any) -> Callable[[], bool]:
    """A check that no global provider is set yet: the API's own globals, read
    directly; always False (look at the providers) if this release keeps them
    elsewhere, or if the environment names a provider for the API to load."""
    import os

    from opentelemetry.environment_variables import (
        OTEL_PYTHON_METER_PROVIDER,
        OTEL_PYTHON_TRACER_PROVIDER,
    )

    try:
        from opentelemetry.metrics import _internal as metrics_globals
    except ImportError:
        return lambda: False
    named = {OTEL_PYTHON_METER_PROVIDER, OTEL_PYTHON_TRACER_PROVIDER} & set(os.environ)
    if named or not all(
        hasattr(module, name)
        for module, name in ((trace, "_TRACER_PROVIDER"), (metrics_globals, "_METER_PROVIDER"))
    ):
        return lambda: False
    return lambda: trace._TRACER_PROVIDER is None and metrics_globals._METER_PROVIDER is None


def _idle_providers(trace: Any, metrics: Any) -> tuple[type, ...]:
    """The provider classes of the API alone: its proxies (what the getters answer
    before any provider is set) and its explicit no-ops."""
    idle: list[type] = [trace.ProxyTracerProvider, trace.NoOpTracerProvider]
    idle.append(metrics.NoOpMeterProvider)
    try:
        from opentelemetry.metrics._internal import _ProxyMeterProvider
    except ImportError:  # moved in some release: the counters are then always made
        return tuple(idle)
    return (*idle, _ProxyMeterProvider)


def _gauges(metrics: Any, meter: Any) -> None:
    def points(which: int) -> Any:
        def callback(_options: Any) -> Iterator[Any]:
            for sender in list(_OBSERVED):
                where, depth, size = sender.observe()
                value = (depth, size)[which]
                if value is not None:
                    yield metrics.Observation(value, {"suprsend.spool": where})

        return callback

    meter.create_observable_gauge(
        "suprsend.background.queue.depth",
        callbacks=[points(0)],
        unit="{record}",
        description="Records a background sender accepted and has not settled",
    )
    meter.create_observable_gauge(
        "suprsend.background.spool.size",
        callbacks=[points(1)],
        unit="By",
        description="Bytes a background sender's spool takes on disk",
    )
