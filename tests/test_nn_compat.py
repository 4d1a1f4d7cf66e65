"""framecast's model is built from framecast.nn and must predict exactly what the code before it did: the shipped
weights, and a small model with every optional part (peepholes, layer norm, batch norm, relu, a 3-D head),
against outputs saved by that code (tests/data/pre_nn_reference.py, run at commit 4d5c01e)."""

from pathlib import Path

import torch
from safetensors.torch import load_file

from framecast.config import build_config
from framecast.model.checkpoint import load_weights, shipped_weights
from framecast.model.predictor import Predictor

REFERENCE = load_file(Path(__file__).parent / "data" / "pre_nn_reference.safetensors")


def frames(batch: int, size: int) -> torch.Tensor:
    """The reference's deterministic input `[B, 10, 1, size, size]` (the formula of pre_nn_reference.py)."""
    b, t, c, i, j = torch.meshgrid(*(torch.arange(n, dtype=torch.float32) for n in (batch, 10, 1, size, size)),
                                   indexing="ij")
    return 0.5 + 0.5 * torch.sin(0.3 * i + 0.2 * j + 0.7 * t + b + 0.5 * c)


def test_the_shipped_model_predicts_what_it_did_before_framecast_nn():
    model = load_weights(shipped_weights())
    with torch.no_grad():
        out = model(frames(2, 64), horizon=2)
    torch.testing.assert_close(out, REFERENCE["shipped.output"], atol=1e-5, rtol=0)


def test_every_optional_part_loads_under_its_old_name_and_predicts_the_same():
    config = build_config("default", overrides={"frame_size": 16, "patch": 2, "hidden": "4,5", "kernel": "3,5",
                                                "peephole": True, "layer_norm": True, "batch_norm": True,
                                                "activation": "relu", "head_time": 2, "head_kernel": 3})
    model = Predictor(config.model)
    state = {k.removeprefix("small."): v for k, v in REFERENCE.items()
             if k.startswith("small.") and k != "small.output"}
    model.load_state_dict(state, strict=True)  # same keys and shapes as before: old checkpoints load as they are
    with torch.no_grad():
        out = model.eval()(frames(2, 16), horizon=3)
    torch.testing.assert_close(out, REFERENCE["small.output"], atol=1e-5, rtol=0)
