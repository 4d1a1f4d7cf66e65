"""Training with Lightning: the LightningModule (loss, scheduled sampling, optimiser), the data module, and
`train()`, which the `framecast train` command calls (its config: run_config.py; its callbacks: callbacks.py).

Lightning does the loop's plumbing (devices and DDP, bf16 autocast, gradient clipping, checkpoints,
early stopping, the time budget, the progress bar, CSV logs); framecast adds what is specific to frame
prediction: the next-frame objective with scheduled sampling, the on-the-fly data stream, atomic
checkpoints read without pickle, and resumable logs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import time
import warnings
from datetime import timedelta
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.utilities.exceptions import MisconfigurationException, SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from torch.utils.data import DataLoader, Dataset

from . import metrics
from .api import load
from .atomic import atomic_write_text, ensure_writable_dir
from .callbacks import (
    BudgetTimer,
    ProgressLines,
    RunLogger,
    SaveOnInterrupt,
    ValidationClock,
    WeightEMA,
    drop_rows_after,
)
from .checkpoint import checkpoint_meta, read_checkpoint, training_summary
from .checkpoint_io import AtomicCheckpointIO
from .config import Config, ModelConfig, apply_overrides, config_from_dict
from .data.cuts import footage_cuts
from .data.dataset import MovingMNISTStream
from .data.digits import digit_pool
from .data.media import Footage, config_reading, read_footage
from .data.moving_mnist import generate
from .data.windows import WindowSet, WindowStream, split_in_time, windows_in
from .errors import Interrupted, UserError, note
from .growth import grow
from .library_log import LOG_NAME, library_log
from .memory import fitting_batch
from .metrics import frame_loss
from .model import Predictor, count_parameters
from .precision import Choice, choose
from .preflight import run_folder
from .run_config import fit_to_footage, motion_keys, resolve_config
from .schedule import FittedOneCycleLR
from .verdict import judge, verdict_lines

# The best checkpoint, early stopping and the plateau schedule follow the validation MSE of free rollouts,
# the metric users evaluate, not the training loss: under BCE, a sharper rollout can score a worse val_loss
# and a better MSE (seen in the time-to-quality runs).
MONITOR = "val_mse"


REFIT_EVERY = 20  # steps between re-fits of a one-cycle schedule to the time budget
LEAST_VALIDATION_WINDOWS = 10  # footage validates on at least this many windows, where its held-out part has them


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
                                         "device": _device_name(self.device),
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


class StreamLoader(DataLoader):
    """The loader of the endless stream, resumable mid-epoch: Lightning saves its `state_dict` in checkpoints and
    hands it back on --resume (a loader without one draws Lightning's "not resumable" warning). Its position is
    the step of the next batch, as the stream's batch `i` is a pure function of (seed, i, rank)."""

    def __init__(self, stream: MovingMNISTStream, position) -> None:
        super().__init__(stream, batch_size=None)  # the stream yields whole batches
        self.position = position  # () -> the trainer's global step: one batch per optimiser step

    def state_dict(self) -> dict:
        return {"step": int(self.position())}

    def load_state_dict(self, state: dict) -> None:
        self.dataset.start_step = int(state["step"])


class FramecastData(L.LightningDataModule):
    """Generated Moving MNIST (train: endless stream; val: fixed set from unseen digits), or a user's footage
    (train: random windows, crops and flips of the first part of each recording; val: fixed windows of whole
    frames from the held-out last part, or from held-out sequences)."""

    def __init__(self, config: Config, footage: Footage | None = None) -> None:
        """`footage`: the already read `config.data.data`, if there is one."""
        super().__init__()
        self.config, self.footage = config, footage
        self.stream: MovingMNISTStream | WindowStream | None = None
        self.val_set: Dataset | None = None
        self.split = ""  # how a user's footage was split, in words

    def setup(self, stage: str | None = None) -> None:
        if self.val_set is not None:  # train() sets up early, so that bad data fails before Lightning starts
            return
        d, t, m = self.config.data, self.config.train, self.config.model
        if d.data is not None:
            footage = self.footage or read_footage(d.data, config_reading(d), d.layout)
            train, val, self.split = split_in_time(footage.recordings, d.frames, d.val_fraction, t.seed,
                                                   cuts=footage_cuts(footage))  # no window straddles a cut
            self.stream = WindowStream(footage.recordings, train, window=d.frames, batch_size=t.batch_size,
                                       crop=m.frame_size, flip=d.flip, seed=t.seed)
            # Validation scores whole frames: as many windows as cost what val_sequences crops would, and at least
            # enough for the verdict to tell the model from a baseline where the clip has them.
            h, w, _ = footage.frame_shape
            most = max(LEAST_VALIDATION_WINDOWS, d.val_sequences * m.frame_size**2 // (h * w))
            self.val_set = WindowSet(footage.recordings, windows_in(val, d.frames, 1, most), d.frames)
            return
        size = m.frame_size
        kwargs = dict(frames=d.frames, num_digits=d.num_digits, size=size, speed=d.speed, dynamics=d.dynamics)
        self.stream = MovingMNISTStream(digit_pool("train", d.digits), batch_size=t.batch_size,
                                        seed=t.seed, **kwargs)
        val = generate(digit_pool("val", d.digits), d.val_sequences, seed=t.seed + 1, **kwargs)[..., None]
        self.val_set = WindowSet(val, [(i, 0) for i in range(len(val))], d.frames)

    def train_dataloader(self) -> DataLoader:
        return StreamLoader(self.stream, position=lambda: self.trainer.global_step)

    def val_dataloader(self) -> DataLoader:
        d, m = self.config.data, self.config.model
        batch = fitting_batch(max(self.config.train.batch_size, 16), m, d.frames, *self.val_set.frame_size, "validate")
        return DataLoader(self.val_set, batch_size=batch)


def validation_seconds(config: Config) -> float | None:
    """Most seconds of training between validations: on footage, `val_minutes`, or a ninth of the time budget
    (from 15 s to 5 minutes; 5 minutes without one); None for Moving MNIST (every steps_per_epoch steps)."""
    t = config.train
    if t.val_minutes is not None:
        return 60 * t.val_minutes
    if config.data.data is None:
        return None
    return 60 * (5.0 if t.max_minutes is None else min(5.0, max(0.25, t.max_minutes / 9)))


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({os.cpu_count()} cores)" if device.type == "cpu" else device.type


def training_device(accelerator: str) -> torch.device:
    """The kind of device Lightning trains on for `accelerator`."""
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    if accelerator in ("auto", "mps") and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def training_precision(config: Config) -> Choice:
    """The precision a run trains in and why: the config's, or for "auto" the faster one here (precision.py)."""
    t = config.train
    return choose("train", training_device(t.accelerator), config.model, t.batch_size, t.precision)


def _prepare_run(out: Path, preset: str | None, config_file: str | None, overrides: dict, resume: bool,
                 init: str | Path | None, progress: bool,
                 started: float | None = None) -> tuple[FramecastModule, FramecastData, L.Trainer]:
    """Check the run's inputs, resolve its config (written to `out`) and build what `trainer.fit` needs."""
    run_folder(out, resume=resume, init=init)
    source = load(init, device="cpu") if init is not None else None  # Lightning places the weights later
    config = resolve_config(out, preset, config_file, overrides, resume,
                            source.config if source is not None else None)
    footage = None
    if config.data.data is not None:  # a user's footage decides the frame size, channels and length
        footage = read_footage(config.data.data, config_reading(config.data), config.data.layout)  # read once
        config = fit_to_footage(config, footage)
    else:  # Moving MNIST: a direct model unless the user asked for a warp (which corrects as a residual does)
        config = apply_overrides(config, motion_keys(config.model, footage=False))
    t = config.train
    if t.threads > 0:
        torch.set_num_threads(t.threads)
    L.seed_everything(t.seed, workers=True, verbose=False)
    module = FramecastModule(checkpoint_meta(config))
    if init is not None:
        _warm_start(module, source, init)
    data = FramecastData(config, footage)
    data.setup("fit")
    precision = training_precision(config)
    module.precision = precision.to_dict()
    with library_log(out):  # Lightning's lines at its start ("Using bfloat16 Automatic Mixed Precision") too
        trainer = make_trainer(config, out, progress, precision, started)
    # Only now that every check has passed: a refused command leaves the folder as it was.
    if resume:
        drop_rows_after(out / "metrics.csv", read_checkpoint(out / "last.ckpt")["global_step"])
    else:  # a log or best.ckpt without last.ckpt is from a run that died before its first checkpoint
        (out / "metrics.csv").unlink(missing_ok=True)
        (out / "best.ckpt").unlink(missing_ok=True)
    atomic_write_text(out / "config.json", json.dumps(config.to_dict(), indent=2) + "\n")
    return module, data, trainer


def _missing_folders(path: Path) -> list[Path]:
    """`path` and its parents that do not exist yet, deepest first: the folders a run would create."""
    return [folder for folder in (path, *path.parents) if not folder.exists()]


def train(out: str | Path, *, preset: str | None = None, config_file: str | None = None,
          overrides: dict | None = None, resume: bool = False, init: str | Path | None = None,
          progress: bool | None = None, started: float | None = None) -> Path:
    """Train a model into run directory `out`; return the path of the best checkpoint.

    Writes `best.ckpt`, `last.ckpt`, `metrics.csv`, `loss_curve.png` and `config.json` in `out`, and at the end
    `metrics.json`: the verdict of the best model against the baselines on the validation windows.
    `overrides` maps config keys to values, e.g. `{"epochs": 3, "max_minutes": 5}`. `init` starts from the
    weights of a `.safetensors` or `.ckpt` file (a warm start: new optimiser, step 0); the model's
    architecture is then that of the file, and the training settings those of the preset and overrides.
    `progress`: a progress bar, or framecast's lines every few steps; by default a bar on a terminal only (into a
    file, a pipe or a notebook's captured output a bar arrives as a squashed dump). `started`: the
    `time.monotonic()` reading a `max_minutes` budget counts from (the command line's start); by default now.
    """
    started = BudgetTimer.clock() if started is None else started  # time.monotonic(), or a test's clock
    if progress is None:
        progress = sys.stdout.isatty() and sys.stderr.isatty()
    created = _missing_folders(Path(out))
    out = ensure_writable_dir(out, need_mb=200)  # a few checkpoints; fail now, not after hours of training
    try:
        module, data, trainer = _prepare_run(out, preset, config_file, dict(overrides or {}), resume, init,
                                             progress, started)
    except BaseException:  # a mistake, a crash or Ctrl-C before the run started
        if created:  # a log of a run refused in the folder it was about to make
            (out / LOG_NAME).unlink(missing_ok=True)
        for folder in created:  # a run that never started leaves no empty folders behind
            if any(folder.iterdir()):
                break
            folder.rmdir()
        raise
    if trainer.is_global_zero:
        print(_announcement(module, trainer, out, resume, data), flush=True)
    with library_log(out):
        _fit(module, data, trainer, out, resume)
    if trainer.is_global_zero:
        _give_verdict(out, data)
    return out / "best.ckpt"


def _fit(module: FramecastModule, data: FramecastData, trainer: L.Trainer, out: Path, resume: bool) -> None:
    """Run `trainer.fit`, then save last.ckpt (and best.ckpt if no validation ran), the log and the loss curve."""
    try:
        trainer.fit(module, datamodule=data,
                    ckpt_path=str(out / "last.ckpt") if resume else None)
    except (SystemExit, SIGTERMException) as err:  # after Ctrl-C / SIGTERM, once SaveOnInterrupt wrote last.ckpt
        _finish(trainer, out)
        sigterm = isinstance(err, SIGTERMException)  # exits 143 then, as every command does; Ctrl-C 130
        raise Interrupted(f"training {'terminated' if sigterm else 'interrupted'}; resume with: framecast train "
                          f"--out {out} --resume", sigterm=sigterm) from None
    # Also after a --max-minutes stop, so that the run can be resumed.
    trainer.save_checkpoint(out / "last.ckpt", weights_only=False)
    if not trainer.strategy.broadcast((out / "best.ckpt").is_file()):  # no validation ran in the time budget
        if trainer.is_global_zero:
            note("no validation ran within the time budget; best.ckpt holds the last weights")
        trainer.save_checkpoint(out / "best.ckpt", weights_only=False)
    _finish(trainer, out)


def _give_verdict(out: Path, data: FramecastData) -> None:
    """Score the run's best model against the baselines on its validation windows: print it, keep it in
    metrics.json."""
    d, m = data.config.data, data.config.model
    # A residual model from scratch starts as copy-last exactly; one from --init weights (whose training record a
    # warm start keeps in `prior`, with their device) starts as those weights, which the verdict does not score.
    warm = "device" in read_checkpoint(out / "best.ckpt")["framecast_train"].get("prior", {})
    start = None if warm or not m.residual else "flow" if m.flow else "copy_last"
    found = judge(load(out / "best.ckpt"), data.val_set, d.context, d.frames - d.context, out / "metrics.csv",
                  start=start)
    if found["kept_start"]:
        _keep_the_start(out / "best.ckpt", m)
    atomic_write_text(out / "metrics.json", json.dumps({"verdict": found}, indent=2) + "\n")
    print("\n".join(verdict_lines(found)), flush=True)


def _keep_the_start(best: Path, model: ModelConfig) -> None:
    """Make `best` hold the model a residual run starts as (its output layer zero: copy-last exactly, or for a flow
    model the flow baseline)."""
    ckpt = read_checkpoint(best)
    start = Predictor(model).state_dict()
    ckpt["state_dict"] = {**ckpt["state_dict"], **{f"model.{k}": v for k, v in start.items()}}
    AtomicCheckpointIO().save_checkpoint(ckpt, best)


def _announcement(module: FramecastModule, trainer: L.Trainer, out: Path, resume: bool, data: FramecastData) -> str:
    """What a user needs before a run starts, in place of Lightning's inventory: the model, device, precision
    and why, where the run goes, and how to stop and resume it."""
    config = module.config
    devices = trainer.world_size
    where = _device_name(trainer.strategy.root_device) + (f" x {devices} (DDP)" if devices > 1 else "")
    chosen = module.precision  # what precision.choose() decided, and why
    d, m = config.data, config.model
    source = d.data or "Moving MNIST, generated on the fly"
    if d.data is not None:
        h, w, _ = data.footage.frame_shape
        crops = f"{m.frame_size}x{m.frame_size} crops of " if (h, w) != (m.frame_size, m.frame_size) else ""
        source += (f" ({crops}{w}x{h}x{m.channels} frames, windows of {d.frames}; {data.split}; "
                   f"{m.output_text} output)")
    return "\n".join([
        f"{'resuming' if resume else 'training'} preset {config.preset!r}: {count_parameters(module.model):,} "
        f"parameters, on {where}, precision {chosen['precision']} ({chosen['reason']}); data: {source}",
        f"run folder {out}: best.ckpt, last.ckpt, metrics.csv, loss_curve.png, config.json, metrics.json, "
        f"lightning.log",
        f"Ctrl-C or SIGTERM stops it and saves last.ckpt; continue with: framecast train --out {out} --resume",
    ])


def _warm_start(module: FramecastModule, source: Predictor, path: str | Path) -> None:
    """Load the weights of `source` (read from `path`) and carry over how much training they already had."""
    target = module.model.config
    differ = [f.name for f in dataclasses.fields(target)
              if f.name != "hidden" and getattr(source.config, f.name) != getattr(target, f.name)]
    if differ:  # a --data file's frames differ
        settings = ", ".join(f"{k}={getattr(source.config, k)!r} (the run: {getattr(target, k)!r})" for k in differ)
        raise UserError(f"--init {str(path)!r} holds a model for {source.config.frames_text} frames with "
                        f"{settings}; the run's data needs {target.frames_text}")
    if source.config.hidden != target.hidden:  # checked by _check_init_model
        rank_zero_only(note)(f"growing the --init model from hidden={source.config.hidden} to "
                             f"{target.hidden}; the new units start with no say in its predictions")
        grow(source, module.model)
    else:
        module.model.load_state_dict(source.state_dict())
    history = training_summary(path)
    module.prior = {"steps": history.get("steps", 0), "sequences": history.get("sequences", 0),
                    "hours": history.get("hours", 0.0), "device": history.get("device", "unknown")}


# Lightning's lines that tell a framecast user nothing (train() prints the device and precision in words):
# its device inventory and an advert. Its other messages pass.
_CHATTER = ("GPU available: ", "TPU available: ", "HPU available: ", "LOCAL_RANK: ", "`Trainer(limit_train_batches=")


def _no_chatter(record: logging.LogRecord) -> bool:
    """A logging filter: False for Lightning's device inventory and its "try installing litlogger" advert."""
    message = record.getMessage()
    return not message.startswith(_CHATTER) and "litlogger" not in message


def make_trainer(config: Config, out: Path, progress: bool, precision: Choice | None = None,
                 started: float | None = None) -> L.Trainer:
    """Lightning's Trainer for `config`, in `precision` (by default `training_precision(config)`), its time
    budget counted from `started` (a `time.monotonic()` reading; by default now)."""
    t = config.train
    # The run directory is ours: config.json is written first, and --resume reuses it on purpose.
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    # Lightning's own business, not the user's: a torch deprecation inside Lightning, and an advert.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda"):
        logging.getLogger(name).addFilter(_no_chatter)
    precision = precision or training_precision(config)
    strategy = "ddp" if t.devices * t.num_nodes > 1 else "auto"
    every = validation_seconds(config)
    callbacks = [
        ModelCheckpoint(dirpath=out, filename="best", monitor=MONITOR, mode="min", save_top_k=1,
                        save_last=True, enable_version_counter=False),
        # last.ckpt between validations too, on a clock (each write atomic): a kill loses minutes, not an epoch.
        ModelCheckpoint(dirpath=out, filename="last", train_time_interval=timedelta(minutes=t.checkpoint_minutes),
                        save_top_k=1, enable_version_counter=False),
        # A one-cycle run is planned to its last epoch: its validation worsens while the learning rate warms
        # up (notably from --init weights), which would stop it before the annealing that makes it good.
        # strict=False: an epoch cut short by SIGTERM or the time budget has no val_mse, which is no error.
        *([EarlyStopping(monitor=MONITOR, patience=t.early_stop_patience, strict=False)]
          if t.schedule == "plateau" else []),
        LearningRateMonitor(logging_interval="epoch"),
        SaveOnInterrupt(out / "last.ckpt"),
    ] + ([BudgetTimer(t.max_minutes, config.data.val_sequences, t.batch_size, started,
                      reduced=precision.dtype is not None)]
         if t.max_minutes else [])
    callbacks += [ValidationClock(every)] if every else []  # on footage: a short run has a curve too
    callbacks += [] if progress else [ProgressLines()]
    callbacks += [WeightEMA(decay=t.ema)] if t.ema else []
    try:
        return L.Trainer(
            default_root_dir=out, accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes,
            strategy=strategy, precision=precision.lightning, max_epochs=t.epochs,
            limit_train_batches=t.steps_per_epoch, gradient_clip_val=t.grad_clip,
            callbacks=callbacks, logger=RunLogger(out), log_every_n_steps=min(10, t.steps_per_epoch),
            plugins=[AtomicCheckpointIO()], enable_progress_bar=progress, enable_model_summary=False,
            deterministic=False, num_sanity_val_steps=0,
        )
    except (MisconfigurationException, ModuleNotFoundError) as err:  # gpu without a GPU, tpu without torch_xla
        raise UserError(f"cannot train with accelerator={t.accelerator!r} and devices={t.devices} here: "
                        f"{err}") from None


def _finish(trainer: L.Trainer, out: Path) -> None:
    if trainer.is_global_zero:
        from .plots import plot_loss_curve

        trainer.logger.save()
        d = trainer.lightning_module.config.data  # validation reads `context` frames and predicts the rest
        plot_loss_curve(out / "metrics.csv", out / "loss_curve.png", f"{d.context} -> {d.frames - d.context}")
