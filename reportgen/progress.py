"""Progress on stderr: a redrawn bar on a terminal, one plain line per step otherwise, with an
estimate of the time left for long steps. Techniques call ``tick`` inside their loops."""
from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, interactive: bool | None = None, every_s: float = 5.0):
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.every_s = every_s  # plain mode: at most one line per this many seconds inside a step
        self._label = ""
        self._started = time.monotonic()
        self._last_line = 0.0

    def step(self, label: str) -> None:
        """Start a new step (one technique for one model)."""
        self._finish_bar()
        self._label = label
        self._started = time.monotonic()
        self._last_line = self._started
        self._write(f"{label}\n" if not self.interactive else f"\r{label}")

    def tick(self, done: int, total: int) -> None:
        """Report ``done`` of ``total`` units of the current step, with the time left."""
        now = time.monotonic()
        elapsed = now - self._started
        left = elapsed / done * (total - done) if done else float("nan")
        eta = f", about {_duration(left)} left" if done and done < total else ""
        if self.interactive:
            width = 24
            filled = int(width * done / max(total, 1))
            self._write(f"\r{self._label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}{eta}\x1b[K")
        elif now - self._last_line >= self.every_s or done == total:
            self._last_line = now
            self._write(f"{self._label}: {done}/{total}{eta}\n")

    def message(self, text: str) -> None:
        """A line of its own (a skipped input, a warning)."""
        self._finish_bar()
        self._write(f"{text}\n")

    def close(self) -> None:
        self._finish_bar()

    def _finish_bar(self) -> None:
        if self.interactive and self._label:
            self._write("\n")
            self._label = ""

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


class Silent(Progress):
    """For tests and library use."""

    def _write(self, text: str) -> None:
        pass


def _duration(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "?"
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"
