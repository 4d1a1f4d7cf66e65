"""Image sequences from pictures: an animated GIF or a folder of PNG/JPEG frames decoded to `[T, H, W, C]` arrays
(each frame's size, as it will be decoded, checked against a budget before any is decoded, and counted again as
each is decoded), and frames resized to the size and channels a model takes."""

from __future__ import annotations

import contextlib
import itertools
import re
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from ..config import MIN_FRAME_SIZE, ModelConfig
from ..errors import UserError, note, plural
from .files import load_sequences, to_uint8, validate_sequences
from .inputs import DATA_ERRORS, reason, require_file
from .limits import CLI, Budget, Tally

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")  # frames in a folder
EXPECTED = "a video, a .npy/.npz, a .gif or a folder of .png frames"  # what a picture that is no file should be


def read_frames(path: str | Path, index: int = 0, layout: str = "auto", budget: Budget = CLI) -> np.ndarray:
    """One sequence as `[T, H, W, C]` (uint8, or float in [0, 1]) from a sequence file (sequence `index`),
    an animated GIF, or a folder of PNG/JPEG frames (sorted by name); pictures within `budget`, every frame
    counted at the size it is decoded at before it is decoded."""
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
        return _read_pictures(files, repr(str(path)), budget.tally(repr(str(path))))
    if path.suffix.lower() == ".gif":
        require_file(path, "input", EXPECTED)  # before opening it: a named pipe would never answer
        return _read_gif(path, budget.tally(repr(str(path))))
    array = load_sequences(path, layout, budget)
    if not -len(array) <= index < len(array):
        raise UserError(f"--index {index} is out of range: {str(path)!r} holds {plural(len(array), 'sequence')}")
    return np.asarray(array[index])


def _in_number_order(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _read_pictures(files: list[Path], name: str, tally: Tally) -> np.ndarray:
    """PNG/JPEG frames `[T, H, W, C]`, refused from their headers (each frame's own size, summed) before any is
    decoded. `name`: the folder, as messages say it (quoted)."""
    headers = [_header(f) for f in files]
    _check_sizes([size for size, _ in headers], name, tally)
    grey = all(mode in GREY_MODES for _, mode in headers)  # no colour to find: one channel from the start
    return _stack(_pictures(files), len(files), headers[0][0], grey, name, tally)


def _pictures(files: list[Path]):
    """The pictures at `files`, opened one at a time (headers only) and closed once the next is asked for."""
    for path in files:
        with _open_image(path, load=False) as image:
            yield image


def _read_gif(path: Path, tally: Tally) -> np.ndarray:
    """A GIF's frames `[T, H, W, C]`, refused from its blocks' headers before any is decoded: each frame at the
    size Pillow decodes it at (the screen, grown to hold every frame that reaches past it)."""
    sizes = gif_frame_sizes(path)
    _check_sizes(sizes, tally.name, tally)
    return _stack(_gif_frames(path, sizes), len(sizes), sizes[0], False, tally.name, tally)


def gif_frame_sizes(path: Path) -> list[tuple[int, int]]:
    """The (width, height) of each frame of the GIF at `path` as Pillow decodes it (its image grows to hold a
    frame that reaches past the logical screen, and stays grown), from the GIF's block headers: nothing is
    decoded, the image data is skipped block by block."""
    with open(path, "rb") as f:
        head = f.read(13)
        if len(head) < 13 or not head.startswith((b"GIF87a", b"GIF89a")):
            raise UserError(f"{str(path)!r} is not a readable GIF (it does not start like one)")
        width, height = struct.unpack("<2H", head[6:10])
        _skip_palette(f, head[10])
        sizes = []
        while (kind := f.read(1)) not in (b"", b";"):
            if kind == b"!":  # an extension: its label, then data blocks
                f.read(1)
                _skip_blocks(f)
            elif kind == b",":  # an image: where it lies, its palette, its code size, its data blocks
                descriptor = f.read(9)
                if len(descriptor) < 9:
                    break
                left, top, w, h = struct.unpack("<4H", descriptor[:8])
                width, height = max(width, left + w), max(height, top + h)
                _skip_palette(f, descriptor[8])
                f.read(1)
                _skip_blocks(f)
                sizes.append((width, height))
            # any other byte is skipped, as Pillow does
    if not sizes:
        raise UserError(f"{str(path)!r} is not a readable GIF (no frames)")
    return sizes


def _skip_palette(f, flags: int) -> None:
    if flags & 128:
        f.seek(3 << ((flags & 7) + 1), 1)


def _skip_blocks(f) -> None:
    while (length := f.read(1)) and length[0]:
        f.seek(length[0], 1)


def _gif_frames(path: Path, sizes: list[tuple[int, int]]):
    """The frames of the GIF at `path` as Pillow seeks to them (not yet decoded), each refused if Pillow's size for
    it is not the one its headers gave."""
    with _open_image(path, load=False) as gif:
        for i in itertools.count():
            with _pillow(path):  # only around Pillow: the warnings filter is not left changed while suspended
                try:
                    gif.seek(i)
                except EOFError:  # past the last frame
                    return
            if i >= len(sizes) or gif.size != sizes[i]:
                raise UserError(f"{str(path)!r} is not a readable GIF (frame {i + 1} is not as its header says)")
            yield gif


def _check_sizes(sizes: list[tuple[int, int]], name: str, tally: Tally) -> None:
    """Refuse frames of these (width, height) before decoding: one over the pixel limit, sizes that differ, or
    all of them over the budget."""
    for width, height in sizes:
        tally.budget.check_frame(name, height, width)
    if len(set(sizes)) > 1:
        raise UserError(f"frames of {name} differ in size: {', '.join(f'{w}x{h}' for w, h in sorted(set(sizes)))}")
    width, height = sizes[0]
    tally.expect(len(sizes), height, width, 3)


def _stack(images, count: int, size: tuple[int, int], grey: bool, name: str, tally: Tally) -> np.ndarray:
    """`count` images of `size` (width, height), not yet decoded, decoded one at a time into uint8 `[T, H, W, C]`:
    one channel if `grey` or if every frame turns out grey, else RGB. Each frame is counted by `tally` before it is
    decoded; at most one decoded image is held beside the frames."""
    width, height = size
    out = np.empty((count, height, width, 1 if grey else 3), np.uint8)  # pages taken as frames are written
    colour, read = False, 0
    for image in images:
        if read >= count or image.size != size:  # the file changed since its header was read
            raise UserError(f"frames of {name} differ in size: {width}x{height} and {image.size[0]}x{image.size[1]}")
        tally.add(height, width, 3, name)
        frame = _as_array(_loaded(image, Path(image.filename or name)), grey)
        colour = colour or (frame.ndim == 3 and not _is_grey(frame))
        out[read] = frame.reshape(height, width, -1)  # one channel broadcast into three where needed
        read += 1
    out = out[:read]  # a damaged GIF can hold fewer frames than its headers
    return out if grey or colour else out[..., :1].copy()


@contextlib.contextmanager
def _pillow(path: Path):
    """Pillow at work on the bytes of `path`: whatever it raises about them ends in one line, and its warning
    about large images is not printed (framecast's budget has checked every frame's size, or will refuse it)."""
    what = "GIF" if path.suffix.lower() == ".gif" else "image"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            yield
        except Image.DecompressionBombError as err:  # a frame a header or a GIF's placement makes huge
            raise UserError(f"{str(path)!r} is not a readable {what} (a frame too large to decode: "
                            f"{reason(err)})") from None
        except DATA_ERRORS as err:  # struct.error on a cut GIF, ValueError on a 1 MB+ PNG text or profile chunk
            raise UserError(f"{str(path)!r} is not a readable {what} ({reason(err)})") from None


def _open_image(path: Path, load: bool = True) -> Image.Image:
    """The image at `path`, decoded, or with `load=False` its header only (size, mode, frames of a GIF)."""
    require_file(path, "input", EXPECTED)
    with _pillow(path):
        image = Image.open(path)
    return _loaded(image, path) if load else image


def _header(path: Path) -> tuple[tuple[int, int], str]:
    """The (width, height) and mode of the picture at `path`, from its header."""
    with _open_image(path, load=False) as image:
        return image.size, image.mode


def _loaded(image: Image.Image, path: Path) -> Image.Image:
    with _pillow(path):
        image.load()
    return image


WIDE_GREY = ("I", "I;16", "I;16B", "I;16L")  # how Pillow opens 16-bit grey PNGs
GREY_MODES = ("L", "1", *WIDE_GREY)


def _as_array(image: Image.Image, grey: bool) -> np.ndarray:
    """A decoded image as uint8 `[H, W]` (grey modes, or any mode if `grey`) or `[H, W, 3]`."""
    if image.mode in WIDE_GREY:
        return _grey8(image)
    return np.asarray(image.convert("L" if grey or image.mode in GREY_MODES else "RGB"))


def _grey8(image: Image.Image) -> np.ndarray:
    """A 16-bit grey image as uint8 `[H, W]`, rounded to the nearest level (Pillow's convert("L") clips everything
    above 255); in int32, not float64: a frame of 8192x8192 costs 256 MB, not 512."""
    wide = np.asarray(image, dtype=np.int32)  # PNG has at most 16 bits
    return ((wide + 128) // 257).astype(np.uint8)


def _is_grey(rgb: np.ndarray) -> bool:
    """Whether uint8 `[H, W, 3]` holds the same value in R, G and B everywhere."""
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
