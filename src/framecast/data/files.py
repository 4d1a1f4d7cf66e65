"""Sequence files: load (memory-mapped where possible), validate, and save atomically.

Accepted inputs, all returned as an array view `[N, T, H, W, C]` (no copy for `.npy`):
- framecast's own files: `.npy`, uint8 `[N, T, H, W]`;
- the canonical `mnist_test_seq.npy` (uint8 `[20, 10000, 64, 64]`, time first), recognised by its shape;
  an array with 20 frames first and more along its second axis (the layout of that file and its subsets,
  whatever the name) is read time-first too, with a note naming `layout="nthw"`; any other time-first file
  with `layout="tnhw"`;
- any `.npy` / `.npz` array shaped `[N, T, H, W]` or `[N, T, H, W, C]`, uint8, or float in [0, 1].
"""

from __future__ import annotations

import math
import mmap
import warnings
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..config import LAYOUTS
from ..errors import UserError, note
from .inputs import DATA_ERRORS, amount, reason, require_file
from .limits import CLI, Budget

CANONICAL_SHAPE = (20, 10000, 64, 64)
LAYOUT_WORDS = {"nthw": "sequences first", "tnhw": "time first, transposed"}  # how reports say a file was read
_FLOAT_CHECK_VALUES = 2**22  # values per chunk when scanning float files for NaN / range: 16 MB of float32


def load_sequences(path: str | Path, layout: str = "auto", budget: Budget = CLI) -> np.ndarray:
    """Load a sequence file as `[N, T, H, W, C]` (uint8, or float in [0, 1]); UserError if it is not one, or if
    it is an .npz that unzips to more than `budget` (a .npy is memory-mapped: nothing is read yet)."""
    return read_sequences(path, layout, budget)[0]


def read_sequences(path: str | Path, layout: str = "auto", budget: Budget = CLI) -> tuple[np.ndarray, str]:
    """`load_sequences`, and the layout the file was read in: "nthw" (sequences first) or "tnhw" (time first)."""
    path = Path(path)
    require_file(path, "sequence file", "a .npy or .npz file of frame sequences")
    array = _read_array(path, budget)
    used = detect_layout(array, layout, named=path.stem.startswith("mnist_test_seq"), name=str(path))
    return as_sequences(array, used, repr(str(path))), used


def as_sequences(array: np.ndarray, layout: str = "auto", name: str = "array", named: bool = False) -> np.ndarray:
    """A file's or caller's array as checked `[N, T, H, W, C]` sequences, time-first ones transposed.

    `named`: the file is called mnist_test_seq*, so 20 frames first means time-first (see `detect_layout`).
    `name`: how messages name the array (a file's path quoted, as read_sequences passes it)."""
    if _one_clip(array):  # refused as it is stored, not as it would read transposed
        return validate_sequences(array, name)
    if detect_layout(array, layout, named, name) == "tnhw":
        if array.ndim not in (4, 5):
            raise UserError(f"{name} has shape {array.shape}; expected time-first sequences "
                            "[T, N, H, W] or [T, N, H, W, C]")
        array = array.swapaxes(0, 1)
    return validate_sequences(array, name)


def _read_array(path: Path, budget: Budget = CLI) -> np.ndarray:
    with open(path, "rb") as f:
        magic = f.read(6)
    # a zip's first entry, or the end of an empty zip (numpy would take any other "PK" for a pickle)
    zipped = magic.startswith((b"PK\x03\x04", b"PK\x05\x06"))
    if magic != b"\x93NUMPY" and not zipped:
        raise UserError(f"{str(path)!r} is not a .npy/.npz file (it does not start like one)")
    try:
        # numpy warns (a second line) before refusing a shape whose size overflows; the refusal says it all
        with warnings.catch_warnings(), np.errstate(over="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            if zipped:  # by content, not by name: a zip is an .npz whatever its suffix
                return _read_npz(path, budget)
            _check_npy(path)
            # Memory-map so that files the size of mnist_test_seq.npy stream instead of filling memory.
            return np.load(path, mmap_mode="r", allow_pickle=False)
    except UserError:
        raise
    except ValueError as err:
        if any(hint in str(err) for hint in ("allow_pickle", "Object arrays", "Python objects")):
            raise _pickled(path) from None
        raise UserError(f"{str(path)!r} is not a readable .npy/.npz file ({reason(err)})") from None
    except MemoryError:
        raise UserError(f"{str(path)!r} is not a readable .npy/.npz file (out of memory reading it)") from None
    # Whatever zipfile, zlib, lzma or numpy's header parser raise about the bytes (an encrypted member, an
    # unknown compression method, a header numpy's tokenizer fails on): the file's fault, said in one line.
    except DATA_ERRORS as err:
        raise UserError(f"{str(path)!r} is not a readable .npy/.npz file ({reason(err)})") from None


def _pickled(path: Path) -> UserError:
    return UserError(f"{str(path)!r} holds Python objects, which framecast never unpickles; save plain numeric arrays")


def _read_header(member) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype an .npy header declares, read from an open file positioned at its start."""
    version = np.lib.format.read_magic(member)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(member)
    return shape, dtype


def _declared_bytes(path: Path, shape: tuple[int, ...], dtype: np.dtype, key: str = "") -> int:
    """The bytes an array of `shape` and `dtype` takes; UserError for a shape no array can have."""
    if any(side < 0 for side in shape):
        where = f" ({key})" if key else ""
        raise UserError(f"{str(path)!r} is not a readable .npy/.npz file: its header{where} declares shape {shape}, "
                        "with a negative side")
    return math.prod(shape) * dtype.itemsize  # Python ints: no overflow, however large the shape


def _check_npy(path: Path) -> None:
    """Refuse an .npy whose header declares Python objects, or more data than the file holds (cut short, or a
    shape too large for any memory), before numpy maps it."""
    with open(path, "rb") as f:
        shape, dtype = _read_header(f)
        start = f.tell()
    if dtype.hasobject:
        raise _pickled(path)
    need, held = _declared_bytes(path, shape, dtype), path.stat().st_size - start
    if need > held:
        raise UserError(f"{str(path)!r} declares shape {shape} of {dtype} ({amount(need)}) but holds "
                        f"{amount(held)} of data; the file is cut short or damaged")


def _read_npz(path: Path, budget: Budget = CLI) -> np.ndarray:
    """The sequences of an .npz, checked against `budget` before anything is unzipped: by the sizes its zip
    directory declares, and by the shape its array's header declares."""
    with np.load(path, allow_pickle=False) as archive:
        keys = [name.removesuffix(".npy") for name in archive.zip.namelist() if name.endswith(".npy")]
        if not keys:
            raise UserError(f"{str(path)!r} holds no .npy arrays; expected an .npz of frame sequences")
        if len(keys) > 1 and "frames" not in keys:
            raise UserError(f"{str(path)!r} holds several arrays ({', '.join(keys)}); name the sequences 'frames'")
        key = "frames" if "frames" in keys else keys[0]
        declared = archive.zip.getinfo(f"{key}.npy").file_size
        with archive.zip.open(f"{key}.npy") as member:  # the header only: a few hundred bytes are unzipped
            shape, dtype = _read_header(member)
        need = max(declared, _declared_bytes(path, shape, dtype, key))
        if need > budget.bytes:
            raise UserError(f"{str(path)!r} unzips to {amount(need)} ({key}: shape {shape}, {dtype}), over the "
                            f"budget of {amount(budget.bytes)}{budget.raise_hint}; save it as .npy "
                            "(memory-mapped, no limit)")
        return archive[key]


def detect_layout(array: np.ndarray, layout: str = "auto", named: bool = False, name: str = "array") -> str:
    """The layout an array is read in: `layout` itself unless it is "auto", then "tnhw" (time first) for the
    canonical file's shape, for its name with 20 frames first, or for 20 frames first and more than 20 along
    the second axis (mnist_test_seq's layout and its subsets: 20 sequences of more than 20 frames are the rarer
    file), and "nthw" otherwise. Every time-first reading that the exact canonical shape did not decide prints
    a note naming `--layout nthw`."""
    if layout not in LAYOUTS:
        raise UserError(f"layout should be one of {LAYOUTS}, but got {layout!r}")
    if layout != "auto":
        return layout
    if array.shape == CANONICAL_SHAPE:
        return "tnhw"
    twenty_first = array.ndim in (4, 5) and array.shape[0] == 20 and not _one_clip(array)
    if twenty_first and (array.shape[1] > 20 or (named and array.shape[1] != 20)):
        why = "its name" if named and array.shape[1] < 20 else f"20 frames first, then {array.shape[1]}"
        note(f"reading {Path(name).name!r} {tuple(array.shape)} as time-first [T, N, H, W] ({why}: the "
             "mnist_test_seq layout); pass --layout nthw if its sequences come first")
        return "tnhw"
    return "nthw"


def _one_clip(array: np.ndarray) -> bool:
    """Whether a 4-D array reads better as one clip `[T, H, W, C]` than as sequences `[N, T, H, W]`: frames 1 or 3
    pixels wide are no video, so the last axis is more likely a clip's channels."""
    return array.ndim == 4 and array.shape[-1] in (1, 3) and array.shape[-2] > array.shape[-1]


def validate_sequences(array: np.ndarray, name: str = "array") -> np.ndarray:
    """Check rank, dtype and values; return `[N, T, H, W, C]`. UserError naming the problem otherwise."""
    if _one_clip(array):
        raise UserError(f"{name} has shape {array.shape}, which reads as [N, T, H, W] frames "
                        f"{array.shape[-2]}x{array.shape[-1]} pixels; if it is one sequence [T, H, W, C], "
                        "add a leading axis (array[None])")
    if array.ndim == 4:
        array = array[..., None]
    if array.ndim != 5:
        raise UserError(f"{name} has shape {array.shape}; expected sequences [N, T, H, W] or [N, T, H, W, C]")
    if array.size == 0:
        raise UserError(f"{name} is empty (shape {array.shape}); expected at least one sequence of frames")
    if array.shape[-1] not in (1, 3):
        hint = "; if channels come before height and width, move them last (np.moveaxis(array, 2, -1))"
        raise UserError(f"{name} has {array.shape[-1]} channels (shape {array.shape}); expected 1 or 3"
                        f"{hint if array.shape[2] in (1, 3) else ''}")
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind != "f" or array.dtype.itemsize > 8:
        raise UserError(f"{name} has dtype {array.dtype}; expected uint8 (0..255) or float16/32/64 in [0, 1]")
    n, t = array.shape[:2]
    frame = math.prod(array.shape[2:])
    per = max(1, _FLOAT_CHECK_VALUES // (t * frame))  # sequences per chunk, or frames of one long sequence:
    steps = t if per > 1 else max(1, _FLOAT_CHECK_VALUES // frame)  # a few MB whatever the shape
    for start in range(0, n, per):
        for first in range(0, t, steps):
            chunk = np.asarray(array[start:start + per, first:first + steps])
            if not np.isfinite(chunk).all():
                raise UserError(f"{name} contains NaN or infinite values (sequence >= {start}); clean the frames "
                                "first")
            if chunk.min() < 0 or chunk.max() > 1:
                raise UserError(f"{name} has float values in [{chunk.min():g}, {chunk.max():g}]; expected [0, 1] "
                                "(divide 0..255 data by 255, or save it as uint8)")
            release_pages(array)  # a memory-mapped file's pages read so far: no longer this process's memory
    return array


def release_pages(array: np.ndarray) -> None:
    """Drop the pages of a memory-mapped file that the process has read so far (a no-op for other arrays).

    They stay in the OS page cache, but no longer count as this process's memory: streaming the time-first
    mnist_test_seq.npy touches pages all over the file, which would otherwise end up resident as a whole.
    """
    base = array
    while base is not None and not isinstance(base, np.memmap):
        base = getattr(base, "base", None)  # a torch tensor (the Python API takes them) has none
    handle = getattr(base, "_mmap", None)
    if handle is not None and hasattr(mmap, "MADV_DONTNEED"):
        handle.madvise(mmap.MADV_DONTNEED)


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Frames as uint8 0..255 (float input in [0, 1] is scaled and rounded)."""
    if frames.dtype == np.uint8:
        return np.asarray(frames)
    return np.rint(np.clip(frames, 0, 1) * 255).astype(np.uint8)


def save_sequences(path: str | Path, frames: np.ndarray) -> None:
    """Save uint8 sequences `[N, T, H, W]` (or with channels) as `.npy`, atomically."""
    path = Path(path)
    if path.suffix.lower() != ".npy":
        raise UserError(f"output {str(path)!r} should end in .npy")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: np.save would append .npy to .NPY
        np.save(f, frames, allow_pickle=False)


def write_npy_chunks(path: Path, shape: tuple[int, ...], chunks) -> None:
    """Write a uint8 `.npy` of `shape` from an iterable of uint8 chunks along axis 0, never holding it all.

    Plain appends rather than a memory map, so that resident memory stays flat for files larger than RAM.
    """
    with open(path, "wb") as f:
        np.lib.format.write_array_header_2_0(f, {"descr": "|u1", "fortran_order": False, "shape": shape})
        written = 0
        for chunk in chunks:
            f.write(np.ascontiguousarray(chunk, dtype=np.uint8).tobytes())
            written += len(chunk)
    if written != shape[0]:
        raise ValueError(f"wrote {written} of {shape[0]} sequences")
