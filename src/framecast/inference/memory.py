"""How much memory a batch of windows may take, and the batch that fits: evaluation, validation, the verdict and
prediction size their batches from the frame size, so that no default command outgrows the machine whatever the
footage, and a window too large for it is refused before anything runs.

The estimate is per window of frames scored at once: the cells' states, gates and convolution buffers at patch
resolution (which dominate), and the window, the model's and the baselines' predictions in float32; metrics are
computed a few frames at a time (metrics.CHUNK_VALUES), so they add a constant. Measured on 456x256 frames with
the default model: about 150 MB a window, grey or colour (benchmarks/memory_per_window.py).
"""

from __future__ import annotations

from ..config import ModelConfig
from ..errors import UserError
from .runtime import physical_memory

GIB = 2**30
BATCH_SHARE = 0.25   # of the memory available when a command starts, for one batch of windows
BATCH_CAP = 2 * GIB  # and at most this: beyond it, batches get no faster on a CPU, only larger
CELL_BYTES = 28      # bytes per cell channel and position while a window rolls out (measured, see above)
FRAME_COPIES = 6     # float32 copies of a window: the frames, the model's and the baselines' predictions


def available_memory() -> int | None:
    """The memory the system can give without swapping (MemAvailable), or its total where it does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return physical_memory()


def batch_budget() -> int:
    """Bytes one batch of windows may take here: a share of the available memory, at most BATCH_CAP."""
    free = available_memory()
    return BATCH_CAP if free is None else max(1, min(BATCH_CAP, int(BATCH_SHARE * free)))


def window_bytes(model: ModelConfig, frames: int, height: int, width: int) -> int:
    """About the memory one window of `frames` frames of `height` x `width` takes while it is scored or predicted
    (`[T, H, W, C]` with the model's channels)."""
    pixels = height * width
    cells = CELL_BYTES * sum(model.hidden) * (pixels // model.patch**2)
    return cells + 4 * FRAME_COPIES * frames * pixels * model.channels


def fitting_batch(requested: int, model: ModelConfig, frames: int, height: int, width: int, what: str) -> int:
    """The largest batch up to `requested` whose windows fit in `batch_budget()`; UserError naming the frame size
    and the fix where one window does not fit. `what`: the job, for the message ("evaluate", "predict")."""
    need, budget = window_bytes(model, frames, height, width), batch_budget()
    if need > budget:
        raise UserError(f"one window of {frames} frames of {width}x{height} needs about {need / GIB:.1f} GiB to "
                        f"{what}, over the {budget / GIB:.1f} GiB framecast gives a batch here (a quarter of the "
                        f"free memory, at most {BATCH_CAP / GIB:.0f} GiB); read smaller frames with --size 256")
    return max(1, min(requested, budget // need))
