"""The training library's own messages go to the run's `lightning.log`, not to the user's terminal.

Lightning talks in its own terms ("`Trainer.fit` stopped: `max_epochs=2` reached.", "Restoring states from the
checkpoint path at ...", warnings with site-packages paths): framecast says what matters in its words (the
announcement, progress lines, the budget's end, the verdict), and keeps Lightning's lines in the run folder for
whoever debugs a run. Warnings raised elsewhere (torch, numpy, framecast) still reach the terminal.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

LOGGERS = ("lightning.pytorch", "lightning.fabric")
LOG_NAME = "lightning.log"


@contextlib.contextmanager
def library_log(run_dir: Path) -> Iterator[Path]:
    """Within the block, Lightning's log records and warnings are appended to `run_dir/lightning.log`."""
    path = Path(run_dir) / LOG_NAME
    handler = logging.FileHandler(path, encoding="utf-8")  # the run folder always has it, as announced
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger(name) for name in LOGGERS]
    saved = [(lg.handlers[:], lg.propagate, lg.level) for lg in loggers]
    for lg in loggers:
        lg.handlers, lg.propagate = [handler], False
        lg.setLevel(logging.INFO)
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if _is_lightning(filename):
            handler.emit(logging.makeLogRecord({"name": "warnings", "levelno": logging.WARNING,
                                                "levelname": "WARNING", "msg": f"{category.__name__}: {message}"}))
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield path
    finally:
        warnings.showwarning = shown
        for lg, (handlers, propagate, level) in zip(loggers, saved, strict=True):
            lg.handlers, lg.propagate = handlers, propagate
            lg.setLevel(level)
        handler.close()


def _is_lightning(filename: str) -> bool:
    parts = Path(filename).parts
    return "lightning" in parts or "lightning_fabric" in parts
