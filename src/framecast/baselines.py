"""The baselines a model is judged against: empty frames (`zeros`), the last context frame repeated
(`copy_last`), and a classical motion extrapolation (`shift`): the last frame moved on at the velocity that phase
correlation measures between the context frames. A model that does not beat what one line of signal processing
does has little to offer.

Tensors are `[B, T, C, H, W]` float in [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BASELINES = ("zeros", "copy_last", "shift")
SHIFT_PAIRS = 4  # consecutive context pairs whose measured shifts are averaged into one velocity


def baseline(name: str, context: torch.Tensor, horizon: int) -> torch.Tensor:
    """The prediction `[B, horizon, C, H, W]` of baseline `name` after `context` `[B, T, C, H, W]`."""
    last = context[:, -1:]
    if name == "zeros":
        return torch.zeros_like(last).expand(-1, horizon, -1, -1, -1)
    if name == "copy_last":
        return last.expand(-1, horizon, -1, -1, -1)
    if name == "shift":
        return shift_extrapolation(context, horizon)
    raise ValueError(f"baseline should be one of {BASELINES}, but got {name!r}")


def phase_shift(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The global translation `[B, 2]` (dy, dx, in pixels) that moves frames `a` onto frames `b` (`[B, H, W]`),
    by phase correlation with a Hann window and a parabolic sub-pixel peak."""
    _, h, w = a.shape
    window = torch.outer(torch.hann_window(h, periodic=False, dtype=a.dtype, device=a.device),
                         torch.hann_window(w, periodic=False, dtype=a.dtype, device=a.device))
    fa = torch.fft.rfft2((a - a.mean(dim=(1, 2), keepdim=True)) * window)
    fb = torch.fft.rfft2((b - b.mean(dim=(1, 2), keepdim=True)) * window)
    cross = fb * fa.conj()
    surface = torch.fft.irfft2(cross / (cross.abs() + 1e-9), s=(h, w))  # (B, H, W): a peak at the shift
    flat = surface.flatten(1).argmax(dim=1)
    iy, ix = flat // w, flat % w
    rows = torch.arange(len(a), device=a.device)

    def refine(before, peak, after):  # the vertex of the parabola through three samples
        denom = before - 2 * peak + after
        return torch.where(denom.abs() > 1e-9, 0.5 * (before - after) / denom, torch.zeros_like(denom)).clamp(-1, 1)

    peak = surface[rows, iy, ix]
    dy = iy + refine(surface[rows, (iy - 1) % h, ix], peak, surface[rows, (iy + 1) % h, ix])
    dx = ix + refine(surface[rows, iy, (ix - 1) % w], peak, surface[rows, iy, (ix + 1) % w])
    dy = torch.where(dy > h / 2, dy - h, dy)  # circular shifts -> signed ones
    dx = torch.where(dx > w / 2, dx - w, dx)
    return torch.stack([dy, dx], dim=1)


def shift_extrapolation(context: torch.Tensor, horizon: int) -> torch.Tensor:
    """The last context frame moved on, frame after frame, at the mean velocity phase correlation measures over
    the last SHIFT_PAIRS pairs of context frames; edges repeat the border. `[B, horizon, C, H, W]`."""
    b, t, c, h, w = context.shape
    if t < 2:
        return context[:, -1:].expand(-1, horizon, -1, -1, -1)
    grey = context.float().mean(dim=2)                             # (B, T, H, W)
    pairs = min(SHIFT_PAIRS, t - 1)
    shifts = [phase_shift(grey[:, i - 1], grey[:, i]) for i in range(t - pairs, t)]
    velocity = torch.stack(shifts).mean(dim=0)                     # (B, 2): pixels per frame
    steps = torch.arange(1, horizon + 1, device=context.device, dtype=velocity.dtype)
    moved = velocity[:, None, :] * steps[None, :, None]            # (B, horizon, 2)
    # grid_sample reads the source at each output pixel: output(y, x) = last(y - dy, x - dx), in [-1, 1] units.
    ys = torch.linspace(-1, 1, h, device=context.device)
    xs = torch.linspace(-1, 1, w, device=context.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    oy = moved[..., 0, None, None] * 2 / max(h - 1, 1)
    ox = moved[..., 1, None, None] * 2 / max(w - 1, 1)
    grid = torch.stack([gx - ox, gy - oy], dim=-1)                 # (B, horizon, H, W, 2) as (x, y)
    last = context[:, -1].float()[:, None].expand(-1, horizon, -1, -1, -1).flatten(0, 1)
    out = F.grid_sample(last, grid.flatten(0, 1), mode="bilinear", padding_mode="border", align_corners=True)
    return out.unflatten(0, (b, horizon)).clamp(0, 1).to(context.dtype)
