"""Growing a trained model wider without changing what it predicts (Net2WiderNet's idea, Chen et al. 2016).

A wider model (`--init SMALL --set hidden=96,96,96`) gets the small model's weights for its first units.
The new units get fresh incoming weights, but their weights into the old units and into the head are
zero: at the first step the grown model predicts exactly what the small one did, and training then puts
the new units to use (the gradient on those zero weights is the new units' activity, which is not zero).
"""

from __future__ import annotations

import dataclasses

import torch

from .config import ModelConfig
from .model import Predictor


def growth_problem(small: ModelConfig, wide: ModelConfig) -> str | None:
    """Why `small` cannot grow into `wide`, or None when it can (wider layers, everything else equal)."""
    if len(wide.hidden) != len(small.hidden):
        return f"a model grows wider, not deeper: keep {len(small.hidden)} layers"
    if any(w < s for w, s in zip(wide.hidden, small.hidden, strict=True)):
        return "a model grows wider, not narrower: each layer needs at least as many channels as before"
    if small.layer_norm:  # it normalises over all of a cell's channels: new ones would change the old ones
        return "a model with layer_norm cannot grow without changing its predictions"
    if dataclasses.replace(small, hidden=wide.hidden) != wide:
        return "only hidden can differ"
    return None


def _gate_rows(old: int, new: int) -> torch.Tensor:
    """Rows of a wide gate convolution that hold the old units: the i, f, g, o blocks each start a block."""
    return torch.cat([gate * new + torch.arange(old) for gate in range(4)])


def _copy_into(wide: torch.Tensor, old: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor | None = None) -> None:
    """Put `old` at `rows` (and `cols`) of `wide`; the rest of those rows becomes zero: no say for new units."""
    if cols is None:
        wide[rows] = old
        return
    wide[rows] = 0.0
    wide[rows[:, None], cols] = old


@torch.no_grad()
def grow(small: Predictor, wide: Predictor) -> None:
    """Write `small`'s weights into `wide` (freshly initialised, same config but wider `hidden`), in place."""
    problem = growth_problem(small.config, wide.config)
    if problem is not None:
        raise ValueError(problem)
    widths_old = (small.patched, *small.config.hidden)
    widths_new = (wide.patched, *wide.config.hidden)
    for i, (cell_old, cell_new) in enumerate(zip(small.rnn.cells, wide.rnn.cells, strict=True)):
        x_old, x_new, h_old, h_new = widths_old[i], widths_new[i], widths_old[i + 1], widths_new[i + 1]
        rows = _gate_rows(h_old, h_new)
        cols = torch.cat([torch.arange(x_old), x_new + torch.arange(h_old)])  # the conv reads [x, h]
        _copy_into(cell_new.gates.weight, cell_old.gates.weight, rows, cols)
        _copy_into(cell_new.gates.bias, cell_old.gates.bias, rows)
        if cell_old.peephole is not None:
            cell_new.peephole[:, :h_old] = cell_old.peephole
            cell_new.peephole[:, h_old:] = 0.0
    for norm_old, norm_new in zip(small.rnn.norms, wide.rnn.norms, strict=True):
        for name, tensor in norm_old.state_dict().items():
            target = norm_new.state_dict()[name]  # the same storage: writes land in the module
            if tensor.ndim:  # per-channel weight, bias and running statistics
                target[:tensor.shape[0]] = tensor
            else:  # num_batches_tracked
                target.copy_(tensor)
    h_old, h_new = small.config.hidden[-1], wide.config.hidden[-1]
    # The head reads the last head_time outputs side by side: the old units' columns in each block.
    cols = torch.cat([step * h_new + torch.arange(h_old) for step in range(small.config.head_time)])
    _copy_into(wide.head.weight, small.head.weight, torch.arange(wide.head.weight.shape[0]), cols)
    wide.head.bias.copy_(small.head.bias)
