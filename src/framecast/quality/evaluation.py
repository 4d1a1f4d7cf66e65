"""Evaluation: the model against the baselines (model/baselines.py) on a sequence file or footage, streamed in batches.

A sequence file is scored on its sequences (the first context + horizon frames of each, the field's protocol);
footage (a video, GIF or folder of frames) on its windows of context + horizon frames, every `stride` frames.
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

from ..atomic import atomic_files, atomic_write_text, ensure_writable_dir, folders_removed_if_unfinished
from ..config import DataConfig
from ..data.cuts import footage_cuts
from ..data.files import LAYOUT_WORDS, as_sequences, detect_layout, to_uint8
from ..data.media import WORKING, Footage, Reading, model_color, read_footage, reading_for
from ..data.windows import WindowSet, auto_stride, shots, windows_in
from ..errors import UserError, note, plural, whole_number
from ..inference.loading import model_name, resolve_model
from ..inference.memory import fitting_batch
from ..inference.runtime import exact_float32
from ..model.baselines import baseline
from ..model.predictor import Predictor
from .metrics import METRICS
from .scoring import score

DATA_DEFAULTS = DataConfig()  # defaults from their one home

LOWER_IS_BETTER = ("mse", "mae")  # errors; every other metric (SSIM, PSNR, accuracy) is better higher
# How tables and pictures write each metric.
NAMES = {"mse": "MSE", "mae": "MAE", "ssim": "SSIM", "ssim_openstl": "SSIM (OpenSTL)", "psnr": "PSNR"}


MOST_WINDOWS = 200  # footage is scored on at most this many windows unless a stride is given,
MOST_PIXELS = 3_000_000  # and on fewer of big frames: at most this many frame pixels in all (25 windows of 456x256,
# about 3 minutes on 2 CPU cores; the cells' work grows with the pixels)


def most_windows(height: int, width: int) -> int:
    """The most windows of `height` x `width` frames evaluation scores by default."""
    return max(10, min(MOST_WINDOWS, MOST_PIXELS // (height * width)))


def check_fits(model: Predictor, footage: Footage, context: int, horizon: int) -> None:
    """Refuse data the model cannot take, naming the mismatch and the fix."""
    h, w, c = footage.frame_shape
    frames = max(len(r) for r in footage.recordings)
    cfg, name = model.config, footage.name
    if frames < context + horizon:
        what = "per sequence" if footage.kind == "sequences" else "in its longest recording"
        hint = "; a time-first file needs --layout tnhw" if footage.kind == "sequences" else ""
        raise UserError(f"{name} has {plural(frames, 'frame')} {what}; evaluating {context} -> {horizon} needs "
                        f"{context + horizon} (lower --context or --horizon{hint})")
    if c != cfg.channels or (cfg.peephole and (h, w) != (cfg.frame_size, cfg.frame_size)):
        takes = cfg.frames_text if cfg.peephole else f"frames of {cfg.channels} channel(s)"
        raise UserError(f"{name} has {h}x{w}x{c} frames, but the model takes {takes}; "
                        "evaluate a model trained on such frames")


def scored_windows(footage: Footage, window: int, stride: int | None, limit: int | None) -> tuple[WindowSet, str]:
    """The windows evaluation scores, and how they were chosen in words. A sequence file: the first `window`
    frames of each sequence (with `stride`: every window of each); footage: windows every `stride` frames
    (default: the smallest stride giving at most `most_windows` of the frame size)."""
    if footage.kind == "sequences" and stride is None:
        starts = [(i, 0) for i in range(len(footage.recordings))]
        how = ""
    else:
        cuts = footage_cuts(footage)  # no window straddles a cut (none are looked for in sequence files)
        spans = shots(footage.recordings, cuts, window)
        if not spans:
            longest = max(s.stop - s.start for s in shots(footage.recordings, cuts))
            raise UserError(f"{footage.name}'s longest shot between cuts has {plural(longest, 'frame')}; evaluating "
                            f"needs windows of context + horizon = {window} (lower --context or --horizon)")
        stride = stride or auto_stride(spans, window, most_windows(*footage.frame_shape[:2]))
        starts = windows_in(spans, window, stride)
        within = f" ({plural(len(spans), 'shot')} between cuts)" if any(cuts) else ""
        how = (f"windows of {plural(window, 'frame')} (every {plural(stride, 'frame')}) of "
               f"{plural(len(footage.recordings), 'recording')}{within}")
    return WindowSet(footage.recordings, starts[:limit], window), how


def evaluate(checkpoint: str | Path | Predictor | None = None, *, data: str | Path | np.ndarray,
             out: str | Path | None = None, context: int = DATA_DEFAULTS.context,
             horizon: int = DATA_DEFAULTS.horizon, limit: int | None = None, batch_size: int = 32,
             layout: str = "auto", stride: int | None = None, reading: Reading | None = None,
             progress: bool = True) -> dict:
    """Evaluate a checkpoint path or a loaded Predictor (default: the shipped model; a Predictor is put in eval
    mode) on `data` (a sequence file, a video, GIF or folder of frames, or an array `[N, T, H, W(, C)]`: uint8,
    or float in [0, 1]); write the report to `out` (without `out`, nothing is written); return the metrics.

    Footage is read as `reading` says (colour: the model's, unless given) and scored on windows every `stride`
    frames; `limit`: the first N sequences or windows."""
    context, horizon = whole_number("context", context), whole_number("horizon", horizon)
    batch_size = whole_number("batch_size", batch_size)
    limit = whole_number("limit", limit) if limit is not None else None
    stride = whole_number("stride", stride) if stride is not None else None
    model, source = resolve_model(checkpoint)
    model.eval()
    footage = _footage(data, layout, reading or WORKING, model)
    check_fits(model, footage, context, horizon)
    windows, how = scored_windows(footage, context + horizon, stride, limit)
    h, w, _ = footage.frame_shape
    fitting = fitting_batch(batch_size, model.config, context + horizon, h, w, "evaluate")
    if how:
        memory = f", {fitting} at a time (memory)" if fitting < min(batch_size, len(windows)) else ""
        note(f"scoring {len(windows)} {how.replace('windows', 'window', len(windows) == 1)}{memory}")
    batch_size = fitting
    # Stopped (Ctrl-C, SIGTERM) before the report is written: no empty report folder is left behind.
    with folders_removed_if_unfinished(out) if out is not None else contextlib.nullcontext():
        if out is not None:
            out = ensure_writable_dir(out)  # after the checks: a mistake leaves no empty report folder behind
        n = len(windows)
        device = next(model.parameters()).device
        start = time.perf_counter()
        with torch.no_grad(), exact_float32():  # model and SSIM alike: the same figures on every machine
            totals, shown = score(model, windows, context, horizon, batch_size, progress)
        result = {
            **totals.result(),
            "evaluated": {"model": model_name(source), "checkpoint": source, "data": footage.name,
                          **({"layout": LAYOUT_WORDS[footage.layout]} if footage.kind == "sequences" else {}),
                          "sequences": n, "context": context, "horizon": horizon,
                          "seconds": round(time.perf_counter() - start, 2), "device": str(device),
                          **({"windows": how} if how else {})},
        }
        if out is not None:
            if (out / "metrics.json").exists():
                note(f"replacing the earlier report in {out}")
            write_report(result, shown, out)
    return result


def _footage(data, layout: str, reading: Reading, model: Predictor) -> Footage:
    """The footage `data` names: a file or folder (read_footage), or an in-memory array of sequences."""
    if isinstance(data, np.ndarray):  # the Python API (mnist_test_seq's canonical shape is still time-first)
        used = detect_layout(data, layout, name="data")
        return Footage(as_sequences(data, used, "data"), f"an array of shape {data.shape}", "sequences", used)
    if not isinstance(data, str | os.PathLike):
        raise UserError(f"data should be a file, a folder or a numpy array, but got a {type(data).__name__}")
    return read_footage(data, reading_for(model, reading, data), layout, color=model_color(model))


def markdown_table(result: dict) -> str:
    """The headline table: model and baselines, one row each."""
    ev = result["evaluated"]
    model = ev.get("model", ev["checkpoint"])
    named = model if model == "the shipped model" else f"`{model}`"
    read = f" ({ev['layout']})" if "layout" in ev else ""
    what = f"{ev['sequences']} {ev['windows']} in" if "windows" in ev else f"{plural(ev['sequences'], 'sequence')} of"
    lines = [f"{named}, {ev['context']} -> {ev['horizon']} frames, {what} `{ev['data']}`{read}", "",
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
              "(see `zeros`). Baselines: `zeros` (empty frames), `copy_last` (the last context frame repeated),",
              "`shift` (the last frame moved on at the global velocity phase correlation measures in the context),",
              "`flow` (the last frame advected along the dense optical flow, DIS, over the last 4 context frames)."]
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
    from ..plots import comparison_grid, frame_labels, mark, plot_per_frame, tile, write_gif

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
