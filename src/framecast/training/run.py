"""A training run: `train()`, which the `framecast train` command calls, and the Lightning Trainer it builds (its
config: run_config.py; its model: module.py; its data: datamodule.py; its callbacks: callbacks.py; its end: the
verdict, verdict.py).

Lightning does the loop's plumbing (devices and DDP, bf16 autocast, gradient clipping, checkpoints,
early stopping, the time budget, the progress bar, CSV logs); framecast adds what is specific to frame
prediction: the next-frame objective with scheduled sampling, the on-the-fly data stream, atomic
checkpoints read without pickle, and resumable logs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import warnings
from datetime import timedelta
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.utilities.exceptions import MisconfigurationException, SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from ..atomic import atomic_write_text, ensure_writable_dir
from ..config import Config, ModelConfig, apply_overrides
from ..data.media import config_reading, read_footage
from ..errors import Interrupted, UserError, note
from ..inference.loading import load
from ..inference.precision import Choice, choose
from ..model.checkpoint import checkpoint_meta, read_checkpoint, training_summary
from ..model.growth import grow
from ..model.predictor import Predictor, count_parameters
from ..preflight import run_folder
from .callbacks import (
    BudgetTimer,
    ProgressLines,
    RunLogger,
    SaveOnInterrupt,
    ValidationClock,
    WeightEMA,
    drop_rows_after,
)
from .checkpoint_io import AtomicCheckpointIO
from .datamodule import FramecastData
from .library_log import LOG_NAME, library_log
from .module import MONITOR, FramecastModule, device_name
from .run_config import fit_to_footage, motion_keys, resolve_config
from .verdict import judge, verdict_lines


def validation_seconds(config: Config) -> float | None:
    """Most seconds of training between validations: on footage, `val_minutes`, or a ninth of the time budget
    (from 15 s to 5 minutes; 5 minutes without one); None for Moving MNIST (every steps_per_epoch steps)."""
    t = config.train
    if t.val_minutes is not None:
        return 60 * t.val_minutes
    if config.data.data is None:
        return None
    return 60 * (5.0 if t.max_minutes is None else min(5.0, max(0.25, t.max_minutes / 9)))


def training_device(accelerator: str) -> torch.device:
    """The kind of device Lightning trains on for `accelerator`."""
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    if accelerator in ("auto", "mps") and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def training_precision(config: Config) -> Choice:
    """The precision a run trains in and why: the config's, or for "auto" the faster one (inference/precision.py)."""
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
    where = device_name(trainer.strategy.root_device) + (f" x {devices} (DDP)" if devices > 1 else "")
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
        from ..plots import plot_loss_curve

        trainer.logger.save()
        d = trainer.lightning_module.config.data  # validation reads `context` frames and predicts the rest
        plot_loss_curve(out / "metrics.csv", out / "loss_curve.png", f"{d.context} -> {d.frames - d.context}")
