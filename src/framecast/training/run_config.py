"""The config of a training run: from a preset, a file and overrides, or, on --resume, the checkpoint's with
only what a resume may change; fitted to a user's footage, and checked against --init weights."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..config import FIELDS, MIN_FRAME_SIZE, Config, ModelConfig, apply_overrides, build_config
from ..data.media import Footage
from ..data.windows import split_need
from ..errors import UserError, plural
from ..model.checkpoint import read_checkpoint, stored_config
from ..model.growth import growth_problem

# What may change when a run is resumed: how long and where it runs. Everything else (model, data, optimiser,
# schedule) is restored from the checkpoint, so a new value there would be silently ignored: refuse it.
RESUMABLE_KEYS = ("epochs", "max_minutes", "checkpoint_minutes", "devices", "num_nodes", "threads", "accelerator",
                  "precision", "val_minutes")


def resolve_config(out: Path, preset: str | None, config_file: str | None, overrides: dict, resume: bool,
                   init_model: ModelConfig | None = None) -> Config:
    """The run's config: from preset/file/overrides, or, on --resume, from the checkpoint plus overrides.

    With `init_model` (the architecture of --init weights), the model section is that one: the weights fix it.
    """
    if resume:
        return _resumed_config(out / "last.ckpt", preset, config_file, overrides)
    config = build_config(preset, config_file, overrides, model=init_model)
    if init_model is not None:
        _check_init_model(config.model, init_model)
    return config


def _resumed_config(last: Path, preset: str | None, config_file: str | None, overrides: dict) -> Config:
    """The config stored in checkpoint `last`, with the overrides that a resume may change."""
    ckpt = read_checkpoint(last)
    if "wall_seconds" not in ckpt.get("framecast_train", {}):
        # Written before checkpoints, early stopping and the plateau schedule followed val_mse: their saved
        # state compares BCE losses, so a resume would halve the learning rate every few epochs.
        raise UserError(f"{last} was written by an older framecast and cannot be resumed; "
                        f"continue its weights with --init {last} --out NEW_RUN")
    stored = stored_config(ckpt["hyper_parameters"]["framecast"]["config"], last)
    # A time budget belongs to one invocation: a resume without --max-minutes runs without one.
    stored = dataclasses.replace(stored, train=dataclasses.replace(stored.train, max_minutes=None))
    if preset is not None and preset != stored.preset:
        raise UserError(f"{last} was trained with preset {stored.preset!r}, not {preset!r}; "
                        f"resume without --preset or train into a new --out")
    if config_file is not None:
        raise UserError(f"--config cannot be used with --resume: the run's config is in {last}")
    config = apply_overrides(stored, overrides)
    changed = sorted(key for key, (section, _) in FIELDS.items() if key not in RESUMABLE_KEYS
                     and getattr(getattr(config, section), key) != getattr(getattr(stored, section), key))
    if changed:
        raise UserError(f"{', '.join(changed)} cannot change on --resume (the model keys cannot, and the rest "
                        f"is restored from the checkpoint); only {', '.join(RESUMABLE_KEYS)} can")
    length = ("epochs", "devices", "num_nodes")
    if config.train.schedule == "onecycle" and any(getattr(config.train, k) != getattr(stored.train, k)
                                                   for k in length):
        raise UserError("a one-cycle schedule cannot change its length on --resume; keep --epochs, --devices "
                        "and num_nodes as they were")
    return config


DEFAULT_CROP = 64  # training crops of larger footage: the frame size Moving MNIST trains at, cheap on a CPU


def fit_to_footage(config: Config, footage: Footage) -> Config:
    """`config` fitted to a user's footage: its channels, the training frame size (a square crop of its frames,
    whole frames where they are that small), the window length (context + horizon, at most the longest
    recording), and its output (`motion_keys`) unless the user chose."""
    name = config.data.data
    h, w, c = footage.frame_shape
    p, d = config.model.patch, config.data
    if min(h, w) < MIN_FRAME_SIZE:
        raise UserError(f"{name!r} has {w}x{h} frames; framecast needs frames of at least "
                        f"{MIN_FRAME_SIZE}x{MIN_FRAME_SIZE} (SSIM's window)")
    if d.crop is not None and d.crop > min(h, w):
        raise UserError(f"crop={d.crop} is larger than {name!r}'s {w}x{h} frames; choose a crop <= {min(h, w)}")
    crop = d.crop or min(DEFAULT_CROP, h, w)
    if crop % p:
        if d.crop is not None or crop < p:
            raise UserError(f"the model's patch={p} does not divide the training frame size {crop}; pass "
                            f"--set crop=N with N a multiple of {p}, or --set patch=N dividing {crop}")
        crop -= crop % p  # the default crop: the largest multiple of the patch that fits
    longest = max(len(r) for r in footage.recordings)
    frames = min(longest, d.frames)
    if footage.kind != "sequences" and len(footage.recordings) == 1:  # one recording, split in time
        frames = max((n for n in range(d.context + 1, frames + 1) if split_need(n) <= longest), default=0)
        if not frames:
            raise UserError(f"{name!r} has {plural(longest, 'frame')}; training on one recording needs at least "
                            f"{split_need(d.context + 1)} (a window of context + 1 = {d.context + 1} frames to "
                            "train on, and 1.5 more held out to validate on); use a longer clip or a smaller "
                            "--set context=N")
    elif longest < d.context + 1:
        raise UserError(f"{name!r} has {plural(longest, 'frame')} per recording; need at least context + 1 = "
                        f"{d.context + 1} (a time-first file needs --set layout=tnhw)")
    fitted = {"frame_size": crop, "channels": c, "frames": frames,
              **motion_keys(config.model, footage=footage.kind != "sequences")}
    if footage.kind != "sequences" and (d.resize is None or tuple(d.resize) == (0,)):
        fitted["resize"] = (min(h, w),)  # the size read, recorded: evaluate and predict read other footage so
    return apply_overrides(config, fitted)


def motion_keys(model: ModelConfig, footage: bool) -> dict[str, bool]:
    """The output keys a user left undecided (None), decided: for footage a residual model that warps from the
    classical optical flow (it measured far better than one that only adds a change on clips that move,
    docs/own-footage.md), for Moving MNIST a direct model; and never a warp the user's choices rule out."""
    residual = model.residual if model.residual is not None else footage or bool(model.warp or model.flow)
    warp = model.warp if model.warp is not None else (residual and (footage or bool(model.flow)))
    flow = model.flow if model.flow is not None else (warp and footage)
    return {"residual": residual, "warp": warp, "flow": flow}


def _check_init_model(wanted: ModelConfig, init_model: ModelConfig) -> None:
    """Refuse a model (--init's, with the user's model keys on top) that differs from the --init weights' in
    anything but a wider `hidden`: the weights decide the model, and grow into a wider one (model/growth.py)."""
    for field in dataclasses.fields(ModelConfig):
        mine, theirs = getattr(wanted, field.name), getattr(init_model, field.name)
        if field.name != "hidden" and mine != theirs:
            raise UserError(f"--init weights have {field.name}={theirs!r}, but the run sets {field.name}={mine!r}; "
                            f"drop that setting (the weights decide the model) or init from other weights")
    problem = growth_problem(init_model, wanted)
    if problem is not None:
        raise UserError(f"--init weights have hidden={init_model.hidden!r} and cannot grow into "
                        f"hidden={wanted.hidden!r} ({problem})")
