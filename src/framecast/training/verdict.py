"""The verdict at the end of a training run: the best model against the baselines on the run's validation windows
(MSE and SSIM), whether a baseline still wins, and whether more minutes or more data would help, read from the
validation curve. Printed by `train` and stored in the run's `metrics.json`."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import torch

from ..data.windows import WindowSet
from ..inference.memory import fitting_batch
from ..inference.runtime import exact_float32
from ..model.baselines import BASELINES
from ..model.predictor import Predictor
from ..quality.scoring import score

IMPROVING = 0.97    # the best of the last RECENT validations under this share of the best before: still learning
RECENT = 3
NEAR_BEST = 1.02    # the last validation within this share of the best: the curve has not turned
OVERFIT = 1.05      # the last validation this much above the best, while training loss fell: data-bound
MIN_WINDOWS = 5     # fewer validation windows than this tell nothing (and they overlap: the error is optimistic)


def judge(model: Predictor, windows: WindowSet, context: int, horizon: int, metrics_csv: Path,
          start: str | None = None) -> dict:
    """The verdict of `model` (the run's best) on validation `windows`, with advice from `metrics_csv`.

    `start`: the baseline the run started as (a residual model starts as copy_last exactly, a flow model as flow),
    which competes: where the model does not beat it beyond the noise (`beats`), the verdict is the start's, and
    says so (`kept_start`, with the paired difference `against_start`): a run ships what it learnt only where its
    validation shows a gain over what it began as."""
    batch = fitting_batch(16, model.config, windows.window, *windows.frame_size, "judge the model")
    with torch.no_grad(), exact_float32():
        # Validation's batch (16, fewer of big frames); only the two metrics the verdict names (SSIM is costly).
        totals, _ = score(model.eval(), windows, context, horizon, batch_size=batch, progress=False,
                          names=("mse", "ssim"))
    result = totals.result()
    against_start = paired(totals.window_mse["model"], totals.window_mse[start], start) if start else None
    kept = start is not None and not beats(against_start, len(windows))
    if kept:  # the run did not show it beats where it began: the start is the model
        result = {**result["baselines"][start], "baselines": result["baselines"]}
        totals.window_mse["model"] = totals.window_mse[start]
    rival = min(BASELINES, key=lambda name: result["baselines"][name]["mse"])  # the best baseline by MSE
    pick = lambda r: {"mse": round(r["mse"], 2), "ssim": round(r["ssim"], 4)}  # noqa: E731
    baselines = {name: pick(result["baselines"][name]) for name in BASELINES}
    mine = pick(result)
    beaten_by = {name: [m for m in ("mse", "ssim") if (b[m] < mine[m] if m == "mse" else b[m] > mine[m])]
                 for name, b in baselines.items()}
    return {"windows": len(windows), "context": context, "horizon": horizon, "model": mine, "baselines": baselines,
            "beaten_by": {k: v for k, v in beaten_by.items() if v}, "kept_start": start if kept else None,
            **({"against_start": against_start} if kept else {}),
            "against_best": paired(totals.window_mse["model"], totals.window_mse[rival], rival),
            "validations": len((curve := _validation_curve(metrics_csv))[0]), "advice": advice(curve)}


def beats(against: dict, windows: int) -> bool:
    """Whether a paired difference (`paired`'s) shows the model better beyond the noise: on at least MIN_WINDOWS
    windows, below zero by more than twice its standard error (the verdict's own test, `_noise_line`)."""
    return windows >= MIN_WINDOWS and against["difference"] < 0 and abs(against["difference"]) > 2 * against[
        "standard_error"]


def difference(a, b) -> tuple[float, float]:
    """The mean of `a - b`, paired item by item (e.g. two predictors' MSE on the same windows), and its standard
    error (infinite for a single pair)."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    error = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else math.inf
    return float(diff.mean()), error


def paired(model: list[float], rival: list[float], name: str) -> dict:
    """The model's MSE per frame minus a baseline's, window by window: mean and standard error."""
    mean, error = difference(model, rival)
    return {"baseline": name, "difference": round(mean, 2), "standard_error": round(error, 2)}


def _noise_line(verdict: dict) -> str:
    """Whether the model's MSE differs from the best baseline's by more than the windows' noise, in words."""
    against, n = verdict["against_best"], verdict["windows"]
    diff, error, name = against["difference"], against["standard_error"], against["baseline"]
    told = f"model - {name} = {diff:+.1f} +- {error:.1f} MSE/frame (standard error over {n} window(s))"
    if n < MIN_WINDOWS or not abs(diff) > 2 * error:
        return f"{told}: too few windows to tell the two apart; evaluate on more footage"
    return f"{told}: the model is {'better' if diff < 0 else 'worse'}, beyond the noise"


def _validation_curve(metrics_csv: Path) -> tuple[list[float], list[float]]:
    """Validation MSE per frame at each validation, and the training loss of each epoch, from metrics.csv."""
    try:
        with open(metrics_csv, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return [], []
    column = lambda key: [float(r[key]) for r in rows if r.get(key) not in (None, "")]  # noqa: E731
    return column("val_mse"), column("train_loss_epoch")


def advice(curve: tuple[list[float], list[float]]) -> str:
    """Would more minutes help, or more data? From validation MSE (and training loss) at each validation."""
    val, train = curve
    if len(val) <= RECENT:
        return (f"only {len(val)} validation(s) ran, too few to tell a trend: train longer "
                "(--resume --max-minutes M) to see whether it improves")
    before, recent, best = min(val[:-RECENT]), min(val[-RECENT:]), min(val)
    if recent < IMPROVING * before and val[-1] <= NEAR_BEST * best:
        return (f"validation MSE was still falling ({before:.1f} -> {recent:.1f} over the last {RECENT} "
                "validations): more minutes should help (--resume --max-minutes M)")
    if recent < IMPROVING * before:
        return (f"validation MSE reached its best ({best:.1f}) in the last {RECENT} validations, then rose to "
                f"{val[-1]:.1f}: a few more minutes may help a little; more footage would help more")
    if val[-1] > OVERFIT * min(val) and len(train) >= 2 and train[-1] < train[0]:
        return (f"validation MSE rose from its best ({min(val):.1f}) to {val[-1]:.1f} while the training loss "
                "fell: more footage (or --set flip=true) should help more than more minutes")
    return (f"validation MSE has flattened (best {min(val):.1f}): more minutes will help little; more footage "
            "or a larger model (--set hidden=...) may")


def verdict_lines(verdict: dict) -> list[str]:
    """The verdict in two or three lines for the terminal."""
    m, b = verdict["model"], verdict["baselines"]
    rivals = ", ".join(f"{name} {r['mse']:.1f} / {r['ssim']:.3f}" for name, r in b.items())
    after = f" after {verdict['validations']} validation(s)" if "validations" in verdict else ""
    lines = [f"verdict on {verdict['windows']} validation window(s){after}, {verdict['context']} -> "
             f"{verdict['horizon']}: model MSE/frame {m['mse']:.1f}, SSIM {m['ssim']:.3f}; {rivals}"]
    copy = b.get("copy_last")
    if verdict.get("kept_start"):
        against = verdict.get("against_start") or {}
        told = (f" (model - {against['baseline']} = {against['difference']:+.1f} +- {against['standard_error']:.1f})"
                if against else "")
        lines.append(f"the run did not beat its start, {verdict['kept_start']} (where an untrained model of its "
                     f"kind begins), beyond the noise of these windows{told}: best.ckpt holds the start, so the "
                     "model is no worse than it began")
    if verdict["beaten_by"]:
        lost = "; ".join(f"{name} on {' and '.join(k.upper() for k in metrics)}"
                         for name, metrics in verdict["beaten_by"].items())
        lines.append(f"a baseline still wins: {lost}")
    elif copy is not None and copy["mse"] > 0:
        lines.append(f"the model beats every baseline; {100 * (1 - m['mse'] / copy['mse']):.1f}% below copy_last's "
                     "MSE")
    if "against_best" in verdict:
        lines.append(_noise_line(verdict))
    lines.append(verdict["advice"])
    return lines
