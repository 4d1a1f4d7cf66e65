"""What a framecast run adds to Lightning's Trainer: a CSV log kept across resumes, a resumable last.ckpt on
Ctrl-C or SIGTERM, a time budget counted per invocation, and progress lines for logs."""

from __future__ import annotations

import csv
import math
import time
from argparse import Namespace
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback, EMAWeightAveraging, Timer
from lightning.pytorch.core.saving import save_hparams_to_yaml
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from .atomic import atomic_path
from .config import LINE_EVERY_SECONDS, LINE_EVERY_STEPS


class RunLogger(Logger):
    """The run's logged values in `RUN_DIR/metrics.csv` (a row per logging step, columns sorted, as Lightning's
    CSVLogger writes them) and its hyper-parameters in `RUN_DIR/hparams.yaml`.

    A custom logger on Lightning's public `Logger` base: CSVLogger deletes an existing metrics.csv when it starts,
    and a resumed run must append to it instead."""

    FLUSH_EVERY = 100  # logging steps between writes, as CSVLogger's default

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir, self.path = Path(run_dir), Path(run_dir) / "metrics.csv"
        self.rows: list[dict[str, float]] = []

    @property
    def name(self) -> str:
        return ""

    @property
    def version(self) -> str:
        return ""

    @property
    def save_dir(self) -> str:
        return str(self.run_dir)

    @property
    def log_dir(self) -> str:
        return str(self.run_dir)

    @rank_zero_only
    def log_hyperparams(self, params, *args, **kwargs) -> None:
        params = vars(params) if isinstance(params, Namespace) else dict(params or {})
        save_hparams_to_yaml(self.run_dir / "hparams.yaml", params)

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        step = len(self.rows) if step is None else step
        self.rows.append({**{k: v.item() if isinstance(v, torch.Tensor) else v for k, v in metrics.items()},
                          "step": step})
        if (step + 1) % self.FLUSH_EVERY == 0:
            self.save()

    @rank_zero_only
    def save(self) -> None:
        """Append the rows logged since the last save; the whole file is rewritten only when a new column appears."""
        if not self.rows:
            return
        old_fields, old_rows = _read_csv(self.path) if self.path.is_file() else ([], [])
        fields = sorted(set(old_fields).union(*self.rows))
        if old_fields and fields == sorted(old_fields):
            with open(self.path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=old_fields).writerows(self.rows)
        else:
            with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=fields)
                writer.writeheader()
                writer.writerows(old_rows + self.rows)
        self.rows = []

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.save()


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """A CSV file's header and rows."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


class WeightEMA(EMAWeightAveraging):
    """An exponential moving average of the weights (`--set ema=DECAY`), for validation and in every checkpoint.

    Lightning's callback saves the average as the checkpoint's weights and the raw ones beside them, so users get
    the average and a resumed run goes on from the raw weights. But at the end of `fit` it copies the average over
    the raw weights, and framecast saves last.ckpt after that: here the raw weights stay, so that last.ckpt
    resumes as any other checkpoint.
    """

    def on_train_end(self, trainer, pl_module) -> None:
        pass


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
