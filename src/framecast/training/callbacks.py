"""What a framecast run adds to Lightning's Trainer: a CSV log kept across resumes, a resumable last.ckpt on
Ctrl-C or SIGTERM, a time budget counted per invocation, and progress lines for logs."""

from __future__ import annotations

import csv
import math
import time
from argparse import Namespace
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback, EMAWeightAveraging
from lightning.pytorch.core.saving import save_hparams_to_yaml
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from ..atomic import atomic_path
from ..config import LINE_EVERY_SECONDS, LINE_EVERY_STEPS


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

    def after_save_checkpoint(self, checkpoint_callback) -> None:
        """Write the rows logged so far with every checkpoint: a run killed later resumes with its whole log."""
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


class BudgetTimer(Callback):
    """`--max-minutes`: a time budget counted from the command's start, kept to the end of the run's last
    checkpoint, with room for the verdict where the budget allows.

    Counted per invocation: `--max-minutes 5` then `--resume --max-minutes 5` runs 5 more minutes. When training
    stops, Lightning validates once more (a one-cycle run's annealed end is its best model), then framecast saves
    and gives its verdict (the best model and the baselines scored on the same validation windows). Training
    stops early enough for the validation and the saving to fit, by the longest validation seen, or before the
    first one by an estimate from the training speed; and for the verdict too, while that keeps at most half of
    the budget. A fitted one-cycle schedule anneals by then too (`time_remaining`).
    """

    # Validation runs forward passes only, about a third of a training step's work per sequence; half of it
    # leaves room for a busy machine. The verdict rolls out the same windows once more in exact float32 and
    # scores the baselines too: 1.2 to 1.4 validations on Moving MNIST, about 2 on footage (measured on a busy
    # 2-core CPU); twice that where training validates in a reduced precision that float32 is 2-4x slower than
    # (`reduced`). Saving and the loss curve take a few seconds more.
    VALIDATION_SHARE, VERDICT_SHARE, SAVING_SECONDS = 0.5, 2.0, 5.0
    clock = staticmethod(time.monotonic)  # a test replaces it with a simulated clock

    def __init__(self, minutes: float, val_sequences: int, batch_size: int, started: float | None = None,
                 reduced: bool = False) -> None:
        """`started`: the `clock()` reading the budget counts from (the command's start), by default now;
        `reduced`: training validates in a reduced precision, the verdict in float32."""
        self.verdict_share = self.VERDICT_SHARE * (2 if reduced else 1)
        self.budget = 60.0 * minutes
        self.started = self.clock() if started is None else started
        if self.started > self.clock():
            raise ValueError(f"started={started} is ahead of the budget's clock (time.monotonic()); read it there")
        self.val_sequences, self.batch_size = val_sequences, batch_size
        self._train_start = self._first_step_end = self._val_start = self._val_seconds = None
        self._steps = 0

    def time_elapsed(self) -> float:
        """Seconds since the budget's start."""
        return self.clock() - self.started

    def time_training(self) -> float:
        """Seconds since training started in this invocation, validations included."""
        return 0.0 if self._train_start is None else self.clock() - self._train_start

    def reserve(self) -> float:
        """Seconds to keep for the last validation, the saving and (budget allowing) the verdict."""
        validation = self._val_seconds if self._val_seconds is not None else self._validation_estimate()
        checkpoint = validation + min(self.SAVING_SECONDS, 0.05 * self.budget)
        # A budget of seconds (tests, trials) still trains: the verdict's room stops at half of the budget.
        return max(checkpoint, min(checkpoint + self.verdict_share * validation, 0.5 * self.budget))

    def _validation_estimate(self) -> float:
        """Seconds of a validation before one ran, from the training speed after the first step (its warm-up)."""
        if self._steps < 2:
            return 0.0  # the first step's time is mostly warm-up: no estimate yet
        per_step = (self.clock() - self._first_step_end) / (self._steps - 1)
        return self.VALIDATION_SHARE * per_step / self.batch_size * self.val_sequences

    def time_remaining(self) -> float:
        """Seconds of training left before the reserve."""
        return self.budget - self.time_elapsed() - self.reserve()

    def on_train_start(self, trainer, pl_module) -> None:
        self._train_start, self._steps = self.clock(), 0

    def on_train_batch_end(self, trainer, *args, **kwargs) -> None:
        self._steps += 1
        if self._steps == 1:
            self._first_step_end = self.clock()
        self._check_time_remaining(trainer)

    def on_validation_start(self, trainer, pl_module) -> None:
        self._val_start = self.clock()

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        self._val_seconds = max(self._val_seconds or 0.0, self.clock() - self._val_start)
        # Stopping after the next step would validate again: stop now if that step does not fit, and this
        # validation's checkpoint is the last.
        self._check_time_remaining(trainer, ahead=self.time_training() / max(1, self._steps), validated=True)

    def _check_time_remaining(self, trainer, ahead: float = 0.0, validated: bool = False) -> None:
        """Stop training if less than `ahead` seconds are left before the reserve; `validated`: just after a
        validation, whose checkpoint is then the last."""
        stop = trainer.strategy.broadcast(self.time_remaining() <= ahead)  # rank 0's clock decides for all
        if stop and not trainer.should_stop and trainer.is_global_zero:
            then = ("with this validation's checkpoint" if validated else
                    f"leaving {self.reserve():.0f} s for the last validation, saving and the verdict")
            print(f"time budget: stopping at step {trainer.global_step} after {self.time_elapsed() / 60:.1f} of "
                  f"{self.budget / 60:g} minutes, {then}", flush=True)
        trainer.should_stop = trainer.should_stop or stop


class ValidationClock(Callback):
    """An epoch (the training between two validations) ends after `seconds` of training too, not only after
    `steps_per_epoch` steps: on footage, whose validation scores whole frames, so that a short run has a curve and
    the verdict several points, and a long one is not validated every few steps.

    Lightning validates at an epoch's last batch and ends the epoch there; when the clock is due, this batch is
    made the last (the loop's batch limit lowered to it, and restored when the next epoch starts). Lightning's
    own time-based `val_check_interval` validates within epochs only, leaving the plateau schedule, which steps at
    epoch ends, without a validation to read."""

    clock = staticmethod(time.monotonic)  # replaceable, as BudgetTimer's is

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._limits: tuple | None = None  # the loop's own batch limit and validation batch
        self._start = self.clock()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if self._limits is None:
            self._limits = (trainer.fit_loop.max_batches, trainer.val_check_batch)
        trainer.fit_loop.max_batches, trainer.val_check_batch = self._limits
        self._start = self.clock()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        due = trainer.strategy.broadcast(self.clock() - self._start >= self.seconds)  # rank 0's clock, for all
        if due and batch_idx + 1 < trainer.fit_loop.max_batches:
            trainer.fit_loop.max_batches = trainer.val_check_batch = batch_idx + 1


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
    """Forget log rows written after a checkpoint taken at global step `step`, the one we resume from: they will
    be logged again. Rows of the batches the checkpoint holds (0 to step - 1) carry steps below `step`; a row at
    `step` itself, such as the learning rate logged when the next epoch starts, came after it."""
    if not metrics.is_file():
        return
    with open(metrics, newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames or [], [r for r in reader if _as_float(r.get("step")) < step]
    with atomic_path(metrics) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def _as_float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.inf
