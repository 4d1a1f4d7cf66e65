"""Footage in, one door: video files (PyAV, FFmpeg's binding, decoding as a stream), folders of videos, GIFs,
folders of PNG/JPEG frames and `.npy`/`.npz` sequence files, all read as recordings `[T, H, W, C]` uint8
(or, for sequence files, float in [0, 1] as stored).

A video is looked at first (`probe_video`: frames, size, colour, from its header; nothing decoded), checked
against a budget (limits.py), then decoded frame by frame into the size and colour asked for, keeping every
`step`-th frame, so a long high-resolution video never sits in memory whole, nor as float.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import Unreadable, UserError, note, plural
from .files import read_sequences, to_uint8
from .images import IMAGE_SUFFIXES, conform_frames, read_frames
from .inputs import DATA_ERRORS, reason, require_file
from .limits import CLI, Budget, Tally

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".avi", ".mkv", ".m4v")
COLORS = ("auto", "gray", "rgb")
GREY_TOLERANCE = 3  # levels: a grey video stored as YUV comes back with R, G and B this close
VIDEO_HINT = "; read fewer or smaller frames with --frame-step K or --size HEIGHT,WIDTH"  # said when over budget


WORKING_SIDE = 256  # footage is read with its shorter side at most this, unless asked: a 720p or 4K clip then
# trains, validates and evaluates within a few GB and minutes on a laptop CPU (the model is fully convolutional)
FULL = "full"  # a size: the footage's own


@dataclass(frozen=True)
class Reading:
    """How footage is read: colour (gray, rgb, or auto: as the footage is, or as a model was trained), size
    (height, width) to resize to, a whole number for the shorter side (aspect kept), "full" for the footage's
    own, or None for the working size (the shorter side at most WORKING_SIDE, or as the model was trained), and
    every `step`-th frame (None: every frame, or as the model was trained)."""

    color: str = "auto"
    size: tuple[int, int] | int | str | None = None
    step: int | None = None

    def __post_init__(self) -> None:
        if self.color not in COLORS:
            raise UserError(f"color should be one of {', '.join(COLORS)}, but got {self.color!r}")
        if self.step is not None and (isinstance(self.step, bool) or not isinstance(self.step, int) or self.step < 1):
            raise UserError(f"frame step should be a whole number >= 1, but got {self.step!r}")
        if self.size == FULL:
            return
        sizes = (self.size,) if isinstance(self.size, int) else (self.size or ())
        if (isinstance(sizes, str) or any(isinstance(s, bool) or not isinstance(s, int) or s < 4 for s in sizes)
                or len(sizes) > 2):
            raise UserError(f"size should be HEIGHT,WIDTH, the shorter side (whole numbers >= 4) or {FULL!r}, "
                            f"but got {self.size!r}")

    @property
    def every(self) -> int:
        """Frames kept: one in `every`."""
        return self.step or 1

    def over(self, base: Reading) -> Reading:
        """This reading where it says something, `base` where it does not (a model's reading under a user's)."""
        return Reading(color=base.color if self.color == "auto" else self.color,
                       size=base.size if self.size is None else self.size,
                       step=base.step if self.step is None else self.step)

    def target(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) frames of `height` x `width` are read at."""
        size = self.size
        if size is None:  # the working size: big footage is read smaller, small footage as it is
            size = WORKING_SIDE if min(height, width) > WORKING_SIDE else FULL
        if size == FULL:
            return height, width
        if isinstance(size, int):  # the shorter side; the other keeps the aspect, rounded to even
            scale = size / min(height, width)
            return tuple(size if side == min(height, width) else max(4, 2 * round(side * scale / 2))
                         for side in (height, width))
        return tuple(size)

    def say_size(self, name: str, height: int, width: int) -> None:
        """Say that footage is read smaller than it is, where the user did not ask for a size."""
        h, w = self.target(height, width)
        if self.size is None and (h, w) != (height, width):
            note(f"reading {Path(name).name} ({width}x{height}) at {w}x{h}; --size to choose (--size full: as it is)")


AS_IS = Reading(size=FULL)  # footage as it is: its colour, its size, every frame
WORKING = Reading()  # footage at the working size: what every command reads unless told otherwise


@dataclass(frozen=True)
class VideoInfo:
    """What a video's header says: frames (an estimate where the container does not count them), size, colour
    channels (1 for grey pixel formats), frames per second."""

    frames: int
    height: int
    width: int
    channels: int
    fps: float
    counted: bool = True  # the container counts its frames; False: `frames` is estimated from a duration


def model_color(model) -> str:
    """The colour footage is decoded in for a model (a Predictor): its channels'."""
    return "gray" if model.config.channels == 1 else "rgb"


def config_reading(data) -> Reading:
    """How a run's data config (a DataConfig) reads footage: its colour, frame step and size (`resize`: HEIGHT,
    WIDTH, the shorter side, 0 for the footage's own, or None for the working size)."""
    r = data.resize
    size = None if r is None else FULL if tuple(r) == (0,) else r[0] if len(r) == 1 else tuple(r)
    return Reading(color=data.color, size=size, step=data.frame_step)


def reading_for(model, given: Reading = WORKING, path: str | Path | None = None) -> Reading:
    """How footage at `path` is read for `model` (a Predictor): what `given` says, and where it says nothing,
    the size and frame step the model's training read (the working size for a model not trained on footage).
    Colour stays `given`'s (read_footage's `color` gives the model's). Sequence files are read as `given` says
    only: they are memory-mapped, and resizing them would decode them whole."""
    data = getattr(model, "trained_data", None)
    if path is not None and is_sequence_file(path) or data is None or data.data is None:
        return given
    return given.over(dataclasses.replace(config_reading(data), color="auto"))


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def is_sequence_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in (".npy", ".npz")


def _open(path: Path, decode: bool = True):
    """The container of the video at `path`; with `decode=False` opened from headers only (FFmpeg's look at a
    stream decodes up to 7 frames of an H.264 video: 850 MB for one of 16000x16000)."""
    import av  # PyAV is imported only by those who read or write video

    try:
        container = av.open(str(path), options=None if decode else {"skip_frame": "all"})
    except (av.error.FFmpegError, *DATA_ERRORS) as err:
        raise Unreadable(f"{str(path)!r} is not a readable video ({reason(err)})") from None
    if not container.streams.video:
        container.close()
        raise Unreadable(f"{str(path)!r} holds no video stream (an audio file?); expected a video")
    if container.streams.video[0].codec_context is None:  # a codec tag FFmpeg has no decoder for
        container.close()
        raise Unreadable(f"{str(path)!r} is not a readable video (no decoder for its codec)")
    return container


def probe_video(path: str | Path) -> VideoInfo:
    """The header of the video at `path`: nothing is decoded. UserError if it is missing or not a video."""
    path = Path(path)
    require_file(path, "video", "a video file")  # before opening it: a named pipe would never answer
    with _open(path, decode=False) as container:  # the colour is unknown then: channels 3, the larger budget
        stream = container.streams.video[0]
        ctx = stream.codec_context
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        frames = stream.frames
        if not frames and stream.duration and stream.time_base and rate:
            frames = math.ceil(float(stream.duration * stream.time_base) * rate)
        elif not frames and container.duration and rate:  # in microseconds
            frames = math.ceil(container.duration / 1e6 * rate)
        grey = (ctx.pix_fmt or "").startswith(("gray", "ya8", "y400"))
        if not ctx.width or not ctx.height:
            raise Unreadable(f"{str(path)!r} has a video stream without a frame size; expected a video")
        return VideoInfo(frames=int(frames or 0), height=ctx.height, width=ctx.width, channels=1 if grey else 3,
                         fps=rate or 25.0, counted=bool(stream.frames))


def read_video(path: str | Path, reading: Reading = AS_IS, budget: Budget = CLI, first: int | None = None,
               last: int | None = None, tally: Tally | None = None) -> np.ndarray:
    """The frames of a video as uint8 `[T, H, W, C]`, read as `reading` says, within `budget` (checked against
    the header before decoding, and again for every frame as the decoder made it, whatever its size). `first`:
    keep the first N frames only (decoding stops there); `last`: the last N (the whole video is decoded, N frames
    kept). `tally`: what the read this video is part of has decoded so far (a folder of videos: one budget)."""
    import av

    path = Path(path)
    info = probe_video(path)
    h, w = reading.target(info.height, info.width)
    channels = 1 if reading.color == "gray" or (reading.color == "auto" and info.channels == 1) else 3
    # Refused before decoding on the frames the container counts; a duration can lie (a header claiming years of
    # video), so an estimate from one is left to the count kept while decoding.
    declared = info.frames if info.counted else 0
    kept = min(math.ceil(declared / reading.every), first or last or math.inf)
    name = repr(str(path))  # quoted: a newline in a file name stays on the message's one line
    tally = tally or budget.tally(name, VIDEO_HINT)
    tally.expect(kept, h, w, channels, name)
    tally.decoded(info.height, info.width, channels, name)  # the source frame's size, not the size read at
    frames, grey = collections.deque(maxlen=last), channels == 3 and reading.color == "auto"
    turns = None  # quarter turns that bring the stored picture upright, from the first frame's display matrix
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for i, frame in enumerate(container.decode(stream)):
                # each frame as decoded (a stream can change its size mid-way), before it is converted
                tally.decoded(frame.height, frame.width, channels, name)
                if turns is None:
                    turns, (h, w) = upright(frame, info, reading)
                    reading.say_size(str(path), *((info.width, info.height) if turns % 2 else
                                                  (info.height, info.width)))
                if i % reading.every:
                    continue
                if len(frames) != last:  # kept: counted before its pixels exist (the last N replace each other)
                    tally.add(h, w, channels, name)
                sh, sw = (w, h) if turns % 2 else (h, w)  # the stored picture's size, before it is turned
                pixels = frame.to_ndarray(format="gray" if channels == 1 else "rgb24", width=sw, height=sh,
                                          interpolation="AREA")
                pixels = np.ascontiguousarray(np.rot90(pixels.reshape(sh, sw, channels), turns))
                grey = grey and _looks_grey(pixels)
                frames.append(pixels)
                if first is not None and len(frames) == first:
                    break
        except (av.error.FFmpegError, MemoryError, *DATA_ERRORS) as err:
            if not frames:
                raise Unreadable(f"{name} is not a readable video ({reason(err)})") from None
            note(f"{path.name!r} is damaged after frame {len(frames) * reading.every}: "
                 f"read {plural(len(frames), 'frame')}")
    if not frames and info.frames:  # an index whose frames are missing: a download or copy cut short
        raise Unreadable(f"{name} holds no frame that decodes, though its header declares "
                        f"{plural(info.frames, 'frame')}: it is cut short or damaged")
    if not frames:
        raise Unreadable(f"{name} holds no frames; expected a video")
    video = np.stack(frames)
    return video[..., :1].copy() if grey else video


def upright(frame, info: VideoInfo, reading: Reading) -> tuple[int, tuple[int, int]]:
    """The quarter turns (counter-clockwise, 0 to 3) that show a decoded `frame` as players do, from its display
    matrix (a phone's portrait video is stored landscape, with a matrix that turns it), and the size `(h, w)` to
    read upright frames at. A turn that is not a multiple of 90 degrees is rounded to one; flips are ignored."""
    turns = round((getattr(frame, "rotation", 0) or 0) / 90) % 4  # PyAV before 14.3 does not read the matrix
    return turns, reading.target(*((info.width, info.height) if turns % 2 else (info.height, info.width)))


def _looks_grey(pixels: np.ndarray) -> bool:
    spread = pixels.max(axis=-1).astype(np.int16) - pixels.min(axis=-1)
    return bool(spread.max() <= GREY_TOLERANCE)


def conform(frames: np.ndarray, reading: Reading) -> np.ndarray:
    """Frames `[T, H, W, C]` (uint8 or float in [0, 1]) in the colour, size and frame step of `reading`;
    unchanged (not copied) where it asks for nothing."""
    frames = frames[::reading.every]
    _, h, w, c = frames.shape
    size = reading.target(h, w)
    channels = {"gray": 1, "rgb": 3}.get(reading.color, c)
    if size == (h, w) and channels == c:
        return frames
    return conform_frames(to_uint8(np.asarray(frames)), channels, size)


Recordings = Sequence[np.ndarray]  # recordings [T, H, W, C]: a list, or a [N, T, H, W, C] array


@dataclass(frozen=True)
class Footage:
    """Recordings read from one path, and how a report names them."""

    recordings: Recordings
    name: str          # the path
    kind: str          # "video", "videos", "gif", "frames" or "sequences"
    layout: str = "nthw"  # for sequence files: how the file was read
    fps: float | None = None

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        return tuple(self.recordings[0].shape[1:])


def read_footage(path: str | Path, reading: Reading = AS_IS, layout: str = "auto", budget: Budget = CLI,
                 color: str | None = None) -> Footage:
    """Everything framecast reads as data, from one path: a video file; a folder of videos (each a recording,
    sorted by name); an animated GIF or a folder of PNG/JPEG frames (one recording); or a .npy/.npz of sequences
    `[N, T, H, W(, C)]` (each sequence a recording, memory-mapped). UserError naming the problem otherwise.

    `color`: the colour pictures and videos are decoded in where `reading` says auto (a model's); sequence files
    keep the colour they were saved in unless `reading` names one."""
    path = Path(path)
    asked = reading  # for sequence files: their own colour unless the reading names one
    if color is not None and reading.color == "auto":
        reading = dataclasses.replace(reading, color=color)
    if is_video(path):
        return Footage([read_video(path, reading, budget)], str(path), "video", fps=probe_video(path).fps)
    folder = path.is_dir() and path.suffix.lower() not in (".npy", ".npz")  # else: "a folder; expected a file"
    if folder:
        videos = sorted(f for f in path.iterdir() if f.is_file() and is_video(f))
        if videos:
            recordings, videos = _readable(videos, reading, budget.tally(str(path), VIDEO_HINT), path)
            _same_frames(recordings, videos, path)
            return Footage(recordings, str(path), "videos", fps=probe_video(videos[0]).fps)
    if folder or path.suffix.lower() in (".gif", *IMAGE_SUFFIXES):
        frames = read_frames(path, budget=budget)
        reading.say_size(str(path), *frames.shape[1:3])
        kind = "gif" if path.suffix.lower() == ".gif" else "frames"
        return Footage([conform(frames, reading)], str(path), kind)
    array, used = read_sequences(path, layout, budget)
    if asked.color != "auto" or asked.every > 1 or asked.size not in (None, FULL):
        # Sequence files are read as they are stored unless asked (memory-mapped: no working size)
        array = np.stack([conform(np.asarray(s), asked) for s in array])
    return Footage(array, str(path), "sequences", layout=used)


def _readable(videos: list[Path], reading: Reading, tally: Tally,
              folder: Path) -> tuple[list[np.ndarray], list[Path]]:
    """The recordings of the `videos` of `folder` that decode, within one budget (`tally`), and their files; a video
    that cannot be decoded is skipped with a line naming it, unless none can."""
    recordings, kept, failed = [], [], None
    for video in videos:
        try:
            recordings.append(read_video(video, reading, tally=tally))
            kept.append(video)
        except Unreadable as err:
            note(f"skipping {video.name!r}: {err}")
            failed = failed or err
    if not recordings:
        raise Unreadable(f"none of the {plural(len(videos), 'video')} in {str(folder)!r} can be read; the first: "
                         f"{failed}")
    return recordings, kept


def _same_frames(recordings: list[np.ndarray], files: list[Path], folder: Path) -> None:
    shapes = {r.shape[1:] for r in recordings}
    if len(shapes) > 1:
        sizes = ", ".join(f"{f.name}: {r.shape[2]}x{r.shape[1]}x{r.shape[3]}" for f, r in zip(files, recordings,
                                                                                              strict=True))
        raise UserError(f"the videos in {str(folder)!r} differ in frame size or colour ({sizes}); read them at "
                        "one size with --size HEIGHT,WIDTH (and --color)")


def write_video(frames: np.ndarray, path: str | Path, fps: float = 10.0) -> None:
    """An H.264 `.mp4` of uint8 frames `[T, H, W, C]` (odd sizes padded by a black pixel: yuv420p needs even
    ones), written atomically. MPEG-4 Part 2 where the FFmpeg inside PyAV lacks H.264."""
    import av

    from ..atomic import atomic_path

    frames = np.asarray(frames)
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    _, h, w, _ = frames.shape
    frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with atomic_path(path) as tmp, av.open(str(tmp), "w", format="mp4") as container:
        stream = container.add_stream(codec, rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = w + w % 2, h + h % 2, "yuv420p"
        stream.options = {"crf": "18"} if codec == "libx264" else {"qscale": "3"}
        for f in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")))
        container.mux(stream.encode())


def read_one(path: str | Path, index: int = 0, layout: str = "auto", reading: Reading = AS_IS,
             budget: Budget = CLI, first: int | None = None, last: int | None = None) -> np.ndarray:
    """One sequence `[T, H, W, C]` from a path: a video (read as `reading` says), a GIF, a folder of frames, or
    sequence `index` of a sequence file. `first`, `last`: a video's first or last N frames only."""
    if is_video(path):
        if index != 0:
            raise UserError(f"--index {index} picks a sequence of a sequence file; {str(path)!r} holds one video")
        return read_video(path, reading, budget, first=first, last=last)
    frames = read_frames(path, index, layout, budget=budget)
    if not is_sequence_file(path):
        reading.say_size(str(path), *frames.shape[1:3])
    sized = reading.size if not is_sequence_file(path) or reading.size is not None else FULL
    return conform(frames, Reading(step=reading.step, size=sized))
