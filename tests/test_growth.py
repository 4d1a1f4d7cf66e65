import dataclasses

import pytest
import torch

from framecast.config import ModelConfig
from framecast.model.growth import grow, growth_problem
from framecast.model.predictor import Predictor


def _trained_looking(config: ModelConfig) -> Predictor:
    """A small model with random non-zero weights everywhere (fresh peepholes and biases are zero)."""
    torch.manual_seed(0)
    model = Predictor(config)
    for p in model.parameters():
        p.data.normal_(0, 0.3)
    for norm in model.rnn.norms:  # running statistics as training leaves them
        if isinstance(norm, torch.nn.BatchNorm2d):
            norm.running_mean.uniform_(-0.5, 0.5)
            norm.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.mark.parametrize("kw", [
    {},
    {"peephole": True},
    {"batch_norm": True, "head_time": 3, "head_kernel": 3, "kernel": (5, 3, 3)},
    {"batch_norm": True, "activation": "relu", "channels": 3, "patch": 2},
    {"channels": 3, "residual": True, "warp": True, "flow": True},  # footage's model: it reads a field too
])
@pytest.mark.parametrize("mode", ["eval", "train"])  # train: BatchNorm uses the batch's statistics
def test_a_grown_model_predicts_what_the_small_one_did_and_its_new_units_learn(kw, mode):
    small = _trained_looking(ModelConfig(hidden=(8, 6, 4), frame_size=16, **kw))
    wide = Predictor(dataclasses.replace(small.config, hidden=(12, 6, 9)))
    grow(small, wide)
    small.train(mode == "train")
    wide.train(mode == "train")
    x = torch.rand(2, 5, small.config.channels, 16, 16)
    torch.testing.assert_close(wide(x, 4), small(x, 4), atol=1e-5, rtol=0)  # a warp resamples: float noise
    # The zero weights from the new units into the old ones and the head still get a gradient.
    wide(x, 4).square().sum().backward()
    assert wide.head.weight.grad[:, 4:9].abs().sum() > 0  # head columns of the new units of the last layer
    inputs = wide.rnn.cells[0].in_channels
    assert wide.rnn.cells[0].gates.weight.grad[:8, inputs + 8:].abs().sum() > 0  # old gates <- new h
    assert sum(p.numel() for p in wide.parameters()) > sum(p.numel() for p in small.parameters())


@pytest.mark.parametrize(("wide", "problem"), [
    ({"hidden": (8, 8, 8), "kernel": (3, 3, 3)}, "not deeper"),
    ({"hidden": (16, 4)}, "not narrower"),
    ({"hidden": (16, 8), "kernel": (5, 3)}, "only hidden can differ"),
    ({"hidden": (9, 9), "layer_norm": True}, "layer_norm"),
])
def test_growth_refuses_what_would_change_the_predictions(wide, problem):
    small = ModelConfig(hidden=(8, 8), kernel=(3, 3), layer_norm=wide.get("layer_norm", False))
    assert problem in growth_problem(small, dataclasses.replace(small, **wide))
    with pytest.raises(ValueError, match=problem):
        grow(Predictor(small), Predictor(dataclasses.replace(small, **wide)))


def test_growth_allows_wider_or_equal_layers():
    small = ModelConfig(hidden=(8, 8), kernel=(3, 3))
    assert growth_problem(small, dataclasses.replace(small, hidden=(8, 9))) is None
    assert growth_problem(small, small) is None
    normed = dataclasses.replace(small, layer_norm=True)
    assert growth_problem(normed, normed) is None  # the same width is no growth: nothing to refuse
