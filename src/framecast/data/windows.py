"""Recordings -> windows of `context + horizon` frames: the split in time between training and validation, the
random windows (and crops, and flips) training draws, and the fixed windows validation and evaluation score.

A recording is `[T, H, W, C]` (uint8, or float in [0, 1]); windows are taken from it by index, so nothing is
copied or converted until a batch is made.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset

from ..errors import UserError, note, plural
from .dataset import to_tensor
from .media import Recordings


@dataclass(frozen=True)
class Span:
    """Frames `[start, stop)` of recording `recording`."""

    recording: int
    start: int
    stop: int

    def positions(self, window: int) -> int:
        """How many windows of `window` frames fit."""
        return max(0, self.stop - self.start - window + 1)


Cuts = Sequence[Sequence[int]]  # for each recording, the frames where a new shot starts (data.cuts.find_cuts)


def shots(recordings: Recordings, cuts: Cuts | None = None, window: int | None = None) -> list[Span]:
    """The shots of `recordings`, in order: each recording's frames between its `cuts` (a recording without cuts
    is one shot). With `window`, only the shots that hold a window of that many frames; the frames of the others
    are said in a note."""
    out = []
    for i, r in enumerate(recordings):
        bounds = [0, *(cuts[i] if cuts else ()), len(r)]
        out += [Span(i, start, stop) for start, stop in zip(bounds, bounds[1:], strict=False) if stop > start]
    if window is None:
        return out
    short = [s for s in out if s.stop - s.start < window]
    if short and any(cuts or ()):
        lost = sum(s.stop - s.start for s in short)
        note(f"{plural(len(short), 'shot')} between cuts {'is' if len(short) == 1 else 'are'} shorter than a window "
             f"of {plural(window, 'frame')}: {plural(lost, 'frame')} not used")
    return [s for s in out if s.stop - s.start >= window]


def held_out_least(window: int) -> int:
    """The fewest frames a long recording holds out for validation with windows of `window` frames: 1.5 windows."""
    return window + window // 2


def split_need(window: int) -> int:
    """Frames one recording needs to train on windows of `window` frames and validate on later ones."""
    return held_out_least(window) + window


def split_in_time(recordings: Recordings, window: int, val_fraction: float, seed: int = 0,
                  cuts: Cuts | None = None) -> tuple[list[Span], list[Span], str]:
    """Training and validation spans that never share a frame, and the split in words.

    Recordings are first split into shots at their `cuts`, so that no window straddles a cut. A shot long enough
    for a training and a validation window (>= 2.5 windows) gives its last `val_fraction` to validation, at least
    1.5 windows (so that a short clip still validates on several windows): the future is held out, as it is when
    a model is used. Shorter shots (Moving MNIST's sequences) are held out whole, a seeded `val_fraction` of
    them; shots shorter than a window are left out."""
    cut = any(cuts or ())
    every = shots(recordings, cuts)
    lengths = [s.stop - s.start for s in every]
    if max(lengths) < window:
        what = "shot (between cuts)" if cut else "recording"
        raise UserError(f"the data's longest {what} has {plural(max(lengths), 'frame')}; a window of context + "
                        f"horizon needs {window}")
    spans = shots(recordings, cuts, window)
    least = held_out_least(window)
    long = [s for s in spans if s.stop - s.start >= split_need(window)]
    short = [k for k, s in enumerate(spans) if s.stop - s.start < split_need(window)]
    train, val = [], []
    for s in long:
        held = max(least, round(val_fraction * (s.stop - s.start)))
        train.append(Span(s.recording, s.start, s.stop - held))
        val.append(Span(s.recording, s.stop - held, s.stop))
    if short:
        order = np.random.default_rng(seed).permutation(short).tolist()
        n_val = 0 if val else max(1, round(val_fraction * len(short)))
        if len(short) - n_val < 1 and not train:
            what, one = ("shot", "shot") if cut else ("sequence", "recording")
            raise UserError(f"the data has {plural(len(short), what)} of {plural(max(lengths), 'frame')}; to "
                            f"hold some out for validation it needs at least 2, or a {one} of at least "
                            f"{split_need(window)} frames (2.5 times context + horizon)")
        val += [spans[k] for k in order[:n_val]]
        train += [spans[k] for k in order[n_val:]]
    unit = "shot" if cut else "recording"
    words = [f"the last {val_fraction:.0%} (at least {least} frames) of {plural(len(long), unit)}"] if long else []
    if short and not long:
        words.append(f"{len(val)} of {plural(len(short), 'shot' if cut else 'sequence')} held out whole")
    return train, val, "validation: " + "; ".join(words)


def windows_in(spans: list[Span], window: int, stride: int, most: int | None = None) -> list[tuple[int, int]]:
    """(recording, first frame) of the windows in `spans` every `stride` frames; with `most`, evenly thinned to
    at most that many."""
    out = [(s.recording, s.start + k) for s in spans for k in range(0, s.positions(window), stride)]
    if most is not None and len(out) > most:
        out = [out[i] for i in np.linspace(0, len(out) - 1, most).round().astype(int)]
    return out


def auto_stride(spans: list[Span], window: int, most: int) -> int:
    """The smallest stride that gives at most `most` windows."""
    return max(1, math.ceil(sum(s.positions(window) for s in spans) / most))


class WindowSet(Dataset):
    """Fixed windows `[window, C, H, W]` float in [0, 1] of recordings, e.g. validation's or evaluation's."""

    def __init__(self, recordings: Recordings, starts: list[tuple[int, int]], window: int) -> None:
        self.recordings, self.starts, self.window = recordings, starts, window

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def frame_size(self) -> tuple[int, int]:
        """(height, width) of the frames (those of the first window's recording)."""
        return tuple(self.recordings[self.starts[0][0]].shape[1:3]) if self.starts else (0, 0)

    def frames(self, i: int, j: int) -> np.ndarray:
        """Windows `i` to `j` as they are stored, `[j - i, window, H, W, C]`."""
        return np.stack([np.asarray(self.recordings[r][s:s + self.window]) for r, s in self.starts[i:j]])

    def __getitem__(self, index: int) -> torch.Tensor:
        return to_tensor(self.frames(index, index + 1))[0]


class WindowStream(IterableDataset):
    """Endless training batches `[B, window, C, crop, crop]` float in [0, 1]: windows at random positions of the
    training spans (each span as likely as its number of windows), random square crops, random horizontal flips.

    Batch `i` is a pure function of `(seed, i, rank)`, as in MovingMNISTStream, so a resumed run sees the data it
    would have seen; the training module sets `start_step`."""

    def __init__(self, recordings: Recordings, spans: list[Span], *, window: int, batch_size: int,
                 crop: int | None = None, flip: bool = False, seed: int = 0) -> None:
        self.recordings, self.window, self.batch_size = recordings, window, batch_size
        self.spans = [s for s in spans if s.positions(window) > 0]
        if not self.spans:
            raise UserError(f"no training recording is {window} frames long (context + horizon)")
        weights = np.array([s.positions(window) for s in self.spans], dtype=np.float64)
        self.weights = weights / weights.sum()
        self.crop, self.flip, self.seed = crop, flip, seed
        self.start_step = 0

    def batch(self, step: int, rank: int = 0) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, step, rank])
        items = []
        for span_no in rng.choice(len(self.spans), size=self.batch_size, p=self.weights):
            span = self.spans[span_no]
            start = span.start + int(rng.integers(span.positions(self.window)))
            clip = self.recordings[span.recording][start:start + self.window]  # (T, H, W, C), a view
            _, h, w, _ = clip.shape
            if self.crop is not None and (h, w) != (self.crop, self.crop):
                top, left = int(rng.integers(h - self.crop + 1)), int(rng.integers(w - self.crop + 1))
                clip = clip[:, top:top + self.crop, left:left + self.crop]
            if self.flip and rng.random() < 0.5:
                clip = clip[:, :, ::-1]
            items.append(np.asarray(clip))
        return to_tensor(np.stack(items))

    def __iter__(self):
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        step = self.start_step
        while True:
            yield self.batch(step, rank)
            step += 1
