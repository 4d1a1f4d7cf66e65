import pytest
import torch

from framecast.config import PRESETS, apply_overrides, build_config
from framecast.model.predictor import Predictor
from framecast.quality.metrics import frame_loss

# Every preset, shrunk to test size (its structure kept: layers, kernels, norms, head).
SMALL = {"frame_size": 16}


def small_model(preset: str, **extra) -> Predictor:
    config = build_config(preset)
    width = {"hidden": tuple(4 for _ in config.model.hidden)}
    patch = {"patch": min(config.model.patch, 2)}
    return Predictor(apply_overrides(config, {**SMALL, **width, **patch, **extra}).model)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_predicts_the_right_shape_in_unit_range(preset):
    model = small_model(preset)
    out = model(torch.rand(2, 5, 1, 16, 16), horizon=7)
    assert out.shape == (2, 7, 1, 16, 16)
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("preset, extra", [(p, {}) for p in PRESETS] + [
    ("default", {"peephole": True}), ("default", {"layer_norm": True}),
    ("default", {"peephole": True, "layer_norm": True, "channels": 3, "data": "colour.npy"}),
    ("default", {"warp": True, "channels": 3, "data": "colour.npy"}),
    ("default", {"warp": True, "flow": True, "channels": 3, "data": "colour.npy"}),
])
def test_every_parameter_gets_a_gradient(preset, extra):
    model = small_model(preset, **extra)
    c = model.config.channels
    frames = torch.rand(2, 8, c, 16, 16)
    teacher = torch.tensor([[True, False, True], [False, True, False]])
    loss = frame_loss(model.rollout(frames, 4, 7, teacher), frames[:, 1:], "bce")
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"no gradient for {name}"
        assert torch.isfinite(p.grad).all(), f"non-finite gradient for {name}"


@pytest.mark.parametrize("preset", ["keras-example", "default"])
def test_output_at_frame_t_does_not_see_later_frames(preset):
    """Causality: prediction k (of frame k+1) must not change when frames after k change."""
    model = small_model(preset).eval()
    frames = torch.rand(1, 8, 1, 16, 16)
    changed = frames.clone()
    changed[:, 5:] = torch.rand(1, 3, 1, 16, 16)
    with torch.no_grad():
        a, b = model.rollout(frames, 8, 7), model.rollout(changed, 8, 7)
    torch.testing.assert_close(a[:, :5], b[:, :5])  # outputs 0..4 read frames 0..4 only
    assert not torch.allclose(a[:, 5:], b[:, 5:])   # and the change does reach later outputs


def test_any_horizon_works_and_prefix_is_stable():
    model = small_model("default").eval()
    ctx = torch.rand(1, 4, 1, 16, 16)
    with torch.no_grad():
        short, long = model(ctx, 3), model(ctx, 25)
    assert long.shape[1] == 25
    torch.testing.assert_close(short, long[:, :3])


def test_overfits_a_tiny_fixed_batch():
    torch.manual_seed(0)
    model = small_model("tiny", hidden=(16, 16))
    frames = torch.zeros(2, 6, 1, 16, 16)
    for t in range(6):  # a bright square moving right: learnable
        frames[:, t, :, 4:8, 2 + t:6 + t] = 1.0
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = frame_loss(model.rollout(frames, 3, 5), frames[:, 1:], "mse")
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # Predicting empty frames scores 16/256 = 0.0625 here; the model must do far better than that.
    assert losses[-1] < 0.1 * losses[0] and losses[-1] < 0.01, losses[::10]
