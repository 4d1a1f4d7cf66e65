"""Progress bars that suit where the output goes: tqdm's bar on a terminal (and in a notebook); into a file or a
pipe (logs, CI, nohup) a plain line every LINE_EVERY_SECONDS, where a bar's carriage-return redraws would pile
up on one line."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

from ..config import LINE_EVERY_SECONDS


class _Lines:
    """A stream for tqdm that turns each redraw (`"\\r" + status`) into a line of its own."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        text = text.replace("\r", "").rstrip()
        if text:
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(*args, **kwargs) -> tqdm:
    """`tqdm(*args, **kwargs)` on a terminal or in a notebook; else lines at most every LINE_EVERY_SECONDS."""
    stream = sys.stderr
    if _in_notebook() or _is_terminal(stream):
        return tqdm(*args, **kwargs)
    # miniters=1: else tqdm's monitor thread redraws every 10 s, repeating the last line's count.
    return tqdm(*args, **{"file": _Lines(stream), "mininterval": LINE_EVERY_SECONDS, "miniters": 1, "ascii": True,
                          "ncols": 80, **kwargs})


def _in_notebook() -> bool:
    """Whether tqdm.auto chose its notebook widget (its class then derives from tqdm.notebook's)."""
    return any(cls.__module__ == "tqdm.notebook" for cls in tqdm.__mro__)


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced by an object without isatty, or closed
        return False
