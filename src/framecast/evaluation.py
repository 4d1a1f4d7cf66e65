"""Evaluation: the model against the `zeros` and `copy_last` baselines on a sequence file, streamed in batches.

Writes `metrics.json`, `metrics.md`, `per_frame.png`, `examples.png` and `examples.gif` into the output folder
(or nothing, without one).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .api import model_name, resolve_model
from .atomic import atomic_files, atomic_write_text, ensure_writable_dir, folders_removed_if_unfinished
from .config import DataConfig
from .data.dataset import to_tensor
from .data.files import LAYOUT_WORDS, as_sequences, detect_layout, read_sequences, release_pages, to_uint8
from .errors import UserError, note, whole_number
from .metrics import METRICS, all_metrics
from .model import Predictor
from .runtime import exact_float32

DATA_DEFAULTS = DataConfig()  # defaults from their one home

BASELINES = ("zeros", "copy_last")
EXAMPLES = 3  # sequences shown in examples.png / examples.gif
RELEASE_EVERY = 20  # batches between dropping the memory-mapped pages read so far
LOWER_IS_BETTER = ("mse", "mae")  # errors; every other metric (SSIM, PSNR, accuracy) is better higher
# How tables and pictures write each metric.
NAMES = {"mse": "MSE", "mae": "MAE", "ssim": "SSIM", "ssim_openstl": "SSIM (OpenSTL)", "psnr": "PSNR"}


def baseline(name: str, context: torch.Tensor, horizon: int) -> torch.Tensor:
    """A trivial prediction `[B, horizon, C, H, W]`: empty frames, or the last context frame repeated."""
    last = context[:, -1:]
    if name == "zeros":
        return torch.zeros_like(last).expand(-1, horizon, -1, -1, -1)
    return last.expand(-1, horizon, -1, -1, -1)


def check_fits(model: Predictor, array: np.ndarray, context: int, horizon: int, name: str) -> None:
    """Refuse data the model cannot take, naming the mismatch and the fix."""
    _, frames, h, w, c = array.shape
    cfg = model.config
    if frames < context + horizon:
        raise UserError(f"{name} has {frames} frames per sequence; evaluating {context} -> {horizon} needs "
                        f"{context + horizon} (lower --context or --horizon; a time-first file needs --layout tnhw)")
    if (h, w, c) != (cfg.frame_size, cfg.frame_size, cfg.channels):
        raise UserError(f"{name} has {h}x{w}x{c} frames, but the model takes {cfg.frames_text}; "
                        "evaluate a model trained on such frames")


class _Totals:
    """Running per-frame sums of every metric, for the model and each baseline."""

    def __init__(self) -> None:
        self.sums: dict[str, dict[str, torch.Tensor]] = {}
        self.count = 0
        self.sequence_mse: list[float] = []  # the model's, for paired comparisons of two models on one file

    def add(self, who: str, pred: torch.Tensor, target: torch.Tensor) -> None:
        per = self.sums.setdefault(who, {})
        for name, values in all_metrics(pred, target).items():  # values: (B, T)
            per[name] = per.get(name, 0) + values.sum(dim=0).to("cpu", torch.float64)  # MPS has no float64
            if who == "model" and name == "mse":
                self.sequence_mse += values.mean(dim=1).tolist()

    def report(self, who: str) -> dict:
        means = {name: (total / self.count).tolist() for name, total in self.sums[who].items()}
        return {**{name: float(np.mean(v)) for name, v in means.items()}, "per_frame": means}


def evaluate(checkpoint: str | Path | Predictor | None = None, *, data: str | Path | np.ndarray,
             out: str | Path | None = None, context: int = DATA_DEFAULTS.context,
             horizon: int = DATA_DEFAULTS.horizon, limit: int | None = None, batch_size: int = 32,
             layout: str = "auto", progress: bool = True) -> dict:
    """Evaluate a checkpoint path or a loaded Predictor (default: the shipped model; a Predictor is put in eval
    mode) on `data` (a sequence file, or an array `[N, T, H, W(, C)]`: uint8, or float in [0, 1]); write the
    report to `out` (without `out`, nothing is written); return the metrics."""
    context, horizon = whole_number("context", context), whole_number("horizon", horizon)
    batch_size = whole_number("batch_size", batch_size)
    limit = whole_number("limit", limit) if limit is not None else None
    model, source = resolve_model(checkpoint)
    model.eval()
    array, name, layout = _sequences(data, layout)
    check_fits(model, array, context, horizon, name)
    # Stopped (Ctrl-C, SIGTERM) before the report is written: no empty report folder is left behind.
    with folders_removed_if_unfinished(out) if out is not None else contextlib.nullcontext():
        if out is not None:
            out = ensure_writable_dir(out)  # after the checks: a mistake leaves no empty report folder behind
        n = len(array) if limit is None else min(limit, len(array))
        device = next(model.parameters()).device
        start = time.perf_counter()
        with torch.no_grad(), exact_float32():  # model and SSIM alike: the same figures on every machine
            totals, shown = _run(model, array, n, context, horizon, batch_size, progress)
        result = {
            **totals.report("model"),
            "baselines": {name: totals.report(name) for name in BASELINES},
            "per_sequence": {"mse": totals.sequence_mse},  # in file order
            "evaluated": {"model": model_name(source), "checkpoint": source, "data": name,
                          "layout": LAYOUT_WORDS[layout], "sequences": n, "context": context, "horizon": horizon,
                          "seconds": round(time.perf_counter() - start, 2), "device": str(device)},
        }
        if out is not None:
            if (out / "metrics.json").exists():
                note(f"replacing the earlier report in {out}")
            write_report(result, shown, out)
    return result


def _sequences(data, layout: str) -> tuple[np.ndarray, str, str]:
    """`[N, T, H, W, C]` sequences from a file or an in-memory array, how the report names them, and the layout
    they were read in ("nthw" or "tnhw")."""
    if isinstance(data, np.ndarray):  # the Python API (mnist_test_seq's canonical shape is still time-first)
        used = detect_layout(data, layout, name="data")
        return as_sequences(data, used, "data"), f"an array of shape {data.shape}", used
    if not isinstance(data, str | os.PathLike):
        raise UserError(f"data should be a sequence file or a numpy array, but got a {type(data).__name__}")
    array, used = read_sequences(data, layout)
    return array, str(data), used


def _run(model: Predictor, array: np.ndarray, n: int, context: int, horizon: int, batch_size: int,
         progress: bool) -> tuple[_Totals, tuple]:
    """Metric totals of the model and baselines over the first `n` sequences of `array` `[N, T, H, W, C]`,
    and the first EXAMPLES sequences' (context, truth, prediction) to show."""
    device = next(model.parameters()).device
    totals, shown = _Totals(), None
    for i in tqdm(range(0, n, batch_size), desc="evaluate", unit="batch", disable=not progress):
        # Only this batch becomes float: a memory-mapped file of any size streams through.
        seq = to_tensor(array[i:min(i + batch_size, n), :context + horizon]).to(device)  # (B, T, C, H, W)
        ctx, truth = seq[:, :context], seq[:, context:]
        pred = model(ctx, horizon)
        totals.count += len(seq)
        totals.add("model", pred, truth)
        for name in BASELINES:
            totals.add(name, baseline(name, ctx, horizon), truth)
        have = 0 if shown is None else len(shown[0])
        if have < EXAMPLES:  # from as many batches as it takes (--batch-size 1 too)
            more = tuple(x[:EXAMPLES - have].cpu() for x in (ctx, truth, pred))
            shown = more if shown is None else tuple(torch.cat(pair) for pair in zip(shown, more, strict=True))
        if (i // batch_size) % RELEASE_EVERY == RELEASE_EVERY - 1:
            release_pages(array)
    return totals, shown


def markdown_table(result: dict) -> str:
    """The headline table: model and baselines, one row each."""
    ev = result["evaluated"]
    model = ev.get("model", ev["checkpoint"])
    named = model if model == "the shipped model" else f"`{model}`"
    read = f" ({ev['layout']})" if "layout" in ev else ""
    lines = [f"{named}, {ev['context']} -> {ev['horizon']} frames, {ev['sequences']} sequences of `{ev['data']}`"
             f"{read}", "",
             "| | MSE/frame | MAE/frame | SSIM | SSIM (OpenSTL) | PSNR (dB) | accuracy |",
             "|---|---|---|---|---|---|---|"]
    rows = [("model", result)] + list(result["baselines"].items())
    for who, r in rows:
        openstl = f"{r['ssim_openstl']:.4f}" if "ssim_openstl" in r else "–"  # reports before 0.2 lack it
        lines.append(f"| {who} | {r['mse']:.2f} | {r['mae']:.2f} | {r['ssim']:.4f} | {openstl} | {r['psnr']:.2f} | "
                     f"{r['accuracy']:.4f} |")
    if losses := baseline_wins(result):
        lines += ["", f"**The model does worse than {losses}.**"]
    lines += ["", "MSE/MAE: summed over a frame's pixels (values in [0, 1]), averaged over frames. SSIM: data range 1;",
              "SSIM (OpenSTL): the published figures' convention (scikit-image, data range 2): compare those with it.",
              "Accuracy: pixels on the same side of 0.5; mostly-black frames make it high even for empty predictions",
              "(see `zeros`)."]
    return "\n".join(lines) + "\n"


def baseline_wins(result: dict) -> str:
    """Where a baseline beats the model, in words ("zeros on SSIM and accuracy; copy_last on SSIM"), or ""."""
    parts = []
    for who, r in result["baselines"].items():
        names = [NAMES.get(name, name) for name in METRICS
                 if name in r and (r[name] < result[name] if name in LOWER_IS_BETTER else r[name] > result[name])]
        if names:
            parts.append(f"{who} on {', '.join(names[:-1]) + ' and ' if len(names) > 1 else ''}{names[-1]}")
    return "; ".join(parts)


def write_report(result: dict, shown, out: Path) -> None:
    from .plots import comparison_grid, frame_labels, mark, plot_per_frame, tile, write_gif

    ev = result["evaluated"]
    title = f"{ev['model']} on {ev['data']} ({ev['context']} -> {ev['horizon']} frames)"
    with atomic_files(out, last="metrics.json") as stage:
        plot_per_frame(result, stage / "per_frame.png", title=title)
        ctx, truth, pred = (to_uint8(x.permute(0, 1, 3, 4, 2).numpy()) for x in shown)  # (N, T, H, W, C)
        comparison_grid(ctx, truth, pred, stage / "examples.png", title=title)
        # GIF: each example as truth | prediction, side by side; predicted frames carry a white border.
        panels = []
        for s in range(len(truth)):
            both = np.stack([np.concatenate([ctx[s], truth[s]]), np.concatenate([ctx[s], mark(pred[s])])])
            panels.append(tile(both))
        labels = frame_labels(ctx.shape[1], truth.shape[1], future_text="{name}: truth | predicted (framed)")
        write_gif(_stack_rows(panels), stage / "examples.gif", labels=labels)
        atomic_write_text(stage / "metrics.md", markdown_table(result))
        atomic_write_text(stage / "metrics.json", json.dumps(result, indent=2) + "\n")


def _stack_rows(panels: list[np.ndarray]) -> np.ndarray:
    """`[T, H, W, C]` panels stacked vertically with a grey gap."""
    gap = np.full_like(panels[0][:, :2], 128)
    parts = [p for panel in panels for p in (panel, gap)][:-1]
    return np.concatenate(parts, axis=1)


__all__ = ["evaluate", "baseline", "markdown_table", "METRICS"]
