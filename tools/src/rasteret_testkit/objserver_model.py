"""Value types and small policies behind :mod:`rasteret_testkit.objserver`.

Everything here is independent of aiohttp: the configuration bag, request records and the log,
the first-byte latency distribution, the fault draw and the shared bandwidth token bucket.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

__all__ = [
    "AliasTable",
    "Fault",
    "FaultDraw",
    "FaultScript",
    "RequestLog",
    "RequestRecord",
    "ServerConfig",
    "TokenBucket",
    "sample_latency_s",
]

#: Standard normal quantile of 0.99, used to turn (median, p99) into a lognormal sigma.
_Z99 = 2.3263478740408408


class Fault(StrEnum):
    """Fault applied to one request (``None`` in a record means no fault)."""

    MISSING = "missing"  # key listed in ``missing_keys``: 404 NoSuchKey
    BROKEN = "broken"  # key listed in ``broken_keys``: always ``fail_status``
    FAIL = "fail"  # ``fail_status`` (503 SlowDown by default), no Retry-After header
    STALL = "stall"  # first byte delayed by ``stall_s``
    TRUNCATE = "truncate"  # full Content-Length announced, connection closed after half
    SHORT = "short"  # a valid 206 for only the first half of the requested range
    RESET = "reset"  # connection reset (TCP RST) before any response byte
    BODY_STALL = "body_stall"  # headers and half the body, then ``stall_s`` of silence


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Behaviour knobs of an :class:`~rasteret_testkit.objserver.ObjectServer`.

    Attributes:
        latency_ms: Median first-byte delay in milliseconds (0 disables).
        latency_p99_ms: 99th percentile of the first-byte delay. When larger than the median the
            delay is lognormal with that median and p99; otherwise it is constant.
        bandwidth_bps: Aggregate body rate in bytes/second shared by all concurrent responses
            (``None`` = unlimited).
        connection_bandwidth_bps: Additional cap per response (HTTP/1.1 has one response in
            flight per connection, so this is a per-connection cap; ``None`` = unlimited).
        fail_rate: Probability of answering ``fail_status``.
        fail_status: Status of ``fail`` and ``broken`` answers (500, 502, 503 SlowDown, 504...).
        stall_rate: Probability of delaying the first byte by ``stall_s`` instead of the latency.
        stall_s: Stall length in seconds (make it longer than the client's timeout).
        truncate_rate: Probability (GET with a body only) of announcing the full length and then
            closing the connection after half of the body.
        short_rate: Probability (single-range GET only) of answering a valid 206 for the first
            half of the requested range (a short body with matching headers).
        reset_rate: Probability of resetting the connection (TCP RST) before responding.
        body_stall_rate: Probability (GET with a body only) of sending the headers and half of
            the body, then stalling ``stall_s`` before the rest.
        missing_keys: URL keys (path without the leading ``/``; for S3 ``bucket/key``) that answer
            404 even if the file exists.
        broken_keys: URL keys that always answer ``fail_status`` (a permanent server failure).
        fault_seed: Seed of the fault and latency random streams (``None`` = nondeterministic).
        required_query: Query parameter names every request must carry (e.g. ``{"sig"}`` to
            act like a store that needs signed URLs); a request missing one answers
            403 ``AuthenticationFailed``, before any fault or latency.
    """

    latency_ms: float = 0.0
    latency_p99_ms: float | None = None
    bandwidth_bps: float | None = None
    connection_bandwidth_bps: float | None = None
    fail_rate: float = 0.0
    stall_rate: float = 0.0
    stall_s: float = 30.0
    truncate_rate: float = 0.0
    short_rate: float = 0.0
    reset_rate: float = 0.0
    body_stall_rate: float = 0.0
    fail_status: int = 503
    missing_keys: frozenset[str] = frozenset()
    broken_keys: frozenset[str] = frozenset()
    fault_seed: int | None = 0
    required_query: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        rates = [getattr(self, name) for name in _RATES]
        for name, value in zip(_RATES, rates, strict=True):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value!r}")
        if sum(rates) > 1.0 + 1e-9:
            raise ValueError(f"{' + '.join(_RATES)} must not exceed 1")
        if not 400 <= self.fail_status <= 599:
            raise ValueError(f"fail_status must be a 4xx or 5xx status, got {self.fail_status}")
        if self.latency_ms < 0 or self.stall_s < 0:
            raise ValueError("latency_ms and stall_s must be >= 0")
        for name in ("bandwidth_bps", "connection_bandwidth_bps"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0 or None, got {value!r}")
        for name in ("missing_keys", "broken_keys"):
            keys = frozenset(k.lstrip("/") for k in getattr(self, name))
            object.__setattr__(self, name, keys)
        object.__setattr__(self, "required_query", frozenset(self.required_query))

    def updated(self, **changes: Any) -> ServerConfig:
        """Return a copy with ``changes`` applied; unknown names raise ``TypeError``."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown object server option(s): {sorted(unknown)}")
        for name in ("missing_keys", "broken_keys", "required_query"):
            if name in changes:
                changes[name] = frozenset(changes[name] or ())
        return replace(self, **changes)


#: Fault rates in draw order (one uniform number per request picks among them).
_RATES = ("fail_rate", "stall_rate", "truncate_rate", "short_rate", "reset_rate", "body_stall_rate")
#: Faults that only apply to GET requests with a body.
_BODY_FAULTS = frozenset({"truncate", "short", "body_stall"})


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One served request, appended to the log when the response is finished.

    Attributes:
        method: HTTP method.
        path: Request path as received (percent-decoded), with the query string if any.
        range: Raw ``Range`` header or ``None``.
        status: Status code sent (or that would have been sent if the client left first).
        bytes_sent: Body bytes actually written.
        start: ``time.monotonic()`` when the handler started.
        first_byte: ``time.monotonic()`` when headers were sent (``None`` if never).
        end: ``time.monotonic()`` when the handler finished.
        fault: Fault applied, or ``None``.
        physical: Physical file key (after aliasing) or ``None`` when none was resolved.
    """

    method: str
    path: str
    range: str | None
    status: int
    bytes_sent: int
    start: float
    first_byte: float | None
    end: float
    fault: Fault | None = None
    physical: str | None = None

    def as_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (used by the CLI's JSONL log)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["fault"] = None if self.fault is None else str(self.fault)
        return out


@dataclass(slots=True)
class RequestLog:
    """Thread-safe request log with an in-flight counter.

    :meth:`clear` starts a new generation: requests that began before it are not recorded when
    they finish, so a reset between tests never leaks late records of the previous test.
    """

    _records: list[RequestRecord] = field(default_factory=list)
    _in_flight: int = 0
    _generation: int = 0
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def begin(self) -> int:
        """Mark one request as in flight; return the generation to pass to :meth:`finish`."""
        with self._cond:
            self._in_flight += 1
            return self._generation

    def finish(self, record: RequestRecord, generation: int) -> bool:
        """Append ``record`` unless the log was cleared since :meth:`begin`; return whether it was."""
        with self._cond:
            self._in_flight -= 1
            kept = generation == self._generation
            if kept:
                self._records.append(record)
            self._cond.notify_all()
            return kept

    @property
    def in_flight(self) -> int:
        """Requests currently being handled."""
        with self._cond:
            return self._in_flight

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is in flight; return ``False`` on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    def snapshot(self) -> list[RequestRecord]:
        """Return a copy of the records."""
        with self._cond:
            return list(self._records)

    def clear(self) -> None:
        """Drop all records and ignore requests still in flight."""
        with self._cond:
            self._records.clear()
            self._generation += 1


def sample_latency_s(config: ServerConfig, rng: random.Random) -> float:
    """Draw one first-byte delay in seconds from ``config``'s distribution."""
    median = config.latency_ms
    if median <= 0:
        return 0.0
    p99 = config.latency_p99_ms
    if p99 is None or p99 <= median:
        return median / 1000.0
    sigma = (math.log(p99) - math.log(median)) / _Z99
    return rng.lognormvariate(math.log(median), sigma) / 1000.0


@dataclass(frozen=True, slots=True)
class FaultDraw:
    """Outcome of the per-request fault draw."""

    fault: Fault | None
    delay_s: float

    @classmethod
    def draw(
        cls,
        config: ServerConfig,
        key: str,
        method: str,
        fault_rng: random.Random,
        latency_rng: random.Random,
        scripted: Fault | None = None,
    ) -> FaultDraw:
        """Decide the fault and first-byte delay for one request.

        A ``scripted`` fault (see :class:`FaultScript`) wins; then missing and broken keys;
        then one uniform number per request selects among the rates by cumulative probability
        (fail, stall, truncate, short, reset, body stall), so a seeded server is reproducible
        for a given request order.
        """
        delay = sample_latency_s(config, latency_rng)
        if scripted is not None:
            return cls(scripted, max(delay, config.stall_s) if scripted is Fault.STALL else delay)
        if key in config.missing_keys:
            return cls(Fault.MISSING, delay)
        if key in config.broken_keys:
            return cls(Fault.BROKEN, delay)
        u = fault_rng.random()
        edge = 0.0
        for name in _RATES:
            edge += getattr(config, name)
            if u < edge:
                fault = Fault(name.removesuffix("_rate"))
                if fault in _BODY_FAULTS and method != "GET":
                    return cls(None, delay)
                return cls(fault, max(delay, config.stall_s) if fault is Fault.STALL else delay)
        return cls(None, delay)


class FaultScript:
    """Scripted faults served before any random draw: bursts and exact sequences.

    ``add(Fault.FAIL, count=3)`` makes the next three requests (of any key, or of keys starting
    with ``key_prefix``) fail; entries are consumed in the order they were added.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: deque[list[Any]] = deque()  # [fault, remaining, key_prefix]

    def add(self, fault: Fault | str, count: int = 1, key_prefix: str | None = None) -> None:
        """Serve ``fault`` to the next ``count`` matching requests."""
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        prefix = None if key_prefix is None else key_prefix.lstrip("/")
        with self._lock:
            self._entries.append([Fault(fault), int(count), prefix])

    def take(self, key: str) -> Fault | None:
        """Consume and return the first scripted fault matching ``key``, if any."""
        with self._lock:
            for entry in self._entries:
                fault, remaining, prefix = entry
                if prefix is None or key.startswith(prefix):
                    if remaining <= 1:
                        self._entries.remove(entry)
                    else:
                        entry[1] = remaining - 1
                    return Fault(fault)
        return None

    def pending(self) -> int:
        """Scripted faults not served yet."""
        with self._lock:
            return sum(e[1] for e in self._entries)

    def clear(self) -> None:
        """Drop every scripted fault."""
        with self._lock:
            self._entries.clear()


class TokenBucket:
    """Aggregate rate limiter shared by every response of one server (event-loop local).

    A virtual-clock pacer: each chunk reserves ``n / rate`` seconds of the shared pipe after the
    previous reservation, with up to ``burst`` bytes of credit accumulated while idle. The rate is
    read on every call, so runtime reconfiguration applies to chunks not yet reserved.
    """

    def __init__(self, burst: int = 64 * 1024) -> None:
        self._burst = burst
        self._next_free = 0.0

    async def take(self, n: int, rate: float | None) -> None:
        """Wait until ``n`` bytes may be sent at ``rate`` bytes/s (no wait if ``rate`` is None)."""
        if not rate or n <= 0:
            return
        now = time.monotonic()
        start = max(self._next_free, now - self._burst / rate)
        self._next_free = start + n / rate
        wait = self._next_free - now
        if wait > 0:
            await asyncio.sleep(wait)


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class AliasTable:
    """Maps URL keys to physical keys: exact aliases first, then patterns in insertion order.

    A pattern such as ``"scenes/{i}/{band}.tif"`` matches one path segment per placeholder; the
    physical key may reuse the placeholders (``"pool/{band}.tif"``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._exact: dict[str, str] = {}
        self._patterns: list[tuple[re.Pattern[str], str]] = []

    def add(self, url_key: str, physical_key: str) -> None:
        """Serve ``physical_key`` for the exact ``url_key``."""
        with self._lock:
            self._exact[url_key.lstrip("/")] = physical_key.lstrip("/")

    def add_pattern(self, pattern: str, physical_key: str) -> None:
        """Serve ``physical_key`` (formatted with the captures) for keys matching ``pattern``."""
        parts: list[str] = []
        pos = 0
        for m in _PLACEHOLDER.finditer(pattern):
            parts.append(re.escape(pattern[pos : m.start()]))
            parts.append(f"(?P<{m.group(1)}>[^/]+)")
            pos = m.end()
        parts.append(re.escape(pattern[pos:]))
        regex = re.compile("".join(parts).lstrip("/"))
        with self._lock:
            self._patterns.append((regex, physical_key.lstrip("/")))

    def resolve(self, url_key: str) -> str:
        """Return the physical key for ``url_key`` (itself when no alias applies)."""
        with self._lock:
            hit = self._exact.get(url_key)
            if hit is not None:
                return hit
            for regex, target in self._patterns:
                m = regex.fullmatch(url_key)
                if m is not None:
                    return target.format(**m.groupdict())
        return url_key

    def clear(self) -> None:
        """Remove every alias and pattern."""
        with self._lock:
            self._exact.clear()
            self._patterns.clear()

    def update(self, mapping: Iterable[tuple[str, str]]) -> None:
        """Add several exact aliases."""
        for url_key, physical_key in mapping:
            self.add(url_key, physical_key)
