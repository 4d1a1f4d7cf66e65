"""Writes pre_nn_reference.safetensors: outputs of the model code before framecast.nn (commit 4d5c01e), which
tests/test_nn_compat.py compares today's code against. Run from the repository root at that commit:
`PYTHONPATH=src python tests/data/pre_nn_reference.py`, with the shipped weights of today copied into that
checkout's `src/framecast/weights/` (a new shipped model needs a new reference; strip from the copy's config the keys
that commit does not know, all of which must hold their off value, e.g. `model.residual: false`; make `tests/data/`
there first). Today's code must not rewrite it."""

import torch
from safetensors.torch import save_file

from framecast.config import build_config
from framecast.model.checkpoint import load_weights, shipped_weights
from framecast.model.predictor import Predictor


def frames(batch: int, size: int, channels: int = 1) -> torch.Tensor:
    """Deterministic smooth frames `[B, 10, C, size, size]` in [0, 1], no random generator involved."""
    b, t, c, i, j = torch.meshgrid(*(torch.arange(n, dtype=torch.float32) for n in (batch, 10, channels, size, size)),
                                   indexing="ij")
    return 0.5 + 0.5 * torch.sin(0.3 * i + 0.2 * j + 0.7 * t + b + 0.5 * c)


def main() -> None:
    torch.manual_seed(0)
    with torch.no_grad():
        shipped = load_weights(shipped_weights())
        out = {"shipped.output": shipped(frames(2, 64), horizon=2)}
        # Every optional part of the old cell and stack, on a small model with random weights.
        config = build_config("default", overrides={"frame_size": 16, "patch": 2, "hidden": "4,5", "kernel": "3,5",
                                                    "peephole": True, "layer_norm": True, "batch_norm": True,
                                                    "activation": "relu", "head_time": 2, "head_kernel": 3})
        model = Predictor(config.model)
        for p in model.parameters():
            p.uniform_(-0.5, 0.5)
        model.eval()
        for name, buf in model.named_buffers():
            if name.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
            elif name.endswith("running_mean"):
                buf.uniform_(-0.2, 0.2)
        out.update({f"small.{k}": v for k, v in model.state_dict().items()})
        out["small.output"] = model(frames(2, 16), horizon=3)
    save_file({k: v.contiguous() for k, v in out.items()}, "tests/data/pre_nn_reference.safetensors")


if __name__ == "__main__":
    main()
