"""The Moving MNIST generator of Srivastava et al. (2015), vectorised over sequences.

Digits start at a uniform position with a uniform direction, move a constant `speed` of the free range
per frame (0.1 * 36 px = 3.6 px on the 64x64 canvas), bounce off the walls, and combine by `max`.

The default `canonical` dynamics are those of the code that made `mnist_test_seq.npy` (Srivastava et al.'s
`GetRandomTrajectory`, repeated by OpenSTL): every frame first steps, then clips a coordinate that left
[0, 1] back onto the wall and negates that velocity component; positions are scaled by the free range and
truncated. Figures compare with the field's only on these dynamics. `mirror` reflects the overshoot past the
wall instead and rounds: the generator of framecast before version 0.2, kept to reproduce its figures.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..config import DYNAMICS, DataConfig, ModelConfig
from ..errors import UserError

DATA_DEFAULTS, MODEL_DEFAULTS = DataConfig(), ModelConfig()  # defaults from their one home


def canonical_trajectories(rng: np.random.Generator, num: int, frames: int, num_digits: int, free: int,
                           speed: float) -> np.ndarray:
    """Top-left digit positions of the benchmark's dynamics, int `[num, num_digits, frames, 2]` (y, x) in [0, free].

    Positions live in [0, 1] until the end, as in the published loop; the first recorded frame is already one
    step from the random start.
    """
    pos = rng.uniform(0, 1, size=(num, num_digits, 2))                     # (N, D, 2): y, x
    theta = rng.uniform(0, 2 * np.pi, size=(num, num_digits))
    velocity = np.stack([np.sin(theta), np.cos(theta)], axis=-1)           # (N, D, 2)
    recorded = np.empty((num, num_digits, frames, 2))
    for t in range(frames):
        pos = pos + velocity * speed
        hit = (pos <= 0) | (pos >= 1)                                      # at or past a wall: clip, then turn
        pos = np.clip(pos, 0.0, 1.0)
        velocity = np.where(hit, -velocity, velocity)
        recorded[:, :, t] = pos
    return (free * recorded).astype(np.intp)                               # truncation, as astype(int32)


def mirror_trajectories(rng: np.random.Generator, num: int, frames: int, num_digits: int, free: int,
                        speed: float) -> np.ndarray:
    """Top-left digit positions with mirror reflection, int `[num, num_digits, frames, 2]` (y, x) in [0, free].

    Reflection has a closed form: unfold the walls (position mod 2*free) and fold back the second half,
    so no per-frame loop is needed.
    """
    start = rng.uniform(0, free, size=(num, num_digits, 1, 2))
    theta = rng.uniform(0, 2 * np.pi, size=(num, num_digits, 1))
    velocity = np.stack([np.sin(theta), np.cos(theta)], axis=-1) * speed * free  # (num, D, 1, 2)
    unfolded = np.mod(start + velocity * np.arange(frames)[:, None], 2 * free)  # (num, D, T, 2)
    folded = np.where(unfolded > free, 2 * free - unfolded, unfolded)
    return np.rint(folded).astype(np.intp)


def generate(digits: np.ndarray, num: int, *, frames: int = DATA_DEFAULTS.frames,
             num_digits: int = DATA_DEFAULTS.num_digits, size: int = MODEL_DEFAULTS.frame_size,
             speed: float = DATA_DEFAULTS.speed, dynamics: str = DATA_DEFAULTS.dynamics,
             seed: int | np.random.Generator = 0) -> np.ndarray:
    """Generate `num` Moving MNIST sequences, uint8 `[num, frames, size, size]`.

    `digits` is a uint8 pool `[n, d, d]`; each sequence draws `num_digits` digits from it at random.
    `dynamics` is `canonical` (the benchmark's bounce) or `mirror`. The same `seed` gives the same sequences.
    """
    check_generator_args(digits, num, frames, num_digits, size, speed, dynamics)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    d = digits.shape[-1]
    move = canonical_trajectories if dynamics == "canonical" else mirror_trajectories
    pos = move(rng, num, frames, num_digits, size - d, speed)            # (N, D, T, 2)
    chosen = digits[rng.integers(0, len(digits), size=(num, num_digits))]  # (N, D, d, d)
    canvas = np.zeros((num, frames, size, size), dtype=np.uint8)
    # A writable view of every d x d window of every frame: (N, T, size-d+1, size-d+1, d, d).
    s = canvas.strides
    windows = as_strided(canvas, shape=(num, frames, size - d + 1, size - d + 1, d, d),
                         strides=(s[0], s[1], s[2], s[3], s[2], s[3]))
    n_idx, t_idx = np.ogrid[:num, :frames]
    for k in range(num_digits):  # one digit at a time, so overlapping digits combine by max
        y, x = pos[:, k, :, 0], pos[:, k, :, 1]                            # (N, T)
        windows[n_idx, t_idx, y, x] = np.maximum(windows[n_idx, t_idx, y, x], chosen[:, k, None])
    return canvas


def check_generator_args(digits: np.ndarray, num: int, frames: int, num_digits: int, size: int,
                         speed: float, dynamics: str = DATA_DEFAULTS.dynamics) -> None:
    """Refuse generator arguments that cannot make sequences, naming the bad value."""
    if dynamics not in DYNAMICS:
        raise UserError(f"dynamics should be one of {', '.join(DYNAMICS)}, but got {dynamics!r}")
    if num < 0:
        raise UserError(f"number of sequences should be >= 0, but got {num}")
    if frames < 1:
        raise UserError(f"frames should be >= 1, but got {frames}")
    if num_digits < 1:
        raise UserError(f"digits per frame should be >= 1, but got {num_digits}")
    if digits.ndim != 3 or digits.shape[1] != digits.shape[2] or len(digits) == 0:
        raise UserError(f"digit pool should be a non-empty [n, d, d] array, but got shape {digits.shape}")
    if size <= digits.shape[-1]:
        raise UserError(f"a {digits.shape[-1]}x{digits.shape[-1]} digit cannot move on a {size}x{size} "
                        f"canvas; size should be > {digits.shape[-1]}")
    if num_digits * digits.shape[-1] ** 2 > size * size:
        raise UserError(f"{num_digits} digits of {digits.shape[-1]}x{digits.shape[-1]} cannot fit on a "
                        f"{size}x{size} canvas; use at most {size * size // digits.shape[-1] ** 2} or a larger canvas")
    if not 0 <= speed <= 1:
        raise UserError(f"speed should be a fraction of the free range in [0, 1], but got {speed}")
