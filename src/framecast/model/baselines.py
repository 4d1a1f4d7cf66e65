"""The baselines a model is judged against: empty frames (`zeros`), the last context frame repeated
(`copy_last`), and a classical motion extrapolation (`shift`): the last frame moved on at the velocity that phase
correlation measures between the context frames. A model that does not beat what one line of signal processing
does has little to offer. `flow` goes a step further for motion that is not one global translation: dense
optical flow (OpenCV's DIS) over the last context frames, frozen, with the last frame advected along it.

Tensors are `[B, T, C, H, W]` float in [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

BASELINES = ("zeros", "copy_last", "shift", "flow")
SHIFT_PAIRS = 4  # consecutive context pairs whose measured shifts are averaged into one velocity
# The flow of each of the last 4 pairs of context frames, averaged: the velocity over the same 4 pairs as `shift`'s.
# On real clips it measured 2x to 5x lower MSE than the last pair's flow (its noise averages out), as low as the
# flow over the 4 frames at once, which fails where that motion is large for DIS (8 px in 64x64 frames); on Moving
# MNIST, whose digits bounce, it costs (docs/metrics.md).
FLOW_SPAN = 4
FLOW_PRESET = "MEDIUM"  # OpenCV's DIS preset: 5% lower MSE than FAST on real clips, for ~2 ms more a window
DIS_LEAST_SIDE = 12  # OpenCV's DIS needs a frame's width or height to be at least this


def baseline(name: str, context: torch.Tensor, horizon: int) -> torch.Tensor:
    """The prediction `[B, horizon, C, H, W]` of baseline `name` after `context` `[B, T, C, H, W]`."""
    last = context[:, -1:]
    if name == "zeros":
        return torch.zeros_like(last).expand(-1, horizon, -1, -1, -1)
    if name == "copy_last":
        return last.expand(-1, horizon, -1, -1, -1)
    if name == "shift":
        return shift_extrapolation(context, horizon)
    if name == "flow":
        return flow_extrapolation(context, horizon)
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


def dis_flow(frame: np.ndarray, before: np.ndarray, preset: str = FLOW_PRESET) -> np.ndarray:
    """DIS optical flow (Kroeger et al., 2016) `[H, W, 2]` float32 (dx, dy) from grey uint8 `frame` `[H, W]` back to
    `before`: pixel x of `frame` came from x + flow(x) in `before`."""
    import cv2  # here, not at the top: importing framecast stays fast

    dis = cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{preset}"))
    h, w = frame.shape
    if max(h, w) < DIS_LEAST_SIDE:  # DIS refuses frames this small: pad them (edges repeated), then crop
        pad = (0, max(0, DIS_LEAST_SIDE - h), 0, max(0, DIS_LEAST_SIDE - w))
        frame, before = (cv2.copyMakeBorder(a, *pad, cv2.BORDER_REPLICATE) for a in (frame, before))
    return dis.calc(frame, before, None)[:h, :w]


def advect(last: np.ndarray, back: np.ndarray, horizon: int) -> np.ndarray:
    """`last` `[H, W, C]` float32 carried on along the frozen field `back` (`dis_flow`'s, `[H, W, 2]`), step by step:
    output_k(x) = output_k-1(x + back(x)), sampled bilinearly (backward semi-Lagrangian advection, as in pysteps);
    edges repeat the border. `[horizon, H, W, C]`."""
    import cv2

    h, w, c = last.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    at_x, at_y = xs + back[..., 0], ys + back[..., 1]  # where each output pixel was one frame before
    # Resampled at every step, as the recursion says (pysteps instead traces k steps back and samples once): the
    # slight blur it adds measured better on real clips, where a frozen field drifts from the true motion.
    out, frame = np.empty((horizon, h, w, c), np.float32), last
    for k in range(horizon):
        frame = cv2.remap(frame, at_x, at_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        frame = out[k] = frame.reshape(h, w, c)  # remap drops a single channel's axis
    return out


def flow_field(context: torch.Tensor, preset: str = FLOW_PRESET) -> torch.Tensor:
    """The motion per frame `[B, 2, H, W]` float32 (dx, dy, in pixels; CPU) at the last of the frames `context`
    `[B, T, C, H, W]` (T >= 2) in [0, 1]: the dense optical flow of each of the last FLOW_SPAN pairs of frames (or
    as many as there are), from the later frame back to the earlier one (`dis_flow` on the grey frames), averaged
    at each pixel: pixel x of the last frame was at about x + field(x) one frame before (about: an object that
    moves leaves its earlier pairs' motion where it was, a faint trail in the field). Not differentiable: a fixed
    input, computed outside the graph."""
    pairs = min(FLOW_SPAN, context.shape[1] - 1)
    frames = context[:, -1 - pairs:].detach().float().cpu().numpy()         # (B, pairs + 1, C, H, W)
    grey = np.rint(frames.mean(axis=2).clip(0, 1) * 255).astype(np.uint8)   # (B, pairs + 1, H, W)
    fields = [np.mean([dis_flow(g[i], g[i - 1], preset) for i in range(1, pairs + 1)], axis=0)
              for g in grey]                                                 # (H, W, 2) each
    return torch.from_numpy(np.stack(fields).transpose(0, 3, 1, 2).copy())


def flow_extrapolation(context: torch.Tensor, horizon: int, preset: str = FLOW_PRESET) -> torch.Tensor:
    """The last context frame advected along the motion per frame `flow_field` measures (DIS on the grey frames,
    `preset` one of OpenCV's ULTRAFAST, FAST, MEDIUM), the field frozen. `[B, horizon, C, H, W]`, on
    the context's device and dtype; computed on the CPU."""
    if context.shape[1] < 2:
        return context[:, -1:].expand(-1, horizon, -1, -1, -1)
    fields = flow_field(context, preset).numpy().transpose(0, 2, 3, 1)  # (B, H, W, 2)
    lasts = context[:, -1].detach().float().cpu().numpy()                       # (B, C, H, W)
    out = [advect(np.ascontiguousarray(last.transpose(1, 2, 0)), back, horizon).transpose(0, 3, 1, 2)
           for last, back in zip(lasts, fields, strict=True)]                    # (horizon, C, H, W) each
    return torch.from_numpy(np.stack(out).clip(0, 1)).to(device=context.device, dtype=context.dtype)
