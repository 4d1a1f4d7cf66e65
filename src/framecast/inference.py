"""Inference on arrays: a model's rollout with numpy in and numpy out, after a check that it fits in memory."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from tqdm.auto import tqdm

from .config import DataConfig
from .data.dataset import to_tensor
from .data.files import validate_sequences
from .errors import UserError, whole_number
from .model import Predictor
from .precision import DTYPES, choose
from .runtime import autocast, inference_layout, physical_memory

PROGRESS_AFTER_S = 3.0  # a rollout's progress bar appears once it has run this long: short ones stay quiet


def check_memory(shape: tuple[int, ...], horizon: int) -> None:
    """Refuse a rollout of `horizon` frames after context `shape` `[B, T, H, W, C]` that needs more than this
    machine's total memory, before it runs for hours: every step's output is kept, then stacked and squashed
    (three float32 copies). A GPU's own memory is not checked: torch reports running out of it at once."""
    b, t, h, w, c = shape
    need, have = 12 * b * (t + horizon) * h * w * c, physical_memory()
    if have is not None and need > have:
        raise UserError(f"horizon {horizon} needs about {need / 2**30:.1f} GiB of memory for the predicted frames, "
                        f"but this machine has {have / 2**30:.1f} GiB; predict fewer frames")


def predict_array(model: Predictor, frames: np.ndarray, horizon: int = DataConfig().horizon,
                  progress: bool = False, precision: str = "auto") -> np.ndarray:
    """Predict `horizon` frames after `frames` `[T, H, W(, C)]` or `[B, T, H, W(, C)]` (uint8 or [0, 1] float);
    returns float `[..., horizon, H, W(, C)]` in [0, 1], in the layout given. `progress`: a progress bar with an
    estimate on stderr for a rollout that runs longer than PROGRESS_AFTER_S. `precision`: "auto" (the faster
    one on this machine, see precision.py), "fp32", "bf16" or "fp16"."""
    horizon = whole_number("horizon", horizon)
    if precision not in ("auto", *DTYPES):
        raise UserError(f"precision should be one of auto, {', '.join(DTYPES)}, but got {precision!r}")
    try:
        frames = np.asarray(frames)
    except ValueError as err:  # e.g. a ragged list
        raise UserError(f"frames are not one array ({err}); expected [T, H, W(, C)] or [B, T, H, W(, C)]") from None
    if frames.ndim not in (3, 4, 5):
        raise UserError(f"frames have shape {frames.shape}; expected [T, H, W(, C)] or [B, T, H, W(, C)]")
    channel_axis = frames.ndim in (4, 5) and frames.shape[-1] in (1, 3) and frames.shape[-1] != frames.shape[-2]
    batched = frames.ndim == (5 if channel_axis else 4)
    x = frames if channel_axis else frames[..., None]
    x = x if batched else x[None]
    x = validate_sequences(x, "frames")
    cfg = model.config
    if x.shape[4] != cfg.channels or (cfg.peephole and x.shape[2:4] != (cfg.frame_size, cfg.frame_size)):
        takes = cfg.frames_text if cfg.peephole else f"frames of {cfg.channels} channel(s), of any size"
        raise UserError(f"frames are {x.shape[2]}x{x.shape[3]}x{x.shape[4]}, but the model takes {takes}")
    check_memory(x.shape, horizon)
    device = next(model.parameters()).device
    dtype = choose("infer", device, cfg, len(x), precision).dtype
    with (torch.no_grad(), autocast(device, dtype), inference_layout(model, device, dtype),
          _rollout_bar(model, x.shape[1] + horizon - 1, progress)):
        pred = model.eval()(to_tensor(x).to(device), horizon).float()
    out = pred.permute(0, 1, 3, 4, 2).cpu().numpy()  # (B, horizon, H, W, C)
    out = out if channel_axis else out[..., 0]
    return out if batched else out[0]


@contextlib.contextmanager
def _rollout_bar(model: Predictor, steps: int, show: bool):
    """A progress bar over the `steps` frames of a rollout, moved by the model's output layer, which runs once
    per frame (a forward hook: the rollout loop itself stays in the model)."""
    if not show:
        yield
        return
    with tqdm(total=steps, desc="predict", unit="frame", delay=PROGRESS_AFTER_S) as bar:
        def tick(*_) -> None:  # None: a forward hook that returns something replaces the layer's output
            bar.update()

        hook = model.head.register_forward_hook(tick)
        try:
            yield
        finally:
            hook.remove()
