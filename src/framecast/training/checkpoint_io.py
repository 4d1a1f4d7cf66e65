"""The Lightning plugin through which training writes and reads its `.ckpt` files: atomic writes, weights-only reads.

It lives on the training side so that `framecast.load()` (model/checkpoint.py) never imports Lightning."""

from __future__ import annotations

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ..atomic import atomic_path
from ..model.checkpoint import read_checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint I/O, but written to a temporary file and renamed, and read without pickle."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)

    def load_checkpoint(self, path, map_location=None, weights_only=None):
        # To the CPU unless told otherwise, as Lightning's own default: a run saved on a GPU must resume on
        # another device (--set accelerator=cpu), and DDP ranks must not all load onto cuda:0.
        return read_checkpoint(path, map_location="cpu" if map_location is None else map_location)

