import json

import numpy as np
import pytest
import torch
from PIL import Image

import framecast
from framecast.errors import UserError
from framecast.inference.prediction import predict_file
from framecast.quality.evaluation import evaluate


def test_evaluate_writes_the_report(tiny_checkpoint, mnist_file, tmp_path):
    result = evaluate(tiny_checkpoint, data=mnist_file, out=tmp_path / "ev", horizon=6, batch_size=4,
                      progress=False)
    saved = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    for key in ("mse", "mae", "ssim", "psnr", "accuracy"):
        assert isinstance(saved[key], float)
        assert len(saved["per_frame"][key]) == 6
        for name in ("zeros", "copy_last"):
            assert len(saved["baselines"][name]["per_frame"][key]) == 6
    assert saved["evaluated"]["sequences"] == 6 and saved["evaluated"]["horizon"] == 6
    # The per-frame mean over frames is the headline figure.
    assert saved["mse"] == pytest.approx(np.mean(saved["per_frame"]["mse"]))
    assert result["baselines"]["zeros"]["accuracy"] > 0.8  # why accuracy alone misleads
    for name in ("metrics.md", "per_frame.png", "examples.png", "examples.gif"):
        assert (tmp_path / "ev" / name).stat().st_size > 0, name
    assert "| zeros |" in (tmp_path / "ev" / "metrics.md").read_text()
    gif = Image.open(tmp_path / "ev" / "examples.gif")
    assert gif.n_frames == 10 + 6
    # Batches of one still show EXAMPLES sequences: the same picture sizes as batches of four.
    evaluate(tiny_checkpoint, data=mnist_file, out=tmp_path / "ev1", horizon=6, batch_size=1, progress=False)
    for name in ("examples.png", "examples.gif"):
        assert Image.open(tmp_path / "ev1" / name).size == Image.open(tmp_path / "ev" / name).size, name


def test_a_failed_report_leaves_the_previous_one_whole(tiny_checkpoint, mnist_file, tmp_path, monkeypatch):
    import errno
    import re

    import framecast.plots as plots
    from framecast.atomic import atomic_path

    evaluate(tiny_checkpoint, data=mnist_file, out=tmp_path / "ev", horizon=6, progress=False)
    before = {p.name: p.read_bytes() for p in (tmp_path / "ev").iterdir()}

    def full_disk(frames, path, **_):  # the disk fills up while a picture is written
        with atomic_path(path):
            raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(plots, "write_gif", full_disk)
    gif = re.escape(str(tmp_path / "ev" / "examples.gif"))
    with pytest.raises(UserError, match=f"^no space left to write '{gif}'"):  # the user's path, not the staging one
        evaluate(tiny_checkpoint, data=mnist_file, out=tmp_path / "ev", horizon=3, progress=False)
    after = {p.name: p.read_bytes() for p in (tmp_path / "ev").iterdir()}  # hidden staging folders too
    assert after == before  # not new metrics beside the old run's pictures


def test_evaluate_and_predict_take_a_loaded_model(tiny_checkpoint, mnist_file, tmp_path):
    import torch

    from framecast.model.predictor import Predictor

    model = framecast.load(tiny_checkpoint)
    by_path = evaluate(tiny_checkpoint, data=mnist_file, out=tmp_path / "a", horizon=3, progress=False)
    by_model = evaluate(model, data=mnist_file, out=tmp_path / "b", horizon=3, progress=False)
    assert by_model["evaluated"]["checkpoint"] == by_path["evaluated"]["checkpoint"] == str(tiny_checkpoint)
    for key in ("mse", "ssim", "per_frame"):
        assert by_model[key] == by_path[key], key
    np.testing.assert_array_equal(predict_file(model, input=mnist_file, out=tmp_path / "m.npy", horizon=3),
                                  predict_file(tiny_checkpoint, input=mnist_file, out=tmp_path / "p.npy", horizon=3))
    fresh = Predictor(model.config)
    report = evaluate(fresh.train(), data=mnist_file, out=tmp_path / "c", horizon=3, progress=False)
    assert report["evaluated"]["checkpoint"] == "a model built in Python" and not fresh.training
    with pytest.raises(UserError, match="expected a checkpoint path or a framecast Predictor"):
        evaluate(torch.nn.Linear(1, 1), data=mnist_file, out=tmp_path / "d")
    assert not (tmp_path / "d").exists()
    in_memory = evaluate(model, data=np.load(mnist_file), out=tmp_path / "e", horizon=3, progress=False)
    assert in_memory["mse"] == by_path["mse"] and in_memory["evaluated"]["data"] == "an array of shape (6, 20, 64, 64)"
    time_first = evaluate(model, data=np.load(mnist_file).swapaxes(0, 1), out=tmp_path / "e", horizon=3,
                          layout="tnhw", progress=False)  # as mnist_test_seq.npy holds them
    assert time_first["mse"] == by_path["mse"]
    with pytest.raises(UserError, match="data should be a file, a folder or a numpy array, but got a list"):
        evaluate(model, data=[1, 2], out=tmp_path / "e")
    with pytest.raises(UserError, match=r"use framecast.load\(\).predict\(frames, horizon\)"):
        predict_file(model, input=np.load(mnist_file), out=tmp_path / "x.npy")
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "one.png")
    with pytest.raises(UserError, match="is one frame; pass a folder of .png frames"):
        predict_file(model, input=tmp_path / "one.png", out=tmp_path / "x.npy")


def test_evaluation_runs_in_full_float32_on_gpus_too(tiny_checkpoint, mnist_file, tmp_path, monkeypatch):
    import torch

    from framecast.model.predictor import Predictor
    from framecast.quality import metrics

    seen, forward, ssim = [], Predictor.forward, metrics.ssim

    def spy(original):
        def call(*args, **kwargs):
            seen.append(torch.backends.cudnn.conv.fp32_precision)
            return original(*args, **kwargs)
        return call

    monkeypatch.setattr(Predictor, "forward", spy(forward))
    monkeypatch.setitem(metrics.METRICS, "ssim", spy(ssim))  # SSIM convolves too
    before = torch.backends.cudnn.conv.fp32_precision
    evaluate(tiny_checkpoint, data=mnist_file, out=tmp_path / "ev", horizon=2, progress=False)
    assert len(seen) > 3 and set(seen) == {"ieee"}  # no TF32 while the model predicts or SSIM is computed...
    assert torch.backends.cudnn.conv.fp32_precision == before  # ...and the caller's setting back afterwards


def test_evaluate_reads_the_canonical_time_first_file(tiny_checkpoint, mnist_file, tmp_path):
    canonical = np.load(mnist_file).swapaxes(0, 1)  # (T, N, H, W) like mnist_test_seq.npy
    np.save(tmp_path / "mnist_test_seq.npy", canonical)
    result = evaluate(tiny_checkpoint, data=tmp_path / "mnist_test_seq.npy", out=tmp_path / "ev", limit=3,
                      progress=False)
    assert result["evaluated"]["sequences"] == 3
    np.save(tmp_path / "first3.npy", np.load(mnist_file)[:3])
    same = evaluate(tiny_checkpoint, data=tmp_path / "first3.npy", out=tmp_path / "ev3", progress=False)
    for key in ("mse", "ssim", "psnr", "accuracy"):
        assert result[key] == pytest.approx(same[key], rel=1e-6), key


def test_evaluate_refuses_data_the_model_cannot_take(tiny_checkpoint, tmp_path):
    np.save(tmp_path / "short.npy", np.zeros((2, 12, 64, 64), np.uint8))
    with pytest.raises(UserError, match="needs 20"):
        evaluate(tiny_checkpoint, data=tmp_path / "short.npy", out=tmp_path / "ev")
    np.save(tmp_path / "small.npy", np.zeros((2, 20, 32, 32, 3), np.uint8))
    with pytest.raises(UserError, match="32x32x3 frames, but the model takes frames of 1 channel"):
        evaluate(tiny_checkpoint, data=tmp_path / "small.npy", out=tmp_path / "ev")
    with pytest.raises(UserError, match="horizon should be a whole number >= 1, but got 2.5"):
        evaluate(tiny_checkpoint, data=tmp_path / "small.npy", out=tmp_path / "ev", horizon=2.5)
    assert not (tmp_path / "ev").exists()  # no empty report folder after a mistake


@pytest.mark.parametrize("suffix", [".gif", ".png", ".npy"])
def test_predict_from_a_sequence_file(tiny_checkpoint, mnist_file, tmp_path, suffix):
    out = tmp_path / f"pred{suffix}"
    pred = predict_file(tiny_checkpoint, input=mnist_file, out=out, index=2, horizon=25)
    assert pred.shape == (25, 64, 64, 1) and pred.dtype == np.uint8
    if suffix == ".gif":
        assert Image.open(out).n_frames == 10 + 25
    elif suffix == ".npy":  # one sequence, readable as a sequence file
        np.testing.assert_array_equal(np.load(out), pred[None, ..., 0])  # as the file: [N, T, H, W]
    else:
        assert Image.open(out).size[0] > 200


def test_a_horizon_beyond_memory_is_refused_before_the_rollout(tiny_checkpoint, mnist_file, tmp_path, monkeypatch):
    # 12 bytes per pixel (three float32 copies) x 64x64 x (10 + 20) frames = 1,474,560 bytes.
    monkeypatch.setattr("framecast.inference.rollout.physical_memory", lambda: 1_474_560)
    predict_file(tiny_checkpoint, input=mnist_file, out=tmp_path / "fits.npy", index=0, horizon=20)
    with pytest.raises(UserError, match=r"horizon 21 needs about 0.0 GiB .* has 0.0 GiB; predict fewer frames"):
        predict_file(tiny_checkpoint, input=mnist_file, out=tmp_path / "new" / "p.gif", horizon=21)
    assert not (tmp_path / "new").exists()  # refused before the output folder is made
    model = framecast.load(tiny_checkpoint)
    with pytest.raises(UserError, match="horizon 11 needs"):
        model.predict(np.zeros((2, 10, 64, 64), np.uint8), horizon=11)  # two sequences: twice the frames


def test_predict_from_gif_and_png_folder_match_the_file(tiny_checkpoint, mnist_file, tmp_path):
    frames = np.load(mnist_file)[0]  # (20, 64, 64)
    expected = predict_file(tiny_checkpoint, input=mnist_file, out=tmp_path / "e.npy", index=0, horizon=4)
    images = [Image.fromarray(f) for f in frames]
    images[0].save(tmp_path / "in.gif", save_all=True, append_images=images[1:], duration=100)
    a = predict_file(tiny_checkpoint, input=tmp_path / "in.gif", out=tmp_path / "a.npy", horizon=4)
    (tmp_path / "pngs").mkdir()
    for i, im in enumerate(images):  # unpadded names: frame2 must come before frame10
        im.save(tmp_path / "pngs" / f"frame{i}.png")
    b = predict_file(tiny_checkpoint, input=tmp_path / "pngs", out=tmp_path / "b.npy", horizon=4)
    np.testing.assert_array_equal(a, expected)  # grey GIF and PNG frames are lossless
    np.testing.assert_array_equal(b, expected)
    for png in (tmp_path / "pngs").iterdir():  # as some cameras and Windows tools name them
        png.rename(png.with_name(png.name.upper()))
    upper = predict_file(tiny_checkpoint, input=tmp_path / "pngs", out=tmp_path / "u.npy", horizon=4)
    np.testing.assert_array_equal(upper, expected)
    (tmp_path / "big").mkdir()
    for i, im in enumerate(images):
        im.convert("RGB").resize((128, 96)).save(tmp_path / "big" / f"{i}.png")  # colour, another size
    # converted to the model's grey; predicted at their own size (the model is fully convolutional), not squashed
    assert predict_file(tiny_checkpoint, input=tmp_path / "big", out=tmp_path / "c.npy", horizon=4).shape == (
        4, 96, 128, 1)


def test_16_bit_png_frames_are_scaled_not_clipped(mnist_file, tmp_path):
    from framecast.data.images import read_frames

    frames = np.load(mnist_file)[0, :3]  # (3, 64, 64) uint8
    (tmp_path / "wide").mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f.astype(np.uint16) * 257).save(tmp_path / "wide" / f"{i}.png")  # 0..65535
    assert Image.open(tmp_path / "wide" / "0.png").mode.startswith("I")
    np.testing.assert_array_equal(read_frames(tmp_path / "wide")[..., 0], frames)


def test_predict_refuses_bad_requests(tiny_checkpoint, mnist_file, tmp_path):
    with pytest.raises(UserError, match="should end in"):
        predict_file(tiny_checkpoint, input=mnist_file, out=tmp_path / "x.txt")
    with pytest.raises(UserError, match="out of range"):
        predict_file(tiny_checkpoint, input=mnist_file, out=tmp_path / "x.npy", index=99)
    with pytest.raises(UserError, match="needs at least 30"):
        predict_file(tiny_checkpoint, input=mnist_file, out=tmp_path / "x.npy", context=30)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no .png or .jpg frames"):
        predict_file(tiny_checkpoint, input=tmp_path / "empty", out=tmp_path / "x.npy")
    with pytest.raises(UserError, match="holds one sequence"):  # not silently ignored
        predict_file(tiny_checkpoint, input=tmp_path / "empty", out=tmp_path / "x.npy", index=3)
    with pytest.raises(UserError, match="index should be a whole number, but got 1.5"):
        predict_file(tiny_checkpoint, input=mnist_file, out=tmp_path / "x.npy", index=1.5)
    assert not (tmp_path / "x.npy").exists()
    predict_file(tiny_checkpoint, input=mnist_file, out=tmp_path / "upper.NPY", index=0, horizon=2)
    assert np.load(tmp_path / "upper.NPY").shape == (1, 2, 64, 64)  # written where asked, not to upper.NPY.npy


def test_predict_protects_its_input_and_checks_the_output_before_the_rollout(tiny_checkpoint, mnist_file,
                                                                            tmp_path, monkeypatch):
    import framecast.inference.prediction as prediction

    data = tmp_path / "data.npy"
    data.write_bytes(mnist_file.read_bytes())
    with pytest.raises(UserError, match="is the input file; choose another --out"):
        predict_file(tiny_checkpoint, input=data, out=tmp_path / "." / "data.npy")
    frames = tmp_path / "frames"
    frames.mkdir()
    for t, frame in enumerate(np.load(mnist_file)[0, :10]):
        Image.fromarray(frame).save(frames / f"{t}.png")
    with pytest.raises(UserError, match="is inside the input folder of frames"):  # it would be a frame next time
        predict_file(tiny_checkpoint, input=frames, out=frames / "pred.png")
    assert data.read_bytes() == mnist_file.read_bytes()  # the user's data, not overwritten by a prediction

    def no_rollout(*args, **kwargs):
        raise AssertionError("rolled out before checking where to write")
    monkeypatch.setattr(prediction, "predict_array", no_rollout)
    with pytest.raises(UserError, match="'.*data.npy' is a file; expected a folder"):
        predict_file(tiny_checkpoint, input=data, out=data / "p.gif", horizon=500)


def test_python_api_predict(tiny_checkpoint, mnist_file):
    model = framecast.load(tiny_checkpoint)
    seqs = np.load(mnist_file)
    one = model.predict(seqs[0, :10], horizon=3)
    many = model.predict(seqs[:, :10], horizon=3)
    assert one.shape == (3, 64, 64) and many.shape == (6, 3, 64, 64)
    assert one.dtype == np.float32 and 0 <= one.min() and one.max() <= 1
    np.testing.assert_allclose(one, many[0], atol=1e-2)
    for frames, horizon, message in [(seqs[0, 0], 3, "expected \\[T, H, W"), (seqs[0, :10], 2.5, "whole number"),
                                     ([[0, 1], [2]], 3, "not one array")]:
        with pytest.raises(UserError, match=message):
            model.predict(frames, horizon=horizon)


def test_the_readme_python_api_after_model_predict(tiny_checkpoint, mnist_file, tmp_path):
    # model.predict imports the prediction module first; framecast.predict must stay the function after that.
    framecast.load(tiny_checkpoint).predict(np.load(mnist_file)[0, :10], horizon=2)
    model = framecast.load(tiny_checkpoint)
    report = framecast.evaluate(model, data=mnist_file, out=tmp_path / "eval", horizon=5, progress=False)
    framecast.predict(model, input=mnist_file, out=tmp_path / "next.gif", horizon=4)
    assert "mse" in report and "baselines" in report and (tmp_path / "next.gif").is_file()


def test_prediction_takes_a_precision(tiny_checkpoint):
    from framecast.inference.rollout import predict_array

    model = framecast.load(tiny_checkpoint, device="cpu")
    frames = np.random.default_rng(0).random((10, 64, 64))
    auto, bf16 = predict_array(model, frames, 2), predict_array(model, frames, 2, precision="bf16")
    assert bf16.shape == auto.shape == (2, 64, 64) and np.abs(bf16 - auto).max() < 0.05  # bf16 keeps 8 bits
    with pytest.raises(UserError, match="precision should be one of auto, fp32, bf16, fp16, but got 'fp8'"):
        predict_array(model, frames, 2, precision="fp8")


def test_predict_takes_torch_tensors_and_the_channels_first_layout(tiny_checkpoint):
    model = framecast.load(tiny_checkpoint, device="cpu")
    frames = np.random.default_rng(0).random((2, 10, 64, 64), dtype=np.float32)
    expected = model.predict(frames, horizon=3)                                   # [B, T, H, W]
    nn_layout = torch.from_numpy(frames)[:, :, None]                               # [B, T, 1, H, W]
    out = model.predict(nn_layout, horizon=3)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 3, 1, 64, 64)
    np.testing.assert_allclose(out[:, :, 0].numpy(), expected, atol=1e-6)
    assert model.predict(nn_layout.numpy(), horizon=3).shape == (2, 3, 1, 64, 64)  # numpy in, numpy out
    with pytest.raises(UserError, match=r"expected \[T, H, W\(, C\)\], .* or \[B, T, C, H, W\]"):
        model.predict(np.zeros((1, 2, 10, 1, 64, 64)), horizon=3)


@pytest.mark.parametrize("channel_axis", [False, True])
@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_a_npy_prediction_keeps_the_inputs_layout(tiny_checkpoint, mnist_file, tmp_path, channel_axis, suffix):
    """[N, T, H, W] in, [N, horizon, H, W] out (no channel axis added); [N, T, H, W, 1] in, [..., 1] out."""
    data = np.load(mnist_file)[:3]  # [3, 20, 64, 64]
    data = data[..., None] if channel_axis else data
    source = tmp_path / f"in{suffix}"
    if suffix == ".npy":
        np.save(source, data)
    else:
        np.savez(source, frames=data)
    every = predict_file(tiny_checkpoint, input=source, out=tmp_path / "all.npy", horizon=2, progress=False)
    predict_file(tiny_checkpoint, input=source, out=tmp_path / "one.npy", index=1, horizon=2, progress=False)
    tail = (1,) if channel_axis else ()
    assert np.load(tmp_path / "all.npy").shape == every.shape == (3, 2, 64, 64, *tail)
    assert np.load(tmp_path / "one.npy").shape == (1, 2, 64, 64, *tail)
    np.testing.assert_array_equal(np.load(tmp_path / "one.npy")[0], np.asarray(every)[1])


def test_the_mp4_says_which_side_and_which_frames_are_predicted(tiny_checkpoint, mnist_file, tmp_path):
    from framecast.data.files import load_sequences
    from framecast.data.media import read_video

    predict_file(tiny_checkpoint, input=mnist_file, out=tmp_path / "p.mp4", index=1, horizon=12)
    video = read_video(tmp_path / "p.mp4")[..., 0].astype(int)  # grey frames, decoded
    strip = video.shape[1] - 4 * 64  # 64-px frames are scaled up 4x, as in GIFs, under the caption strip
    assert video.shape == (10 + 12, strip + 256, 4 * (2 * 64 + 4)) and 12 <= strip <= 40
    context = np.asarray(load_sequences(mnist_file)[1, 0, ..., 0]).repeat(4, 0).repeat(4, 1)
    assert np.abs(video[0, strip:, :256] - context).mean() < 8  # the picture below the strip, whole
    captions = video[:, :strip]
    assert captions.max() > 200 and captions.mean() < 60  # white text on black
    left, right = captions[..., :264], captions[..., 264:]
    assert np.abs(left[0] - left[9]).mean() > 1  # "context t-9" | "context t"
    assert np.abs(right[9] - right[10]).mean() > 1 and np.abs(left[9] - left[10]).mean() > 1  # "predicted t+1"...
    assert np.abs(left[19] - left[20]).mean() > 1  # "truth t+10", then "no truth: past the clip's end"
