"""Progress of a build: a tqdm bar that fits the terminal's width on a terminal, tqdm's own widget
in a notebook (``tqdm.auto``), one plain line per step otherwise (logs, CI), with the time left for
long steps, and images per second for the steps that compute on input images. Techniques call
``tick`` inside their loops; ``Silent`` (the Python API's default) shows nothing."""
from __future__ import annotations

import logging
import shutil
import sys
import time
from typing import TextIO

from tqdm.auto import tqdm

from reportgen.gallery import formats


STATS_WIDTH = 36  # the bar's counts and times, with a bar of a few characters
RATE_WIDTH = 18  # ", 123.4 images/s"


def in_notebook() -> bool:
    """Running in a Jupyter kernel (IPython's shell there is the ZMQ one)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return type(shell).__name__ == "ZMQInteractiveShell"


class Progress:
    def __init__(self, stream: TextIO | None = None, interactive: bool | None = None, every_s: float = 5.0,
                 notebook: bool | None = None):
        self.notebook = in_notebook() if notebook is None and stream is None else bool(notebook)
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = (self.notebook or self.stream.isatty()) if interactive is None else interactive
        self.every_s = every_s  # plain mode: at most one line per this many seconds inside a step
        self._bar: tqdm | None = None
        self._label = ""
        self._images = 0
        self._started = time.monotonic()
        self._last_line = 0.0

    def step(self, label: str, images: int = 0) -> None:
        """Start a new step (one technique for one model); ``images``: how many input images its
        units cover, for a rate in images per second."""
        self.close()
        self._label = label
        self._images = images
        self._started = time.monotonic()
        self._last_line = self._started
        if self.notebook:  # a widget that sizes itself
            self._bar = tqdm(desc=label, total=None, leave=True)
        elif self.interactive:
            columns = shutil.get_terminal_size().columns  # COLUMNS, the terminal's width, else 80
            room = max(columns - STATS_WIDTH - (RATE_WIDTH if images else 0), 8)  # a long label is cut so the bar never wraps
            desc = label if len(label) <= room else label[: room - 1] + "…"
            self._bar = tqdm(desc=desc, total=None, file=self.stream, ncols=columns - 1, leave=True,
                             bar_format="{desc} {bar} {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")
        else:
            self._write(f"{label}\n")

    def tick(self, done: int, total: int) -> None:
        """Report ``done`` of ``total`` units of the current step."""
        now = time.monotonic()
        if self._bar is not None:
            self._bar.total = total
            if self._images and done:
                self._bar.set_postfix_str(self._rate(done, total, now), refresh=False)
            self._bar.update(done - self._bar.n)
            return
        if now - self._last_line >= self.every_s or done == total:
            self._last_line = now
            elapsed = now - self._started
            rate = f", {self._rate(done, total, now)}" if self._images and done else ""
            eta = f", about {formats.seconds(elapsed / done * (total - done))} left" if 0 < done < total else ""
            self._write(f"{self._label}: {done}/{total}{rate}{eta}\n")

    def _rate(self, done: int, total: int, now: float) -> str:
        images = self._images * done / total
        return f"{images / max(now - self._started, 1e-9):.1f} images/s"

    def message(self, text: str) -> None:
        """A line of its own (a skipped input, a failure), printed above a running bar."""
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            self._write(f"{text}\n")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


class ToProgress(logging.Handler):
    """Routes the library's log records to the progress display, so they print above its bar."""

    def __init__(self, progress: Progress):
        super().__init__()
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        self.progress.message(self.format(record))


class Silent(Progress):
    """Shows nothing: for tests and the Python API."""

    def __init__(self) -> None:
        super().__init__(interactive=False, notebook=False)

    def _write(self, text: str) -> None:
        pass
