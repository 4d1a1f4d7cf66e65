"""ONNX graphs, written by PyTorch's maintained exporter and run in ONNX Runtime, quietly: what these libraries
log is aimed at their own developers (operators they skip, how they optimised a graph), not at a framecast user.
export.py writes graphs that deploy; engine.py runs a model's one-step graph where that is faster.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from ..errors import UserError
from .precision import cache_dir

INSTALL = "pip install 'framecast[export]'"
ORT_ERRORS_ONLY = 3  # ONNX Runtime's log severity: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal


def write_onnx(module: nn.Module, args: tuple, path: Path, *, input_names: list[str], output_names: list[str],
               dynamic_shapes) -> None:
    """`module` run on `args` as one ONNX file at `path` (weights inside), with the named inputs and outputs and the
    axes `dynamic_shapes` leaves free (torch.export's form). Needs the onnx and onnxscript packages."""
    with (warnings.catch_warnings(), _quiet_logger("torch.onnx._internal.exporter._registration"),
          _compiler_cache_in(cache_dir() / "torch")):
        # Noise a user cannot act on: the registry lists the torchvision operators it skips, and torch.export
        # trips over a deprecation inside torch.
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning)
        # An axis shared by several inputs (the batch of a frame and of the states) keeps its name once.
        warnings.filterwarnings("ignore", message=r"# The axis name: \w+ will not be used", category=UserWarning)
        try:
            program = torch.onnx.export(module, args, dynamo=True, verbose=False, input_names=input_names,
                                        output_names=output_names, dynamic_shapes=dynamic_shapes)
        except ImportError as err:
            raise UserError(f"ONNX export needs the onnx and onnxscript packages ({err}); install them with "
                            f"{INSTALL}") from None
    program.save(path, external_data=False)


@contextlib.contextmanager
def _compiler_cache_in(folder: Path) -> Iterator[None]:
    """For the block, torch's compiler cache in `folder` unless the user chose one: torch.export's first import makes
    it, empty, in the system's temporary folder, where the page promises to leave nothing behind."""
    if "TORCHINDUCTOR_CACHE_DIR" in os.environ:
        yield
        return
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)
    try:
        yield
    finally:
        os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    """Silence a library's logger below errors for the block."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def onnxruntime():
    """The onnxruntime module, imported quietly; ImportError where it is not installed."""
    # Since 1.32 ONNX Runtime sends usage events to Microsoft on Linux and macOS too, and leaves a session file in the
    # temporary folder, unless told otherwise before its import: framecast runs it on its own accord (--engine auto),
    # so it opts out, unless the user has set the variable.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    module = importlib.import_module("onnxruntime")
    module.set_default_logger_severity(ORT_ERRORS_ONLY)
    return module


def import_seconds() -> float:
    """Seconds a new process spends importing onnxruntime: timed here if nothing has imported it yet, else 0
    (then unknown, and small: a few tenths of a second)."""
    start = time.perf_counter()
    imported = sys.modules.get("onnxruntime") is not None
    onnxruntime()
    return 0.0 if imported else time.perf_counter() - start


def open_session(path: Path, threads: int):
    """An ONNX Runtime session of the graph at `path` on the CPU with `threads` threads (as many as PyTorch uses),
    logging errors only."""
    ort = onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.log_severity_level = ORT_ERRORS_ONLY
    # Threads that wait for work by spinning keep a core busy after each call, slowing whatever PyTorch runs next
    # (the page's metrics, or PyTorch's turn while the engines are timed); on a loaded 2-core CPU the shipped
    # model's rollout also ran faster without it (0.66 s against 0.78 s).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
