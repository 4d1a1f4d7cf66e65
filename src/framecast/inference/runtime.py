"""Where and how computations run: the best available device, autocast to a chosen precision (precision.py
chooses it), and exact float32 for evaluation."""

from __future__ import annotations

import contextlib
import os

import torch


def pick_device() -> torch.device:
    """CUDA if present, else Apple MPS, else CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def physical_memory() -> int | None:
    """This machine's total memory in bytes, or None where the system does not say."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or no such name
        return None
    return pages * size if pages > 0 and size > 0 else None  # -1: the system does not know


def autocast(device: torch.device, dtype: torch.dtype | None):
    """Autocast to `dtype` on `device`, or a no-op for None (float32)."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


@contextlib.contextmanager
def inference_layout(model: torch.nn.Module, device: torch.device, dtype: torch.dtype | None):
    """For float32 inference on the CPU, `model`'s convolution weights in channels_last memory format for the
    duration, then back as they were: 10 -> 10 predictions of the shipped model ran 1.10x faster so on an AVX2
    CPU (`python benchmarks/inference_speed.py`, paired by round). Unmeasured elsewhere (bf16, GPUs), so left
    alone there; training did not gain from it."""
    if device.type != "cpu" or dtype is not None:
        yield
        return
    model.to(memory_format=torch.channels_last)
    try:
        yield
    finally:
        model.to(memory_format=torch.contiguous_format)


@contextlib.contextmanager
def exact_float32():
    """Full float32 convolutions: on Ampere and newer GPUs cuDNN rounds them to TF32 by default, and
    evaluation figures would then differ from a CPU's. (torch's current setting: reading the legacy
    `allow_tf32` raises once a caller has used it.)"""
    conv = torch.backends.cudnn.conv
    saved = conv.fp32_precision
    conv.fp32_precision = "ieee"
    try:
        yield
    finally:
        conv.fp32_precision = saved
