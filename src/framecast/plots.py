"""Pictures: sequence grids, comparison grids, animated GIFs and training curves (matplotlib and Pillow).

Frames here are numpy uint8 `[..., T, H, W, C]` (C = 1 or 3), the layout of sequence files.
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no screen is needed (or present on servers)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from .atomic import atomic_path  # noqa: E402


def _show(ax, frame: np.ndarray) -> None:
    ax.imshow(frame[..., 0] if frame.shape[-1] == 1 else frame, cmap="gray", vmin=0, vmax=255)
    ax.set_xticks([])
    ax.set_yticks([])


def _save(fig, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)


def sequence_grid(frames: np.ndarray, path: str | Path, title: str | None = None) -> None:
    """A PNG of sequences `[N, T, H, W, C]` uint8: one row per sequence, one column per frame."""
    n, t = frames.shape[:2]
    fig, axes = plt.subplots(n, t, figsize=(t * 0.9, n * 0.9 + (0.4 if title else 0)), squeeze=False)
    for i in range(n):
        for j in range(t):
            _show(axes[i, j], frames[i, j])
            if i == 0:
                axes[i, j].set_title(str(j + 1), fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    _save(fig, path)


def comparison_grid(context: np.ndarray, truth: np.ndarray, pred: np.ndarray, path: str | Path) -> None:
    """For each sequence, rows: context | truth | prediction | |error|. Arrays uint8 `[N, T, H, W, C]`."""
    n, k = pred.shape[0], min(truth.shape[1], pred.shape[1])  # truth may be shorter than a long rollout
    cols = max(context.shape[1], pred.shape[1])
    error = np.abs(truth[:, :k].astype(np.int16) - pred[:, :k].astype(np.int16)).astype(np.uint8)
    rows = [("context", context), ("truth", truth), ("prediction", pred), ("|error|", error)]
    fig, axes = plt.subplots(4 * n, cols, figsize=(cols * 0.9, 4 * n * 0.95), squeeze=False)
    for s in range(n):
        for r, (label, frames) in enumerate(rows):
            ax_row = axes[4 * s + r]
            for j in range(cols):
                if j < frames.shape[1]:
                    _show(ax_row[j], frames[s, j])
                else:
                    ax_row[j].axis("off")
            ax_row[0].set_ylabel(label, fontsize=7)
    _save(fig, path)


def write_gif(frames: np.ndarray, path: str | Path, fps: float = 4.0) -> None:
    """An animated GIF of `[T, H, W, C]` uint8 frames, looping forever, written atomically."""
    images = [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f) for f in frames]
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(1000 / fps), loop=0)


def tile(frames: np.ndarray, gap: int = 2, value: int = 128) -> np.ndarray:
    """Side by side: `[K, T, H, W, C]` -> `[T, H, K*W + gaps, C]`, with a grey gap between panels."""
    k, t, h, w, c = frames.shape
    out = np.full((t, h, k * w + (k - 1) * gap, c), value, dtype=np.uint8)
    for i in range(k):
        out[:, :, i * (w + gap): i * (w + gap) + w] = frames[i]
    return out


def mark(frames: np.ndarray, value: int = 255, width: int = 2) -> np.ndarray:
    """A copy of `[T, H, W, C]` frames with a border drawn (used to tell predicted frames apart)."""
    out = frames.copy()
    out[:, :width], out[:, -width:], out[:, :, :width], out[:, :, -width:] = value, value, value, value
    return out


def read_metrics_csv(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def plot_loss_curve(metrics_csv: str | Path, path: str | Path) -> None:
    """Training loss (logged steps) and validation loss (left), validation MSE per frame (right), from metrics.csv."""
    if not Path(metrics_csv).is_file():
        return
    rows = read_metrics_csv(metrics_csv)

    def series(key):
        pts = [(float(r["step"]), float(r[key])) for r in rows if r.get(key) not in (None, "")]
        return np.array(pts).reshape(-1, 2)

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    for key, label, style in (("train_loss_step", "training (logged steps)", "-"),
                              ("val_loss", "validation (10 -> 10 rollout)", "o-")):
        pts = series(key)
        if len(pts):
            left.plot(pts[:, 0], pts[:, 1], style, label=label, markersize=4)
    left.set(xlabel="training step", ylabel="loss", title="loss", yscale="log")
    left.legend()
    pts = series("val_mse")
    if len(pts):
        right.plot(pts[:, 0], pts[:, 1], marker=".", color="C1")
    right.set(xlabel="training step", ylabel="MSE per frame", title="validation MSE per frame (10 -> 10)")
    fig.tight_layout()
    _save(fig, path)


def plot_per_frame(result: dict, path: str | Path) -> None:
    """Each metric against the future frame index, model against baselines (from an evaluate() result)."""
    names = list(result["per_frame"])
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3))
    rows = [("model", result)] + list(result["baselines"].items())
    for ax, name in zip(axes, names, strict=True):
        for who, r in rows:
            values = r["per_frame"][name]
            ax.plot(range(1, len(values) + 1), values, marker=".", label=who)
        ax.set(title=name, xlabel="future frame")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)
