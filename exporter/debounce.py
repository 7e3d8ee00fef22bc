"""Coalescing bursts of changes.  Pure: the caller passes the time.

The first change after a quiet period (no change for `delay_seconds`) is due at once, so a single
write is reported without delay; changes that follow within `delay_seconds` of the previous one
wait for the end of the window that began at the last flush and are handled together, so a log
written continuously costs at most one refresh per window.  The quiet period counts from the last
change, not the last flush: the trailing events of one write (modify, then close) do not delay
the next write a second later.
"""

from __future__ import annotations


class Debouncer:
    def __init__(self, delay_seconds: float) -> None:
        self.delay_seconds = delay_seconds
        self._pending: set[str] = set()
        self._due_at: float | None = None
        self._last_flush: float | None = None
        self._last_change: float | None = None

    def add(self, key: str, now: float) -> None:
        self._pending.add(key)
        if self._due_at is None:
            quiet = self._last_change is None or now - self._last_change >= self.delay_seconds
            if quiet or self._last_flush is None:
                self._due_at = now
            else:
                self._due_at = max(now, self._last_flush + self.delay_seconds)
        self._last_change = now

    def seconds_until_due(self, now: float) -> float | None:
        """How long the caller may sleep; None when nothing is pending."""
        if self._due_at is None:
            return None
        return max(0.0, self._due_at - now)

    def take_due(self, now: float) -> set[str]:
        """The keys due by `now` (all pending ones, or none)."""
        if self._due_at is None or now < self._due_at:
            return set()
        due, self._pending = self._pending, set()
        self._due_at = None
        self._last_flush = now
        return due

    def discard(self, key: str) -> None:
        self._pending.discard(key)
