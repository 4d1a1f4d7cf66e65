"""The tensor layout, and the endless Moving MNIST stream. Every tensor is float in [0, 1], laid out `[T, C, H, W]`
(`[B, T, C, H, W]` batched); windows of a user's footage are in windows.py."""

from __future__ import annotations

import numpy as np
import torch
from einops import rearrange
from torch.utils.data import IterableDataset

from ..config import DataConfig, ModelConfig
from .moving_mnist import generate

DATA_DEFAULTS, MODEL_DEFAULTS = DataConfig(), ModelConfig()  # defaults from their one home


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (0..255) or float ([0, 1]) frames `[..., T, H, W, C]` -> float32 tensor `[..., T, C, H, W]` in [0, 1]."""
    if frames.dtype == np.uint8:  # a copy either way: memory-mapped input is read-only
        tensor = torch.from_numpy(np.array(frames)).float().div_(255)
    else:  # float16/32/64 of either byte order -> native float32
        tensor = torch.from_numpy(np.array(frames, dtype=np.float32))
    return rearrange(tensor, "... t h w c -> ... t c h w").contiguous()


class MovingMNISTStream(IterableDataset):
    """Endless Moving MNIST training batches, float `[B, T, 1, H, W]`, generated on the fly.

    Batch number `i` is a pure function of `(seed, i, rank)`, so a run resumed at step `i` sees the
    same data it would have seen without the interruption. The training module sets `start_step` to
    the trainer's global step at the start of every epoch; each DDP rank draws its own sequences.
    """

    def __init__(self, digits: np.ndarray, *, batch_size: int, frames: int = DATA_DEFAULTS.frames,
                 num_digits: int = DATA_DEFAULTS.num_digits, size: int = MODEL_DEFAULTS.frame_size,
                 speed: float = DATA_DEFAULTS.speed, dynamics: str = DATA_DEFAULTS.dynamics, seed: int = 0) -> None:
        self.digits, self.batch_size, self.seed = digits, batch_size, seed
        self.kwargs = dict(frames=frames, num_digits=num_digits, size=size, speed=speed, dynamics=dynamics)
        self.start_step = 0

    def batch(self, step: int, rank: int = 0) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, step, rank])
        frames = generate(self.digits, self.batch_size, seed=rng, **self.kwargs)
        return to_tensor(frames[..., None])

    def __iter__(self):
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        step = self.start_step  # read when iteration starts, i.e. after on_train_epoch_start set it
        while True:
            yield self.batch(step, rank)
            step += 1
