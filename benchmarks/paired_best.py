"""Does a `framecast try` model beat the best baseline on the held-out part, or is the gap noise?

For each folder written by `framecast try`, the best of copy_last, shift and flow on its report (`eval/`), that
baseline's MSE per frame on each window of `last.mp4` (read as the model reads footage, every window of context +
horizon frames, as `evaluate` scores them), and the mean paired difference model - baseline with its standard
error, window by window against the report's `per_sequence`.

    python benchmarks/paired_best.py DIR [DIR ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import framecast
from framecast.model.baselines import baseline
from framecast.training.verdict import difference

RIVALS = ("copy_last", "shift", "flow")


def window_mse(name: str, frames: np.ndarray, context: int, horizon: int) -> list[float]:
    """Baseline `name`'s MSE per frame on each window of `frames` uint8 `[T, H, W, C]`, every frame."""
    video = torch.from_numpy(np.asarray(frames, np.float32) / 255).permute(0, 3, 1, 2)  # (T, C, H, W)
    out = []
    for start in range(len(video) - context - horizon + 1):
        window = video[start:start + context + horizon][None]
        pred = baseline(name, window[:, :context], horizon)
        out.append(((pred - window[:, context:]) ** 2).sum(dim=(2, 3, 4)).mean().item())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="folders written by framecast try")
    parser.add_argument("--context", type=int, default=10)
    parser.add_argument("--horizon", type=int, default=10)
    args = parser.parse_args()
    for folder in args.folders:
        report = json.loads((folder / "eval" / "metrics.json").read_text())
        best = min(RIVALS, key=lambda name: report["baselines"][name]["mse"])
        model = framecast.load(folder / "run" / "best.ckpt")
        rival = window_mse(best, framecast.read_video(folder / "last.mp4", model=model), args.context, args.horizon)
        mine = report["per_sequence"]["mse"]
        if len(mine) != len(rival):
            raise SystemExit(f"{folder}: the report scored {len(mine)} windows, the video has {len(rival)}; "
                             "evaluate every window (no --limit or --stride)")
        mean, error = difference(mine, rival)
        print(f"{folder.name}: model {np.mean(mine):.2f}, {best} {np.mean(rival):.2f} (report: "
              f"{report['baselines'][best]['mse']:.2f}); model - {best} = {mean:+.2f} +- {error:.2f} MSE/frame over "
              f"{len(rival)} windows; model / {best} = {np.mean(mine) / np.mean(rival):.3f}")


if __name__ == "__main__":
    main()
