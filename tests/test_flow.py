"""The `flow` baseline: the last frame advected along the dense optical flow (DIS) over the last context frames."""

from __future__ import annotations

import pytest
import torch

from framecast.model.baselines import BASELINES, baseline


def texture(channels: int, height: int, width: int, seed: int) -> torch.Tensor:
    """A smooth random picture `[C, H, W]` in [0, 1]: structure at every place, for the flow to lock on to."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(1, channels, height, width, generator=g)
    return torch.nn.functional.avg_pool2d(noise, 5, 1, 2)[0].sub(0.5).mul(3).add(0.5).clamp(0, 1)


def pan_right(channels: int, frames: int = 20, step: int = 2, size: int = 64) -> torch.Tensor:
    """`[1, frames, C, size, size]`: a window on a wide texture, its content moving `step` px right each frame."""
    scene = texture(channels, size, size + step * frames, seed=channels)
    start = step * frames
    return torch.stack([scene[:, :, start - step * t:start - step * t + size] for t in range(frames)])[None]


def frame_mse(pred: torch.Tensor, truth: torch.Tensor) -> float:
    return ((pred - truth) ** 2).sum(dim=(2, 3, 4)).mean().item()


def test_flow_is_a_baseline():
    assert "flow" in BASELINES


@pytest.mark.parametrize("channels", [1, 3])
def test_flow_continues_a_translation_far_better_than_copy_last(channels):
    frames = pan_right(channels)
    ctx, truth = frames[:, :10], frames[:, 10:]
    flow, copy = baseline("flow", ctx, 10), baseline("copy_last", ctx, 10)
    assert frame_mse(flow, truth) < 0.25 * frame_mse(copy, truth)  # the left edge's strip is news to any method
    # Away from that strip (up to 20 px wide by the 10th frame) it is nearly exact; a field that pointed the wrong
    # way would move the picture left and do worse than copy_last.
    inner = (..., slice(None), slice(24, None))
    assert frame_mse(flow[inner], truth[inner]) < 0.01 * frame_mse(copy[inner], truth[inner])


@pytest.mark.parametrize("channels", [1, 3])
def test_flow_on_a_still_clip_is_copy_last(channels):
    still = texture(channels, 48, 56, seed=7)[None, None].expand(2, 6, -1, -1, -1)
    flow, copy = baseline("flow", still, 5), baseline("copy_last", still, 5)
    torch.testing.assert_close(flow, copy, atol=0.01, rtol=0)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_flow_keeps_shape_dtype_and_range(channels, dtype):
    ctx = torch.rand(3, 4, channels, 24, 40, generator=torch.Generator().manual_seed(3), dtype=dtype)
    ctx[:, :, :, :4] = 1.0  # saturated rows: bilinear sampling must not leave [0, 1]
    pred = baseline("flow", ctx, 7)
    assert pred.shape == (3, 7, channels, 24, 40) and pred.dtype == dtype and pred.device == ctx.device
    assert pred.min() >= 0 and pred.max() <= 1 and torch.isfinite(pred).all()
    assert baseline("flow", ctx[:, :1], 2).shape == (3, 2, channels, 24, 40)  # one frame: no motion to measure
    assert baseline("flow", ctx[..., :8, :7], 2).shape == (3, 2, channels, 8, 7)  # smaller than DIS takes


def test_flow_measures_the_motion_over_the_last_four_frames_not_the_last_pair():
    """A pan that moves a pixel every other frame: its last two frames are equal, so one pair sees no motion; over
    the last 4 frames it sees half a pixel a frame."""
    from framecast.model.baselines import FLOW_SPAN, flow_field

    frames = pan_right(1, frames=10, step=1)
    steps = [t // 2 for t in range(10)]  # 0, 0, 1, 1, ... 4, 4: the picture moves on every second frame
    ctx = frames[:, steps]
    field = flow_field(ctx)[:, :, 8:-8, 8:-8]  # the inside, away from the borders that enter the view
    assert FLOW_SPAN == 4 and field.shape[1] == 2
    assert field[:, 0].mean().item() == pytest.approx(-0.5, abs=0.1)  # each pixel came from half a pixel left
    assert field[:, 1].abs().mean().item() < 0.1
