"""Inference on arrays: a model's rollout with numpy in and numpy out, after a check that it fits in memory."""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from ..config import DataConfig
from ..data.dataset import to_tensor
from ..data.files import validate_sequences
from ..errors import UserError, whole_number
from ..model.predictor import Predictor
from .engine import check_engine
from .engine import choose as choose_engine
from .engine import rollout as onnx_rollout
from .precision import DTYPES, choose
from .progress import progress_bar
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


LAYOUTS_TEXT = ("[T, H, W(, C)], [B, T, H, W(, C)], or [B, T, C, H, W] (the layout of framecast.nn and of the "
                "exported graphs)")


def predict_array(model: Predictor, frames, horizon: int = DataConfig().horizon,
                  progress: bool = False, precision: str = "auto", engine: str = "torch", rollouts: int | None = 1):
    """Predict `horizon` frames after `frames`: numpy or torch, `[T, H, W(, C)]`, `[B, T, H, W(, C)]` or
    `[B, T, C, H, W]` (uint8 or [0, 1] float); returns float32 predictions in [0, 1], `horizon` frames long, in the
    layout and kind (numpy or torch) given. `progress`: a progress bar with an estimate on stderr for a rollout
    that runs longer than PROGRESS_AFTER_S. `precision`: "auto" (the faster one on this machine, see
    precision.py), "fp32", "bf16" or "fp16". `engine`: "torch", "onnx" (ONNX Runtime, float32, on the CPU) or
    "auto" (ONNX Runtime where it was measured faster for a job of `rollouts` such calls, None: as many as come;
    see engine.py)."""
    horizon = whole_number("horizon", horizon)
    if precision not in ("auto", *DTYPES):
        raise UserError(f"precision should be one of auto, {', '.join(DTYPES)}, but got {precision!r}")
    check_engine(engine)
    if engine == "onnx" and precision not in ("auto", "fp32"):
        raise UserError(f"engine 'onnx' runs in float32, but precision {precision!r} was asked for")
    as_torch = isinstance(frames, torch.Tensor)
    try:
        frames = frames.detach().cpu().numpy() if as_torch else np.asarray(frames)
    except (ValueError, TypeError) as err:  # e.g. a ragged list
        raise UserError(f"frames are not one array ({err}); expected {LAYOUTS_TEXT}") from None
    if frames.ndim not in (3, 4, 5):
        raise UserError(f"frames have shape {tuple(frames.shape)}; expected {LAYOUTS_TEXT}")
    # [B, T, C, H, W]: channels before the frame's height and width (torch's layout)
    channels_first = frames.ndim == 5 and frames.shape[2] in (1, 3) and frames.shape[-1] not in (1, 3)
    if channels_first:
        frames = np.moveaxis(frames, 2, -1)
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
    model.eval()
    dtype = choose("infer", device, cfg, len(x), precision).dtype
    # ONNX Runtime runs float32: where a reduced precision was measured faster than float32, PyTorch keeps it.
    ran = choose_engine(model, x.shape, horizon, "torch" if engine == "auto" and dtype is not None else engine,
                        rollouts=rollouts)
    if ran.engine == "onnx":
        with torch.no_grad(), _rollout_bar(model, x.shape[1] + horizon - 1, progress, hook=False) as tick:
            pred = onnx_rollout(ran.session, model, to_tensor(x), horizon, tick)
    else:
        with (torch.no_grad(), autocast(device, dtype), inference_layout(model, device, dtype),
              _rollout_bar(model, x.shape[1] + horizon - 1, progress)):
            pred = model(to_tensor(x).to(device), horizon).float()
    if channels_first:
        return pred.cpu() if as_torch else pred.cpu().numpy()  # (B, horizon, C, H, W)
    out = pred.permute(0, 1, 3, 4, 2).cpu().numpy()  # (B, horizon, H, W, C)
    out = out if channel_axis else out[..., 0]
    out = out if batched else out[0]
    return torch.from_numpy(out) if as_torch else out


@contextlib.contextmanager
def _rollout_bar(model: Predictor, steps: int, show: bool, hook: bool = True):
    """A progress bar over the `steps` frames of a rollout; yields its `tick()`, which moves it one frame. With
    `hook`, the model's output layer, which runs once per frame, ticks it (a forward hook: the rollout loop itself
    stays in the model)."""
    if not show:
        yield lambda: None
        return
    with progress_bar(total=steps, desc="predict", unit="frame", delay=PROGRESS_AFTER_S) as bar:
        def tick(*_) -> None:  # None: a forward hook that returns something replaces the layer's output
            bar.update()

        handle = model.head.register_forward_hook(tick) if hook else None
        try:
            yield tick
        finally:
            if handle is not None:
                handle.remove()
