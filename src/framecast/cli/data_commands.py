"""`framecast data generate` and `framecast data show`: files in, files out, streamed in chunks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..atomic import (
    atomic_files,
    atomic_path,
    atomic_write_text,
    check_target,
    ensure_writable_dir,
    folders_removed_if_unfinished,
)
from ..config import DataConfig, ModelConfig
from ..data.cuts import footage_cuts
from ..data.digits import digit_pool
from ..data.files import LAYOUT_WORDS, release_pages, to_uint8, write_npy_chunks
from ..data.media import AS_IS, Footage, Reading, read_footage
from ..data.moving_mnist import check_generator_args, generate
from ..data.windows import shots, windows_in
from ..errors import UserError, plural

DATA_DEFAULTS, MODEL_DEFAULTS = DataConfig(), ModelConfig()  # defaults from their one home

# Frame bytes generated and written at a time (1,000 sequences of the default 20 x 64 x 64): memory stays flat
# for any --num and any sequence length. The chunking is part of what a seed gives, so the default stays.
CHUNK_BYTES = 1000 * DATA_DEFAULTS.frames * MODEL_DEFAULTS.frame_size**2


def generate_file(out: str | Path, *, num: int, frames: int = DATA_DEFAULTS.frames,
                  num_digits: int = DATA_DEFAULTS.num_digits, size: int = MODEL_DEFAULTS.frame_size,
                  speed: float = DATA_DEFAULTS.speed, dynamics: str = DATA_DEFAULTS.dynamics, split: str = "test",
                  mnist: str | None = None, seed: int = 0) -> Path:
    """Write `num` Moving MNIST sequences from one digit split to `out` (.npy, uint8 `[N, T, H, W]`)."""
    out = Path(out)
    if out.suffix.lower() != ".npy":
        raise UserError(f"output {str(out)!r} should end in .npy")
    if num < 1:
        raise UserError(f"number of sequences should be >= 1, but got {num}")
    if seed < 0:
        raise UserError(f"seed should be >= 0, but got {seed}")
    digits = digit_pool(split, mnist)
    check_generator_args(digits, num, frames, num_digits, size, speed, dynamics)
    rng = np.random.default_rng([seed, ("train", "val", "test").index(split)])
    check_target(out, need_mb=num * frames * size * size / 2**20)  # fail before generating, not after
    per = max(1, CHUNK_BYTES // (frames * size * size))  # sequences per chunk
    chunks = (generate(digits, min(per, num - start), frames=frames, num_digits=num_digits, size=size,
                       speed=speed, dynamics=dynamics, seed=rng) for start in range(0, num, per))
    with atomic_path(out) as tmp:
        write_npy_chunks(tmp, (num, frames, size, size), chunks)
    return out


UNITS = {True: "min, max, mean and mean_motion (the mean absolute change of a pixel from one frame to the next) "
               "in levels 0..255", False: "min, max, mean and mean_motion (the mean absolute change of a pixel from "
                                          "one frame to the next) in values 0..1"}
SHOWN_FRAMES = 10  # frames of each stretch of footage data show draws
SUMMARY_CHUNK_VALUES = 2**22  # values read at a time: 4 MB of uint8, and a few times that while computing


def summarize(array: np.ndarray) -> dict:
    """Summary statistics of `[N, T, H, W, C]` sequences, computed chunk by chunk: a few sequences, or a few frames
    of one, at a time (and a memory-mapped file's pages let go after each), in uint8 and int16, or float32 for
    float files, so that a long recording never sits in memory converted or differenced whole.

    Values are reported in the file's own units (0..255 for uint8, 0..1 for float); `mean_motion` is the
    mean absolute change between consecutive frames, in the same units.
    """
    n, t, h, w, c = array.shape
    frame = h * w * c
    per = max(1, SUMMARY_CHUNK_VALUES // (t * frame))  # sequences per chunk, whatever the frame size
    steps = t if per > 1 else max(1, SUMMARY_CHUNK_VALUES // frame)  # frames per chunk of one long sequence
    lo, hi, total, lit, motion = np.inf, -np.inf, 0.0, 0, 0.0
    for first in range(0, n, per):
        for start in range(0, t, steps):
            # the frame before the chunk too, for the change into its first frame
            chunk = np.asarray(array[first:first + per, max(0, start - 1):start + steps])
            fresh = chunk[:, 1:] if start else chunk
            lo, hi = min(lo, float(fresh.min())), max(hi, float(fresh.max()))
            total += float(fresh.sum(dtype=np.float64))
            lit += int(np.count_nonzero(fresh))
            wide = chunk.astype(np.int16 if chunk.dtype == np.uint8 else np.float32)
            motion += float(np.abs(np.diff(wide, axis=1)).sum(dtype=np.float64))
            release_pages(array)
    pixels = array.size
    return {
        "num_sequences": n, "frames": t, "height": h, "width": w, "channels": c, "dtype": str(array.dtype),
        "min": lo, "max": hi, "mean": total / pixels, "lit_fraction": lit / pixels,
        "mean_motion": motion / (n * (t - 1) * h * w * c) if t > 1 else 0.0,
        "units": UNITS[array.dtype == np.uint8],
    }


def summarize_recordings(recordings: list[np.ndarray]) -> dict:
    """`summarize` over recordings `[T, H, W, C]` of any lengths, weighted by their size."""
    parts = [summarize(r[None]) for r in recordings]
    sizes = np.array([r.size for r in recordings], dtype=np.float64)
    moves = np.array([r.size / len(r) * (len(r) - 1) for r in recordings], dtype=np.float64)  # frame pairs' values
    first = parts[0]
    return {
        "recordings": len(recordings), "frames": [len(r) for r in recordings], "height": first["height"],
        "width": first["width"], "channels": first["channels"], "dtype": first["dtype"],
        "min": min(p["min"] for p in parts), "max": max(p["max"] for p in parts),
        "mean": float(np.average([p["mean"] for p in parts], weights=sizes)),
        "lit_fraction": float(np.average([p["lit_fraction"] for p in parts], weights=sizes)),
        "mean_motion": float(np.average([p["mean_motion"] for p in parts], weights=moves)) if moves.sum() else 0.0,
        "units": first["units"],
    }


def show_file(path: str | Path, out: str | Path, *, num: int = 4, layout: str = "auto",
              reading: Reading = AS_IS) -> dict:
    """Write `grid.png`, `sequences.gif` and `summary.json` for a sequence file or footage into `out`; return the
    summary. Footage (a video, GIF, folder of frames or of videos) is shown as `num` stretches of 10 frames,
    evenly spaced through it and each within a shot; its summary lists the cuts found in each recording (the
    frames where a new shot starts: data.cuts)."""
    footage = read_footage(path, reading, layout)
    with folders_removed_if_unfinished(out):  # a failed show (a full disk, a name the system refuses): no empty --out
        return _show(footage, path, ensure_writable_dir(out), num)


def _show(footage: Footage, path: str | Path, out: Path, num: int) -> dict:
    from ..plots import sequence_grid, tile, write_gif

    if footage.kind == "sequences":
        array = footage.recordings
        shown = to_uint8(np.asarray(array[:num]))  # (n, T, H, W, C)
        summary = {"file": str(path), "layout": LAYOUT_WORDS[footage.layout], **summarize(array)}
        what = f"first {plural(len(shown), 'sequence')}"
    else:
        recordings = list(footage.recordings)
        cuts = footage_cuts(footage)
        spans = shots(recordings, cuts)  # stretches within shots: none straddles a cut
        length = min(SHOWN_FRAMES, min(len(r) for r in recordings), max(s.stop - s.start for s in spans))
        starts = windows_in(spans, length, 1, most=num)
        shown = to_uint8(np.stack([recordings[r][s:s + length] for r, s in starts]))
        summary = {"file": str(path), "kind": footage.kind, **({"fps": round(footage.fps, 3)} if footage.fps else {}),
                   **summarize_recordings(recordings), "cuts": cuts}
        what = f"{len(shown)} stretch{'' if len(shown) == 1 else 'es'} of {plural(length, 'frame')}"
    with atomic_files(out, last="summary.json") as stage:
        sequence_grid(shown, stage / "grid.png", title=f"{_drawable(Path(path).name)}: {what}")
        write_gif(tile(shown), stage / "sequences.gif")
        atomic_write_text(stage / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _drawable(name: str) -> str:
    """A file name as a picture's title can draw it: bytes that are not UTF-8 shown as \\xff (Python holds them
    as lone surrogates, which Matplotlib cannot lay out), control characters such as a newline escaped."""
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
