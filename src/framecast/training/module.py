"""The LightningModule: a Predictor trained on the next-frame objective with scheduled sampling, validated
on free rollouts (the test protocol), its one-cycle schedule re-fitted to the time budget."""

from __future__ import annotations

import os
import time

import lightning as L
import torch

from ..config import config_from_dict
from ..errors import note
from ..model.predictor import Predictor
from ..quality import metrics
from ..quality.metrics import frame_loss
from .callbacks import BudgetTimer
from .schedule import FittedOneCycleLR

# The best checkpoint, early stopping and the plateau schedule follow the validation MSE of free rollouts,
# the metric users evaluate, not the training loss: under BCE, a sharper rollout can score a worse val_loss
# and a better MSE (seen in the time-to-quality runs).
MONITOR = "val_mse"
REFIT_EVERY = 20  # steps between re-fits of a one-cycle schedule to the time budget


class FramecastModule(L.LightningModule):
    """Trains a Predictor to predict frame t+1 from frames <= t over whole sequences."""

    def __init__(self, framecast: dict) -> None:
        super().__init__()
        self.save_hyperparameters()  # {"framecast": {"format", "version", "config"}}: plain data only
        self.config = config_from_dict(framecast["config"])
        self.model = Predictor(self.config.model)
        self._last_time: float | None = None
        self.train_seconds = 0.0  # wall time spent in training steps, across resumes (for the model card)
        self.wall_seconds = 0.0   # wall time of the whole fit (steps and validation), across resumes
        self._wall_start = time.perf_counter()
        self.prior = {"steps": 0, "sequences": 0}  # training behind the --init weights, if any
        self.precision: dict[str, str] = {}  # this invocation's precision and why (precision.Choice.to_dict)
        self._first_step = 0  # the step this invocation started from (a resume starts later)

    def teacher_prob(self) -> float:
        """Probability of feeding a true future frame instead of the model's own prediction: 1 -> 0."""
        steps = self.config.train.sampling_steps
        return max(0.0, 1.0 - self.global_step / steps) if steps > 0 else 0.0

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        b, frames = batch.shape[:2]                                      # batch: (B, T, C, H, W)
        context, prob = self.config.data.context, self.teacher_prob()
        teacher = torch.rand(b, frames - 1 - context, device=batch.device) < prob if prob > 0 else None
        logits = self.model.rollout(batch, context, frames - 1, teacher)  # (B, T-1, C, H, W)
        loss = frame_loss(logits, batch[:, 1:], self.config.train.loss)
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=b)
        self.log("teacher_prob", prob, on_step=True, on_epoch=False)
        self._log_throughput(b)
        return loss

    def _log_throughput(self, batch_size: int) -> None:
        now = time.perf_counter()
        if self._last_time is not None:
            self.train_seconds += now - self._last_time
            self.log("seq_per_s", batch_size * self.trainer.world_size / (now - self._last_time), prog_bar=True,
                     on_step=True, on_epoch=False)
        self._last_time = now

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        """Validation is the test protocol: read `context` frames, roll out the rest with no teacher."""
        context = self.config.data.context
        horizon = batch.shape[1] - context
        logits = self.model.rollout(batch, context, batch.shape[1] - 1)[:, -horizon:]
        target = batch[:, context:]
        pred = torch.sigmoid(logits.float())
        self.log("val_loss", frame_loss(logits, target, self.config.train.loss), prog_bar=True, sync_dist=True,
                 batch_size=len(batch))
        self.log("val_mse", metrics.mse(pred, target).mean(), prog_bar=True, sync_dist=True,
                 batch_size=len(batch))
        self._last_time = None  # do not count validation time as a training step

    def on_validation_epoch_end(self) -> None:
        # Wall minutes beside val_mse in metrics.csv: the x axis of time-to-quality curves.
        if not self.trainer.sanity_checking:
            self.wall_seconds = time.perf_counter() - self._wall_start
            self.log("minutes", self.wall_seconds / 60, sync_dist=True, reduce_fx="max")

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self.wall_seconds = time.perf_counter() - self._wall_start
        checkpoint["framecast_train"] = {"seconds": self.train_seconds, "wall_seconds": self.wall_seconds,
                                         "device": device_name(self.device),
                                         "devices": self.trainer.world_size, "prior": self.prior,
                                         "precision": self.precision}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        stats = checkpoint.get("framecast_train", {})
        self.train_seconds = float(stats.get("seconds", 0.0))
        self.wall_seconds = float(stats.get("wall_seconds", self.train_seconds))
        self.prior = stats.get("prior", self.prior)

    def on_train_start(self) -> None:
        self._wall_start = time.perf_counter() - self.wall_seconds  # a resumed run's clock goes on
        self._first_step = self.global_step
        self._resume_cycle()
        # Also here: resuming from a mid-epoch checkpoint (Ctrl-C, time budget) skips on_train_epoch_start.
        self.on_train_epoch_start()

    def on_train_epoch_start(self) -> None:
        stream = getattr(self.trainer.datamodule, "stream", None)
        if stream is not None:  # the data position is the global step, so a resumed run sees the same data
            stream.start_step = self.global_step


    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if (self.global_step - self._first_step) % REFIT_EVERY == 0:  # the same step on every rank
            self._fit_cycle_to_budget()

    def _budget(self) -> BudgetTimer | None:
        return next((c for c in self.trainer.callbacks if isinstance(c, BudgetTimer)), None)

    def _resume_cycle(self) -> None:
        """A one-cycle run that goes on: its cycle was fitted to the last invocation's budget, if any. Without a
        budget now, the rest of the cycle runs to its planned end again; a cycle that ended stays ended."""
        schedule = self.lr_schedulers()
        if not isinstance(schedule, FittedOneCycleLR) or self.global_step == 0:
            return
        if schedule.cycle_step(self.global_step) >= schedule.total_steps - 1:
            if self.trainer.is_global_zero:
                note("this run's one-cycle schedule has ended, so it goes on at its minimum learning rate; "
                     "for another cycle, warm-start a new run with --init RUN/best.ckpt")
        elif self._budget() is None:
            schedule.refit(schedule.total_steps - 1)

    def _fit_cycle_to_budget(self) -> None:
        """With --max-minutes, make a one-cycle schedule end when the budget does, at the speed measured so far
        in this invocation (validation included); every REFIT_EVERY steps, following the machine's load."""
        timer, schedule = self._budget(), self.lr_schedulers()
        done = self.global_step - self._first_step
        if timer is None or not isinstance(schedule, FittedOneCycleLR) or done < 1:
            return
        end = self.global_step + int(timer.time_remaining() * done / max(timer.time_training(), 1e-9))
        schedule.refit(self.trainer.strategy.broadcast(end))  # rank 0's clock: all ranks keep the same rates

    def configure_optimizers(self):
        t = self.config.train
        opt = torch.optim.Adam(self.parameters(), lr=t.lr, weight_decay=t.weight_decay)
        if t.schedule == "onecycle":
            sched = FittedOneCycleLR(opt, max_lr=t.lr, pct_start=0.1,
                                     total_steps=self.trainer.estimated_stepping_batches)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=t.plateau_factor, patience=t.plateau_patience)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "monitor": MONITOR, "interval": "epoch"}}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({os.cpu_count()} cores)" if device.type == "cpu" else device.type
