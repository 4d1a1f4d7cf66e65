"""Scoring a model on windows of frames: every metric of the model and of each baseline, summed per future
frame as batches stream through. `evaluate` (a report on a file) and the verdict at the end of training use it."""

from __future__ import annotations

import numpy as np
import torch

from ..data.dataset import to_tensor
from ..data.files import release_pages
from ..data.windows import WindowSet
from ..inference.progress import progress_bar
from ..model.baselines import BASELINES, baseline
from ..model.predictor import Predictor
from .metrics import all_metrics

EXAMPLES = 3  # windows kept to show (examples.png / examples.gif)
RELEASE_EVERY = 20  # batches between dropping the memory-mapped pages read so far


class Totals:
    """Running per-frame sums of every metric, for the model and each baseline."""

    def __init__(self, names: tuple[str, ...] | None = None) -> None:
        self.names = names  # the metrics to compute: every one of METRICS by default
        self.sums: dict[str, dict[str, torch.Tensor]] = {}
        self.count = 0
        self.window_mse: dict[str, list[float]] = {}  # each window's, per model or baseline: paired comparisons

    def add(self, who: str, pred: torch.Tensor, target: torch.Tensor) -> None:
        per = self.sums.setdefault(who, {})
        for name, values in all_metrics(pred, target, self.names).items():  # values: (B, T)
            per[name] = per.get(name, 0) + values.sum(dim=0).to("cpu", torch.float64)  # MPS has no float64
            if name == "mse":
                self.window_mse.setdefault(who, []).extend(values.mean(dim=1).tolist())

    def report(self, who: str) -> dict:
        means = {name: (total / self.count).tolist() for name, total in self.sums[who].items()}
        return {**{name: float(np.mean(v)) for name, v in means.items()}, "per_frame": means}

    def result(self) -> dict:
        """The model's metrics, the baselines', and each sequence's MSE (in order, for paired comparisons)."""
        return {**self.report("model"), "baselines": {name: self.report(name) for name in BASELINES},
                "per_sequence": {"mse": self.window_mse.get("model", [])}}



def score(model: Predictor, windows: WindowSet, context: int, horizon: int, batch_size: int,
         progress: bool, names: tuple[str, ...] | None = None) -> tuple[Totals, tuple]:
    """Metric totals of the model and baselines over `windows` (in the model's precision: evaluation runs it in
    exact float32), and the first EXAMPLES windows' (context, truth, prediction) to show. `names`: the metrics to
    compute (METRICS' names), by default all."""
    device = next(model.parameters()).device
    totals, shown = Totals(names), None
    n = len(windows)
    with progress_bar(total=n, desc="evaluate", unit="window", disable=not progress) as bar:
        for i in range(0, n, batch_size):
            # Only this batch becomes float: a memory-mapped file of any size streams through.
            seq = to_tensor(windows.frames(i, min(i + batch_size, n))).to(device)  # (B, T, C, H, W)
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
            if (i // batch_size) % RELEASE_EVERY == RELEASE_EVERY - 1 and isinstance(windows.recordings, np.ndarray):
                release_pages(windows.recordings)
            bar.update(len(seq))
    return totals, shown
