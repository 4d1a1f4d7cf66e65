"""Prediction: read a sequence (file, GIF or folder of PNGs), roll the model out any number of frames, and
write the result as a GIF, a PNG grid or a `.npy` array; or predict every sequence of a file into a `.npy`."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageSequence, UnidentifiedImageError
from tqdm.auto import tqdm

from .atomic import atomic_path, check_target, folders_removed_if_unfinished
from .checkpoint import model_name, take_or_load
from .config import DataConfig
from .data.dataset import to_tensor
from .data.files import load_sequences, save_sequences, to_uint8, validate_sequences, write_npy_chunks
from .errors import UserError, note, whole_number
from .model import Predictor
from .precision import DTYPES, choose
from .runtime import autocast, inference_layout, physical_memory

D = DataConfig()  # defaults from their one home

OUTPUTS = (".gif", ".png", ".npy")
PROGRESS_AFTER_S = 3.0  # a rollout's progress bar appears once it has run this long: short ones stay quiet


def read_frames(path: str | Path, index: int = 0, layout: str = "auto") -> np.ndarray:
    """One sequence as `[T, H, W, C]` (uint8, or float in [0, 1]) from a sequence file (sequence `index`),
    an animated GIF, or a folder of PNG frames (sorted by name)."""
    path = Path(path)
    if path.suffix.lower() == ".png" and path.is_file():
        raise UserError(f"{str(path)!r} is one frame; pass a folder of .png frames (sorted by name) or a .gif")
    if index != 0 and (path.is_dir() or path.suffix.lower() == ".gif"):
        raise UserError(f"--index {index} picks a sequence of a sequence file; {str(path)!r} holds one sequence")
    if path.is_dir():
        files = sorted((f for f in path.iterdir() if f.suffix.lower() == ".png" and f.is_file()),
                       key=_natural)  # frame2.png before frame10.png
        if not files:
            raise UserError(f"folder {str(path)!r} holds no .png frames")
        return _images_to_array([_open_image(f) for f in files], str(path))
    if path.suffix.lower() == ".gif":
        gif = _open_image(path)  # reads the first frame only; the others are decoded here
        try:
            frames = [frame.copy() for frame in ImageSequence.Iterator(gif)]
        except (OSError, EOFError, IndexError, ValueError, SyntaxError) as err:  # Pillow on a truncated or damaged GIF
            raise UserError(f"{str(path)!r} is not a readable GIF ({err})") from None
        return _images_to_array(frames, str(path))
    array = load_sequences(path, layout)
    if not -len(array) <= index < len(array):
        raise UserError(f"--index {index} is out of range: {str(path)!r} holds {len(array)} sequences")
    return np.asarray(array[index])


def _natural(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _open_image(path: Path) -> Image.Image:
    if not path.is_file():
        raise UserError(f"input {str(path)!r} not found; expected a .npy/.npz, a .gif or a folder of .png frames")
    try:
        image = Image.open(path)
        image.load()
        return image
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
        raise UserError(f"{str(path)!r} is not a readable image ({err})") from None


WIDE_GREY = ("I", "I;16", "I;16B", "I;16L")  # how Pillow opens 16-bit grey PNGs


def _images_to_array(images: list[Image.Image], name: str) -> np.ndarray:
    colour = any(im.mode not in ("L", "1", *WIDE_GREY) and not _is_grey(im) for im in images)
    frames = [_grey8(im) if im.mode in WIDE_GREY else np.asarray(im.convert("RGB" if colour else "L"))
              for im in images]
    frames = [np.repeat(f[..., None], 3, axis=-1) if colour and f.ndim == 2 else f for f in frames]
    if len({f.shape for f in frames}) > 1:
        raise UserError(f"frames of {name!r} differ in size: {sorted({f.shape for f in frames})}")
    stacked = np.stack(frames)
    return stacked[..., None] if stacked.ndim == 3 else stacked  # (T, H, W, C)


def _grey8(image: Image.Image) -> np.ndarray:
    """A 16-bit grey image as uint8 `[H, W]`, scaled (Pillow's convert("L") clips everything above 255)."""
    return np.round(np.asarray(image, dtype=np.float64) / 257).astype(np.uint8)  # PNG has at most 16 bits


def _is_grey(image: Image.Image) -> bool:
    rgb = np.asarray(image.convert("RGB"))
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())


def fit_frames(frames: np.ndarray, model: Predictor, name: str = "input") -> np.ndarray:
    """Convert `[T, H, W, C]` frames to the model's channels and size; say so when converting."""
    cfg = model.config
    frames = to_uint8(validate_sequences(frames[None], name)[0])
    t, h, w, c = frames.shape
    if (h, w, c) == (cfg.frame_size, cfg.frame_size, cfg.channels):
        return frames
    if h != w:  # resizing would distort the motion, and a strip of several clips is not one clip
        raise UserError(f"{name} has {h}x{w} frames; the model takes square ones ({cfg.frames_text}): crop the "
                        "frames to a square (data show's sequences.gif holds several clips side by side)")
    if max(h, w) > 8 * cfg.frame_size or min(h, w) < 4:
        raise UserError(f"{name} has {h}x{w} frames; too far from the model's {cfg.frame_size}x{cfg.frame_size} "
                        "to resize sensibly")
    note(f"converting {name} from {h}x{w}x{c} to the model's {cfg.frames_text}")
    mode = "L" if cfg.channels == 1 else "RGB"
    out = []
    for f in frames:
        image = Image.fromarray(f[..., 0] if c == 1 else f).convert(mode)
        out.append(np.asarray(image.resize((cfg.frame_size, cfg.frame_size), Image.BILINEAR)))
    stacked = np.stack(out)
    return stacked[..., None] if stacked.ndim == 3 else stacked


def check_memory(shape: tuple[int, ...], horizon: int) -> None:
    """Refuse a rollout of `horizon` frames after context `shape` `[B, T, H, W, C]` that needs more than this
    machine's total memory, before it runs for hours: every step's output is kept, then stacked and squashed
    (three float32 copies). A GPU's own memory is not checked: torch reports running out of it at once."""
    b, t, h, w, c = shape
    need, have = 12 * b * (t + horizon) * h * w * c, physical_memory()
    if have is not None and need > have:
        raise UserError(f"horizon {horizon} needs about {need / 2**30:.1f} GiB of memory for the predicted frames, "
                        f"but this machine has {have / 2**30:.1f} GiB; predict fewer frames")


def predict_array(model: Predictor, frames: np.ndarray, horizon: int = D.horizon,
                  progress: bool = False, precision: str = "auto") -> np.ndarray:
    """Predict `horizon` frames after `frames` `[T, H, W(, C)]` or `[B, T, H, W(, C)]` (uint8 or [0, 1] float);
    returns float `[..., horizon, H, W(, C)]` in [0, 1], in the layout given. `progress`: a progress bar with an
    estimate on stderr for a rollout that runs longer than PROGRESS_AFTER_S. `precision`: "auto" (the faster
    one on this machine, see precision.py), "fp32", "bf16" or "fp16"."""
    horizon = whole_number("horizon", horizon)
    if precision not in ("auto", *DTYPES):
        raise UserError(f"precision should be one of auto, {', '.join(DTYPES)}, but got {precision!r}")
    try:
        frames = np.asarray(frames)
    except ValueError as err:  # e.g. a ragged list
        raise UserError(f"frames are not one array ({err}); expected [T, H, W(, C)] or [B, T, H, W(, C)]") from None
    if frames.ndim not in (3, 4, 5):
        raise UserError(f"frames have shape {frames.shape}; expected [T, H, W(, C)] or [B, T, H, W(, C)]")
    channel_axis = frames.ndim in (4, 5) and frames.shape[-1] in (1, 3) and frames.shape[-1] != frames.shape[-2]
    batched = frames.ndim == (5 if channel_axis else 4)
    x = frames if channel_axis else frames[..., None]
    x = x if batched else x[None]
    x = validate_sequences(x, "frames")
    cfg = model.config
    if x.shape[2:] != (cfg.frame_size, cfg.frame_size, cfg.channels):
        raise UserError(f"frames are {x.shape[2]}x{x.shape[3]}x{x.shape[4]}, but the model takes {cfg.frames_text}")
    check_memory(x.shape, horizon)
    device = next(model.parameters()).device
    dtype = choose("infer", device, cfg, len(x), precision).dtype
    with (torch.no_grad(), autocast(device, dtype), inference_layout(model, device, dtype),
          _rollout_bar(model, x.shape[1] + horizon - 1, progress)):
        pred = model.eval()(to_tensor(x).to(device), horizon).float()
    out = pred.permute(0, 1, 3, 4, 2).cpu().numpy()  # (B, horizon, H, W, C)
    out = out if channel_axis else out[..., 0]
    return out if batched else out[0]


@contextlib.contextmanager
def _rollout_bar(model: Predictor, steps: int, show: bool):
    """A progress bar over the `steps` frames of a rollout, moved by the model's output layer, which runs once
    per frame (a forward hook: the rollout loop itself stays in the model)."""
    if not show:
        yield
        return
    with tqdm(total=steps, desc="predict", unit="frame", delay=PROGRESS_AFTER_S) as bar:
        def tick(*_) -> None:  # None: a forward hook that returns something replaces the layer's output
            bar.update()

        hook = model.head.register_forward_hook(tick)
        try:
            yield
        finally:
            hook.remove()


def predict_file(checkpoint: str | Path | Predictor | None = None, *, input: str | Path, out: str | Path,
                 index: int | None = None, limit: int | None = None, context: int = D.context,
                 horizon: int = D.horizon, from_end: bool = False, layout: str = "auto", batch_size: int = 32,
                 progress: bool = True) -> np.ndarray:
    """Predict `horizon` frames after `context` frames of the input with a checkpoint path or a loaded Predictor
    (default: the shipped model): the input's first `context` frames, or its last with `from_end`.

    One sequence (a GIF, a folder of PNG frames, or sequence `index` of a sequence file) goes to `out` as a .gif
    (context then marked predictions), a .png (a grid) or a .npy (`[1, horizon, H, W, C]` uint8), and the
    predicted uint8 frames `[horizon, H, W, C]` are returned. A sequence file without `index` and a .npy `out`:
    every sequence (or the first `limit`), in batches, into `[N, horizon, H, W, C]`, returned memory-mapped."""
    if isinstance(input, np.ndarray):
        raise UserError("input is an array; framecast.predict reads files: for frames in memory, use "
                        "framecast.load().predict(frames, horizon)")
    out = Path(out)
    if out.suffix.lower() not in OUTPUTS:
        raise UserError(f"output {str(out)!r} should end in one of {', '.join(OUTPUTS)}")
    source = Path(input)
    if out.exists() and source.exists() and out.samefile(source):
        raise UserError(f"output {str(out)!r} is the input file; choose another --out")
    if source.is_dir() and out.parent.resolve() == source.resolve():  # it would read as a frame next time
        raise UserError(f"output {str(out)!r} is inside the input folder of frames; choose another --out")
    context, horizon = whole_number("context", context), whole_number("horizon", horizon)
    index = whole_number("index", index, minimum=None) if index is not None else None
    limit = whole_number("limit", limit) if limit is not None else None
    whole_file = index is None and out.suffix.lower() == ".npy" and _is_sequence_file(source)
    if limit is not None and not whole_file:
        raise UserError("--limit takes the first N sequences of a sequence file into a .npy output; "
                        f"{str(out)!r} gets one sequence (drop --limit, or --index)")
    model = take_or_load(checkpoint)[0]
    if whole_file:
        return _predict_all(model, source, out, limit=limit, context=context, horizon=horizon, from_end=from_end,
                            layout=layout, batch_size=whole_number("batch_size", batch_size), progress=progress)
    frames = fit_frames(read_frames(input, index or 0, layout), model, str(input))
    if len(frames) < context:
        raise UserError(f"{str(input)!r} has {len(frames)} frames; --context {context} needs at least {context}")
    check_memory((1,) + frames[:context].shape, horizon)  # predict_array checks too, but after check_target
    ctx, truth = (frames[-context:], frames[:0]) if from_end else (frames[:context], frames[context:context + horizon])
    with folders_removed_if_unfinished(out.parent):  # stopped during the rollout: no empty --out folder
        check_target(out)  # after the input's checks (no empty folder left on a mistake), before the long rollout
        pred = to_uint8(predict_array(model, ctx, horizon, progress=progress))  # (horizon, H, W, C)
        _say_if_replacing(out)
        where = "last" if from_end else "first"
        _write_one(out, ctx, truth, pred, title=f"{_model_name(model)} on {source.name}: {horizon} frames after "
                                                f"its {where} {context}")
    return pred


def _write_one(out: Path, ctx: np.ndarray, truth: np.ndarray, pred: np.ndarray, title: str) -> None:
    """One sequence's prediction `[horizon, H, W, C]` (after `ctx`, beside `truth`, both `[T, H, W, C]`, truth
    possibly empty) as the kind of file `out` names: .npy, .gif or .png."""
    from .plots import comparison_grid, frame_labels, mark, write_gif

    suffix = out.suffix.lower()
    if suffix == ".npy":
        save_sequences(out, pred[None])  # one sequence [1, horizon, H, W, C]: a sequence file framecast reads
    elif suffix == ".gif":
        write_gif(np.concatenate([ctx, mark(pred)]), out, labels=frame_labels(len(ctx), len(pred)))
    else:
        empty = np.zeros_like(pred[:0])
        comparison_grid(ctx[None], (truth if len(truth) else empty)[None], pred[None], out, title=title)


def _batches(model: Predictor, context: np.ndarray, horizon: int, batch_size: int, bar):
    """uint8 predictions `[b, horizon, H, W, C]` for context frames `[N, T, H, W, C]`, batch by batch."""
    for i in range(0, len(context), batch_size):
        batch = np.asarray(context[i:i + batch_size])
        yield to_uint8(predict_array(model, batch, horizon))
        bar.update(len(batch))


def _is_sequence_file(path: Path) -> bool:
    return not path.is_dir() and path.suffix.lower() not in (".gif", ".png")


def _model_name(model: Predictor) -> str:
    return model_name(model.source or "a model built in Python")


def _say_if_replacing(out: Path) -> None:
    if out.exists():
        note(f"replacing the earlier {out}")


def _predict_all(model: Predictor, source: Path, out: Path, *, limit: int | None, context: int, horizon: int,
                 from_end: bool, layout: str, batch_size: int, progress: bool) -> np.ndarray:
    """Every sequence of file `source` (or the first `limit`), in batches, into `out` (.npy `[N, horizon, H, W,
    C]` uint8, streamed: memory stays flat for any N); returns it memory-mapped."""
    array = load_sequences(source, layout)  # (N, T, H, W, C), memory-mapped
    _, frames, h, w, c = array.shape
    cfg = model.config
    if (h, w, c) != (cfg.frame_size, cfg.frame_size, cfg.channels):
        raise UserError(f"{str(source)!r} has {h}x{w}x{c} frames, but the model takes {cfg.frames_text}")
    if frames < context:
        raise UserError(f"{str(source)!r} has {frames} frames per sequence; --context {context} needs at least "
                        f"{context}")
    n = len(array) if limit is None else min(limit, len(array))
    check_memory((min(batch_size, n), context, h, w, c), horizon)
    window = slice(frames - context, frames) if from_end else slice(0, context)
    with folders_removed_if_unfinished(out.parent):
        check_target(out, need_mb=n * horizon * h * w * c / 2**20)
        with tqdm(total=n, desc="predict", unit="seq", disable=not progress) as bar, atomic_path(out) as tmp:
            write_npy_chunks(tmp, (n, horizon, h, w, c), _batches(model, array[:n, window], horizon, batch_size, bar))
            _say_if_replacing(out)
    return np.load(out, mmap_mode="r", allow_pickle=False)
