"""Cuts: the frames where a recording jumps to another shot (a scene cut, an edit), found so that no window of
context + horizon frames straddles one (a model cannot predict across an edit, and should not learn to).

Each frame is shrunk to a grey thumbnail of THUMBNAIL pixels (camera noise, compression and fine texture average
out), and the change from one frame to the next is the median of the absolute differences of their thumbnails'
pixels, in grey levels 0..255: half the picture changed at least that much. An object moving, however fast, changes
the part of the picture it covers; a cut changes all of it. A cut is a change that is large in itself, many
times the changes around it (the local median: a camera pan changes every frame a lot, not one frame alone) and
larger than the changes just before and after it (a flash, or a whip pan starting, changes several frames in a
row). Cheap: about half a millisecond a frame at the working size, most of it shrinking.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..errors import note, plural

THUMBNAIL = (32, 18)  # (width, height): enough to see the picture change, small enough to ignore noise and texture
CHUNK_FRAMES = 256  # frames shrunk at a time: memory stays flat on any length, and on memory-mapped files
# Measured on H.264 clips at the working size (carphone at every 1st to 8th frame, a pan over a photograph at 2 to
# 16 px a frame, pans over four other photographs, and those clips cut together): within shots the change is at
# most 5.3 levels (26 for a pan of 16 px a frame) and 3.9 times its local median; cuts between scenes changed 38 to
# 75 levels, 10 to 55 times their local median. A jump within one camera set-up where most of the picture stays
# (a talking head's jump cut: 4 to 7 levels) is not a cut here: it looks like the subject moving fast.
LEAST_CHANGE = 10.0  # levels: below this, a jump is too small to tell from a subject's fast motion or noise
TIMES_MEDIAN = 5.0  # a cut changes at least this many times the local median change (see local_median)
NEIGHBOURS = 8  # frames either side whose changes make the local median (a third of a second at 25 fps)
TIMES_NEXT = 1.5  # a cut changes this many times the change just before and just after it (one frame, not a run)
NOISE_FLOOR = 1.0  # levels: the local median of a still shot is at least this (no cut from 0.1 levels to 1)
LEAST_SIDE = 2  # changes a side of the local median needs: one alone may be a fluke


def thumbnails(recording: np.ndarray) -> np.ndarray:
    """Grey thumbnails `[T, 18, 32]` float32 in levels 0..255 of a recording `[T, H, W, C]` (uint8, or float in
    [0, 1]), shrunk by area-averaging CHUNK_FRAMES frames at a time."""
    import cv2  # here, not at the top: importing framecast stays fast

    out = np.empty((len(recording), THUMBNAIL[1], THUMBNAIL[0]), np.float32)
    for start in range(0, len(recording), CHUNK_FRAMES):
        chunk = np.asarray(recording[start:start + CHUNK_FRAMES])  # (t, H, W, C)
        if chunk.dtype != np.uint8:
            chunk = chunk.astype(np.float32) * 255
        for k, frame in enumerate(chunk):
            small = cv2.resize(np.ascontiguousarray(frame), THUMBNAIL, interpolation=cv2.INTER_AREA)
            out[start + k] = small.reshape(THUMBNAIL[1], THUMBNAIL[0], -1).mean(axis=-1)  # grey: channels' mean
    return out


def frame_changes(recording: np.ndarray) -> np.ndarray:
    """`[T - 1]`: the change from each frame to the next, the median absolute difference of their thumbnails'
    pixels in levels 0..255 (entry i: from frame i to frame i + 1)."""
    small = thumbnails(recording)  # (T, 18, 32)
    return np.median(np.abs(np.diff(small, axis=0)), axis=(1, 2))


def local_median(changes: np.ndarray, neighbours: int = NEIGHBOURS) -> np.ndarray:
    """`[N]`: for each change, the median of the `neighbours` changes before it or of those after it, whichever is
    smaller, at least NOISE_FLOOR: a cut from a still shot into a fast one stands out from the still one, where the
    median of both sides together would be the fast one's. At a recording's ends a side needs LEAST_SIDE changes
    to count; a change with neither side has an infinite median (nothing to tell a cut from motion by)."""
    padded = np.pad(changes.astype(np.float64), neighbours, constant_values=np.nan)
    around = np.lib.stride_tricks.sliding_window_view(padded, 2 * neighbours + 1)  # (N, 2n + 1), change i centred
    sides = []
    for side in (around[:, :neighbours], around[:, neighbours + 1:]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice": no changes on this side
            median = np.nanmedian(side, axis=1)
        sides.append(np.where((~np.isnan(side)).sum(axis=1) >= LEAST_SIDE, median, np.nan))
    smaller = np.fmin(*sides)  # the side there is, where one is missing
    return np.maximum(np.nan_to_num(smaller, nan=np.inf), NOISE_FLOOR)


def find_cuts(recording: np.ndarray) -> list[int]:
    """The frames of a recording `[T, H, W, C]` (uint8, or float in [0, 1]) where a new shot starts, in order:
    frame `c` is a cut where the picture jumps from frame `c - 1` to `c` (see the module's docstring)."""
    if len(recording) < 2:
        return []
    changes = frame_changes(recording)  # (T - 1,)
    before = np.concatenate([[0.0], changes[:-1]])
    after = np.concatenate([changes[1:], [0.0]])
    is_cut = ((changes >= LEAST_CHANGE) & (changes >= TIMES_MEDIAN * local_median(changes))
              & (changes >= TIMES_NEXT * np.maximum(before, after)))
    return [int(i) + 1 for i in np.flatnonzero(is_cut)]


def footage_cuts(footage) -> list[list[int]]:
    """The cuts of each recording of `footage` (a media.Footage), said in a note where there are any; none in
    sequence files (each sequence is one shot, and there are thousands of them)."""
    if footage.kind == "sequences":
        return [[] for _ in footage.recordings]
    cuts = [find_cuts(r) for r in footage.recordings]
    if any(cuts):
        where = _frames(cuts[0]) if len(cuts) == 1 else \
            "; ".join(f"recording {i + 1}: {_frames(c)}" for i, c in enumerate(cuts) if c)
        note(f"{plural(sum(map(len, cuts)), 'cut')} in {Path(footage.name).name} (at {where}): no window straddles "
             "a cut")
    return cuts


def _frames(cuts: list[int]) -> str:
    """"frame 30", "frames 30, 57"."""
    return f"frame{'s' if len(cuts) > 1 else ''} {', '.join(map(str, cuts))}"
