"""Where and how inference runs: the best available device, and bf16 autocast where the hardware is fast at it."""

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


def fast_dtype(device: torch.device) -> torch.dtype | None:
    """The reduced precision this hardware runs fast, for training and prediction alike: bf16 on CUDA with bf16
    and on CPUs with native bf16 (AVX-512 BF16 / AMX), fp16 on older CUDA GPUs; None (float32) elsewhere."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16
    if device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return torch.bfloat16
    return None


def autocast(device: torch.device, enabled: bool = True):
    """Autocast to `fast_dtype(device)`, or a no-op where float32 is the fast choice."""
    dtype = fast_dtype(device) if enabled else None
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


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
