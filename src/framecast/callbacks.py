"""What a framecast run adds to Lightning's Trainer: a CSV log kept across resumes, a resumable last.ckpt on
Ctrl-C or SIGTERM, a time budget counted per invocation, and progress lines for logs."""

from __future__ import annotations

import csv
import math
import os
import time
from pathlib import Path

from lightning.pytorch.callbacks import Callback, Timer
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.utilities.exceptions import SIGTERMException

from .atomic import atomic_path
from .config import LINE_EVERY_SECONDS, LINE_EVERY_STEPS


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer deletes an existing metrics.csv; a resumed run must append to it instead."""

    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as f:
                self.metrics_keys = sorted(csv.DictReader(f).fieldnames or [])


class RunLogger(CSVLogger):
    """CSV logs written straight into the run directory (`RUN_DIR/metrics.csv`), kept across resumes."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(save_dir=str(run_dir), name="", version="")

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            os.makedirs(self.log_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


class SaveOnInterrupt(Callback):
    """Ctrl-C or SIGTERM: write a resumable last.ckpt before Lightning shuts down.

    Lightning turns SIGTERM into a SIGTERMException at the end of the current batch, and Ctrl-C into
    its graceful-shutdown path; both call `on_exception` first.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_exception(self, trainer, pl_module, exception) -> None:
        if isinstance(exception, KeyboardInterrupt | SIGTERMException):
            trainer.save_checkpoint(self.path, weights_only=False)


class BudgetTimer(Timer):
    """Lightning's time limit, counted per invocation: `--max-minutes 5` then `--resume --max-minutes 5` trains
    5 more minutes (Lightning's own Timer restores the elapsed time and would stop at once)."""

    def load_state_dict(self, state_dict: dict) -> None:
        pass


class ProgressLines(Callback):
    """Without a progress bar (logs, nohup): a line every LINE_EVERY_STEPS steps or LINE_EVERY_SECONDS, whichever
    comes first (step, training loss, speed), and one after each epoch's validation."""

    def __init__(self) -> None:
        self._step, self._time = 0, time.monotonic()

    def on_train_start(self, trainer, pl_module) -> None:
        self._step, self._time = trainer.global_step, time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        steps, now = trainer.global_step - self._step, time.monotonic()
        if trainer.is_global_zero and (steps >= LINE_EVERY_STEPS or now - self._time >= LINE_EVERY_SECONDS):
            m = _metrics(trainer)
            print(f"step {trainer.global_step} (epoch {trainer.current_epoch}): train_loss "
                  f"{_shown(m, 'train_loss_step', 4)} ({_shown(m, 'seq_per_s', 1)} seq/s)", flush=True)
            self._step, self._time = trainer.global_step, now

    def on_train_epoch_end(self, trainer, pl_module) -> None:  # after the epoch's validation
        if trainer.is_global_zero:
            m = _metrics(trainer)
            print(f"epoch {trainer.current_epoch} step {trainer.global_step}: train_loss "
                  f"{_shown(m, 'train_loss_epoch', 4)} val_loss {_shown(m, 'val_loss', 4)} val_mse/frame "
                  f"{_shown(m, 'val_mse', 1)} ({_shown(m, 'seq_per_s', 1)} seq/s)", flush=True)


def _metrics(trainer) -> dict[str, float]:
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


def _shown(metrics: dict[str, float], key: str, digits: int) -> str:
    """A logged value, or "–" for one not measured (e.g. one-step epochs' speed)."""
    value = metrics.get(key, math.nan)
    return f"{value:.{digits}f}" if math.isfinite(value) else "–"


def drop_rows_after(metrics: Path, step: int) -> None:
    """Forget log rows written after the checkpoint we resume from (they will be logged again)."""
    if not metrics.is_file():
        return
    with open(metrics, newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames or [], [r for r in reader if _as_float(r.get("step")) <= step]
    with atomic_path(metrics) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def _as_float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.inf
