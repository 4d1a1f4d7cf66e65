"""Exports that deploy: a model's whole rollout (context frames in, the next frames out) as one ONNX or TorchScript
graph with a dynamic batch axis, beside the safetensors weights of `checkpoint.export`.

ONNX files are written by PyTorch's maintained exporter (`torch.onnx.export(..., dynamo=True)`, which needs the
onnx and onnxscript packages) and run in onnxruntime without PyTorch. TorchScript is traced with `torch.jit.trace`,
which PyTorch has deprecated but still runs: it serves C++ (libtorch) programs that already load TorchScript.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
from torch import nn

from ..atomic import atomic_path
from ..config import DataConfig
from ..errors import UserError, whole_number
from ..model.checkpoint import export as export_weights
from ..model.checkpoint import shipped_weights
from ..model.predictor import Predictor
from ..preflight import export_out
from .graphs import write_onnx
from .loading import load

EXAMPLE_BATCH = 2  # the example traced; the batch axis stays dynamic (torch.export treats 0 and 1 as special)


class Rollout(nn.Module):
    """The deployed graph: `context` frames `[B, context, C, H, W]` in [0, 1] -> the next `horizon` frames
    `[B, horizon, C, H, W]` in [0, 1], as `Predictor.forward`, with the counts fixed when the graph is made.

    A flow model's graph takes a second input, `field` `[B, 2, H, W]`: the optical flow over the last context
    frames, as `framecast.model.baselines.flow_field(frames)` computes it with OpenCV (which no graph holds)."""

    def __init__(self, model: Predictor, *, context: int, horizon: int) -> None:
        super().__init__()
        self.model, self.context, self.horizon = model, context, horizon

    def forward(self, frames: torch.Tensor, field: torch.Tensor | None = None) -> torch.Tensor:
        # Python ints for the counts (Predictor.forward reads the context from frames.shape): a tracer then
        # sees a fixed loop, not a branch on a traced size.
        steps = self.context + self.horizon - 1
        return torch.sigmoid(self.model.rollout(frames, self.context, steps, field=field)[:, -self.horizon:])


def export(source: str | Path | Predictor | None, out: str | Path, fmt: str | None = None, *,
           context: int = DataConfig().context, horizon: int = DataConfig().horizon) -> Path:
    """Write `source`'s model to `out` as safetensors weights (a `.ckpt` source only), an ONNX graph or a
    TorchScript graph of the `context` -> `horizon` rollout; `fmt` None: by `out`'s suffix. Returns `out`.

    source: a `.ckpt` from framecast train, a `.safetensors` weights file, a Predictor (graphs only), or None: the
    shipped model (graphs only: it is a weights file already)."""
    out, fmt = export_out(out, fmt)
    source = shipped_weights() if source is None else source
    if fmt == "safetensors":
        if isinstance(source, Predictor):
            raise UserError("safetensors export takes a .ckpt path; for a Predictor use framecast.save_pretrained")
        return export_weights(source, out)
    context, horizon = whole_number("context", context), whole_number("horizon", horizon)
    # A copy of a caller's model: moving it to the CPU and to eval mode must not change theirs.
    model = copy.deepcopy(source) if isinstance(source, Predictor) else load(source, device="cpu")
    rollout = Rollout(model, context=context, horizon=horizon).to("cpu", torch.float32).eval()
    c, size = model.config.channels, model.config.frame_size
    example = (torch.rand(EXAMPLE_BATCH, context, c, size, size),)
    if model.config.flow:  # its starting field, an input of the graph
        example += (torch.randn(EXAMPLE_BATCH, 2, size, size),)
    with atomic_path(out) as tmp:
        (_write_onnx if fmt == "onnx" else _write_torchscript)(rollout, example, tmp)
    return out


def _write_onnx(rollout: Rollout, example: tuple[torch.Tensor, ...], path: Path) -> None:
    """One ONNX file (weights inside), input "frames" (and a flow model's "field") and output "future", batch axis
    "batch"."""
    names = ["frames", "field"][:len(example)]
    batch = torch.export.Dim("batch")
    write_onnx(rollout, example, path, input_names=names, output_names=["future"],
               dynamic_shapes={name: {0: batch} for name in names})


def _write_torchscript(rollout: Rollout, example: tuple[torch.Tensor, ...], path: Path) -> None:
    """A traced TorchScript module: torch.jit.load(path)(frames) runs the rollout (a flow model's takes
    (frames, field)), in Python or C++."""
    with warnings.catch_warnings(), torch.no_grad():
        # The user asked for TorchScript: PyTorch's advice to move to torch.export is not news to them.
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.(trace|trace_method|save)` is deprecated")
        torch.jit.save(torch.jit.trace(rollout, example), str(path))
