"""framecast serve: the page's functions on bad uploads, and the whole page driven in Debian's chromium."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from urllib.parse import urljoin

import numpy as np
import pytest
from PIL import Image

from framecast.config import ModelConfig
from framecast.data.dataset import to_tensor
from framecast.errors import UserError, whole_number
from framecast.inference.loading import load
from framecast.model.predictor import Predictor
from framecast.quality.metrics import all_metrics
from framecast.web import page as web
from framecast.web.page import error_curves, predict_sequence, read_upload

CHROMIUM = Path("/usr/bin/chromium")  # Debian's; .ci/run installs it
# What lets chromium run headless here as root on a closed network (Playwright adds --headless, --no-sandbox and
# a new empty profile itself).
CHROMIUM_FLAGS = ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
WAIT_MS = 60_000  # for the page's answers: a loaded CI machine is slow, a stuck page still fails


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint):
    return load(tiny_checkpoint, device="cpu")


@pytest.mark.parametrize("name, content, expected", [
    ("junk.gif", b"GIF89a\x00\x01 not really", "not a readable"),
    ("pickled.npy", None, "Python objects"),
    ("few.npy", np.zeros((1, 1, 64, 64), np.uint8), "1 frame"),
    ("frame.png", "one png", "one .png is one frame"),
    ("notes.txt", b"hello", "not a .npy/.npz"),
])
def test_bad_uploads_are_refused_in_one_line(tmp_path, name, content, expected):
    path = tmp_path / name
    if content is None:
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif isinstance(content, np.ndarray):
        np.save(path, content)
    elif content == "one png":
        Image.new("L", (64, 64)).save(path)
    else:
        path.write_bytes(content)
    with pytest.raises(UserError, match=expected):
        read_upload([str(path)], 0, tmp_path)


def test_an_npz_that_unzips_too_large_is_refused_before_it_is_read(tmp_path, monkeypatch):
    np.savez_compressed(tmp_path / "bomb.npz", frames=np.zeros((2, 10, 64, 64), np.uint8))
    monkeypatch.setattr("framecast.web.inputs.MAX_NPZ_BYTES", 1000)
    with pytest.raises(UserError, match="unzips to"):
        read_upload([str(tmp_path / "bomb.npz")], 0, tmp_path)


def test_png_frames_are_read_in_the_order_of_their_names(tmp_path):
    for i in (10, 2, 1):  # frame10 after frame2
        Image.new("L", (32, 32), color=i).save(tmp_path / f"frame{i}.png")
    frames = read_upload([str(tmp_path / f"frame{i}.png") for i in (10, 2, 1)], 0, tmp_path)
    assert frames.shape == (3, 32, 32, 1) and frames[:, 0, 0, 0].tolist() == [1, 2, 10]


def test_npz_index_picks_a_sequence(tmp_path, sequences):
    np.savez(tmp_path / "s.npz", frames=sequences)
    assert np.array_equal(read_upload([str(tmp_path / "s.npz")], 4, tmp_path)[..., 0], sequences[4])
    with pytest.raises(UserError, match="out of range"):
        read_upload([str(tmp_path / "s.npz")], 6, tmp_path)


def test_prediction_past_the_truth_scores_only_the_frames_with_one(tiny, tmp_path, mnist_file):
    frames = np.load(mnist_file)[0, ..., None]  # 20 frames
    out = predict_sequence(tiny, frames, 10, 15, tmp_path)  # 5 future frames have no truth
    assert np.load(out.downloads[1]).shape == (1, 15, 64, 64, 1)
    assert Image.open(out.animation).n_frames == 25 and Image.open(out.downloads[0]).n_frames == 25
    assert "copy_last" in out.table and "truth for 10 of them" in out.status and len(error_curves(out.result)) == 5 * 10
    alone = predict_sequence(tiny, frames[:10], 10, 3, tmp_path)
    assert alone.result is None and "No metrics" in alone.table
    with pytest.raises(UserError, match="context 12 needs at least 12"):
        predict_sequence(tiny, frames[:10], 12, 3, tmp_path)


def test_the_page_scores_like_evaluate(mnist_file):
    frames = np.load(mnist_file)[1, ..., None]
    pred = np.clip(frames[10:].astype(int) + 40, 0, 255).astype(np.uint8)  # a guess that is off everywhere
    result = web.score(frames[:10], frames[10:], pred)
    expected = all_metrics(to_tensor(pred[None]), to_tensor(frames[None, 10:]))
    for name in web.SHOWN:
        np.testing.assert_allclose(result["per_frame"][name], expected[name][0].numpy(), rtol=1e-6)
        assert result[name] == pytest.approx(expected[name].mean().item(), rel=1e-6)
    assert result["mse"] > 0 and set(result["baselines"]) == {"zeros", "copy_last", "shift", "flow"}


def test_model_thread_runs_every_call_on_one_thread_and_closes_after_the_running_one():
    model_thread, names = web.ModelThread(), set()
    callers = [threading.Thread(target=lambda: names.add(model_thread.run(threading.current_thread)))
               for _ in range(3)]
    for caller in callers:
        caller.start()
        caller.join()
    assert len(names) == 1 and names.pop().name.startswith("framecast-model")
    with pytest.raises(UserError, match="horizon"):  # errors reach the caller, as the page's handlers expect
        model_thread.run(whole_number, "horizon", "x")
    started, done = threading.Event(), []

    def slow():
        started.set()
        time.sleep(0.3)
        done.append(1)

    running = threading.Thread(target=lambda: model_thread.run(slow))
    running.start()
    started.wait(5)
    model_thread.close()  # returns only once the running call has finished
    assert done == [1]
    running.join()


def test_the_page_predicts_on_the_model_thread(tiny, tmp_path, mnist_file, monkeypatch):
    threads, predict_array = [], web.predict_array

    def recorded(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return predict_array(*args, **kwargs)

    monkeypatch.setattr(web, "predict_array", recorded)
    model_thread = web.ModelThread()
    try:
        app = web.build_app(tiny, "tiny", tmp_path, model_thread)
        on_predict = next(f.fn for f in app.fns.values() if f.api_name == "predict")
        animation, *_, status = on_predict(np.load(mnist_file)[0, ..., None], 10, 10)
    finally:
        model_thread.close()
    assert "predicted 10 frames" in status and Path(animation).is_file()
    assert len(threads) == 1 and threads[0].startswith("framecast-model")


def test_warm_up_fits_any_model_shape(monkeypatch):
    shapes, predict_array = [], web.predict_array

    def recorded(model, frames, horizon, **options):
        shapes.append(predict_array(model, frames, horizon, **options).shape)
        return shapes[-1]

    monkeypatch.setattr(web, "predict_array", recorded)
    web.warm_up(Predictor(ModelConfig(channels=3, frame_size=32, hidden=(4,), kernel=(3,))).eval())
    assert shapes == [(10, 32, 32, 3)]  # 10 blank RGB frames of its size in, 10 predicted


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_served(url: str, server: subprocess.Popen, seconds: float = 120) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert server.poll() is None, server.communicate()[1]
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"framecast serve did not answer on {url} within {seconds} s")


def _gif_frames(page, selector: str, folder: Path) -> int:
    """Frames of the animated GIF the page shows in `selector`, fetched from where the browser got it."""
    src = page.locator(f"{selector} img").first.get_attribute("src")
    with urllib.request.urlopen(urljoin(page.url, src), timeout=30) as answer:
        (folder / "shown.gif").write_bytes(answer.read())
    return Image.open(folder / "shown.gif").n_frames


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_the_page_in_a_real_browser(tiny_checkpoint, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    port, scratch = _free_port(), tmp_path / "tmp"
    scratch.mkdir()
    (tmp_path / "cwd").mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    server = subprocess.Popen([sys.executable, "-m", "framecast", "serve", "--checkpoint", str(tiny_checkpoint),
                               "--port", str(port)], cwd=tmp_path / "cwd", env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_until_served(url, server)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
            page = browser.new_page()
            page.goto(url)
            status = page.locator("#status")
            page.get_by_role("button", name="Make a sequence").click()
            expect(status).to_contain_text("made a sequence of 20 frames", timeout=WAIT_MS)
            page.get_by_role("button", name="Predict").click()
            expect(status).to_contain_text("predicted 10 frames after the first 10", timeout=WAIT_MS)
            expect(page.locator("#animation img")).to_be_visible(timeout=WAIT_MS)
            assert _gif_frames(page, "#animation", tmp_path) == 10 + 10  # context, then the horizon
            expect(page.locator("#metrics table")).to_contain_text("copy_last", timeout=WAIT_MS)
            expect(page.locator("#error svg").first).to_be_visible(timeout=WAIT_MS)
            for who in ("model", "zeros", "copy_last", "shift", "flow"):  # the plot drew its lines: their legend
                expect(page.locator("#error svg").first).to_contain_text(who, timeout=WAIT_MS)

            broken = tmp_path / "broken.gif"
            broken.write_bytes(b"GIF89a" + bytes(range(256)) * 4)
            page.get_by_role("tab", name="Upload").click()
            page.locator("input[type=file]").set_input_files(str(broken))
            expect(status).to_contain_text("Could not use the upload", timeout=WAIT_MS)
            expect(status).to_contain_text("not a readable", timeout=WAIT_MS)

            page.get_by_role("button", name="Predict").click()  # the server still answers
            expect(status).to_contain_text("predicted 10 frames", timeout=WAIT_MS)
            browser.close()
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
    assert server.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err, err
    assert not any(scratch.iterdir()) and not any((tmp_path / "cwd").iterdir())  # its temporary folder is gone


def test_serve_refuses_a_missing_checkpoint_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))  # serve sets it: restored after the test
    from framecast.cli.main import main

    assert main(["serve", "--checkpoint", str(tmp_path / "nope.ckpt"), "--port", str(_free_port())]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.ckpt" in err and "not found" in err


def test_serve_on_a_port_in_use_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    import socket

    from framecast.cli.main import main
    from framecast.web import page as web

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))  # serve sets it: restored after the test
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2  # told before the model is loaded
        err = capsys.readouterr().err
        assert err == f"framecast: error: cannot serve on 127.0.0.1:{port}: port {port} is in use; pass another " \
                      "--port\n"

        class Taken:  # taken between the check and Gradio's launch: the same line, not Gradio's OSError
            def launch(self, **kwargs):
                raise OSError(f"Cannot find empty port in range: {port}-{port}. You can specify a different port")

            def close(self, verbose=True):
                assert not verbose

        with pytest.raises(UserError, match=f"cannot serve on 127.0.0.1:{port}: port {port} is in use"):
            web._launch_until_stopped(Taken(), "a model", "127.0.0.1", port)

    class Silent(Taken):  # a failure without words, on a port now free: refused all the same, never "serving"
        def launch(self, **kwargs):
            raise OSError()

    with pytest.raises(UserError, match=f"cannot serve on 127.0.0.1:{port}: (OSError|port {port} is in use)"):
        web._launch_until_stopped(Silent(), "a model", "127.0.0.1", port)


def test_a_video_upload_is_decoded_at_the_pages_size(tmp_path):
    from test_media import moving_square

    from framecast.data.media import write_video
    from framecast.web.inputs import PAGE_SIDE
    from framecast.web.page import read_upload

    write_video(moving_square(12, h=24, w=32), tmp_path / "clip.mp4")
    assert read_upload([str(tmp_path / "clip.mp4")], 0, tmp_path).shape == (12, 24, 32, 3)
    write_video(moving_square(5, h=40, w=600), tmp_path / "wide.mp4")
    wide = read_upload([str(tmp_path / "wide.mp4")], 0, tmp_path)
    assert wide.shape[2] == PAGE_SIDE and wide.shape[1] == 17  # scaled down, aspect kept
    # A footage model's page reads at the shorter side its training recorded (never larger than the video)
    assert read_upload([str(tmp_path / "wide.mp4")], 0, tmp_path, shorter=20).shape[1:3] == (20, 300)
    assert read_upload([str(tmp_path / "clip.mp4")], 0, tmp_path, shorter=64).shape[1:3] == (24, 32)
    (tmp_path / "sound.mp4").write_bytes(b"ID3 not a video")
    with pytest.raises(UserError, match="not a readable video"):
        read_upload([str(tmp_path / "sound.mp4")], 0, tmp_path)


def test_the_page_reads_footage_at_the_size_a_footage_model_recorded():
    from framecast.config import DataConfig

    class Model:  # what recorded_side reads of a loaded model
        trained_data = None

    assert web.recorded_side(Model()) is None  # built in Python
    Model.trained_data = DataConfig()  # generated Moving MNIST
    assert web.recorded_side(Model()) is None
    Model.trained_data = DataConfig(data="clip.mp4", resize=(144,))
    assert web.recorded_side(Model()) == 144
    assert web.page_size(720, 1280, 144) == (144, 256) and web.page_size(720, 1280) == (144, 256)
    assert web.page_size(1080, 1920, 256) == (256, 455) and web.page_frames(np.zeros((2, 10, 12, 1), np.uint8),
                                                                             256).shape == (2, 10, 12, 1)


def test_an_upload_error_names_the_visitors_file_not_the_servers_path(tmp_path):
    upload = tmp_path / "gradio" / "42574ea0" / "text.npy"  # where Gradio keeps an upload of text.npy
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"hello")
    with pytest.raises(UserError) as err:
        read_upload([str(upload)], 0, tmp_path)
    message = web.as_uploaded(str(err.value), [str(upload)], tmp_path)
    assert message == "'text.npy' is not a .npy/.npz file (it does not start like one)"
    frames = [tmp_path / "gradio" / name for name in ("a.png", "b.png")]
    for frame in frames:
        frame.write_bytes(b"not a png")
    with pytest.raises(UserError) as err:  # PNG frames are read from a folder the server makes
        read_upload([str(f) for f in frames], 0, tmp_path)
    message = web.as_uploaded(str(err.value), [str(f) for f in frames], tmp_path)
    assert str(tmp_path) not in message and "a.png" in message


def test_the_metrics_table_says_when_a_baseline_beats_the_model(tmp_path, mnist_file):
    frames = np.load(mnist_file)[0, ..., None]
    white = np.full_like(frames[10:], 255)  # every pixel lit: each baseline does better
    table = web.metrics_table(web.score(frames[:10], frames[10:], white))
    assert "**The model does worse than zeros on " in table and "; copy_last on " in table
    good = web.metrics_table(web.score(frames[:10], frames[10:], frames[10:]))  # a perfect prediction
    assert "does worse" not in good


def test_the_page_opens_with_an_example_predicted(tiny, tmp_path):
    model_thread = web.ModelThread()
    try:
        example = model_thread.run(web.first_example, tiny, tmp_path)
        app = web.build_app(tiny, "tiny", tmp_path, model_thread, example)
    finally:
        model_thread.close()
    values = {block.elem_id: block.value for block in app.blocks.values() if getattr(block, "elem_id", None)}
    assert "predicted 10 frames after the first 10 of 20" in values["status"]
    assert "copy_last" in values["metrics"] and values["animation"] is not None
    assert example.frames.shape == (20, 64, 64, 1) and Path(example.prediction.animation).is_file()


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_serve_says_its_url_only_and_stops_on_ctrl_c_and_sigterm(tiny_checkpoint, tmp_path, sig, code):
    """The terminal shows framecast's line with the URL, not Gradio's advice to pass share=True; Ctrl-C exits 130,
    SIGTERM 143, as every command does."""
    port = _free_port()
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    server = subprocess.Popen([sys.executable, "-m", "framecast", "serve", "--checkpoint", str(tiny_checkpoint),
                               "--port", str(port)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(server.stderr), daemon=True)
    reader.start()
    try:
        _wait_until_served(f"http://127.0.0.1:{port}/", server)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=30) as answer:
            page = answer.read().decode()
        assert "predicted 10 frames after the first 10" in page  # the example is there when the page opens
        deadline = time.monotonic() + 60  # the line comes once launch() returns, a moment after the page answers
        while not any("Ctrl-C stops" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        server.send_signal(sig)
        server.wait(timeout=60)
        out = server.stdout.read()
        reader.join(timeout=10)
    err = "".join(lines)
    assert server.returncode == code, err
    assert f"on http://127.0.0.1:{port} (Ctrl-C stops)" in err
    assert "share=True" not in out + err and "Running on local URL" not in out + err
    assert "Closing server" not in out + err  # how it ended is framecast's line, not Gradio's
    assert "Traceback" not in err, err


def _handler(app, name: str):
    """The page's handler `name` (on_make, on_upload, on_predict), called as Gradio calls it, without a browser."""
    return next(f.fn for f in app.fns.values() if f.fn.__name__ == name)


def _street(frames: int = 12, h: int = 32, w: int = 48) -> np.ndarray:
    """uint8 `[T, H, W, 3]` footage: a daylight colour gradient with a dark car driving right."""
    y, x = np.mgrid[0:h, 0:w]
    scene = np.stack([120 + x * 2, 140 + y * 2, np.full_like(x, 180)], axis=-1).astype(np.uint8)
    clip = np.repeat(scene[None], frames, axis=0)
    for t in range(frames):
        clip[t, 20:26, 2 * t:2 * t + 10] = (40, 30, 30)
    return clip


def test_the_upload_box_names_every_kind_the_page_reads(tiny, tmp_path):
    model_thread = web.ModelThread()
    try:
        app = web.build_app(tiny, "tiny", tmp_path, model_thread)
    finally:
        model_thread.close()
    box = next(block for block in app.blocks.values() if getattr(block, "file_types", None))
    for suffix in (".mp4", ".webm", ".mov", ".avi", ".mkv", ".gif", ".npy", ".npz", ".png", ".jpg"):
        assert suffix in box.file_types and suffix in box.label, suffix
    for i in (2, 1):  # JPEG frames are read as PNG frames are, in the order of their names
        Image.new("RGB", (32, 32), color=(60 * i, 0, 0)).save(tmp_path / f"frame{i}.jpg")
    frames = read_upload([str(tmp_path / f"frame{i}.jpg") for i in (2, 1)], 0, tmp_path)
    assert frames.shape == (2, 32, 32, 3) and frames[0, 0, 0, 0] < frames[1, 0, 0, 0]
    with pytest.raises(UserError, match="one .jpg is one frame"):
        read_upload([str(tmp_path / "frame1.jpg")], 0, tmp_path)


def test_a_new_sequence_clears_the_previous_prediction_until_predict(tiny, tmp_path, mnist_file):
    np.save(tmp_path / "other.npy", np.load(mnist_file)[2:3])
    (tmp_path / "broken.gif").write_bytes(b"GIF89a not really")
    model_thread = web.ModelThread()
    try:
        example = model_thread.run(web.first_example, tiny, tmp_path)  # the page opens with a prediction shown
        app = web.build_app(tiny, "tiny", tmp_path, model_thread, example)
        on_make, on_upload, on_predict = (_handler(app, n) for n in ("on_make", "on_upload", "on_predict"))
        frames, shown, status, note, *results = on_upload([str(tmp_path / "other.npy")], 0)
        assert frames.shape == (20, 64, 64, 1) and Path(shown).is_file() and "read 20 frames" in status
        assert results == [None, None, "", None]  # animation, plot, table, downloads: they were the old sequence's
        assert note == ""  # Moving MNIST: nothing to warn of
        failed = on_upload([str(tmp_path / "broken.gif")], 0)  # the previous sequence is kept, and so are its results
        assert "Could not use the upload" in failed[2] and all(out == web.gr.skip() for out in failed[3:])
        animation, plot, table, downloads, status = on_predict(frames, 10, 10)
        assert Path(animation).is_file() and "copy_last" in table and "predicted 10 frames" in status
        assert on_make(3, 2, 0.5, 20)[4:] == (None, None, "", None)  # a made sequence clears them too
    finally:
        model_thread.close()


def test_footage_is_called_footage_before_a_moving_mnist_model_predicts_it(tiny, tmp_path, mnist_file, monkeypatch):
    from framecast.data.media import write_video
    from framecast.plots import write_gif

    write_video(_street(), tmp_path / "street.mp4")
    write_gif(_street(), tmp_path / "street.gif")
    write_gif(np.load(mnist_file)[0, ..., None], tmp_path / "digits.gif")  # Moving MNIST as a GIF is no footage
    np.save(tmp_path / "digits.npy", np.load(mnist_file)[:2])
    grey_street = _street().mean(axis=-1, keepdims=True).astype(np.uint8)  # grey, but a daylight scene
    assert tiny.trained_data is not None and tiny.trained_data.data is None  # trained on generated Moving MNIST
    model_thread = web.ModelThread()
    (tmp_path / "page").mkdir()  # the page's folder; the files here are the visitor's, read more than once
    try:
        app = web.build_app(tiny, "tiny", tmp_path / "page", model_thread)
        on_upload, on_predict = _handler(app, "on_upload"), _handler(app, "on_predict")
        notes = {name: on_upload([str(tmp_path / name)], 0)[3] for name in ("street.mp4", "street.gif", "digits.gif",
                                                                          "digits.npy")}
        frames = on_upload([str(tmp_path / "street.mp4")], 0)[0]
        status = on_predict(frames, 6, 6)[-1]  # predicting footage still works: the visitor may want to see it
    finally:
        model_thread.close()
    for name in ("street.mp4", "street.gif"):
        assert notes[name].startswith("**This model was trained on Moving MNIST digits, not on footage like this: "
                                      "expect a blur.**"), notes[name]
        assert "`framecast train --data YOUR_FOOTAGE" in notes[name]
        assert "`framecast serve --checkpoint runs/mine/best.ckpt`" in notes[name]
    assert notes["digits.gif"] == notes["digits.npy"] == ""
    assert "predicted 6 frames after the first 6" in status
    assert "trained on Moving MNIST" in web.footage_note(tiny, grey_street)
    assert web.footage_note(tiny, np.load(mnist_file)[0, ..., None].astype(np.float32) / 255) == ""  # floats too
    python_built = Predictor(ModelConfig(hidden=(4,), kernel=(3,)))  # no record of its training
    assert "does not record what it was trained on" in web.footage_note(python_built, _street())
    monkeypatch.setattr(tiny, "trained_data", replace(tiny.trained_data, data="street.mp4"))
    assert web.footage_note(tiny, _street()) == ""  # a model trained on footage is not told it knows none


def test_a_requests_pictures_are_removed_once_old_and_the_opening_example_never(tmp_path, monkeypatch):
    old, example = web.request_folder(tmp_path, "prediction-"), tmp_path / "example"
    example.mkdir()
    stale = time.time() - web.KEPT_SECONDS - 60
    for kept in (old, example, tmp_path / "gradio"):  # Gradio's cache prunes itself
        kept.mkdir(exist_ok=True)
        os.utime(kept, (stale, stale))
    recent = web.request_folder(tmp_path, "sequence-")
    new = web.request_folder(tmp_path, "prediction-")
    assert not old.exists() and recent.exists() and new.exists() and new.name.startswith("prediction-")
    assert example.exists() and (tmp_path / "gradio").exists()
