"""A dependency-free progress bar: steps, steps/s, recent return, time left.

On a terminal it redraws one line; elsewhere (CI logs, files) it prints a line every 10 %.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class ProgressBar:
    def __init__(self, total: int, start: int = 0, stream: TextIO | None = None, enabled: bool = True,
                 label: str = "") -> None:
        self.total, self.start_step, self.label = total, start, label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.perf_counter()
        self._last_draw = 0.0
        self._last_decile = -1

    def update(self, step: int, recent_return: float | None = None, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        frac = step / max(self.total, 1)
        if self.tty:
            if not force and now - self._last_draw < 0.25:
                return
        else:
            decile = int(frac * 10)
            if not force and decile == self._last_decile:
                return
            self._last_decile = decile
        self._last_draw = now
        elapsed = now - self.t0
        rate = (step - self.start_step) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - step) / rate if rate > 0 else 0.0
        width = 24
        filled = int(frac * width)
        ret = f" | return {recent_return:8.2f}" if recent_return is not None else ""
        line = (f"{self.label}[{'#' * filled}{'.' * (width - filled)}] {step:,}/{self.total:,} steps | "
                f"{rate:,.0f} steps/s{ret} | left {_clock(eta)}")
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
