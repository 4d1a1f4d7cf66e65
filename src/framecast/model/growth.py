"""Growing a trained model wider without changing what it predicts (Net2WiderNet's idea, Chen et al. 2016).

A wider model (`--init SMALL --set hidden=96,96,96`) gets the small model's weights for its first units.
The new units get fresh incoming weights, but their weights into the old units and into the head are
zero: the grown model predicts exactly what the small one did, and training then puts the new units to use.
The gradient on those zero weights is the new units' activity, which is not zero; the new units' own
incoming weights learn from the step after, once their outgoing weights have moved off zero. Adam moves
every weight by about the learning rate in its first steps, so a warm-up (`schedule=onecycle`) keeps the
start gentle.
"""

from __future__ import annotations

import dataclasses

import torch

from ..config import ModelConfig
from .predictor import Predictor


def growth_problem(small: ModelConfig, wide: ModelConfig) -> str | None:
    """Why `small` cannot grow into `wide`, or None when it can (as wide or wider layers, all else equal)."""
    if len(wide.hidden) != len(small.hidden):
        return f"a model grows wider, not deeper: keep {len(small.hidden)} layers"
    if dataclasses.replace(small, hidden=wide.hidden) != wide:
        return "only hidden can differ"
    if any(w < s for w, s in zip(wide.hidden, small.hidden, strict=True)):
        return "a model grows wider, not narrower: give each layer at least as many channels as before"
    if small.layer_norm and wide.hidden != small.hidden:  # it normalises over all of a cell's channels
        return "layer_norm normalises over all of a layer's channels, so new ones would change the old ones"
    return None


def _gate_rows(old: int, new: int) -> torch.Tensor:
    """Rows of a wide gate convolution that hold the old units: the first `old` of each of its 4 gate blocks."""
    return torch.cat([gate * new + torch.arange(old) for gate in range(4)])


def _embed(wide: torch.Tensor, old: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> None:
    """Put `old` at (`rows`, `cols`) of `wide` and zero the rest of those rows: new inputs get no say there."""
    wide[rows] = 0.0
    wide[rows[:, None], cols] = old


@torch.no_grad()
def grow(small: Predictor, wide: Predictor) -> None:
    """Write `small`'s weights into `wide` (freshly initialised, same config but wider `hidden`), in place."""
    problem = growth_problem(small.config, wide.config)
    if problem is not None:
        raise ValueError(problem)
    inputs = small.rnn.cells[0].in_channels  # the patched frame, and a flow model's field: the same in both
    widths_old = (inputs, *small.config.hidden)
    widths_new = (inputs, *wide.config.hidden)
    for i, (cell_old, cell_new) in enumerate(zip(small.rnn.cells, wide.rnn.cells, strict=True)):
        x_old, x_new, h_old, h_new = widths_old[i], widths_new[i], widths_old[i + 1], widths_new[i + 1]
        rows = _gate_rows(h_old, h_new)
        cols = torch.cat([torch.arange(x_old), x_new + torch.arange(h_old)])  # the conv reads [x, h]
        _embed(cell_new.gates.weight, cell_old.gates.weight, rows, cols)
        cell_new.gates.bias[rows] = cell_old.gates.bias  # new units keep the fresh biases (forget gate 1)
        if cell_old.peephole is not None:
            cell_new.peephole.zero_()
            cell_new.peephole[:, :h_old] = cell_old.peephole
    for norm_old, norm_new in zip(small.rnn.norms, wide.rnn.norms, strict=True):
        if isinstance(norm_old, torch.nn.BatchNorm2d):  # per channel: new channels keep the fresh values
            h_old = norm_old.num_features
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(norm_new, name)[:h_old] = getattr(norm_old, name)
            norm_new.num_batches_tracked.copy_(norm_old.num_batches_tracked)
    h_old, h_new = small.config.hidden[-1], wide.config.hidden[-1]
    # The head reads the last head_time outputs side by side: the old units' columns in each block.
    cols = torch.cat([step * h_new + torch.arange(h_old) for step in range(small.config.head_time)])
    wide.head.weight.zero_()
    wide.head.weight[:, cols] = small.head.weight
    wide.head.bias.copy_(small.head.bias)
