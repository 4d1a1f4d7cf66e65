"""One budget per read, over everything it decodes: each frame counted at the size it is decoded at (whatever a
header or a GIF's screen said), before its pixels are allocated, summed over a folder; statistics in chunks; the
page's uploads deleted once read, decoded within a time limit, and Gradio's upload route bounded; no folder left
behind by a failed command. Every file here is tiny: the budgets are made small instead."""

from __future__ import annotations

import asyncio
import errno
import io
import struct
import subprocess
import sys
import weakref

import av
import numpy as np
import pytest
from PIL import Image

from framecast.cli import data_commands as commands
from framecast.cli.main import main
from framecast.data import images, limits
from framecast.data.limits import Budget
from framecast.data.media import read_footage, read_video, write_video
from framecast.errors import UserError
from framecast.web import inputs as web_inputs
from framecast.web import page as web


def run(argv, capsys):
    code = main([str(a) for a in argv])
    return code, *capsys.readouterr()


@pytest.fixture
def cli_budget(monkeypatch):
    """The command line's budget, restored after the test (--max-gib changes it for the process)."""
    for name in ("bytes", "frames"):
        monkeypatch.setattr(limits.CLI, name, getattr(limits.CLI, name))


def _fails(*_, **__):
    pytest.fail("a picture over the budget was decoded")


@pytest.fixture
def nothing_decoded(monkeypatch):
    """Fail the test if a picture is decoded (headers may be read)."""
    monkeypatch.setattr(images, "_loaded", _fails)
    monkeypatch.setattr(images, "_stack", _fails)


def gif_bytes(screen: tuple[int, int], frames: list[tuple[int, int, int, int]]) -> bytes:
    """A GIF of a `screen` (width, height) and frames at (left, top, width, height), each with a few bytes of image
    data: what its headers say is all that matters before decoding."""
    data = b"GIF89a" + struct.pack("<2H", *screen) + bytes([0x80, 0, 0]) + bytes(6)  # a 2-colour palette
    for frame in frames:
        data += b"," + struct.pack("<4H", *frame) + b"\x00" + b"\x02" + b"\x02\x44\x01\x00"
    return data + b";"


# --- pictures: each frame as Pillow decodes it, summed over the read ---

def test_a_gif_whose_frames_outgrow_its_screen_is_refused_before_anything_is_decoded(tmp_path, monkeypatch):
    monkeypatch.setattr(images.Image, "open", _fails)  # not even opened: Pillow allocates as it opens a GIF
    monkeypatch.setattr(images, "_stack", _fails)
    (tmp_path / "grows.gif").write_bytes(gif_bytes((8, 8), [(0, 0, 8, 8), (0, 0, 3000, 2000)]))
    with pytest.raises(UserError, match="grows.gif'? has 3000x2000 frames; framecast decodes at most 1,000 pixels"):
        images.read_frames(tmp_path / "grows.gif", budget=Budget(frame_pixels=1000))
    with pytest.raises(UserError, match="differ in size: 8x8, 3000x2000"):  # Pillow grows the image from frame 2
        images.read_frames(tmp_path / "grows.gif", budget=Budget())
    # Every frame past the screen from the first: the screen said 8x8, the frames decode at 3000x2000
    (tmp_path / "big.gif").write_bytes(gif_bytes((8, 8), [(0, 0, 3000, 2000)] * 3))
    with pytest.raises(UserError, match=r"decodes to 3 frames of 3000x2000x3 .* over the budget"):
        images.read_frames(tmp_path / "big.gif", budget=Budget(bytes=2**20))


def test_gif_frame_sizes_are_what_pillow_decodes(tmp_path):
    frames = [Image.new("L", (20, 12), i * 80) for i in range(3)]
    frames[0].save(tmp_path / "ok.gif", save_all=True, append_images=frames[1:], duration=100)
    assert images.gif_frame_sizes(tmp_path / "ok.gif") == [(20, 12)] * 3
    assert images.read_frames(tmp_path / "ok.gif").shape == (3, 12, 20, 1)
    (tmp_path / "grows.gif").write_bytes(gif_bytes((8, 8), [(0, 0, 8, 8), (4, 2, 10, 10), (0, 0, 4, 4)]))
    assert images.gif_frame_sizes(tmp_path / "grows.gif") == [(8, 8), (14, 12), (14, 12)]  # it stays grown


def test_data_show_refuses_a_gif_over_the_budget_in_one_line_and_writes_nothing(tmp_path, capsys, cli_budget):
    (tmp_path / "big.gif").write_bytes(gif_bytes((8, 8), [(0, 0, 3000, 2000)] * 2))  # 36 MB as decoded
    code, _, err = run(["data", "show", tmp_path / "big.gif", "--out", tmp_path / "look", "--max-gib", "0.01"], capsys)
    assert code == 2 and "3000x2000x3" in err and "over the budget" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "look").exists()


def test_png_frames_are_counted_each_at_its_own_size(tmp_path, nothing_decoded):
    frames = tmp_path / "frames"
    frames.mkdir()
    Image.new("L", (12, 10)).save(frames / "0.png")  # the widest frame: what the budget once read for them all
    for i in range(1, 4):
        Image.new("L", (10, 2000)).save(frames / f"{i}.png")  # tall and narrow
    with pytest.raises(UserError, match="has 10x2000 frames; framecast decodes at most 15,000 pixels a frame"):
        images.read_frames(frames, budget=Budget(frame_pixels=15_000))
    with pytest.raises(UserError, match="differ in size: 10x2000, 12x10"):  # from their headers
        images.read_frames(frames, budget=Budget())
    (frames / "0.png").unlink()
    with pytest.raises(UserError, match=r"decodes to 3 frames of 10x2000x3 .* over the budget"):  # summed
        images.read_frames(frames, budget=Budget(bytes=3 * 10 * 2000 * 3 - 1))


def test_pictures_read_one_at_a_time_as_before(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    colour = np.zeros((4, 6, 3), np.uint8)
    colour[1, 2] = (200, 10, 10)
    Image.fromarray(colour).save(frames / "a.png")
    Image.new("L", (6, 4), 77).save(frames / "b.png")  # a grey frame among colour ones: three equal channels
    both = images.read_frames(frames)
    assert both.shape == (2, 4, 6, 3) and both[0, 1, 2].tolist() == [200, 10, 10] and (both[1] == 77).all()
    Image.fromarray(np.full((4, 6, 3), 90, np.uint8)).save(frames / "a.png")  # every frame grey: one channel
    assert images.read_frames(frames).shape == (2, 4, 6, 1)
    wide = tmp_path / "wide"
    wide.mkdir()
    Image.fromarray(np.array([[0, 257 * 100, 65535]], np.uint16)).save(wide / "a.png")  # 16-bit grey
    Image.fromarray(np.array([[128, 0, 1]], np.uint16)).save(wide / "b.png")
    assert images.read_frames(wide)[..., 0].tolist() == [[[0, 100, 255]], [[0, 0, 0]]]


def test_reading_pictures_stops_at_the_time_limit(tmp_path, monkeypatch):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(6):
        Image.new("L", (8, 8), i).save(frames / f"{i}.png")
    clock = iter(range(100))  # each look at the clock: one second later
    monkeypatch.setattr(limits.time, "monotonic", lambda: next(clock))
    with pytest.raises(UserError, match="takes more than 3 s to decode"):
        images.read_frames(frames, budget=Budget(seconds=3))


# --- video: each frame as the decoder made it ---

def _segment(side: int, frames: int, form: str = "mpegts") -> bytes:
    """A video (MPEG-TS, or `form`) of `frames` grey frames of `side` x `side`."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=form) as container:
        stream = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=10)
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((side, side, 3), 40 * i, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return buffer.getvalue()


@pytest.fixture
def switching(tmp_path):
    """A video whose header says 16x16 and whose frames turn 64x64 half-way (two MPEG-TS streams end to end, named
    .mp4: FFmpeg reads by content)."""
    path = tmp_path / "switch.mp4"
    path.write_bytes(_segment(16, 3) + _segment(64, 3))
    return path


def test_a_video_whose_frames_grow_mid_stream_is_refused_at_the_first_big_frame(switching):
    assert read_video(switching).shape == (6, 16, 16, 1)  # within the budget: read at the header's size
    with pytest.raises(UserError, match="has 64x64 frames; framecast decodes at most 1,000 pixels a frame"):
        read_video(switching, budget=Budget(frame_pixels=1000))


def test_the_command_line_refuses_a_growing_video_in_one_line(switching, tmp_path, capsys, cli_budget):
    gib = 10_000 / 2**30  # 3 frames of 16x16x3 fit; one of 64x64x3 alone does not
    code, _, err = run(["data", "show", switching, "--out", tmp_path / "look", "--max-gib", gib], capsys)
    assert code == 2 and "frames of 64x64x3" in err and "over the budget" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "look").exists()


def test_the_page_checks_a_videos_own_frames_not_the_size_it_shows(tmp_path, monkeypatch):
    write_video(np.zeros((2, 240, 320, 3), np.uint8), tmp_path / "clip.mp4")  # shown at 256x192: 49,152 pixels
    monkeypatch.setattr(limits.PAGE, "frame_pixels", 70_000)
    monkeypatch.setattr(av.container.InputContainer, "decode", lambda *a, **k: pytest.fail("decoded"))
    with pytest.raises(UserError, match="has 320x240 frames; framecast decodes at most 70,000 pixels") as refused:
        web_inputs.read_upload([str(tmp_path / "clip.mp4")], 0, tmp_path)
    assert "--" not in str(refused.value)  # the page has no --frame-step or --size to offer


PEAK = """
import resource, sys
import av
from framecast.data.media import probe_video
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
info = probe_video(sys.argv[1])
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024, info.width)
"""


def test_probing_a_video_decodes_no_frame(tmp_path):
    (tmp_path / "big.mp4").write_bytes(_segment(4096, 2, "mp4"))  # 24 MB a frame as decoded (YUV 4:2:0)
    grown, width = subprocess.run([sys.executable, "-c", PEAK, str(tmp_path / "big.mp4")], capture_output=True,
                                  text=True, check=True).stdout.split()
    # FFmpeg's usual look at a stream decodes H.264 frames (up to 7): 40 MB and more for these
    assert width == "4096" and int(grown) < 16, f"probing took {grown} MB"


def test_a_folder_of_videos_is_one_budget(tmp_path):
    clip = np.zeros((10, 16, 16, 3), np.uint8)
    for name in ("a.mp4", "b.mp4"):
        write_video(clip, tmp_path / name)
    assert len(read_footage(tmp_path, budget=Budget(bytes=2 * clip.nbytes)).recordings) == 2
    with pytest.raises(UserError, match=r"b.mp4'? decodes to 10 frames of 16x16x3 \(.* with the 7.5 KiB read before "
                                        r"it\), over the budget"):  # each fits alone, not both
        read_footage(tmp_path, budget=Budget(bytes=int(1.5 * clip.nbytes)))


# --- data show: statistics in chunks; no --out left behind ---

class Watched:
    """An array that records how many values each read of it takes."""

    def __init__(self, array: np.ndarray) -> None:
        self.array, self.reads = array, []
        self.shape, self.dtype, self.size = array.shape, array.dtype, array.size
        self.base = None  # no memory-mapped file behind it

    def __getitem__(self, key):
        part = self.array[key]
        self.reads.append(part.size)
        return part


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_statistics_of_a_long_recording_are_read_a_few_frames_at_a_time(monkeypatch, dtype):
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, size=(1, 50, 6, 5, 3)).astype(dtype)
    array = array / 255 if dtype == np.float32 else array
    monkeypatch.setattr(commands, "SUMMARY_CHUNK_VALUES", 4 * 6 * 5 * 3)  # 4 frames
    watched = Watched(array.astype(dtype))
    summary = commands.summarize(watched)
    assert max(watched.reads) <= 5 * 6 * 5 * 3  # 4 frames and the one before them
    values = array.astype(np.float64)
    assert summary["mean"] == pytest.approx(values.mean(), rel=1e-6)
    assert summary["mean_motion"] == pytest.approx(np.abs(np.diff(values, axis=1)).mean(), rel=1e-5)
    assert (summary["min"], summary["max"]) == pytest.approx((values.min(), values.max()))
    assert summary["lit_fraction"] == pytest.approx((values > 0).mean())


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), RuntimeError("a bug")])
def test_a_failed_data_show_leaves_no_out_folder(tmp_path, capsys, monkeypatch, error):
    np.save(tmp_path / "seq.npy", np.zeros((2, 4, 8, 8), np.uint8))

    def fails(*_, **__):
        raise error
    monkeypatch.setattr("framecast.plots.write_gif", fails)
    out = tmp_path / "new" / "look"
    if isinstance(error, OSError):
        code, _, err = run(["data", "show", tmp_path / "seq.npy", "--out", out], capsys)
        assert code == 2 and "no space left" in err.lower() and len(err.splitlines()) == 1, err
    else:
        with pytest.raises(RuntimeError):
            commands.show_file(tmp_path / "seq.npy", out)
    assert not (tmp_path / "new").exists()


def test_a_crash_before_training_leaves_no_run_folder(tmp_path, monkeypatch):
    from framecast.training import run as training

    def crashes(*_, **__):
        raise RuntimeError("a bug")
    monkeypatch.setattr(training, "_prepare_run", crashes)
    with pytest.raises(RuntimeError):
        training.train(tmp_path / "runs" / "one")
    assert not (tmp_path / "runs").exists()


# --- the page: uploads deleted once read, Gradio's route bounded, memory handed back ---

def _uploaded(folder, name: str, write) -> str:
    """Where Gradio keeps an upload of `name` in the page's folder (a folder named by the file's hash)."""
    path = folder / "5f1e0c2b9d3a4e6f8a7b6c5d4e3f2a1b0c9d8e7f" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path)
    return str(path)


def test_uploads_are_deleted_once_read_or_refused(tiny_checkpoint, tmp_path, mnist_file):
    from framecast.inference.loading import load

    model_thread = web.ModelThread()
    try:
        app = web.build_app(load(tiny_checkpoint, device="cpu"), "tiny", tmp_path, model_thread)
    finally:
        model_thread.close()
    on_upload = next(f.fn for f in app.fns.values() if f.fn.__name__ == "on_upload")
    good = _uploaded(tmp_path, "digits.npy", lambda p: np.save(p, np.load(mnist_file)[:2]))
    assert "read 20 frames" in on_upload([good], 0)[2]
    assert not any(tmp_path.glob("5f1e*")), "the upload is kept after it was read"
    status = on_upload([good], 1)[2]  # another sequence of it: the page says to upload it again
    assert "keeps no upload once read" in status and str(tmp_path) not in status
    bad = _uploaded(tmp_path, "broken.gif", lambda p: p.write_bytes(b"GIF89a" + bytes(20)))
    status = on_upload([bad], 0)[2]
    assert "Could not use the upload" in status and "broken.gif" in status and str(tmp_path) not in status
    assert not any(tmp_path.glob("5f1e*")), "a refused upload is kept"
    outside = tmp_path.parent / f"{tmp_path.name}-visitor.npy"  # not Gradio's: never deleted
    np.save(outside, np.load(mnist_file)[:1])
    on_upload([str(outside)], 0)
    assert outside.is_file()
    assert app.delete_cache == (60, web_inputs.KEPT_SECONDS)  # Gradio expires the uploads the page never reads


def test_a_refused_upload_lets_go_of_what_it_decoded(tmp_path, monkeypatch):
    class Frames:  # stands for the frames a decoder had made when the budget stopped it
        pass

    made = []

    def decode(*_):
        frames = Frames()
        made.append(weakref.ref(frames))
        try:
            raise ValueError("deep inside a decoder")
        except ValueError:
            raise UserError("over the budget") from None
    monkeypatch.setattr(web_inputs, "_decode_upload", decode)
    with pytest.raises(UserError, match="over the budget") as refused:
        web_inputs.read_upload(["x.gif"], 0, tmp_path)
    assert made[0]() is None, "the refusal's traceback keeps the decoded frames alive"
    assert refused.value.__context__.__traceback__ is None


def _asgi(folder, path: str, headers: dict) -> tuple[int, bool]:
    """Send one POST through UploadLimits over `folder`; the status it answers, and whether it passed the request
    on to the app behind it."""
    passed, sent = [], []

    async def app(scope, receive, send):
        passed.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "POST", "path": path,
             "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}
    asyncio.run(web_inputs.UploadLimits(app, folder)(scope, receive, send))
    return sent[0]["status"], bool(passed)


def test_gradios_upload_route_is_bounded(tmp_path, monkeypatch):
    most = web_inputs.UPLOAD_REQUEST_BYTES
    assert _asgi(tmp_path, "/gradio_api/upload", {"content-length": "1000"}) == (200, True)
    assert _asgi(tmp_path, "/gradio_api/upload", {"content-length": str(most + 1)}) == (413, False)
    assert _asgi(tmp_path, "/gradio_api/upload", {}) == (413, False)  # no length: not read at all
    assert _asgi(tmp_path, "/gradio_api/queue/join", {}) == (200, True)  # every other route as it was
    kept = tmp_path / "0123456789abcdef0123"
    kept.mkdir()
    (kept / "old.mp4").write_bytes(bytes(1000))
    (tmp_path / "prediction-x").mkdir()
    (tmp_path / "prediction-x" / "p.gif").write_bytes(bytes(5000))  # the page's own files do not count
    assert web_inputs.kept_bytes(tmp_path) == 1000
    monkeypatch.setattr(web_inputs, "KEPT_BYTES", 999)
    assert _asgi(tmp_path, "/gradio_api/upload", {"content-length": "10"}) == (507, False)


def test_the_page_launches_with_gradios_upload_limits(tmp_path):
    seen = {}

    class App:
        def launch(self, **kwargs):
            seen.update(kwargs)
            raise KeyboardInterrupt  # stop before serving

        def close(self, verbose):
            pass

    with pytest.raises(KeyboardInterrupt):
        web._launch_until_stopped(App(), "a model", "127.0.0.1", 0, tmp_path)
    assert seen["max_file_size"] == web_inputs.MAX_UPLOAD
    (limit,) = seen["app_kwargs"]["middleware"]
    assert limit.cls is web_inputs.UploadLimits and limit.kwargs == {"folder": tmp_path}


def test_an_upload_is_decoded_within_the_pages_time_limit(tmp_path, monkeypatch):
    for i in range(4):
        Image.new("L", (8, 8), i).save(tmp_path / f"f{i}.png")
    clock = iter(range(0, 1000, 10))  # ten seconds a look
    monkeypatch.setattr(limits.time, "monotonic", lambda: next(clock))
    with pytest.raises(UserError, match=f"the upload takes more than {limits.PAGE.seconds:g} s to decode"):
        web_inputs.read_upload([str(tmp_path / f"f{i}.png") for i in range(4)], 0, tmp_path)


CHECK = """
import re, sys
from pathlib import Path
from framecast.data.files import load_sequences
def peak():
    return int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1)) // 1024
before = peak()
load_sequences(sys.argv[1])
print(peak() - before)
"""


def test_a_float_file_is_checked_without_holding_it_in_memory(tmp_path):
    frames = np.lib.format.open_memmap(tmp_path / "float.npy", mode="w+", dtype=np.float32, shape=(2, 96, 256, 512))
    frames[:, ::7] = 0.5  # 96 MB, touched all over
    del frames
    grown = subprocess.run([sys.executable, "-c", CHECK, str(tmp_path / "float.npy")], capture_output=True, text=True,
                           check=True).stdout
    assert int(grown) < 48, f"checking a 96 MB float file took {grown} MB"  # it read it whole: 96 MB and more
