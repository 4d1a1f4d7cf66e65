"""The LightningDataModule: generated Moving MNIST (an endless, resumable stream) or a user's footage (random
windows of the first part of each recording; validation on the held-out last part)."""

from __future__ import annotations

import lightning as L
from torch.utils.data import DataLoader, Dataset

from ..config import Config
from ..data.cuts import footage_cuts
from ..data.dataset import MovingMNISTStream
from ..data.digits import digit_pool
from ..data.media import Footage, config_reading, read_footage
from ..data.moving_mnist import generate
from ..data.windows import WindowSet, WindowStream, split_in_time, windows_in
from ..inference.memory import fitting_batch

LEAST_VALIDATION_WINDOWS = 10  # footage validates on at least this many windows, where its held-out part has them


class StreamLoader(DataLoader):
    """The loader of the endless stream, resumable mid-epoch: Lightning saves its `state_dict` in checkpoints and
    hands it back on --resume (a loader without one draws Lightning's "not resumable" warning). Its position is
    the step of the next batch, as the stream's batch `i` is a pure function of (seed, i, rank)."""

    def __init__(self, stream: MovingMNISTStream, position) -> None:
        super().__init__(stream, batch_size=None)  # the stream yields whole batches
        self.position = position  # () -> the trainer's global step: one batch per optimiser step

    def state_dict(self) -> dict:
        return {"step": int(self.position())}

    def load_state_dict(self, state: dict) -> None:
        self.dataset.start_step = int(state["step"])


class FramecastData(L.LightningDataModule):
    """Generated Moving MNIST (train: endless stream; val: fixed set from unseen digits), or a user's footage
    (train: random windows, crops and flips of the first part of each recording; val: fixed windows of whole
    frames from the held-out last part, or from held-out sequences)."""

    def __init__(self, config: Config, footage: Footage | None = None) -> None:
        """`footage`: the already read `config.data.data`, if there is one."""
        super().__init__()
        self.config, self.footage = config, footage
        self.stream: MovingMNISTStream | WindowStream | None = None
        self.val_set: Dataset | None = None
        self.split = ""  # how a user's footage was split, in words

    def setup(self, stage: str | None = None) -> None:
        if self.val_set is not None:  # train() sets up early, so that bad data fails before Lightning starts
            return
        d, t, m = self.config.data, self.config.train, self.config.model
        if d.data is not None:
            footage = self.footage or read_footage(d.data, config_reading(d), d.layout)
            train, val, self.split = split_in_time(footage.recordings, d.frames, d.val_fraction, t.seed,
                                                   cuts=footage_cuts(footage))  # no window straddles a cut
            self.stream = WindowStream(footage.recordings, train, window=d.frames, batch_size=t.batch_size,
                                       crop=m.frame_size, flip=d.flip, seed=t.seed)
            # Validation scores whole frames: as many windows as cost what val_sequences crops would, and at least
            # enough for the verdict to tell the model from a baseline where the clip has them.
            h, w, _ = footage.frame_shape
            most = max(LEAST_VALIDATION_WINDOWS, d.val_sequences * m.frame_size**2 // (h * w))
            self.val_set = WindowSet(footage.recordings, windows_in(val, d.frames, 1, most), d.frames)
            return
        size = m.frame_size
        kwargs = dict(frames=d.frames, num_digits=d.num_digits, size=size, speed=d.speed, dynamics=d.dynamics)
        self.stream = MovingMNISTStream(digit_pool("train", d.digits), batch_size=t.batch_size,
                                        seed=t.seed, **kwargs)
        val = generate(digit_pool("val", d.digits), d.val_sequences, seed=t.seed + 1, **kwargs)[..., None]
        self.val_set = WindowSet(val, [(i, 0) for i in range(len(val))], d.frames)

    def train_dataloader(self) -> DataLoader:
        return StreamLoader(self.stream, position=lambda: self.trainer.global_step)

    def val_dataloader(self) -> DataLoader:
        d, m = self.config.data, self.config.model
        batch = fitting_batch(max(self.config.train.batch_size, 16), m, d.frames, *self.val_set.frame_size, "validate")
        return DataLoader(self.val_set, batch_size=batch)
