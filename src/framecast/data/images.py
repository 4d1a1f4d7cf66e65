"""Image sequences from pictures: an animated GIF or a folder of PNG/JPEG frames decoded to `[T, H, W, C]` arrays
(their declared size checked against a budget before decoding), and frames resized to the size and channels a
model takes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from ..config import MIN_FRAME_SIZE, ModelConfig
from ..errors import UserError, note, plural
from .files import load_sequences, to_uint8, validate_sequences
from .limits import CLI, Budget

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")  # frames in a folder


def read_frames(path: str | Path, index: int = 0, layout: str = "auto", budget: Budget = CLI) -> np.ndarray:
    """One sequence as `[T, H, W, C]` (uint8, or float in [0, 1]) from a sequence file (sequence `index`),
    an animated GIF, or a folder of PNG/JPEG frames (sorted by name); pictures within `budget`."""
    path = Path(path)
    if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
        raise UserError(f"{str(path)!r} is one frame; pass a folder of .png frames (sorted by name) or a .gif")
    if index != 0 and (path.is_dir() or path.suffix.lower() == ".gif"):
        raise UserError(f"--index {index} picks a sequence of a sequence file; {str(path)!r} holds one sequence")
    if path.is_dir():
        files = sorted((f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()),
                       key=_in_number_order)  # frame2.png before frame10.png
        if not files:
            raise UserError(f"folder {str(path)!r} holds no .png or .jpg frames (nor videos)")
        width, height = max(_header_size(f) for f in files)
        budget.check(str(path), len(files), height, width, 3)  # before decoding any
        return _images_to_array([_open_image(f) for f in files], str(path))
    if path.suffix.lower() == ".gif":
        gif = _open_image(path, load=False)
        try:
            count = getattr(gif, "n_frames", 1)  # Pillow counts the frames by skipping through them, not decoding
        except (OSError, EOFError, IndexError, ValueError, SyntaxError) as err:
            raise UserError(f"{str(path)!r} is not a readable GIF ({err})") from None
        budget.check(str(path), count, gif.height, gif.width, 3)
        try:
            frames = [frame.copy() for frame in ImageSequence.Iterator(gif)]
        except (OSError, EOFError, IndexError, ValueError, SyntaxError) as err:  # Pillow on a truncated or damaged GIF
            raise UserError(f"{str(path)!r} is not a readable GIF ({err})") from None
        return _images_to_array(frames, str(path))
    array = load_sequences(path, layout, budget)
    if not -len(array) <= index < len(array):
        raise UserError(f"--index {index} is out of range: {str(path)!r} holds {plural(len(array), 'sequence')}")
    return np.asarray(array[index])


def _in_number_order(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _open_image(path: Path, load: bool = True) -> Image.Image:
    """The image at `path`, decoded, or with `load=False` its header only (size, mode, frames of a GIF)."""
    if not path.is_file():
        raise UserError(f"input {str(path)!r} not found; expected a video, a .npy/.npz, a .gif or a folder of "
                        ".png frames")
    try:
        image = Image.open(path)
        return _loaded(image, path) if load else image
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, EOFError, SyntaxError) as err:
        raise UserError(f"{str(path)!r} is not a readable image ({err})") from None


def _header_size(path: Path) -> tuple[int, int]:
    with _open_image(path, load=False) as image:
        return image.size


def _loaded(image: Image.Image, path: Path) -> Image.Image:
    try:
        image.load()
        return image
    except (OSError, Image.DecompressionBombError, EOFError, SyntaxError, ValueError) as err:
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


def to_model_frames(frames: np.ndarray, cfg: ModelConfig, name: str = "input") -> np.ndarray:
    """`[T, H, W, C]` frames as uint8 in the channels of a model of config `cfg`, at their own size (the model is
    fully convolutional), or resized to its one size where it has peepholes; say so when converting."""
    frames = to_uint8(validate_sequences(frames[None], name)[0])
    t, h, w, c = frames.shape
    if min(h, w) < MIN_FRAME_SIZE:
        raise UserError(f"{name} has {w}x{h} frames; framecast needs frames of at least "
                        f"{MIN_FRAME_SIZE}x{MIN_FRAME_SIZE}")
    size = (cfg.frame_size, cfg.frame_size) if cfg.peephole else (h, w)
    if (h, w, c) == (*size, cfg.channels):
        return frames
    if cfg.peephole and h != w:  # resizing would distort the motion
        raise UserError(f"{name} has {w}x{h} frames; the model (with peepholes) takes square ones "
                        f"({cfg.frames_text}): crop the frames to a square")
    note(f"converting {name} from {w}x{h}x{c} to {size[1]}x{size[0]}x{cfg.channels} for the model")
    return conform_frames(frames, cfg.channels, size)


def conform_frames(frames: np.ndarray, channels: int, size: tuple[int, int]) -> np.ndarray:
    """uint8 frames `[T, H, W, C]` in `channels` (1 or 3) and `size` (height, width), by Pillow (bilinear)."""
    t, h, w, c = frames.shape
    if (h, w, c) == (*size, channels):
        return frames
    mode = "L" if channels == 1 else "RGB"
    out = []
    for f in frames:
        image = Image.fromarray(f[..., 0] if c == 1 else f).convert(mode)
        if image.size != size[::-1]:
            image = image.resize(size[::-1], Image.BILINEAR)
        out.append(np.asarray(image).reshape(*size, channels))
    return np.stack(out)
