"""A model of your own clip, in one call: cut the clip in time (its first 80% to train on, the last 20% held out),
train on the first part within a time budget, score the model against the baselines on the held-out part, predict
its next frames into an .mp4, and say in one sentence whether the model beats the baselines. `framecast try`
calls `try_footage`; everything it writes goes into one folder:

    first.mp4, last.mp4       the two parts, as training and evaluation read them (size, colour, frame step)
    run/                      the training run: best.ckpt, loss_curve.png, metrics.json (its verdict), ...
    eval/                     the report on the last part: metrics.json/.md, per_frame.png, examples.png/.gif
    prediction.mp4            the last part's first context, then truth | prediction
    summary.md, summary.json  the verdict in words, and the figures behind it

The parts are written as videos, not kept as arrays, so that training reads the first part as the footage it is
(random crops and flips, a model that warps from optical flow, validation on its last 10%), exactly as
`framecast train --data` would, and so that the run can be continued or scored again with framecast's own
commands on the files it names.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_write_text, ensure_writable_dir
from ..config import Config, build_config
from ..data.media import Footage, Reading, is_video, read_footage, write_video
from ..data.windows import Span, WindowSet, auto_stride, split_in_time, split_need, windows_in
from ..errors import UserError, note, plural
from ..inference.loading import load
from ..inference.prediction import predict_file
from ..inference.runtime import exact_float32
from ..model.checkpoint import training_summary
from ..quality.evaluation import MOST_WINDOWS, baseline_wins, evaluate, markdown_table
from ..quality.metrics import METRICS
from ..quality.scoring import score
from ..training.run import train
from ..training.run_config import fit_to_footage

FIRST_SHARE = 0.8   # the clip's first 80% is trained on, its last 20% held out: the cut docs/own-footage.md uses
# Of the budget, training gets this share (its last validation, checkpoint and verdict included); the rest is for
# scoring the held-out part and predicting it: about half a minute for the 24 held-out frames of carphone.mp4
# (176x144, the default model) on 2 CPU cores (docs/cli.md, "try"). Evaluation thins its windows where all of them
# would not fit.
TRAIN_SHARE = 0.85
PROBE_FROM, PROBE_WINDOWS = 8, 2  # more held-out windows than PROBE_FROM: time PROBE_WINDOWS of them to estimate
# the evaluation's length
EVAL_SLACK = 0.8    # of the seconds left, the share evaluation's windows may fill: the report's pictures, the
# prediction and a busy machine take the rest
# Config keys a try sets itself: the parts are written as the clip was read, and training reads them as they are
SET_BY_TRY = {"data": "the clip", "max_minutes": "--minutes", "resize": "--size", "color": "--color",
              "frame_step": "--frame-step"}


def try_footage(clip: str | Path, out: str | Path, *, minutes: float = 15.0, preset: str | None = None,
                overrides: dict | None = None, reading: Reading | None = None, progress: bool | None = None,
                started: float | None = None) -> dict:
    """Train a model on the first 80% of `clip` (a video, an animated GIF or a folder of frames) within `minutes`,
    score it and the baselines on the last 20%, and predict that part; write it all into the new folder `out`
    (see the module's docstring) and return the summary (as `summary.json` holds it).

    `preset` and `overrides` configure training as for `framecast.train`; `reading` says how the clip is read
    (e.g. `Reading(size=128)`: 128 pixels on the shorter side), and the parts are written so, for every step to read
    them as they are. `progress`: progress bars (by default on a terminal only).
    `started`: the `time.monotonic()` reading the budget counts from (the command line's start); by default now.

    The clip is checked before anything is written: missing, not a clip, or too short for windows of context +
    horizon frames in both parts is a UserError, and a refused try leaves no `out` folder behind."""
    started = time.monotonic() if started is None else started
    if isinstance(minutes, bool) or not isinstance(minutes, int | float) or not minutes > 0:
        raise UserError(f"minutes should be a number > 0, but got {minutes!r}")
    overrides = dict(overrides or {})
    for key, owner in SET_BY_TRY.items():
        if key in overrides:
            raise UserError(f"{key} is set by {owner} in a try; drop --set {key}=...")
    out = _new_folder(out)
    build_config(preset, None, {**overrides, "data": str(clip)})  # a bad preset or key: told before reading
    frames, fps = _read_clip(Path(clip), reading or Reading())
    _, h, w, c = frames.shape
    as_read = {"resize": f"{h},{w}", "color": "gray" if c == 1 else "rgb", "frame_step": 1}
    config = build_config(preset, None, {**overrides, **as_read, "data": str(clip)})
    split = math.floor(len(frames) * FIRST_SHARE + 1e-9)
    first, last = frames[:split], frames[split:]
    _check_parts(config, str(clip), first, last, (reading or Reading()).step or 1)
    with _removed_if_refused(out):
        ensure_writable_dir(out, need_mb=200)  # a few checkpoints and the parts; fail now, not after training
        tick = time.monotonic()
        write_video(first, out / "first.mp4", fps)
        write_video(last, out / "last.mp4", fps)
        cut = time.monotonic()
        run = {**overrides, **as_read, "data": str(out / "first.mp4"), "max_minutes": TRAIN_SHARE * minutes}
        best = train(out / "run", preset=preset, overrides=run, progress=progress, started=started)
        trained = time.monotonic()
        result, stride, held_out = _score_held_out(load(best), out, last, 60 * minutes - (trained - started),
                                                   progress is not False)
        seconds = {"cut": cut - tick, "train": trained - cut, **held_out, "total": time.monotonic() - started}
        summary = _summary(Path(clip), frames, fps, split, minutes, best, result, stride, seconds)
        atomic_write_text(out / "summary.md", summary_text(summary, result))
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _score_held_out(model, out: Path, last: np.ndarray, seconds: float, progress: bool) -> tuple[dict, int, dict]:
    """Evaluate the trained `model` on `out`/last.mp4 (frames `last`) into `out`/eval, within `seconds` where it can,
    and predict it into `out`/prediction.mp4 (both read it as it is, as training read first.mp4); return evaluate's
    result, the stride of its windows and the seconds of each."""
    data = model.trained_data  # the run's data config, fitted to the footage: context and window length
    context, horizon = data.context, data.frames - data.context
    tick = time.monotonic()
    stride = _stride_that_fits(model, last, context, horizon, seconds)
    result = evaluate(model, data=out / "last.mp4", out=out / "eval", context=context, horizon=horizon,
                      stride=stride, progress=progress)
    evaluated = time.monotonic()
    predict_file(model, input=out / "last.mp4", out=out / "prediction.mp4", context=context, horizon=horizon,
                 progress=progress, engine="torch")
    return result, stride, {"evaluate": evaluated - tick, "predict": time.monotonic() - evaluated}


def _new_folder(out: str | Path) -> Path:
    """`out` as a Path, once it is a new or empty folder: a try's files never mix with an earlier one's."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{str(out)!r} is a file; expected a new folder to write the try into")
    if out.is_dir() and any(out.iterdir()):
        raise UserError(f"{str(out)!r} is not empty; choose a new --out (a try writes first.mp4, last.mp4, run/, "
                        "eval/, prediction.mp4 and summary.md into it)")
    return out


def _read_clip(path: Path, reading: Reading) -> tuple[np.ndarray, float]:
    """The clip's frames `[T, H, W, C]` uint8, read as `reading` says (size, colour, every K-th frame), even-sized,
    and the frames per second they play at."""
    if not path.exists():
        raise UserError(f"clip {str(path)!r} not found")
    if not (is_video(path) or path.suffix.lower() == ".gif" or path.is_dir()):
        raise UserError(f"{str(path)!r} is not a clip; expected a video (.mp4 .webm .mov .avi .mkv), an animated "
                        ".gif or a folder of .png/.jpg frames")
    if path.is_dir() and any(is_video(entry) for entry in path.iterdir()):
        raise UserError(f"{str(path)!r} is a folder of videos; a try cuts one clip: pass one of them")
    footage = read_footage(path, reading)
    frames = footage.recordings[0]
    _, h, w, _ = frames.shape
    # An odd side loses its last row or column: a video stores even sizes, and would pad it with black
    return frames[:, :h - h % 2, :w - w % 2], (footage.fps or 10.0) / (reading.step or 1)


def shortest_clip(window: int) -> int:
    """The fewest frames a clip needs for a try with windows of `window` frames."""
    frames = window
    while (math.floor(frames * FIRST_SHARE + 1e-9) < split_need(window)
           or frames - math.floor(frames * FIRST_SHARE + 1e-9) < window):
        frames += 1
    return frames


def _check_parts(config: Config, name: str, first: np.ndarray, last: np.ndarray, step: int = 1) -> None:
    """Refuse a clip whose parts cannot hold the run's windows, or whose frames training cannot take, before
    anything is written; with the same words `framecast train` would use for the frames."""
    d = config.data
    if len(first) < split_need(d.frames) or len(last) < d.frames:
        every = f" (every {step}-th frame)" if step > 1 else ""
        raise UserError(f"{name!r} has {plural(len(first) + len(last), 'frame')}{every}; a try trains on its first "
                        f"{FIRST_SHARE:.0%} and scores its last {1 - FIRST_SHARE:.0%} on windows of {d.frames} frames "
                        f"(context {d.context} + horizon {d.horizon}), which needs a clip of at least "
                        f"{shortest_clip(d.frames)} frames (or shorter windows: --set frames=N --set context=M)")
    fit_to_footage(config, Footage([first], name, "video"))  # frame size, crop and patch, as training checks them
    split_in_time([first], d.frames, d.val_fraction, config.train.seed)


@contextlib.contextmanager
def _removed_if_refused(out: Path) -> Iterator[None]:
    """Remove what the block wrote into `out` (new or empty before it), and the folders it made, if the block is
    refused (a UserError) before a model was trained; a trained model is kept whatever comes after it."""
    created = [folder for folder in (out, *out.parents) if not folder.exists()]  # deepest first
    try:
        yield
    except UserError:
        if not (out / "run" / "best.ckpt").exists():
            for entry in out.iterdir() if out.is_dir() else ():
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            for folder in created:
                if not folder.is_dir() or any(folder.iterdir()):
                    break
                folder.rmdir()
        raise


def _stride_that_fits(model, last: np.ndarray, context: int, horizon: int, seconds: float) -> int:
    """The stride of the held-out windows evaluation scores: evaluation's own (every frame, or fewer for at most
    MOST_WINDOWS windows) where those fit in `seconds`, timed on a few of them; else a longer one, so that they do.
    A few windows are scored without timing: that would cost as much as scoring them."""
    window = context + horizon
    spans = [Span(0, 0, len(last))]
    stride = auto_stride(spans, window, MOST_WINDOWS)
    windows = len(windows_in(spans, window, stride))
    if windows <= PROBE_FROM:
        return stride
    tick = time.monotonic()
    with torch.no_grad(), exact_float32():  # as evaluation runs
        score(model.eval(), WindowSet([last], windows_in(spans, window, 1)[:PROBE_WINDOWS], window), context,
              horizon, batch_size=PROBE_WINDOWS, progress=False)
    fit = fitting_windows(seconds, (time.monotonic() - tick) / PROBE_WINDOWS)
    if fit >= windows:
        return stride
    left = f"the {seconds / 60:.1f} minutes left" if seconds > 0 else "the budget, spent by now"
    note(f"scoring all {windows} held-out windows would take longer than {left}; scoring {fit}, spread over the "
         "last part")
    return math.ceil(spans[0].positions(window) / fit)


def fitting_windows(seconds: float, per_window: float) -> int:
    """How many windows of `per_window` seconds evaluation may score in `seconds` (at least one)."""
    return max(1, int(EVAL_SLACK * seconds / max(per_window, 1e-9)))


def verdict_words(result: dict, kept: str | None = None) -> dict:
    """The model against the best baseline on MSE, in figures and in words: "the model's MSE is 12.0% below
    copy_last's, the best baseline" (and where a baseline does better on another measure) or "a baseline still
    wins: shift's MSE is 92.0% below the model's (...)"; `model_vs_baseline_percent` < 0 where the model's MSE is
    the lower. `result`: evaluate's; `kept`: the start a run kept as its model (the verdict's `kept_start`), said
    first."""
    rivals = result["baselines"]
    best = min(rivals, key=lambda name: rivals[name]["mse"])
    mine, theirs = result["mse"], rivals[best]["mse"]
    wins = mine < theirs
    said = f"the run kept its start, {kept}, as its model (its validation showed no gain over it)" if kept else ""
    its = "its" if kept else "the model's"  # a kept start is named first, then called "it"
    if kept is not None and kept == best:  # the model is that baseline: say so, not a difference of rounding
        words = f"{said}: {kept} is the best baseline here ({theirs:.2f})"
    elif wins:
        words = f"{its} MSE is {_below(mine, theirs)} below {best}'s, the best baseline"
        if elsewhere := baseline_wins(result):
            words += f"; a baseline does better on another measure: {elsewhere}"
    elif mine == theirs:
        words = f"{its} MSE equals {best}'s, the best baseline ({mine:.2f})"
    else:
        words = (f"a baseline still wins: {best}'s MSE is {_below(theirs, mine)} below {its} "
                 f"({theirs:.2f} against {mine:.2f})")
    if said and kept != best:
        words = f"{said}; {words}"
    change = 100 * (mine / theirs - 1) if theirs > 0 else None
    return {"model_wins": wins, "best_baseline": best, "model_mse": round(mine, 2), "baseline_mse": round(theirs, 2),
            "model_vs_baseline_percent": round(change, 1) if change is not None else None, "words": words}


def _below(lower: float, higher: float) -> str:
    """How far `lower` is below `higher`, as a share of `higher`: "12.0%"."""
    return f"{100 * (1 - lower / higher):.1f}%" if higher > 0 else "0.0%"


def _metrics(report: dict) -> dict:
    """The means of a model's or baseline's report (no per-frame lists)."""
    return {name: round(report[name], 4) for name in METRICS if name in report}


def _summary(clip: Path, frames: np.ndarray, fps: float, split: int, minutes: float, best: Path, result: dict,
             stride: int, seconds: dict) -> dict:
    """What summary.json holds: the clip, its cut, the training run, the held-out scores and the verdict."""
    t, h, w, c = frames.shape
    ev = result["evaluated"]
    run_verdict = json.loads((best.parent / "metrics.json").read_text())["verdict"]
    return {
        "clip": str(clip), "frames": t, "frame_size": [h, w, c], "fps": round(fps, 3),
        "first": {"file": "first.mp4", "frames": split}, "last": {"file": "last.mp4", "frames": t - split},
        "minutes": minutes,
        "training": {"run": "run", "steps": training_summary(best.parent / "last.ckpt").get("steps"),
                     "verdict": run_verdict},
        "evaluation": {"report": "eval", "windows": ev["sequences"], "stride": stride, "context": ev["context"],
                       "horizon": ev["horizon"], "model": _metrics(result),
                       "baselines": {name: _metrics(r) for name, r in result["baselines"].items()}},
        "verdict": verdict_words(result, run_verdict.get("kept_start")),
        "prediction": "prediction.mp4",
        "seconds": {stage: round(s, 1) for stage, s in seconds.items()},
    }


def summary_text(summary: dict, result: dict) -> str:
    """summary.md: the verdict in a sentence, what was done, and the table of evaluate's `result`."""
    ev, s = summary["evaluation"], summary["seconds"]
    h, w, c = summary["frame_size"]
    steps = summary["training"]["steps"]
    lines = [f"# framecast try: {Path(summary['clip']).name}", "",
             f"**On the held-out last {1 - FIRST_SHARE:.0%}, {summary['verdict']['words']}.**", "",
             f"- clip: `{summary['clip']}`, {plural(summary['frames'], 'frame')} of {w}x{h}x{c} at "
             f"{summary['fps']:g} fps; the first {summary['first']['frames']} to train and validate on (`first.mp4`), "
             f"the last {summary['last']['frames']} held out (`last.mp4`)",
             f"- training: {plural(steps, 'step') if steps is not None else 'the run'} in {s['train'] / 60:.1f} "
             f"min of a {summary['minutes']:g}-minute budget (`run/`); {summary['training']['verdict']['advice']}",
             f"- evaluation: {plural(ev['windows'], 'window')} of {ev['context']} -> {ev['horizon']} frames, every "
             f"{plural(ev['stride'], 'frame')}, in {s['evaluate']:.0f} s (`eval/`)",
             f"- prediction: `prediction.mp4` (the context, then truth | prediction) in {s['predict']:.0f} s", "",
             markdown_table(result)]
    return "\n".join(lines).rstrip() + "\n"


__all__ = ["try_footage", "summary_text", "verdict_words", "shortest_clip"]
