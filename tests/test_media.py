"""Footage in: videos through PyAV (tiny clips made here), folders of videos and frames, budgets checked before
decoding, and every broken file ending in one clear line."""

from __future__ import annotations

import struct

import av
import numpy as np
import pytest
from PIL import Image

from framecast.data.limits import Budget
from framecast.data.media import Reading, probe_video, read_footage, read_one, read_video, write_video
from framecast.errors import UserError


def moving_square(frames: int = 30, h: int = 24, w: int = 32, colour: bool = True, step: int = 1) -> np.ndarray:
    """uint8 `[T, H, W, 3]`: a bright square moving right `step` px a frame over a dark, textured background."""
    rng = np.random.default_rng(0)
    background = rng.integers(20, 60, size=(h, w, 3), dtype=np.uint8)
    clip = np.repeat(background[None], frames, axis=0)
    for t in range(frames):
        x = (2 + t * step) % (w - 8)
        clip[t, 8:16, x:x + 8] = (220, 60, 40) if colour else 200
    if not colour:
        clip[...] = clip.mean(axis=-1, keepdims=True).astype(np.uint8)
    return clip


@pytest.fixture
def clip_file(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(moving_square(), path, fps=10)
    return path


def test_a_video_is_probed_then_decoded_as_asked(clip_file):
    info = probe_video(clip_file)
    assert (info.frames, info.height, info.width, info.channels) == (30, 24, 32, 3) and info.fps == 10
    frames = read_video(clip_file)
    assert frames.shape == (30, 24, 32, 3) and frames.dtype == np.uint8
    # H.264 is lossy, but the square stays where it was put
    assert frames[5, 10:14, 9:13, 0].mean() > 150 and frames[5, 10:14, 9:13, 2].mean() < 100
    assert read_video(clip_file, Reading(color="gray")).shape == (30, 24, 32, 1)
    assert read_video(clip_file, Reading(size=(12, 16), step=3)).shape == (10, 12, 16, 3)
    assert read_video(clip_file, Reading(size=12)).shape == (30, 12, 16, 3)  # the shorter side; aspect kept


@pytest.mark.parametrize("degrees, turns", [(90, 1), (-90, 3), (180, 2)])
def test_a_video_with_a_display_rotation_reads_upright_as_players_show_it(tmp_path, degrees, turns, capsys):
    """A phone's portrait video is stored landscape with a display matrix that turns it: it reads upright."""
    if not hasattr(av.video.stream.VideoStream, "set_display_rotation"):
        pytest.skip("this PyAV cannot write a display matrix")
    def turned(path, stored):
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=10)
            stream.height, stream.width, stream.pix_fmt = *stored.shape[1:3], "yuv420p"
            stream.set_display_rotation(degrees)  # counter-clockwise, as PyAV reads it back
            for pixels in stored:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
            container.mux(stream.encode())
        return path

    stored = moving_square(4, h=24, w=40)
    stored[:, :, :8] = 255  # a white band down the left edge of the stored picture: a turn moves it
    video = read_video(turned(tmp_path / "turned.mp4", stored))
    expected = np.rot90(stored, turns, axes=(1, 2))
    assert video.shape == expected.shape
    assert np.abs(video.astype(int) - expected).mean() < 8  # H.264's losses only
    upright = (20, 12) if turns % 2 else (12, 20)
    assert read_video(tmp_path / "turned.mp4", Reading(size=12)).shape[1:3] == upright
    capsys.readouterr()
    big = read_video(turned(tmp_path / "big.mp4", np.zeros((2, 300, 600, 3), np.uint8)), Reading())
    said = "(300x600) at 256x512" if turns % 2 else "(600x300) at 512x256"  # width x height, as shown
    assert big.shape[1:3] == ((512, 256) if turns % 2 else (256, 512)) and said in capsys.readouterr().err


def test_a_container_whose_duration_lies_is_read_for_the_frames_it_holds(tmp_path):
    path = tmp_path / "lying.mkv"
    with av.open(str(path), "w", format="matroska") as container:  # Matroska gives a duration, not a count
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        for pixels in moving_square(10, h=16, w=16):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode())
    data = path.read_bytes()
    at = data.find(bytes([0x44, 0x89, 0x88]))  # the Segment's Duration element: an 8-byte float, in ms
    assert at > 0
    path.write_bytes(data[:at + 3] + struct.pack(">d", 1e15) + data[at + 11:])  # 31,000 years
    assert probe_video(path).frames > 10**12 and not probe_video(path).counted
    assert read_video(path).shape[0] == 10
    with pytest.raises(UserError, match="decodes to more than 5 frames"):  # the budget still holds, per frame
        read_video(path, budget=Budget(bytes=5 * 16 * 16 * 3))


def test_a_grey_video_reads_as_one_channel(tmp_path):
    write_video(moving_square(colour=False), tmp_path / "grey.mp4")
    assert read_video(tmp_path / "grey.mp4").shape == (30, 24, 32, 1)


def test_the_budget_is_checked_before_decoding(clip_file, monkeypatch):
    monkeypatch.setattr(av.container.InputContainer, "decode", lambda *a, **k: pytest.fail("decoded"))
    with pytest.raises(UserError, match=r"decodes to 30 frames of 32x24x3 .* over the budget .*--frame-step"):
        read_video(clip_file, budget=Budget(bytes=1000))
    with pytest.raises(UserError, match="32x24 frames; framecast decodes at most 100 pixels a frame"):
        read_video(clip_file, budget=Budget(frame_pixels=100))


def test_a_header_that_understates_the_frames_is_caught_while_decoding(clip_file, monkeypatch):
    from framecast.data import media

    real = media.probe_video
    monkeypatch.setattr(media, "probe_video", lambda path: real(path).__class__(
        frames=2, height=24, width=32, channels=3, fps=10.0))
    with pytest.raises(UserError, match="over the budget"):
        read_video(clip_file, budget=Budget(bytes=24 * 32 * 3 * 5))


def _audio_only(path):
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        out.mux(stream.encode(frame))
        out.mux(stream.encode())


@pytest.mark.parametrize("make, problem", [
    (lambda p: p.write_bytes(b""), "is not a readable video"),
    (lambda p: p.write_text("not a video at all\n" * 50), "is not a readable video"),
    (_audio_only, "holds no video stream"),
])
def test_broken_videos_end_in_one_line(tmp_path, make, problem):
    path = tmp_path / "bad.mp4"
    make(path)
    with pytest.raises(UserError, match=problem):
        read_video(path)


def test_a_truncated_video_reads_what_is_there_or_says_it_is_unreadable(clip_file, tmp_path):
    data = clip_file.read_bytes()
    for keep in (len(data) // 2, 200):
        cut = tmp_path / f"cut{keep}.mp4"
        cut.write_bytes(data[:keep])
        try:
            frames = read_video(cut)
        except UserError as err:
            assert "cut" in str(err) and ("readable" in str(err) or "no frames" in str(err))
        else:
            assert 0 < len(frames) < 30


def test_footage_from_every_kind_of_path(clip_file, tmp_path):
    video = read_footage(clip_file)
    assert video.kind == "video" and video.frame_shape == (24, 32, 3) and len(video.recordings[0]) == 30
    folder = tmp_path / "videos"
    folder.mkdir()
    write_video(moving_square(20), folder / "b.mp4")
    write_video(moving_square(25), folder / "a.mkv")
    videos = read_footage(folder)
    assert videos.kind == "videos" and [len(r) for r in videos.recordings] == [25, 20]  # by name
    write_video(moving_square(20, h=32), folder / "c.mp4")
    with pytest.raises(UserError, match="differ in frame size .* --size HEIGHT,WIDTH"):
        read_footage(folder)
    assert read_footage(folder, Reading(size=(16, 16))).frame_shape == (16, 16, 3)
    jpgs = tmp_path / "jpgs"
    jpgs.mkdir()
    for i, f in enumerate(moving_square(6)):
        Image.fromarray(f).save(jpgs / f"{i}.jpg")
    frames = read_footage(jpgs)
    assert frames.kind == "frames" and frames.recordings[0].shape == (6, 24, 32, 3)
    np.save(tmp_path / "s.npy", np.zeros((3, 8, 16, 16), np.uint8))
    sequences = read_footage(tmp_path / "s.npy", Reading(step=2))
    assert sequences.kind == "sequences" and sequences.recordings.shape == (3, 4, 16, 16, 1)
    assert read_one(clip_file, reading=Reading(color="gray")).shape == (30, 24, 32, 1)


def test_a_broken_video_in_a_folder_is_skipped_with_a_line_unless_all_are(tmp_path, capsys):
    folder = tmp_path / "videos"
    folder.mkdir()
    write_video(moving_square(20), folder / "a.mp4")
    (folder / "b.mp4").write_bytes(b"not a video at all")
    write_video(moving_square(12), folder / "c.mp4")
    (folder / "c.mp4").write_bytes((folder / "c.mp4").read_bytes()[:200])  # cut short: no frame decodes
    videos = read_footage(folder)
    assert [len(r) for r in videos.recordings] == [20]
    said = capsys.readouterr().err
    assert "skipping 'b.mp4': " in said and "skipping 'c.mp4': " in said
    with pytest.raises(UserError, match="over the budget"):  # a budget is not a broken file: it stops the read
        read_footage(folder, budget=Budget(bytes=100))
    (folder / "a.mp4").unlink()
    with pytest.raises(UserError, match=r"none of the 2 videos in .* can be read; the first: .*b\.mp4"):
        read_footage(folder)


def test_pictures_are_checked_against_the_budget_before_decoding(tmp_path):
    from framecast.data.images import read_frames

    frames = tmp_path / "big"
    frames.mkdir()
    for i in range(3):
        Image.new("L", (4000, 3000)).save(frames / f"{i}.png")  # small files, large frames
    with pytest.raises(UserError, match="over the budget"):
        read_frames(frames, budget=Budget(bytes=10 * 2**20))
    Image.new("L", (4000, 3000)).save(tmp_path / "big.gif", save_all=True, append_images=[Image.new("L", (4000, 3000))])
    with pytest.raises(UserError, match="4000x3000 frames; framecast decodes at most"):
        read_frames(tmp_path / "big.gif", budget=Budget(frame_pixels=1000))


@pytest.mark.parametrize("bad", [dict(color="sepia"), dict(step=0), dict(size=(3, 10)), dict(size=(1, 2, 3))])
def test_bad_reading_options_are_refused(bad):
    with pytest.raises(UserError):
        Reading(**bad)


def test_video_out_is_truth_beside_prediction(tmp_path):
    from framecast.inference.prediction import side_by_side

    ctx, truth, pred = moving_square(4), moving_square(3), moving_square(5)
    both = side_by_side(ctx, truth, pred)  # 24x32 frames are scaled 4x, under a caption strip
    strip = both.shape[1] - 4 * 24
    assert (both.shape[0], both.shape[2], both.shape[3]) == (9, 4 * (2 * 32 + 4), 3)
    assert strip > 0 and strip % 2 == 0
    assert (both[7:, strip:, :4 * 32] == 128).all()  # past the truth's end: grey on its side
    write_video(both[:, :23, :67], tmp_path / "odd.mp4")  # odd sizes are padded for yuv420p
    assert probe_video(tmp_path / "odd.mp4").frames == 9
    assert read_video(tmp_path / "odd.mp4").shape == (9, 24, 68, 3)
