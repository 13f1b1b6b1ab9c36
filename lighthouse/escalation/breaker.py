"""A circuit breaker per backend (the OPA URL; later each expert endpoint).

Closed: calls go through; ``failure_threshold`` consecutive failures or timeouts open it.
Open: the tier is skipped at once, for ``reset_timeout`` seconds. Then half-open: up to
``half_open_probes`` calls go through as probes while the others are still skipped; a
probe that succeeds closes the breaker, one that fails opens it again for another
``reset_timeout``. Every transition is counted; the state is a plain int the metrics read.

Single-threaded by design: it lives on one event loop, like the pipeline that owns it.
"""

from __future__ import annotations

import time

__all__ = ["CircuitBreaker", "CLOSED", "OPEN", "HALF_OPEN", "STATE_NAMES"]

CLOSED, OPEN, HALF_OPEN = 0, 1, 2
STATE_NAMES = ("closed", "open", "half_open")


class CircuitBreaker:
    """One backend's breaker. The caller asks :meth:`acquire` before using the backend
    and, when it was let through, reports exactly one of :meth:`success`,
    :meth:`failure` or :meth:`release` (the attempt ended without a verdict on the
    backend, e.g. it was cancelled or ran into someone else's deadline)."""

    def __init__(self, backend, *, failure_threshold=5, reset_timeout=5.0, half_open_probes=1,
                 clock=time.monotonic):
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if not reset_timeout > 0:
            raise ValueError("reset_timeout must be > 0 seconds")
        if half_open_probes < 1:
            raise ValueError("half_open_probes must be >= 1")
        self.backend = backend
        self.failure_threshold = failure_threshold
        self.reset_timeout = float(reset_timeout)
        self.half_open_probes = half_open_probes
        self.clock = clock
        self.state = CLOSED
        self.failures = 0               # consecutive, while closed
        self.opened_at = 0.0
        self.probes = 0                 # probes in flight, while half-open
        self.opened_total = 0
        self.closed_total = 0
        self.rejected_total = 0         # attempts skipped because the breaker was open

    @property
    def state_name(self):
        return STATE_NAMES[self.state]

    def acquire(self):
        """True if the backend may be used now (a half-open breaker counts a probe)."""
        state = self.state
        if state == CLOSED:
            return True
        if state == OPEN:
            if self.clock() - self.opened_at < self.reset_timeout:
                self.rejected_total += 1
                return False
            self.state = HALF_OPEN
            self.probes = 0
        if self.probes < self.half_open_probes:
            self.probes += 1
            return True
        self.rejected_total += 1
        return False

    def success(self):
        if self.state == HALF_OPEN:
            self.state = CLOSED
            self.probes = 0
            self.closed_total += 1
        self.failures = 0

    def failure(self):
        if self.state == HALF_OPEN:
            self._open()
            return
        if self.state == CLOSED:
            self.failures += 1
            if self.failures >= self.failure_threshold:
                self._open()

    def release(self):
        if self.state == HALF_OPEN and self.probes > 0:
            self.probes -= 1

    def _open(self):
        self.state = OPEN
        self.opened_at = self.clock()
        self.failures = 0
        self.probes = 0
        self.opened_total += 1

    def snapshot(self):
        return {"state": self.state, "opened": self.opened_total, "closed": self.closed_total,
                "rejected": self.rejected_total}
