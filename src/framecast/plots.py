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
from .errors import note  # noqa: E402

DPI = 100  # pixels per inch of the saved figures
SMALL_FRAME = 96  # frames no bigger than this (Moving MNIST's 64x64) keep the grids' 0.9-inch cells
PANEL_WIDTH, PANEL_LONG = 160, 240  # pixels a bigger frame is drawn in a grid: this wide, the longer side at most
# PANEL_LONG (a portrait frame); 640x272 footage's thumbnails were ~60 px wide in the 0.9-inch cells


def _show(ax, frame: np.ndarray, size: tuple[int, int] | None = None) -> None:
    """`frame` `[H, W, C]` in `ax`, first shrunk to `size` (width, height) by area-averaging where given."""
    if size is not None and size[0] < frame.shape[1]:
        frame = _resized(frame, size)
    ax.imshow(frame[..., 0] if frame.shape[-1] == 1 else frame, cmap="gray", vmin=0, vmax=255)
    ax.set_xticks([])
    ax.set_yticks([])


def _save(fig, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, bbox_inches="tight")
    plt.close(fig)


def _resized(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`frame` `[H, W, C]` uint8 at `size` (width, height), area-averaged (Pillow's box filter)."""
    image = Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame).resize(size, Image.Resampling.BOX)
    return np.asarray(image).reshape(size[1], size[0], frame.shape[-1])


def _panel(h: int, w: int) -> tuple[int, int] | None:
    """The (width, height) in pixels a big `h` x `w` frame is drawn at in a grid (its own size up to PANEL_WIDTH
    wide, PANEL_LONG on the longer side), or None for a small frame, drawn in 0.9-inch cells as ever."""
    if max(h, w) <= SMALL_FRAME:
        return None
    width = max(1, round(min(w, PANEL_WIDTH, PANEL_LONG * w / h)))
    return width, max(1, round(width * h / w))


def _grid(rows: int, cols: int, shape: tuple[int, ...], small: tuple[float, float], top: float, path: str | Path):
    """A figure of `rows` x `cols` axes for frames of `shape` (`[..., H, W, C]`) and the size they are drawn at
    (None: as matplotlib fits them). Small frames: `small` inches in all, matplotlib's spacing. Big ones: panels of
    `_panel` pixels, `top` inches above them (titles), and a note where that shrinks the frames."""
    h, w = shape[-3:-1]
    fig, axes = plt.subplots(rows, cols, figsize=small, squeeze=False)
    panel = _panel(h, w)
    if panel is not None:
        pw, ph = panel[0] / DPI, panel[1] / DPI
        gap_w, gap_h = 0.1, 0.25  # inches between panels: room for a frame's name over a row
        width, height = cols * pw + (cols - 1) * gap_w, rows * ph + (rows - 1) * gap_h + top
        fig.set_size_inches(width, height)
        fig.subplots_adjust(left=0, right=1, bottom=0, top=1 - top / height, wspace=gap_w / pw, hspace=gap_h / ph)
        if panel[0] < w:
            note(f"{Path(path).name} shows the {w}x{h} frames {panel[0]} px wide")
    return fig, axes, panel


def sequence_grid(frames: np.ndarray, path: str | Path, title: str | None = None) -> None:
    """A PNG of sequences `[N, T, H, W, C]` uint8: one row per sequence, one column per frame; big frames
    (footage) drawn PANEL_WIDTH pixels wide, whatever their aspect."""
    n, t = frames.shape[:2]
    fig, axes, panel = _grid(n, t, frames.shape, (t * 0.9, n * 0.9 + (0.4 if title else 0)),
                             0.6 if title else 0.25, path)
    for i in range(n):
        for j in range(t):
            _show(axes[i, j], frames[i, j], panel)
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
    wrapped at COLUMNS frames; `title` above it all. Arrays uint8 `[N, T, H, W, C]`; big frames drawn PANEL_WIDTH
    pixels wide."""
    rows = [row for s in range(len(pred)) for row in _grid_rows(context[s], truth[s], pred[s])]
    cols = max(len(cells) for _, cells in rows)
    small = (cols * 0.9, len(rows) * 1.0 + (0.5 if title else 0))  # inches
    fig, axes, panel = _grid(len(rows), cols, pred.shape, small, 0.6 if title else 0.25, path)
    height = fig.get_size_inches()[1]
    for ax_row, (label, cells) in zip(axes, rows, strict=True):
        for j, ax in enumerate(ax_row):
            frame, name = cells[j] if j < len(cells) else (None, None)
            if frame is None:
                ax.axis("off")
                continue
            _show(ax, frame, panel)
            if name:
                ax.set_title(name, fontsize=7)
        ax_row[0].set_ylabel(label, fontsize=7)
    if title:  # just above the grid, whatever the figure's height
        fig.subplots_adjust(top=1 - 0.6 / height)
        fig.suptitle(title, fontsize=9, y=1 - 0.1 / height)
    _save(fig, path)


GIF_WIDTH = 1024  # GIFs are scaled up (nearest neighbour, at most 4x) to about this width: 64-px frames are tiny
GIF_MAX_WIDTH = 960  # wider GIFs are scaled down to this width (area-averaged): an evaluation of 1280x720 footage
# made a 56 MB examples.gif; at this width a few MB
LABEL_HEIGHT, LABEL_SIZE = 16, 12  # pixels of the caption band above each scaled GIF frame, and of its text


def zoom(width: int) -> int:
    """The whole factor pictures `width` pixels wide are scaled up by (nearest neighbour, at most 4x, to about
    GIF_WIDTH): 4 for Moving MNIST's 64-px frames, 1 for footage."""
    return max(1, min(4, GIF_WIDTH // width))


def write_gif(frames: np.ndarray, path: str | Path, fps: float = 4.0, labels: list[str] | None = None) -> None:
    """An animated GIF of `[T, H, W, C]` uint8 frames, scaled up by nearest neighbour (at most 4x) or, wider than
    GIF_MAX_WIDTH, down to it by area-averaging (with a note), with a caption band above each frame when `labels`
    (one per frame) are given, looping forever, written atomically."""
    h, w = frames.shape[1:3]
    size = (GIF_MAX_WIDTH, max(1, round(h * GIF_MAX_WIDTH / w))) if w > GIF_MAX_WIDTH else (w * zoom(w), h * zoom(w))
    if size[0] < w:
        note(f"{Path(path).name} scaled to {size[0]}x{size[1]} px from {w}x{h}, to keep the file small")
    images = []
    for t, f in enumerate(frames):
        image = Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f)
        if size != image.size:
            image = image.resize(size, Image.Resampling.NEAREST if size[0] > w else Image.Resampling.BOX)
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
def _caption_font(size: int = LABEL_SIZE) -> ImageFont.FreeTypeFont:
    """Pillow's built-in font at `size` pixels, loaded once (a load per frame took a third of a GIF's drawing)."""
    return ImageFont.load_default(size=size)


def caption_strip(frames: np.ndarray, texts: list[tuple[str, ...]], at: tuple[int, ...]) -> np.ndarray:
    """`[T, H, W, C]` uint8 frames under a black strip in which frame t's `texts[t][i]` is written in white from
    x = `at[i]` (one text per panel of a side-by-side picture): `[T, H + strip, W, C]`. The text is 5% of the frames'
    height (at least LABEL_SIZE), smaller where the longest would not fit its panel; the strip a little taller."""
    t, h, w, c = frames.shape
    widths = [end - start for start, end in zip(at, (*at[1:], w), strict=True)]  # room of each panel's text
    size = max(LABEL_SIZE, round(h * 0.05))
    while size > 8 and any(_caption_font(size).getlength(text) + 8 > room
                           for line in texts for text, room in zip(line, widths, strict=True)):
        size -= 1
    strip = 2 * round(size * 0.75)  # even: an .mp4 (yuv420p) needs an even height
    bands = np.zeros((t, strip, w), np.uint8)
    for k, line in enumerate(texts):
        band = Image.new("L", (w, strip), 0)
        draw = ImageDraw.Draw(band)
        for text, x in zip(line, at, strict=True):
            draw.text((x + 4, strip // 2), text, fill=255, font=_caption_font(size), anchor="lm")
        bands[k] = np.asarray(band)
    return np.concatenate([np.repeat(bands[..., None], c, axis=-1), frames], axis=1)


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


def mark(frames: np.ndarray, value: int = 255, width: int | None = None) -> np.ndarray:
    """A copy of `[T, H, W, C]` frames with a border drawn (used to tell predicted frames apart), `width` pixels
    wide: by default 2, more on big frames (4 on 1280x720), so that it still shows in a GIF scaled down."""
    width = width or max(2, round(min(frames.shape[1:3]) / 180))
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
