"""A small, thread-safe progress bar on stderr (the transfer manager reports from several threads)."""

from __future__ import annotations

import threading
import time
from typing import TextIO

_WIDTH = 30
_MiB = 1024 * 1024


class ProgressBar:
    """``bar(n)`` adds ``n`` bytes; redrawn at most ten times a second and once when done.

    On a terminal the bar redraws in place; elsewhere (logs, CI) it prints a line per 10 %.
    """

    def __init__(self, label: str, total: int, stream: TextIO, *, enabled: bool = True) -> None:
        """Track ``total`` bytes of ``label``."""
        self.label, self.total, self.stream, self.enabled = label, max(total, 0), stream, enabled
        self.done = 0
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._drawn_at = 0.0
        self._last_decile = -1
        self._tty = bool(getattr(stream, "isatty", lambda: False)())

    def __call__(self, amount: int) -> None:
        """Account for ``amount`` more bytes transferred."""
        with self._lock:
            self.done = min(self.done + amount, self.total) if self.total else self.done + amount
            self._draw(final=False)

    def finish(self) -> None:
        """Draw the final state and end the line."""
        with self._lock:
            self._draw(final=True)

    def _draw(self, *, final: bool) -> None:
        if not self.enabled:
            return
        fraction = self.done / self.total if self.total else 1.0
        now = time.monotonic()
        if self._tty:
            if not final and now - self._drawn_at < 0.1:
                return
            end = "\n" if final else ""
            self.stream.write(f"\r{self._line(fraction, now)}{end}")
        else:
            decile = int(fraction * 10)
            if decile == self._last_decile and not final:
                return
            if final and decile == self._last_decile:
                return
            self._last_decile = decile
            self.stream.write(self._line(fraction, now) + "\n")
        self._drawn_at = now
        self.stream.flush()

    def _line(self, fraction: float, now: float) -> str:
        filled = int(fraction * _WIDTH)
        rate = self.done / max(now - self._started, 1e-6) / _MiB
        bar = "#" * filled + "-" * (_WIDTH - filled)
        sizes = f"{self.done / _MiB:.1f}/{self.total / _MiB:.1f} MiB"
        return f"{self.label} [{bar}] {fraction * 100:5.1f}% {sizes} {rate:.1f} MiB/s"
