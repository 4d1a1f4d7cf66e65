"""What a user holds: `load` a model from a file, and the loaded model, which takes and returns numpy arrays
(`predict`) and remembers the file it came from (`source`) for reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..config import DataConfig, ModelConfig
from ..data.media import Reading, is_sequence_file, model_color, read_footage, reading_for
from ..errors import UserError
from ..model.checkpoint import SHIPPED, is_weights_name, load_weights, model_of_checkpoint, shipped_weights
from ..model.predictor import Predictor
from .rollout import predict_array
from .runtime import pick_device

BUILT_IN_PYTHON = "a model built in Python"  # how reports name a Predictor that came from no file


class LoadedModel(Predictor):
    """A Predictor for a user: numpy in and out, and `source`, the file (or folder) its weights came from; it is
    not cleared if other weights are loaded into it later."""

    def __init__(self, config: ModelConfig, source: str | None = None) -> None:
        super().__init__(config)
        self.source = source

    @torch.no_grad()
    def predict(self, frames, horizon: int = DataConfig().horizon, *,
                engine: str = "torch") -> np.ndarray | torch.Tensor:
        """Frames `[T, H, W(, C)]`, `[B, T, H, W(, C)]` or `[B, T, C, H, W]`, numpy or torch (uint8 or [0, 1]
        float), of any size -> float predictions in [0, 1], `horizon` frames long, in the same layout and kind.

        engine: "torch"; "onnx" (ONNX Runtime, on the CPU) or "auto" (ONNX Runtime where measured faster here, as
        framecast.predict chooses). PyTorch by default here: a model in memory may be trained between calls, and
        each new set of weights is exported for ONNX Runtime anew, which takes seconds."""
        return predict_array(self, frames, horizon, engine=engine, rollouts=None)


def load(path: str | Path | None = None, device: str | torch.device | None = None) -> LoadedModel:
    """The model in a `.ckpt` or `.safetensors` file, in eval mode; without `path`, the shipped model.
    It runs on `device`, by default the best one here (CUDA, then Apple MPS, then the CPU)."""
    path = Path(path) if path is not None else shipped_weights()
    model = (load_weights(path, LoadedModel) if is_weights_name(path)
             else model_of_checkpoint(path, LoadedModel)[0])
    model.source = str(path)
    return model.to(device if device is not None else pick_device())


def read_video(path: str | Path, *, size: int | tuple[int, int] | str | None = None, color: str = "auto",
               frame_step: int | None = None, model: Predictor | None = None) -> np.ndarray:
    """The frames of a video file, an animated GIF or a folder of PNG/JPEG frames as uint8 `[T, H, W, C]`, read as
    the commands read footage: at the working size (the shorter side at most 256) unless `size` says HEIGHT,WIDTH,
    the shorter side, or "full" (as it is); in `color` ("auto": as it is, "gray" or "rgb"); every
    `frame_step`-th frame. With `model`, what `size`, `color` and `frame_step` leave open is read as the model's
    training read footage, in its colour: frames ready for `model.predict`."""
    if is_sequence_file(path):  # before it is read: an .npz is decoded whole
        raise UserError(f"{str(path)!r} is a sequence file; read it with numpy.load, or pass a video, a GIF or a "
                        "folder of frames")
    reading = Reading(color=color, size=size, step=frame_step)
    if model is not None:
        reading = reading_for(model, reading, path)
    footage = read_footage(path, reading, color=model_color(model) if model is not None else None)
    if footage.kind == "videos":
        raise UserError(f"{str(path)!r} is a folder of videos; read them one by one")
    return np.asarray(footage.recordings[0])


def resolve_model(model: str | Path | Predictor | None) -> tuple[Predictor, str]:
    """The model to run and the name reports give it: a Predictor as it is (on its device), anything else
    through `load` (None: the shipped model)."""
    if isinstance(model, Predictor):
        return model, getattr(model, "source", None) or BUILT_IN_PYTHON
    if isinstance(model, torch.nn.Module):  # e.g. torch.compile's wrapper, or the training LightningModule
        raise UserError(f"expected a checkpoint path or a framecast Predictor (framecast.load(...)), but got a "
                        f"{type(model).__name__}")
    path = Path(model) if model is not None else shipped_weights()
    return load(path), str(path)


def model_name(source: str) -> str:
    """How reports and pictures name a model (`source` as `resolve_model` gives it): "the shipped model", or its
    file."""
    return "the shipped model" if source == str(SHIPPED) else source
