"""Pictures: sequence grids, comparison grids, animated GIFs and training curves (matplotlib and Pillow).

Frames here are numpy uint8 `[..., T, H, W, C]` (C = 1 or 3), the layout of sequence files.
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no screen is needed (or present on servers)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

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


COLUMNS = 10  # frames per row in comparison grids: a long rollout wraps into rows, not a 2,000-px strip


def _frame_names(context: int, future: int) -> tuple[list[str], list[str]]:
    """Column titles: the context frames t-9 ... t, then the predicted frames t+1, t+2 ..."""
    return ([f"t-{context - 1 - j}" if j < context - 1 else "t" for j in range(context)],
            [f"t+{j + 1}" for j in range(future)])


def _grid_rows(context: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> list[tuple[str, list]]:
    """One sequence's picture rows, each (label, [(frame or None, title or None)]), wrapped at COLUMNS frames:
    context, then for each stretch of the future: truth, prediction and |error| (where there is a truth)."""
    k = min(len(truth), len(pred))  # truth may be shorter than a long rollout
    error = np.abs(truth[:k].astype(np.int16) - pred[:k].astype(np.int16)).astype(np.uint8)
    before, after = _frame_names(len(context), len(pred))
    rows = []
    for start in range(0, len(context), COLUMNS):
        stop = min(start + COLUMNS, len(context))
        rows.append(("context", list(zip(context[start:stop], before[start:stop], strict=True))))
    for start in range(0, len(pred), COLUMNS):
        stop = min(start + COLUMNS, len(pred))
        titled = True  # frame names over the first row of each stretch
        for label, frames in (("truth", truth), ("prediction", pred), ("|error|", error)):
            if label != "prediction" and start >= k:
                continue
            cells = [(frames[j] if j < len(frames) else None, after[j] if titled else None)
                     for j in range(start, stop)]
            rows.append((label, cells))
            titled = False
    return rows


def comparison_grid(context: np.ndarray, truth: np.ndarray, pred: np.ndarray, path: str | Path,
                    title: str | None = None) -> None:
    """For each sequence, rows: context | truth | prediction | |error|, frame names over the columns (t, t+1 ...),
    wrapped at COLUMNS frames; `title` above it all. Arrays uint8 `[N, T, H, W, C]`."""
    rows = [row for s in range(len(pred)) for row in _grid_rows(context[s], truth[s], pred[s])]
    cols = max(len(cells) for _, cells in rows)
    height = len(rows) * 1.0 + (0.5 if title else 0)  # inches
    fig, axes = plt.subplots(len(rows), cols, figsize=(cols * 0.9, height), squeeze=False)
    for ax_row, (label, cells) in zip(axes, rows, strict=True):
        for j, ax in enumerate(ax_row):
            frame, name = cells[j] if j < len(cells) else (None, None)
            if frame is None:
                ax.axis("off")
                continue
            _show(ax, frame)
            if name:
                ax.set_title(name, fontsize=7)
        ax_row[0].set_ylabel(label, fontsize=7)
    if title:  # just above the grid, whatever the figure's height
        fig.subplots_adjust(top=1 - 0.6 / height)
        fig.suptitle(title, fontsize=9, y=1 - 0.1 / height)
    _save(fig, path)


GIF_WIDTH = 1024  # GIFs are scaled up (nearest neighbour, at most 4x) to about this width: 64-px frames are tiny
LABEL_HEIGHT, LABEL_SIZE = 16, 12  # pixels of the caption band above each scaled GIF frame, and of its text


def write_gif(frames: np.ndarray, path: str | Path, fps: float = 4.0, labels: list[str] | None = None) -> None:
    """An animated GIF of `[T, H, W, C]` uint8 frames, scaled up by nearest neighbour (at most 4x), with a
    caption band above each frame when `labels` (one per frame) are given, looping forever, written atomically."""
    scale = max(1, min(4, GIF_WIDTH // frames.shape[2]))
    images = []
    for t, f in enumerate(frames):
        image = Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f)
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
        if labels is not None:
            image = _captioned(image, labels[t])
        images.append(image)
    with atomic_path(path) as tmp:
        # optimize=False: the same pixels in about half the time (Pillow's palette optimisation buys nothing on
        # these frames), and on Moving MNIST a smaller file
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(1000 / fps), loop=0, optimize=False)


def _captioned(image: Image.Image, text: str) -> Image.Image:
    """`image` below a black band with `text` in white, in Pillow's built-in font."""
    out = Image.new(image.mode, (image.width, image.height + LABEL_HEIGHT), 0)
    out.paste(image, (0, LABEL_HEIGHT))
    white = 255 if image.mode == "L" else (255, 255, 255)
    ImageDraw.Draw(out).text((3, 1), text, fill=white, font=_caption_font())
    return out


@functools.cache
def _caption_font() -> ImageFont.FreeTypeFont:
    """Pillow's built-in font at LABEL_SIZE, loaded once (a load per frame took a third of a GIF's drawing)."""
    return ImageFont.load_default(size=LABEL_SIZE)


def frame_labels(context: int, future: int, future_text: str = "predicted {name}") -> list[str]:
    """GIF captions: "context t-9" ... "context t", then `future_text` with each future frame's name: "predicted
    t+1" ..."""
    before, after = _frame_names(context, future)
    return [f"context {name}" for name in before] + [future_text.format(name=name) for name in after]


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


def plot_loss_curve(metrics_csv: str | Path, path: str | Path, rollout: str = "10 -> 10") -> None:
    """Training loss (logged steps) and validation loss (left), validation MSE per frame (right), from metrics.csv;
    `rollout` names what validation predicts ("10 -> 20"). Nothing is written before the first logged loss (a run
    stopped in its first steps)."""
    if not Path(metrics_csv).is_file():
        return
    rows = read_metrics_csv(metrics_csv)

    def series(key):
        pts = [(float(r["step"]), float(r[key])) for r in rows if r.get(key) not in (None, "")]
        return np.array(pts).reshape(-1, 2)

    losses = {key: series(key) for key in ("train_loss_step", "val_loss")}
    if not any(len(pts) for pts in losses.values()):
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    for pts, label, style in zip(losses.values(), ("training (logged steps)", f"validation ({rollout} rollout)"),
                                        ("-", "o-"), strict=True):
        if len(pts):
            left.plot(pts[:, 0], pts[:, 1], style, label=label, markersize=4)
    left.set(xlabel="training step", ylabel="loss (log scale)", title="loss", yscale="log")
    # Plain numbers (0.2, 0.15) on the log axis, not matplotlib's 2x10^-1; the in-between ticks are labelled only
    # when the losses span less than a decade (then no power of ten may be in view), so that labels never crowd.
    values = np.concatenate([pts[:, 1] for pts in losses.values()])
    plain = FuncFormatter(lambda value, _: f"{value:.3g}")
    left.yaxis.set_major_formatter(plain)
    left.yaxis.set_minor_formatter(plain if np.log10(values.max() / values.min()) < 1 else NullFormatter())
    left.legend()
    pts = series("val_mse")
    if len(pts):
        right.plot(pts[:, 0], pts[:, 1], marker=".", color="C1")
    right.set(xlabel="training step", ylabel="MSE per frame (sum over pixels)",
              title=f"validation MSE per frame ({rollout}, lower is better)")
    fig.tight_layout()
    _save(fig, path)


# How per_frame.png titles each metric, and the unit of its axis.
PER_FRAME_TEXT = {
    "mse": ("MSE per frame (lower is better)", "squared error summed over pixels"),
    "mae": ("MAE per frame (lower is better)", "absolute error summed over pixels"),
    "ssim": ("SSIM (higher is better)", "SSIM (1 = identical)"),
    "ssim_openstl": ("SSIM, OpenSTL's (higher is better)", "SSIM with data range 2"),
    "psnr": ("PSNR (higher is better)", "dB"),
    "accuracy": ("pixel accuracy (higher is better)", "share of pixels (threshold 0.5)"),
}


def plot_per_frame(result: dict, path: str | Path, title: str | None = None) -> None:
    """Each metric against the future frame (t+1, t+2 ...), model against baselines (from an evaluate() result),
    with one legend for all panels."""
    names = list(result["per_frame"])
    fig, axes = plt.subplots(1, len(names), figsize=(3.4 * len(names), 3.4), squeeze=False)
    rows = [("model", result)] + list(result["baselines"].items())
    for ax, name in zip(axes[0], names, strict=True):
        for who, r in rows:
            values = r["per_frame"][name]
            ax.plot(range(1, len(values) + 1), values, marker=".", label=who)
        heading, unit = PER_FRAME_TEXT.get(name, (name, name))
        ax.set(title=heading, xlabel="future frame (t+k)", ylabel=unit)
        ax.xaxis.get_major_locator().set_params(integer=True)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(rows), bbox_to_anchor=(0.5, 1.0), frameon=False)
    if title:
        fig.suptitle(title, fontsize=10, y=1.08)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    _save(fig, path)
