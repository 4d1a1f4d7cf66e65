"""What the page takes in (`framecast serve`, page.py): uploads read within the page's budget (data/limits.py's PAGE:
bytes, frames, pixels of a frame as decoded, and seconds), one at a time, deleted once read, the memory of their
decoding handed back to the system, and messages that name the visitor's files, never the server's paths; and the
limits on Gradio's own upload route, which takes files before the page sees them.

Frames here are numpy uint8 `[T, H, W, C]`, the layout of sequence files.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import re
import shutil
import tempfile
import threading
import traceback
import zipfile
from pathlib import Path

import numpy as np

from ..data.images import IMAGE_SUFFIXES, read_frames
from ..data.limits import PAGE
from ..data.media import FULL, Reading, is_video, probe_video, read_video
from ..errors import UserError, whole_number

MAX_UPLOAD = "32mb"  # per file; Gradio refuses larger uploads before framecast sees them
MAX_FRAMES = 1000  # frames of one uploaded sequence: more would fill memory when decoded
MAX_NPZ_BYTES = PAGE.bytes  # what an uploaded .npz may hold once unzipped, all its arrays: zeros unzip 1000-fold
UPLOAD_REQUEST_BYTES = 256 * 2**20  # one request to Gradio's upload route, all its files: a sequence's frames
KEPT_BYTES = 2 * 2**30  # files Gradio keeps for the page (uploads not yet read, copies of results): no upload past it
KEPT_SECONDS = 15 * 60  # Gradio deletes what it keeps for the page after this (an upload sent but never read)
PAGE_SIDE = 256  # frames larger than this on their longer side are shown and predicted scaled down to it


def read_upload(paths: list[str], index: int, folder: Path, shorter: int | None = None) -> np.ndarray:
    """The uploaded sequence `[T, H, W, C]`: one video or GIF, sequence `index` of one .npy/.npz, or several PNG/JPEG
    frames (in the order of their names), within the page's budget: refused from headers before decoding where they
    say enough, else at the first frame over it, each frame as decoded (a video's source frames, not the page's
    size); within PAGE.seconds of decoding. `folder`: where the frames are gathered (read_frames reads a folder of
    them). `shorter`: a video is read with its shorter side at most this (a footage model's recorded size), else
    with its longer side at most PAGE_SIDE.

    Uploads are decoded one at a time (two visitors at once would double the peak), and the memory of the
    decoding is handed back to the system afterwards, a refused upload's too."""
    with _ONE_UPLOAD:
        try:
            frames, failure = _decode_upload(paths, index, folder, shorter), None
        except Exception as err:
            if not isinstance(err, UserError):  # a fault of the page: for whoever runs it
                traceback.print_exc()
            frames, failure = None, _unwound(err)
        _return_memory()
    if failure is not None:
        raise failure
    return frames


def _decode_upload(paths: list[str], index: int, folder: Path, shorter: int | None = None) -> np.ndarray:
    if not paths:
        raise UserError("no file uploaded; expected a video, a .gif, a .npy/.npz or several .png/.jpg frames")
    files = [Path(p) for p in paths]
    suffixes = {f.suffix.lower() for f in files}
    if suffixes <= set(IMAGE_SUFFIXES):
        if len(files) == 1:
            raise UserError(f"one {files[0].suffix} is one frame; upload several .png/.jpg frames, a video or a .gif")
        if len(files) > MAX_FRAMES:
            raise UserError(f"{len(files)} frames uploaded; at most {MAX_FRAMES}")
        frames_dir = Path(tempfile.mkdtemp(prefix="frames-", dir=folder))
        try:
            for f in files:
                target = frames_dir / f.name
                if target.exists():
                    raise UserError(f"two frames are named {f.name!r}; frames are ordered by name")
                target.symlink_to(f.resolve())
            return _checked_length(read_frames(frames_dir, budget=PAGE), "the frames")
        except UserError as err:  # name the upload, not the folder the page gathered it in (quoted or not)
            said = str(err).replace(repr(str(frames_dir)), "the upload").replace(str(frames_dir), "the upload")
            raise UserError(said) from None
        finally:
            shutil.rmtree(frames_dir, ignore_errors=True)
    if len(files) > 1:
        raise UserError(f"{len(files)} files uploaded; several files must all be .png/.jpg frames "
                        "(or upload one video, .gif or .npy/.npz)")
    source = files[0]
    if is_video(source):  # decoded straight to the page's size, each source frame within the page's budget
        info = probe_video(source)
        # the shorter side only: a phone's portrait video is stored landscape and read upright
        size = page_size(info.height, info.width, shorter)
        reading = Reading(size=FULL if size == (info.height, info.width) else min(size))
        return _checked_length(read_video(source, reading, budget=PAGE), source.name)
    if source.suffix.lower() == ".gif":
        return _checked_length(read_frames(source, budget=PAGE), source.name)
    _check_npz(source)
    array = read_frames(source, whole_number("index", index, minimum=None), budget=PAGE)  # memory-mapped
    if array.ndim == 4:  # a .npy's sequence is not read yet: its shape is all that is known of it
        PAGE.check(source.name, *array.shape)
    return _checked_length(array, source.name)


_ONE_UPLOAD = threading.Lock()


def _unwound(err: BaseException) -> BaseException:
    """`err` without the tracebacks of its chain (the errors it was raised from, too): their frames hold what the
    decoding allocated, which would outlive the memory's return otherwise."""
    link = err
    while link is not None:
        link.__traceback__ = None
        link = link.__cause__ or link.__context__
    return err


def _glibc() -> ctypes.CDLL | None:
    """The C library, where it is glibc (which has malloc_trim); None elsewhere."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


_LIBC = _glibc()


def _return_memory() -> None:
    """Hand the memory freed after decoding back to the system: glibc keeps the freed blocks of Pillow's and numpy's
    smaller buffers in its heap, where the server would stay at its peak size after every upload."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def forget_uploads(paths: list[str], folder: Path) -> None:
    """Delete the uploaded files at `paths` that lie in `folder` (where Gradio keeps them: a folder of its own for
    each, named by its hash, removed too once empty), read or refused: the page keeps its frames, not its files."""
    root = Path(folder).resolve()
    for path in map(Path, paths or []):
        place = path.absolute()
        if root not in place.parents or place.is_symlink() or not place.is_file():
            continue
        place.unlink(missing_ok=True)
        if place.parent != root:
            try:
                place.parent.rmdir()  # its hash's folder, where nothing else was uploaded
            except OSError:
                pass


def page_size(height: int, width: int, shorter: int | None = None) -> tuple[int, int]:
    """The (height, width) the page shows and predicts frames of `height` x `width` at: never larger; the shorter
    side at most `shorter` (a footage model's recorded size: it predicts best at the scale it learnt), or else the
    longer side at most PAGE_SIDE (the page predicts while someone waits)."""
    scale = min(1.0, shorter / min(height, width) if shorter else PAGE_SIDE / max(height, width))
    return max(4, round(height * scale)), max(4, round(width * scale))


def _check_npz(path: Path) -> None:
    """Refuse a zip (an .npz, whatever its name) that would unzip to more than MAX_NPZ_BYTES, from its directory."""
    try:
        with zipfile.ZipFile(path) as archive:
            size = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError):  # not a zip, or a damaged one: read_frames names the problem
        return
    if size > MAX_NPZ_BYTES:
        raise UserError(f"{path.name!r} unzips to {size / 2**20:,.0f} MB; the page takes at most "
                        f"{MAX_NPZ_BYTES / 2**20:,.0f} MB")


def _checked_length(frames: np.ndarray, name: str) -> np.ndarray:
    if len(frames) > MAX_FRAMES:
        raise UserError(f"{name} has {len(frames)} frames; the page takes at most {MAX_FRAMES}")
    if len(frames) < 2:
        raise UserError(f"{name} has {len(frames)} frame{'s' if len(frames) != 1 else ''}; a sequence needs at least 2")
    return np.asarray(frames)


def as_uploaded(message: str, paths: list[str], folder: Path) -> str:
    """`message` with the server's paths of uploaded files (under Gradio's temporary folder, or `folder`) replaced by
    the names the visitor's files had: their own, not where the server keeps them."""
    for path in sorted(paths, key=len, reverse=True):
        message = message.replace(str(path), Path(path).name).replace(str(Path(path).resolve()), Path(path).name)
    roots = {str(folder), str(Path(folder).resolve())}  # PNG frames are gathered in a folder of its own there
    pattern = "|".join(re.escape(root.rstrip("/")) + r"/[^'\"\s]*" for root in sorted(roots, key=len, reverse=True))
    return re.sub(pattern, lambda match: Path(match.group(0)).name, message)


class UploadLimits:
    """ASGI middleware over Gradio's upload route (`.../upload`), which stores files before the page sees them: a
    request without its length, or over UPLOAD_REQUEST_BYTES, is refused before it is read (413), and so is every
    upload while Gradio keeps more than KEPT_BYTES of files for the page in `folder` (507) until they expire."""

    def __init__(self, app, folder: str | os.PathLike) -> None:
        self.app, self.folder = app, Path(folder)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].rstrip("/").endswith("/upload"):
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if not length.isdigit() or int(length) > UPLOAD_REQUEST_BYTES:
            return await _refuse(send, 413, f"an upload may send at most {UPLOAD_REQUEST_BYTES // 2**20} MB at once")
        if kept_bytes(self.folder) > KEPT_BYTES:
            return await _refuse(send, 507, "the page holds too many uploads now; try again in a few minutes")
        return await self.app(scope, receive, send)


async def _refuse(send, status: int, text: str) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def kept_bytes(folder: Path) -> int:
    """Bytes of the files Gradio keeps in `folder`: those in its folders named by a hash (the page's own folders
    have a prefix: prediction-, sequence-, frames-)."""
    total = 0
    for entry in os.scandir(folder):
        if entry.is_dir(follow_symlinks=False) and re.fullmatch(r"[0-9a-f]{16,}", entry.name):
            for base, _, names in os.walk(entry.path):
                for name in names:
                    with contextlib.suppress(OSError):  # deleted meanwhile (read, or expired)
                        total += os.lstat(os.path.join(base, name)).st_size
    return total
