"""`framecast bench`: training and inference speed, achieved and peak FLOP/s, and generator throughput,
measured on this machine in one run."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from ..atomic import atomic_write_text, check_target
from ..config import FIELDS, Config, build_config
from ..data.dataset import MovingMNISTStream
from ..data.digits import digit_pool
from ..data.moving_mnist import generate
from ..errors import UserError
from ..inference.precision import DTYPES, Choice, choose, cpu_candidates
from ..inference.runtime import autocast, inference_layout, pick_device
from ..model.predictor import Predictor, count_parameters
from ..quality.metrics import frame_loss

# The keys bench uses: the model's, the generated data's shape and the training step's. Others (a --data file,
# the device, precision, run length...) would be accepted and silently not measured, so they are refused.
MEASURED_KEYS = frozenset(key for key, (section, _) in FIELDS.items() if section == "model") | {
    "frames", "context", "num_digits", "speed", "digits", "batch_size", "lr", "loss", "grad_clip", "threads"}
BATCH = 32  # sequences per batched-inference call
# How one precision's `--seconds` is shared among its figures: training steps, the peak kernels, and inference of
# one sequence and of a batch. A figure whose single call takes longer than its share is timed once.
SHARE = {"train": 0.5, "peak": 0.2, "infer_one": 0.15, "infer_many": 0.15}
CLEARLY_SLOWER = 1.5  # a reduced precision this much slower than float32 in its first timed step is timed no further
PRECISION_CHOICES = ("all", "fp32", "bf16", "fp16")


def _timed(fn, seconds: float, warmup: int = 1, min_runs: int = 2) -> float:
    """Mean seconds per call of `fn`, after `warmup` calls, over at least `min_runs` calls or `seconds`; a single
    call where the warm-up showed that `min_runs` would overrun `seconds`, and none where a warm-up call alone
    overran `seconds`: its time is the figure (first-call costs are milliseconds; such a call takes seconds to
    minutes: a training step of a big model, batched inference in emulated bf16)."""
    began = time.perf_counter()
    for _ in range(warmup):
        fn()
    warm = (time.perf_counter() - began) / warmup if warmup else 0.0
    if warm > seconds:
        return warm
    if warm * min_runs > seconds:
        min_runs = 1
    runs, start = 0, time.perf_counter()
    while runs < min_runs or time.perf_counter() - start < seconds:
        fn()
        runs += 1
    return (time.perf_counter() - start) / runs


def _sync(device: torch.device) -> None:
    """Wait for queued GPU work, so that a timing measures the work and not its queueing."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    elif device.type == "mps":
        torch.mps.synchronize()


def bench(preset: str = "default", *, overrides: dict | None = None, json_path: str | Path | None = None,
          seconds: float = 20.0, precision: str = "all") -> dict:
    """Measure `preset` (with config `overrides`) on this machine, in float32 and each reduced precision it
    supports (or only `precision`), about `seconds` for each; return the figures (and write them to `json_path`).
    The headline figures are those of the precisions `auto` chose for training and inference; `precisions` holds
    them all (`precision_table` shows them). A reduced precision CLEARLY_SLOWER than float32 in its first timed
    training step is reported with that figure and not timed further (emulated bf16 takes minutes a figure)."""
    if not (math.isfinite(seconds) and seconds >= 0):  # infinity would never end
        raise UserError(f"--seconds should be a finite number >= 0, but got {seconds}")
    if precision not in PRECISION_CHOICES:
        raise UserError(f"--precision should be one of {', '.join(PRECISION_CHOICES)}, but got {precision!r}")
    if json_path:
        check_target(json_path)  # before the minutes of measuring, not after
    config = build_config(preset, overrides=overrides)  # first: unknown keys and bad values
    unmeasured = sorted({key.split(".", 1)[-1] for key in overrides or {}} - MEASURED_KEYS)
    if unmeasured:
        raise UserError(f"bench measures generated Moving MNIST on the best device, so it does not take "
                        f"{', '.join(unmeasured)}; keys it takes: {', '.join(sorted(MEASURED_KEYS))}")
    if config.train.threads > 0:
        torch.set_num_threads(config.train.threads)
    device = pick_device()
    model = Predictor(config.model).to(device)
    d, batch = config.data, config.train.batch_size
    digits = digit_pool("train", d.digits)
    auto = {"train": choose("train", device, config.model, batch), "infer": choose("infer", device, config.model, 1)}
    precisions, unsupported = bench_precisions(device, auto)
    if precision != "all":
        if precision not in precisions:
            raise UserError(f"{precision} is not supported on this {device.type}: "
                            f"{unsupported.get(precision, 'framecast does not train in it here')}")
        precisions = [precision]
    figures: dict[str, dict] = {}
    steps: dict[str, float | None] = {}  # seconds per training step
    for name in precisions:  # float32 first: the others are compared with it
        figures[name], steps[name] = _measure_precision(model, config, digits, device, name, seconds,
                                                        steps.get("fp32"))
    gen_s = _timed(lambda: generate(digits, 1000, frames=d.frames, num_digits=d.num_digits,
                                    size=config.model.frame_size, speed=d.speed, dynamics=d.dynamics), 2.0)
    train = figures.get(auto["train"].precision) or figures[precisions[0]]
    infer = figures.get(auto["infer"].precision) or figures[precisions[0]]
    result = {
        "preset": preset, "overrides": dict(overrides or {}), "device": str(device), "threads": torch.get_num_threads(),
        "parameters": count_parameters(model), "batch_size": batch,
        # The headline figures are those of the precision `auto` chose, for training and for inference.
        **{key: train.get(key) for key in ("train_seq_per_s", "train_gflops", "peak_gflops")},
        **{key: infer.get(key) for key in ("infer_ms_per_seq", "infer_seq_per_s")},
        "generate_seq_per_s": round(1000 / gen_s),
        "peak_memory_mb": _peak_memory_mb(device),
    }
    result["train_fraction_of_peak"] = (round(result["train_gflops"] / result["peak_gflops"], 3)
                                        if result["train_gflops"] and result["peak_gflops"] else None)
    result["precision"] = {kind: choice.to_dict() for kind, choice in auto.items()}
    result["precisions"] = figures
    result["not_supported"] = unsupported
    if json_path:
        atomic_write_text(json_path, json.dumps(result, indent=2) + "\n")
    return result


def bench_precisions(device: torch.device, auto: dict[str, Choice]) -> tuple[list[str], dict[str, str]]:
    """The precisions to measure on `device`: float32 and each reduced one it supports (on CUDA the one its
    rule picks); and those not supported, with why."""
    if device.type != "cpu":
        return sorted({"fp32", auto["train"].precision, auto["infer"].precision}, key=list(DTYPES).index), {}
    supported = cpu_candidates("infer")
    unsupported = {} if "bf16" in supported else {"bf16": "bf16 not supported on this CPU"}
    return ["fp32", *supported], unsupported


def _measure_precision(model: Predictor, config: Config, digits: np.ndarray, device: torch.device,
                       precision: str, seconds: float, fp32_step: float | None = None) -> tuple[dict, float | None]:
    """Training and inference figures of `model` under autocast to `precision`, within about `seconds` (no training
    figures for fp16 on the CPU, which Lightning cannot train in), and the seconds of a training step. Given
    float32's `fp32_step`, a precision CLEARLY_SLOWER in its first timed step gets that figure only, and why."""
    dtype = DTYPES[precision]
    out, step_s = {}, None
    if not (device.type == "cpu" and precision == "fp16"):
        if fp32_step:
            first_s, _ = _measure_training(model, config, digits, device, dtype, 0.0)  # one timed step
            if first_s > CLEARLY_SLOWER * fp32_step:
                return {"train_seq_per_s": round(config.train.batch_size / first_s, 2),
                        "slower": f"{first_s / fp32_step:.1f}x slower than fp32 in its first timed step: not "
                                  "timed further"}, first_s
        step_s, step_flops = _measure_training(model, config, digits, device, dtype, SHARE["train"] * seconds)
        out = {"train_seq_per_s": round(config.train.batch_size / step_s, 2),
               "train_gflops": round(step_flops / step_s / 1e9, 1),
               "peak_gflops": round(peak_gflops(device, SHARE["peak"] * seconds, dtype), 1)}
    infer_one_s, infer_many_s = _measure_inference(model, config, device, dtype, seconds)
    return {**out, "infer_ms_per_seq": round(infer_one_s * 1000, 1),
            "infer_seq_per_s": round(BATCH / infer_many_s, 1)}, step_s


def precision_table(result: dict) -> str:
    """Each precision's figures in a `bench` result on one line, the ones `auto` chose marked, and why it chose
    them."""
    figures, unsupported = result["precisions"], result["not_supported"]
    auto = {kind: Choice(**choice) for kind, choice in result["precision"].items()}
    lines = [f"{'precision':<10}{'train seq/s':>12}{'GFLOP/s':>9}{'peak':>7}{'infer ms/seq':>14}{'infer seq/s':>13}"]
    for name, f in figures.items():
        marks = [kind for kind, choice in auto.items() if choice.precision == name]
        cells = "".join(f"{f[key]:>{width}.{digits}f}" if f.get(key) is not None else f"{'-':>{width}}"
                        for key, width, digits in (("train_seq_per_s", 12, 2), ("train_gflops", 9, 1),
                                                   ("peak_gflops", 7, 1), ("infer_ms_per_seq", 14, 1),
                                                   ("infer_seq_per_s", 13, 1)))
        mark = f"  <- auto ({', '.join(marks)})" if marks else ""
        lines.append(f"{name:<10}{cells}{mark}" + (f"  ({f['slower']})" if "slower" in f else ""))
    lines += [f"{name:<10}{why}" for name, why in unsupported.items()]
    lines += [f"auto, {kind}: {choice.precision} ({choice.reason})" for kind, choice in auto.items()]
    return "\n".join(lines)


def _measure_training(model: Predictor, config: Config, digits: np.ndarray, device: torch.device,
                      dtype: torch.dtype | None, seconds: float) -> tuple[float, int]:
    """Seconds per training step (data generation, forward, backward, clipping, Adam) under autocast to `dtype`
    (None: float32), and its FLOPs."""
    d, t = config.data, config.train
    opt = torch.optim.Adam(model.parameters(), lr=t.lr)
    stream = MovingMNISTStream(digits, batch_size=t.batch_size, frames=d.frames, num_digits=d.num_digits,
                               size=config.model.frame_size, speed=d.speed, dynamics=d.dynamics)
    step_no = iter(range(10**9))

    def train_step():
        batch = stream.batch(next(step_no)).to(device)  # data generation is part of the step
        with autocast(device, dtype):
            logits = model.rollout(batch, d.context, d.frames - 1)
            loss = frame_loss(logits, batch[:, 1:], t.loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)  # as the training loop does
        opt.step()
        _sync(device)

    with FlopCounterMode(display=False) as counter:  # forward + backward FLOPs of one step
        train_step()
    return _timed(train_step, seconds), counter.get_total_flops()


def _measure_inference(model: Predictor, config: Config, device: torch.device, dtype: torch.dtype | None,
                       seconds: float) -> tuple[float, float]:
    """Seconds per context -> horizon prediction of one sequence, and of a batch of BATCH, as `predict` runs
    it: under autocast to `dtype` (None: float32), in `inference_layout`."""
    model.eval()
    m = config.model
    one = torch.rand(1, config.data.context, m.channels, m.frame_size, m.frame_size, device=device)
    many = one.expand(BATCH, -1, -1, -1, -1).contiguous()

    def infer(x):
        with torch.no_grad(), autocast(device, dtype), inference_layout(model, device, dtype):
            model(x, config.data.horizon)
        _sync(device)

    times = (_timed(lambda: infer(one), SHARE["infer_one"] * seconds, min_runs=5),
             _timed(lambda: infer(many), SHARE["infer_many"] * seconds))
    model.train()  # the next precision's training step
    return times


def peak_gflops(device: torch.device, seconds: float = 5.0, dtype: torch.dtype | None = None) -> float:
    """This machine's achieved GFLOP/s on large dense kernels (a 2048^2 matrix product and a 256-channel 3x3
    convolution) under autocast to `dtype` (None: float32): the better of the two, as the ceiling to compare
    against."""
    a, b = torch.rand(2048, 2048, device=device), torch.rand(2048, 2048, device=device)
    conv = torch.nn.Conv2d(256, 256, 3, padding=1).to(device)
    x = torch.rand(32, 256, 32, 32, device=device)

    def run(fn):
        def call():
            with torch.no_grad(), autocast(device, dtype):
                fn()
            _sync(device)
        return call

    matmul = 2 * 2048**3 / _timed(run(lambda: a @ b), seconds / 2)
    convolution = 2 * 32 * 256 * 256 * 9 * 32 * 32 / _timed(run(lambda: conv(x)), seconds / 2)
    return max(matmul, convolution) / 1e9


def _peak_memory_mb(device: torch.device) -> int | None:
    """Peak GPU memory on CUDA; elsewhere the process's peak resident memory (None where unknown)."""
    if device.type == "cuda":
        return round(torch.cuda.max_memory_allocated() / 2**20)
    try:
        import resource  # not on Windows
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / 2**20 if sys.platform == "darwin" else peak / 1024)  # macOS reports bytes, Linux KiB


__all__ = ["bench", "peak_gflops"]
