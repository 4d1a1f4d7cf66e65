"""Image sequences from pictures: an animated GIF or a folder of PNG frames decoded to `[T, H, W, C]` arrays, and
frames resized to the size and channels a model takes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from ..config import ModelConfig
from ..errors import UserError, note
from .files import load_sequences, to_uint8, validate_sequences


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
                       key=_in_number_order)  # frame2.png before frame10.png
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


def _in_number_order(path: Path) -> list:
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


def to_model_frames(frames: np.ndarray, cfg: ModelConfig, name: str = "input") -> np.ndarray:
    """Convert `[T, H, W, C]` frames to the channels and size of a model of config `cfg`; say so when converting."""
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
