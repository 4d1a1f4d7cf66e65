"""Prediction: read a sequence (a video, a sequence file, a GIF or a folder of frames), roll the model out any
number of frames, and write the result as an MP4 (truth | prediction), a GIF, a PNG grid or a `.npy` array; or
predict every sequence of a file into a `.npy`."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, check_target, folders_removed_if_unfinished
from ..config import DataConfig
from ..data.files import load_sequences, save_sequences, to_uint8, write_npy_chunks
from ..data.images import to_model_frames
from ..data.media import (
    FULL,
    WORKING,
    Reading,
    conform,
    is_sequence_file,
    is_video,
    model_color,
    probe_video,
    read_one,
    reading_for,
    write_video,
)
from ..errors import UserError, note, plural, whole_number
from ..model.predictor import Predictor
from ..preflight import predict_out
from .engine import choose as choose_engine
from .loading import BUILT_IN_PYTHON, model_name, resolve_model
from .memory import fitting_batch
from .precision import choose
from .progress import progress_bar
from .rollout import check_memory, predict_array

DATA_DEFAULTS = DataConfig()  # defaults from their one home


def predict_file(checkpoint: str | Path | Predictor | None = None, *, input: str | Path, out: str | Path,
                 index: int | None = None, limit: int | None = None, context: int = DATA_DEFAULTS.context,
                 horizon: int = DATA_DEFAULTS.horizon, from_end: bool = False, layout: str = "auto",
                 batch_size: int = 32, reading: Reading | None = None, progress: bool = True,
                 engine: str = "auto") -> np.ndarray:
    """Predict `horizon` frames after `context` frames of the input with a checkpoint path or a loaded Predictor
    (default: the shipped model): the input's first `context` frames, or its last with `from_end`.

    One sequence (a video, read as `reading` says; a GIF, a folder of frames, or sequence `index` of a sequence
    file) goes to `out` as an .mp4 (truth | prediction side by side, context first), a .gif (context then marked
    predictions), a .png (a grid) or a .npy (`[1, horizon, H, W, C]` uint8), and the
    predicted uint8 frames `[horizon, H, W, C]` are returned. A sequence file without `index` and a .npy `out`:
    every sequence (or the first `limit`), in batches, into `[N, horizon, H, W, C]`, returned memory-mapped.
    A .npy keeps the input's layout: a sequence file of grey `[N, T, H, W]` gives `[N, horizon, H, W]`.
    `engine`: "torch", "onnx" (ONNX Runtime) or "auto": ONNX Runtime where it was measured to finish the job sooner
    on this machine (see engine.py)."""
    if isinstance(input, np.ndarray):
        raise UserError("input is an array; framecast.predict reads files: for frames in memory, use "
                        "framecast.load().predict(frames, horizon)")
    out = predict_out(out)
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
    model = resolve_model(checkpoint)[0]
    if whole_file:
        return _predict_all(model, source, out, limit=limit, context=context, horizon=horizon, from_end=from_end,
                            layout=layout, batch_size=whole_number("batch_size", batch_size), progress=progress,
                            engine=engine)
    given = reading or WORKING
    full = given.size == FULL and not is_sequence_file(source)  # the model reads its size; the output is full
    reading = reading_for(model, dataclasses.replace(given, size=None) if full else given, source)
    if reading.color == "auto":  # a video is decoded in the model's colour
        reading = dataclasses.replace(reading, color=model_color(model))
    span = {"last": context} if from_end else {"first": context + horizon}  # a video decodes no more than this
    read = dataclasses.replace(reading, size=FULL) if full else reading  # --size full: decoded once, as it is
    originals = to_model_frames(read_one(input, index or 0, layout, read, **span), model.config, str(input))
    frames = conform(originals, Reading(size=reading.size)) if full else originals  # at the model's size
    if len(frames) < context:
        raise UserError(f"{str(input)!r} has {plural(len(frames), 'frame')}; --context {context} needs at least "
                        f"{context}")
    fitting_batch(1, model.config, context + horizon, *frames.shape[1:3], "predict")  # refused if one cannot fit
    check_memory((1,) + frames[:context].shape, horizon)  # predict_array checks too, but after check_target
    ctx, truth = (frames[-context:], frames[:0]) if from_end else (frames[:context], frames[context:context + horizon])
    with folders_removed_if_unfinished(out.parent):  # stopped during the rollout: no empty --out folder
        check_target(out)  # after the input's checks (no empty folder left on a mistake), before the long rollout
        pred = to_uint8(predict_array(model, ctx, horizon, progress=progress, engine=engine))  # (horizon, H, W, C)
        if full:  # back to the footage's own size: the context and truth as they are, the prediction upsampled
            ctx, truth = (originals[-context:], originals[:0]) if from_end else \
                (originals[:context], originals[context:context + horizon])
            pred = upsampled(pred, originals.shape[1:3])
        _say_if_replacing(out)
        where = "last" if from_end else "first"
        fps = probe_video(source).fps if is_video(source) else 10.0
        _write_one(out, ctx, truth, pred, title=f"{_model_name(model)} on {source.name}: {plural(horizon, 'frame')} "
                                                f"after its {where} {context}", fps=fps,
                   channel_axis=not _without_channels(source, pred))
    return pred


def upsampled(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 frames `[T, h, w, C]` resized to `size` (height, width), bicubic, as uint8."""
    if frames.shape[1:3] == tuple(size):
        return frames
    import torch

    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    y = torch.nn.functional.interpolate(x, size=tuple(size), mode="bicubic", align_corners=False)
    return y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _write_one(out: Path, ctx: np.ndarray, truth: np.ndarray, pred: np.ndarray, title: str,
               fps: float = 10.0, channel_axis: bool = True) -> None:
    """One sequence's prediction `[horizon, H, W, C]` (after `ctx`, beside `truth`, both `[T, H, W, C]`, truth
    possibly empty) as the kind of file `out` names: .npy (without its channel axis unless `channel_axis`), .mp4,
    .gif or .png."""
    from ..plots import comparison_grid, frame_labels, mark, write_gif

    suffix = out.suffix.lower()
    if suffix == ".mp4":
        write_video(side_by_side(ctx, truth, pred), out, fps)
    elif suffix == ".npy":
        save_sequences(out, pred[None] if channel_axis else pred[None, ..., 0])  # [1, horizon, H, W(, C)]: a
        # sequence file framecast reads
    elif suffix == ".gif":
        write_gif(np.concatenate([ctx, mark(pred)]), out, labels=frame_labels(len(ctx), len(pred)))
    else:
        empty = np.zeros_like(pred[:0])
        comparison_grid(ctx[None], (truth if len(truth) else empty)[None], pred[None], out, title=title)


def side_by_side(ctx: np.ndarray, truth: np.ndarray, pred: np.ndarray, gap: int = 4) -> np.ndarray:
    """The .mp4's frames `[T, strip + k*H, k*(2W + gap), C]`: the context on both sides, then truth | prediction
    (predicted frames framed in white; grey on the truth's side past the clip's end), scaled up k times as GIFs are
    (4x for 64-px frames, 1x for footage), under a caption strip that names each side's frame: "context t-9" on
    both, then "truth t+1" | "predicted t+1"."""
    from ..plots import caption_strip, frame_labels, mark, zoom

    future = np.full_like(pred, 128)
    future[:len(truth)] = truth[:len(pred)]
    left, right = np.concatenate([ctx, future]), np.concatenate([ctx, mark(pred)])
    frames = np.concatenate([left, np.full_like(left[:, :, :gap], 128), right], axis=2)
    k = zoom(frames.shape[2])
    frames = frames.repeat(k, axis=1).repeat(k, axis=2)  # nearest neighbour
    known = len(ctx) + min(len(truth), len(pred))  # frames with a truth to show
    truths = [text if i < known else "no truth: past the clip's end"
              for i, text in enumerate(frame_labels(len(ctx), len(pred), "truth {name}"))]
    texts = list(zip(truths, frame_labels(len(ctx), len(pred)), strict=True))
    return caption_strip(frames, texts, at=(0, k * (ctx.shape[2] + gap)))


def _batches(model: Predictor, context: np.ndarray, horizon: int, batch_size: int, bar, precision: str, engine: str):
    """uint8 predictions `[b, horizon, H, W, C]` for context frames `[N, T, H, W, C]`, batch by batch, all in
    `precision` by `engine`, chosen once by `_choices`."""
    for i in range(0, len(context), batch_size):
        batch = np.asarray(context[i:i + batch_size])
        yield to_uint8(predict_array(model, batch, horizon, precision=precision, engine=engine))
        bar.update(len(batch))


def _choices(model: Predictor, shape: tuple[int, ...], horizon: int, batch_size: int, engine: str) -> tuple[str, str]:
    """The precision and the engine for every batch of context frames `shape` `[N, T, H, W, C]`, chosen once (a
    choice per batch re-read its cache, and a short last batch could be timed anew)."""
    precision = choose("infer", next(model.parameters()).device, model.config, batch_size).precision
    if engine == "auto" and precision != "fp32":  # ONNX Runtime runs float32; a reduced precision was faster
        return precision, "torch"
    if engine != "torch":
        batch = min(batch_size, shape[0])
        engine = choose_engine(model.eval(), (batch, *shape[1:]), horizon, engine,
                               rollouts=math.ceil(shape[0] / batch)).engine
    return ("fp32" if engine == "onnx" else precision), engine


def _is_sequence_file(path: Path) -> bool:
    return not path.is_dir() and path.suffix.lower() not in (".gif", ".png") and not is_video(path)


def _without_channels(source: Path, pred: np.ndarray) -> bool:
    """Whether predictions `[..., C]` of `source` are written without their channel axis, as the input has none: a
    sequence file holding grey `[N, T, H, W]` (or time-first `[T, N, H, W]`), read from its header."""
    return pred.shape[-1] == 1 and _is_sequence_file(source) and _stored_rank(source) == 4


def _stored_rank(path: Path) -> int | None:
    """The number of axes of the array in a .npy or .npz (its `frames`, or its only array), from the header alone;
    None if it cannot be told (the file was read already, so that is not the user's mistake to report here)."""
    try:
        with open(path, "rb") as f:
            if f.read(6) == b"\x93NUMPY":
                return np.load(path, mmap_mode="r", allow_pickle=False).ndim
        with np.load(path, allow_pickle=False) as archive:
            keys = [name for name in archive.zip.namelist() if name.endswith(".npy")]
            with archive.zip.open("frames.npy" if "frames.npy" in keys else keys[0]) as member:
                version = np.lib.format.read_magic(member)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                return len(read_header(member)[0])
    except Exception:  # noqa: BLE001 - a layout hint, never a failure
        return None


def _model_name(model: Predictor) -> str:
    return model_name(getattr(model, "source", None) or BUILT_IN_PYTHON)


def _say_if_replacing(out: Path) -> None:
    if out.exists():
        note(f"replacing the earlier {out}")


def _predict_all(model: Predictor, source: Path, out: Path, *, limit: int | None, context: int, horizon: int,
                 from_end: bool, layout: str, batch_size: int, progress: bool, engine: str) -> np.ndarray:
    """Every sequence of file `source` (or the first `limit`), in batches, into `out` (.npy `[N, horizon, H, W(,
    C)]` uint8, with a channel axis as the input has one; streamed: memory stays flat for any N); returns it
    memory-mapped."""
    array = load_sequences(source, layout)  # (N, T, H, W, C), memory-mapped
    _, frames, h, w, c = array.shape
    cfg = model.config
    if (h, w, c) != (cfg.frame_size, cfg.frame_size, cfg.channels):
        raise UserError(f"{str(source)!r} has {h}x{w}x{c} frames, but the model takes {cfg.frames_text}")
    if frames < context:
        raise UserError(f"{str(source)!r} has {plural(frames, 'frame')} per sequence; --context {context} needs "
                        f"at least {context}")
    n = len(array) if limit is None else min(limit, len(array))
    batch_size = fitting_batch(batch_size, model.config, context + horizon, h, w, "predict")
    check_memory((min(batch_size, n), context, h, w, c), horizon)
    window = slice(frames - context, frames) if from_end else slice(0, context)
    with folders_removed_if_unfinished(out.parent):
        check_target(out, need_mb=n * horizon * h * w * c / 2**20)
        grey = c == 1 and _stored_rank(source) == 4  # the input has no channel axis: nor has the output
        shape = (n, horizon, h, w) if grey else (n, horizon, h, w, c)
        precision, engine = _choices(model, (n, context, h, w, c), horizon, batch_size, engine)  # before the bar
        with progress_bar(total=n, desc="predict", unit="seq", disable=not progress) as bar, atomic_path(out) as tmp:
            batches = _batches(model, array[:n, window], horizon, batch_size, bar, precision, engine)
            write_npy_chunks(tmp, shape, (b[..., 0] for b in batches) if grey else batches)
            _say_if_replacing(out)
    return np.load(out, mmap_mode="r", allow_pickle=False)
