"""Quiet, readable output for the `prover` command: one progress bar per long stage, and logs that
stay readable without a terminal.

`quiet_output()` (around every command, prover/cli.py):

* third-party progress bars are off: Hugging Face's (downloads, "Loading weights", "Writing model
  shards": `HF_HUB_DISABLE_PROGRESS_BARS`, which transformers follows) and transformers' own;
* when stderr is not a terminal (a log file, a pipe, a CI job), stderr goes through `LineStream`:
  a progress bar's redraws (tqdm rewrites its line with carriage returns, every tenth of a second)
  become at most one line every `interval` seconds, plus the bar's final line when it closes;
  everything else passes through unchanged.  On a terminal nothing changes.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

REDRAW_INTERVAL_S = 30.0
_PIECES = re.compile(r"(\r|\n)")


class LineStream:
    """A text stream that turns carriage-return redraws into lines, at most one per `interval` seconds;
    the latest redraw is written when the bar's line ends (its final state).  Other text passes through."""

    def __init__(self, stream: TextIO, interval: float = REDRAW_INTERVAL_S, clock: Any = time.monotonic) -> None:
        self.stream = stream
        self.interval = interval
        self.clock = clock
        self.line = ""           # text of the current line not yet handled
        self.redraw = False      # the current line is a redraw (it began with a carriage return)
        self.fresh = False       # ... and its text is still arriving in this write
        self.pending = ""        # the latest redraw not written
        self.shown = ""          # the latest redraw written
        self.last = -float("inf")

    def write(self, text: str) -> int:
        for piece in _PIECES.split(text):
            if piece == "\r":
                if self.line.strip():
                    self._offer(self.line)
                self.line, self.redraw, self.fresh = "", True, True
            elif piece == "\n":
                self._end_line()
            elif piece:
                if self.redraw and not self.fresh:  # plain text after a bar: a line of its own
                    self.redraw = False
                self.line += piece
        if self.redraw and self.line.strip():
            self._offer(self.line)
            self.line = ""
        self.fresh = False
        return len(text)

    def _offer(self, text: str) -> None:
        now = self.clock()
        if now - self.last >= self.interval:
            self._out(text)
            self.shown, self.pending, self.last = text, "", now
        else:
            self.pending = text

    def _end_line(self) -> None:
        if self.line.strip():
            self._out(self.line)
        elif self.redraw and self.pending and self.pending != self.shown:
            self._out(self.pending)
        self.line, self.pending, self.redraw, self.fresh = "", "", False, False

    def _out(self, text: str) -> None:
        self.stream.write(text.rstrip() + "\n")

    def close_line(self) -> None:
        """Write what is left of the current line (the stream is handed back)."""
        if self.line.strip() or self.pending:
            self._end_line()

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _third_party_bars_off() -> None:
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # read by huggingface_hub (and transformers) on import
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


@contextmanager
def quiet_output(interval: float = REDRAW_INTERVAL_S) -> Iterator[None]:
    """See the module docstring; stderr and the environment are put back afterwards."""
    saved_env = os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS")
    _third_party_bars_off()
    saved = sys.stderr
    wrap = not (getattr(saved, "isatty", None) and saved.isatty())
    if wrap:
        sys.stderr = LineStream(saved, interval)  # type: ignore[assignment]
    try:
        yield
    finally:
        if wrap:
            stream = sys.stderr
            if isinstance(stream, LineStream):
                stream.close_line()
            sys.stderr = saved
        if saved_env is None:
            os.environ.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
        else:
            os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = saved_env


__all__ = ["LineStream", "REDRAW_INTERVAL_S", "quiet_output"]
