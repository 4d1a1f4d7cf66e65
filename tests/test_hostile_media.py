"""Hostile media: every file a decoder chokes on ends in framecast's one line (exit 2), whatever the decoder
raised, and paths that are no file say what they are. Each case is a tiny file crafted here; then every reader
(video, GIF, PNG, JPEG, .npy, .npz) is fed a few hundred byte flips and truncations of a good file, seeded,
and must read it or refuse it in one line, never raise anything else."""

from __future__ import annotations

import io
import os
import random
import struct
import warnings
import zipfile
import zlib

import av
import numpy as np
import pytest
from PIL import Image

from framecast.cli.main import main
from framecast.data.files import load_sequences
from framecast.data.images import read_frames
from framecast.data.media import read_video, write_video
from framecast.errors import UserError

CODEC = "libx264" if "libx264" in av.codecs_available else "mpeg4"  # as write_video chooses


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def show_refuses(path, capsys, tmp_path, *expected: str) -> str:
    """`data show path` ends in exactly one line on stderr, exit code 2, naming `expected`; nothing written."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # would print two lines before the error
        warnings.simplefilter("error", RuntimeWarning)                  # numpy's overflow warning: the same
        code, _, err = run(["data", "show", path, "--out", tmp_path / "look"], capsys)
    assert code == 2 and err.startswith("framecast: error: ") and err.count("\n") == 1, err
    for text in expected:
        assert text in err, err
    assert not (tmp_path / "look").exists()
    return err


# --- crafted files ---

def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def npy_declaring(shape: tuple[int, ...]) -> bytes:
    """An .npy header declaring `shape` of uint8, followed by 64 bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
    return header.getvalue() + bytes(64)


FRAMES = np.arange(2 * 3 * 8 * 8, dtype=np.uint8).reshape(2, 3, 8, 8)


def npz_member(compression: int = zipfile.ZIP_STORED) -> tuple[bytearray, int, int]:
    """An .npz of FRAMES, and where its member's local header and central directory entry start."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as archive:
        archive.writestr("frames.npy", npy_bytes(FRAMES))
    data = bytearray(buf.getvalue())
    return data, data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")


def encrypted_npz() -> bytes:
    data, local, central = npz_member()
    data[local + 6] |= 1  # the "encrypted" flag, in both headers
    data[central + 8] |= 1
    return bytes(data)


def unknown_method_npz() -> bytes:
    data, local, central = npz_member()
    struct.pack_into("<H", data, local + 8, 99)  # compression method 99: none zipfile knows
    struct.pack_into("<H", data, central + 10, 99)
    return bytes(data)


def corrupt_lzma_npz() -> bytes:
    data, local, _ = npz_member(zipfile.ZIP_LZMA)
    name, extra = struct.unpack_from("<HH", data, local + 26)
    start = local + 30 + name + extra  # the compressed bytes
    for i in range(start + 10, start + 30):
        data[i] ^= 0x55
    return bytes(data)


def gif_bytes(frames: int = 3, size: tuple[int, int] = (8, 6)) -> bytes:
    """An animated GIF of `frames` grey frames, each with its own graphic control block."""
    images = [Image.new("L", size, 7 * i) for i in range(frames)]  # all unlike: Pillow merges equal frames
    buf = io.BytesIO()
    images[0].save(buf, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return buf.getvalue()


def image_descriptors(gif: bytes) -> list[int]:
    """Where each image descriptor (",") of a GIF starts, found by walking its blocks."""
    flags, at, found = gif[10], 13, []
    at += 3 << ((flags & 7) + 1) if flags & 128 else 0
    while gif[at:at + 1] not in (b"", b";"):
        if gif[at:at + 1] == b"!":
            at += 2
        else:
            found.append(at)
            flags = gif[at + 9]
            at += 10 + (3 << ((flags & 7) + 1) if flags & 128 else 0) + 1  # descriptor, palette, LZW code size
        while gif[at]:  # data blocks, up to the empty one
            at += gif[at] + 1
        at += 1
    return found


def gif_with_frame_at(left: int, top: int) -> bytes:
    """A GIF whose second frame is placed at (left, top), far outside its 8x6 screen."""
    data = bytearray(gif_bytes())
    struct.pack_into("<2H", data, image_descriptors(bytes(data))[1] + 1, left, top)
    return bytes(data)


def gif_cut_in_a_descriptor() -> bytes:
    """A GIF that ends 4 bytes into its second frame's descriptor (Pillow: struct.error)."""
    data = gif_bytes()
    return data[:image_descriptors(data)[1] + 4]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(size: tuple[int, int] = (8, 6), extra: bytes = b"", before_data: bool = False) -> bytes:
    """A PNG of `size`, with chunk `extra` before its image data or just before its end."""
    buf = io.BytesIO()
    Image.new("L", size, 90).save(buf, "PNG")
    data = buf.getvalue()
    at = 8 + 25 if before_data else data.rindex(b"IEND") - 4  # after the IHDR chunk, or before IEND
    return data[:at] + extra + data[at:]


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares `width` x `height` grey pixels, and no image data (nothing is decoded)."""
    header = struct.pack(">2I5B", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IEND", b"")


MEGA_TEXT = zlib.compress(b"\0" * (2 * 2**20))  # 2 MB once inflated: over Pillow's 1 MB for a text chunk


def frames_folder(tmp_path, first: bytes, name: str = "frames", suffix: str = ".png"):
    """A folder of two frames: `first`, then a good one."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / f"a{suffix}").write_bytes(first)
    good = io.BytesIO()
    Image.new("L", (8, 6), 90).save(good, "PNG" if suffix == ".png" else "JPEG")
    (folder / f"b{suffix}").write_bytes(good.getvalue())
    return folder


def clip_bytes(tmp_path, frames: int = 6, faststart: bool = False) -> bytes:
    """A 16x16 video of `frames` noisy frames; `faststart`: its index (moov) before its data (mdat)."""
    pixels = np.random.default_rng(0).integers(0, 255, (frames, 16, 16, 3), dtype=np.uint8)
    path = tmp_path / "made.mp4"
    if not faststart:
        write_video(pixels, path)
    else:
        with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as container:
            stream = container.add_stream(CODEC, rate=10)
            stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
            for frame in pixels:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
    data = path.read_bytes()
    path.unlink()
    return data


def unknown_codec_clip(tmp_path) -> bytes:
    data = clip_bytes(tmp_path)
    tag = b"avc1" if CODEC == "libx264" else b"mp4v"
    assert tag in data
    return data.replace(tag, b"zzzz")  # a codec tag FFmpeg has no decoder for


def truncated_clip(tmp_path) -> bytes:
    """A 20-frame clip whose index is whole and whose frames are cut off: the header declares 20 frames."""
    data = clip_bytes(tmp_path, frames=20, faststart=True)
    mdat = data.index(b"mdat")
    assert data.index(b"moov") < mdat
    return data[:mdat + 4]


# --- each case of the issue: one line, exit 2 ---

CASES = {  # name: (file name, how to make its bytes, what the line says)
    "encrypted npz member": ("enc.npz", lambda t: encrypted_npz(), "is encrypted"),
    "unknown npz method": ("method.npz", lambda t: unknown_method_npz(), "compression method is not supported"),
    "corrupt lzma npz": ("lzma.npz", lambda t: corrupt_lzma_npz(), "not a readable .npy/.npz file (Corrupt input"),
    "npy shape overflowing": ("huge.npy", lambda t: npy_declaring((2**63 - 1, 2, 2, 2)),
                              "declares shape (9223372036854775807, 2, 2, 2) of uint8 (64.0 EiB) but holds 64 bytes"),
    "npy shape past int64": ("huger.npy", lambda t: npy_declaring((2**64, 1, 1, 1)), "declares shape (184467"),
    "npy shape negative": ("neg.npy", lambda t: npy_declaring((-1, 2, 2, 2)), "shape (-1, 2, 2, 2), with a negative"),
    "npz shape negative": ("neg.npz", lambda t: _zipped(npy_declaring((2, -1, 2, 2))), "with a negative side"),
    "gif frame at 60000": ("far.gif", lambda t: gif_with_frame_at(60000, 60000),  # Pillow grows the image to hold it
                           "far.gif' has 60008x60006 frames; framecast decodes at most 67,108,864 pixels a frame"),
    "gif cut in a descriptor": ("cut.gif", lambda t: gif_cut_in_a_descriptor(),
                                "cut.gif' is not a readable GIF (cut short or damaged: a header ends early)"),
    "unknown codec tag": ("tag.mp4", unknown_codec_clip, "tag.mp4' is not a readable video (no decoder for"),
    "truncated clip": ("cut.mp4", truncated_clip, "cut.mp4' holds no frame that decodes, though its header "
                                                  "declares 20 frames: it is cut short or damaged"),
    "one clip [T, H, W, C]": ("clip.npy", lambda t: npy_bytes(np.zeros((20, 64, 64, 3), np.uint8)),
                              "has shape (20, 64, 64, 3), which reads as [N, T, H, W] frames 64x3 pixels"),
}


def _zipped(member: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("frames.npy", member)
    return buf.getvalue()


@pytest.mark.parametrize("case", CASES)
def test_each_hostile_file_is_refused_in_one_line(tmp_path, capsys, case):
    name, make, expected = CASES[case]
    (tmp_path / name).write_bytes(make(tmp_path))
    show_refuses(tmp_path / name, capsys, tmp_path, expected)


@pytest.mark.parametrize("chunk", ["zTXt", "iCCP"])
def test_a_png_with_a_text_or_profile_chunk_over_a_megabyte_is_refused(tmp_path, capsys, chunk):
    # iCCP comes before the image data (Pillow reads it on opening), zTXt after it (read on decoding)
    png = png_bytes(extra=png_chunk(chunk.encode(), b"name\0\0" + MEGA_TEXT), before_data=chunk == "iCCP")
    folder = frames_folder(tmp_path, png)
    show_refuses(folder, capsys, tmp_path, "a.png' is not a readable image (Decompressed data too large")


def test_a_picture_past_pillows_warning_size_is_refused_without_its_warning(tmp_path, capsys):
    # 10000 x 9000: over Pillow's 89 M-pixel warning, under its error, over framecast's 67 M pixels a frame
    folder = frames_folder(tmp_path, png_declaring(10000, 9000))
    show_refuses(folder, capsys, tmp_path, "has 10000x9000 frames; framecast decodes at most 67,108,864 pixels")


@pytest.mark.parametrize(("name", "make", "what"), [
    ("pipe.npy", lambda p: os.mkfifo(p), "sequence file '{p}' is a named pipe (FIFO); expected"),
    ("pipe.mp4", lambda p: os.mkfifo(p), "video '{p}' is a named pipe (FIFO); expected a video file"),
    ("pipe.gif", lambda p: os.mkfifo(p), "'{p}' is a named pipe (FIFO); expected"),
    ("device.mp4", lambda p: p.symlink_to(os.devnull), "video '{p}' is a device (through a link); expected"),
    ("device.npz", lambda p: p.symlink_to(os.devnull), "'{p}' is a device (through a link); expected"),
    ("folder.mp4", lambda p: p.mkdir(), "video '{p}' is a folder; expected a video file"),
    ("loop.npy", lambda p: (p.symlink_to(p.with_name("back.npy")), p.with_name("back.npy").symlink_to(p)),
     "'{p}' is a link that loops back on itself; expected"),
    ("gone.gif", lambda p: p.symlink_to(p.with_name("nowhere.gif")), "'{p}' not found (a link to nothing)"),
])
def test_a_path_that_is_no_file_says_what_it_is(tmp_path, capsys, name, make, what):
    path = tmp_path / name
    make(path)
    show_refuses(path, capsys, tmp_path, what.format(p=path))


def test_the_frame_budget_is_said_in_frames(tmp_path, capsys, monkeypatch):
    from framecast.data import limits

    monkeypatch.setattr(limits.CLI, "frames", 5)  # restored after the test
    (tmp_path / "many.gif").write_bytes(gif_bytes(frames=8))
    err = show_refuses(tmp_path / "many.gif", capsys, tmp_path, "decodes to 8 frames, over the budget of 5 frames")
    assert "GiB" not in err


def test_file_names_are_quoted_so_that_a_newline_stays_on_the_line(tmp_path, capsys, monkeypatch):
    from framecast.data import limits

    monkeypatch.setattr(limits.CLI, "frames", 25)  # the clip's 20 frames fit, the GIF's 30 do not
    odd = "two\nlines"
    cases = [(f"{odd}.npy", npy_bytes(np.zeros((2, 3, 8, 8, 7), np.uint8)), "has 7 channels"),
             (f"{odd}.gif", gif_bytes(frames=30), "decodes to 30 frames, over the budget of 25 frames"),
             (f"{odd}.npz", b"PK garbage", "is not a .npy/.npz file (it does not start like one)"),  # no pickle
             (f"{odd}.mp4", truncated_clip(tmp_path), "holds no frame that decodes")]
    for name, data, expected in cases:
        (tmp_path / name).write_bytes(data)
        show_refuses(tmp_path / name, capsys, tmp_path, "two\\nlines", expected)


def test_a_file_name_that_is_not_utf8_is_shown(tmp_path, capsys):
    name = os.fsdecode(b"clip-\xff\xfe.npy")  # undecodable bytes: Python holds them as lone surrogates
    np.save(tmp_path / name, FRAMES)
    code, out, err = run(["data", "show", tmp_path / name, "--out", tmp_path / "shown"], capsys)
    assert code == 0 and (tmp_path / "shown" / "grid.png").is_file(), err  # its title drawn
    (tmp_path / name).write_bytes(b"\x93NUMPY garbage")
    show_refuses(tmp_path / name, capsys, tmp_path, "clip-\\udcff\\udcfe.npy")


# --- seeded byte flips and truncations of good files, per reader ---

def mutate(data: bytes, rng: random.Random) -> bytes:
    """`data` cut short (3 in 10), or with 1 to 8 bytes flipped, set to an extreme or inserted."""
    if rng.random() < 0.3:
        return data[:rng.randrange(len(data))]
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4, 8))):
        at, how = rng.randrange(len(out)), rng.random()
        if how < 0.5:
            out[at] ^= 1 << rng.randrange(8)
        elif how < 0.8:
            out[at] = rng.choice((0x00, 0x7F, 0x80, 0xFF))
        else:
            out[at:at] = bytes([rng.randrange(256)])
    return bytes(out)


def _good(kind: str, tmp_path) -> bytes:
    if kind == "npy":
        return npy_bytes(FRAMES)
    if kind == "npz":
        buf = io.BytesIO()
        np.savez_compressed(buf, frames=FRAMES)
        return buf.getvalue()
    if kind == "gif":
        return gif_bytes()
    if kind in ("png", "jpeg"):
        buf = io.BytesIO()
        Image.new("RGB", (8, 6), (10, 200, 30)).save(buf, kind.upper())
        return buf.getvalue()
    return clip_bytes(tmp_path)


def _reader(kind: str, tmp_path):
    """Where a mutated file goes, and the reader that reads it."""
    if kind in ("png", "jpeg"):  # one frame of a folder of two
        folder = frames_folder(tmp_path, b"", suffix=f".{kind}")
        return folder / f"a.{kind}", lambda: read_frames(folder)
    path = tmp_path / f"x.{'mp4' if kind == 'video' else kind}"
    read = {"npy": load_sequences, "npz": load_sequences, "gif": read_frames, "video": read_video}[kind]
    return path, lambda: read(path)


FUZZ_CASES = 300  # per reader: all six take a few seconds


@pytest.mark.parametrize("kind", ["video", "gif", "png", "jpeg", "npy", "npz"])
def test_byte_flips_and_truncations_are_read_or_refused_in_one_line(tmp_path, kind):
    good, rng = _good(kind, tmp_path), random.Random(f"framecast-{kind}")
    path, read = _reader(kind, tmp_path)
    outcomes = {"read": 0, "refused": 0}
    for case in range(FUZZ_CASES):
        mutated = mutate(good, rng)
        path.write_bytes(mutated)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning is a line of its own
            warnings.simplefilter("ignore", ResourceWarning)  # never shown to a user
            try:
                frames = read()
            except UserError as err:
                assert str(err) and "\n" not in str(err), (case, str(err))
                outcomes["refused"] += 1
                continue
            except Exception as err:  # noqa: BLE001 - the failure to report: which bytes, which exception
                (tmp_path / "escaped.bin").write_bytes(mutated)
                pytest.fail(f"case {case}: {type(err).__name__}: {err} (bytes in {tmp_path / 'escaped.bin'})")
        assert frames.dtype == np.uint8 and frames.ndim in (4, 5) and frames.size
        outcomes["read"] += 1
    assert min(outcomes.values()) > 0, outcomes  # the mutations both miss and hit what matters
