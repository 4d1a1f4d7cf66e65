"""A user's own video, end to end, on a tiny clip made here: train on random crops of windows of its first part,
a verdict against the baselines at the end, evaluate its windows, predict into an .mp4."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import framecast
from framecast.cli.main import main
from framecast.config import ModelConfig
from framecast.data.media import probe_video
from framecast.errors import UserError
from framecast.model.predictor import Predictor

SHORT = {"context": 4, "frames": 8, "epochs": 2, "steps_per_epoch": 3, "val_sequences": 4}


@pytest.fixture(scope="module")
def footage_run(video, tmp_path_factory):
    run = tmp_path_factory.mktemp("footage_run") / "run"
    framecast.train(run, preset="tiny", overrides={**SHORT, "data": str(video)}, progress=False)
    return run


def test_a_video_trains_on_crops_with_a_residual_model_and_ends_with_a_verdict(video, tmp_path, capfd):
    run = tmp_path / "run"
    framecast.train(run, preset="tiny", overrides={**SHORT, "data": str(video)}, progress=False)
    out = capfd.readouterr().out
    assert "16x16 crops of 24x16x3 frames, windows of 8; validation: the last 10% (at least 12 frames) of 1 " \
           "recording; warping from optical flow output" in out
    assert "verdict on " in out and "copy_last" in out and "shift" in out and "flow" in out
    verdict = json.loads((run / "metrics.json").read_text())["verdict"]
    assert set(verdict["baselines"]) == {"zeros", "copy_last", "shift", "flow"} and verdict["windows"] >= 1
    assert verdict["model"]["mse"] > 0 and 0 < verdict["model"]["ssim"] <= 1 and verdict["advice"]
    model = framecast.load(run / "best.ckpt")
    assert model.config.residual and model.config.warp and model.config.flow  # footage's default output
    assert model.config.frame_size == 16 and model.config.channels == 3
    assert model.predict(np.zeros((4, 16, 24, 3), np.uint8), horizon=2).shape == (2, 16, 24, 3)  # whole frames


def test_an_untrained_residual_model_copies_the_last_frame():
    model = Predictor(ModelConfig(residual=True, hidden=(8, 8), kernel=(3, 3), channels=3)).eval()
    frames = torch.rand(2, 5, 3, 20, 28)  # not a multiple of the patch: padded, then cropped back
    with torch.no_grad():
        pred = model(frames, 4)
    assert pred.shape == (2, 4, 3, 20, 28)
    torch.testing.assert_close(pred, frames[:, -1:].expand(-1, 4, -1, -1, -1), atol=1e-3, rtol=0)


def test_a_warping_model_starts_as_copy_last_and_moves_frames_along_its_field(tmp_path):
    from framecast.model.predictor import warp

    model = Predictor(ModelConfig(warp=True, residual=True, hidden=(8, 8), kernel=(3, 3), channels=3)).eval()
    frames = torch.rand(2, 5, 3, 20, 28)
    with torch.no_grad():
        torch.testing.assert_close(model(frames, 3), frames[:, -1:].expand(-1, 3, -1, -1, -1), atol=1e-3, rtol=0)
        model.head.bias[0] = 0.5  # dx of half a patch (4 px): each pixel samples the frame 2 px to its right
        moved = model(frames, 1)[:, 0]
    torch.testing.assert_close(moved[..., :-2], frames[:, -1, ..., 2:], atol=1e-3, rtol=0)  # the frame moved left
    field = torch.zeros(1, 2, 5, 7)
    field[:, 1] = -1.0  # dy = -1: each pixel samples the row above: the picture moves down a row
    torch.testing.assert_close(warp(frames[:1, 0], field)[..., 1:, :], frames[:1, 0, :, :-1, :], atol=1e-5, rtol=0)
    with pytest.raises(UserError, match="warp .* needs residual=true"):
        framecast.train(tmp_path / "run", preset="tiny", overrides={"warp": True, "residual": False})
    assert not (tmp_path / "run").exists()


@pytest.mark.filterwarnings(r"ignore:`torch\.jit\.trace` is deprecated")
def test_a_flow_model_starts_as_the_flow_baseline_and_reads_its_field():
    from framecast.model.baselines import baseline

    model = Predictor(ModelConfig(warp=True, residual=True, flow=True, hidden=(8, 8), kernel=(3, 3), channels=3))
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(2, 1, 3, 1, 1, generator=g).expand(-1, 6, -1, 22, 30).clone()
    for t in range(6):  # a smooth picture moving 1.5 px right per frame (sub-pixel, not a whole patch)
        xs = torch.arange(30.0) - 1.5 * t
        frames[:, t] *= 0.5 + 0.4 * torch.sin(xs / 4) * torch.cos(torch.arange(22.0)[:, None] / 5)
    with torch.no_grad():
        pred = model.eval()(frames, 3)
        torch.testing.assert_close(pred, baseline("flow", frames, 3), atol=1e-3, rtol=0)
        assert (pred - frames[:, -1:]).abs().mean() > 0.01  # it moved: not copy-last
        field = model.start_field(frames, 6)
    assert field.shape == (2, 2, 24, 32)  # padded to whole patches, as the frames are
    assert 1.2 < field[:, 0, 4:-4, 4:-8].mean() * -1 < 1.8  # each pixel came from 1.5 px to its left
    assert model.rnn.cells[0].in_channels == 3 * 16 + 2  # the field, averaged per patch, is read too
    with pytest.raises(ValueError, match="field="):  # a graph takes the field as an input
        torch.jit.trace(lambda x: model.rollout(x, 4, 5), frames[..., :20, :28])


@pytest.mark.parametrize("footage, keys, decided", [
    (True, {}, (True, True, True)),
    (False, {}, (False, False, False)),
    (True, {"residual": False}, (False, False, False)),
    (True, {"warp": False}, (True, False, False)),
    (True, {"flow": False}, (True, True, False)),
    (False, {"warp": True}, (True, True, False)),
    (False, {"flow": True}, (True, True, True)),
])
def test_footage_gets_a_model_that_warps_from_the_flow_unless_the_user_chose(footage, keys, decided):
    from framecast.training.run_config import motion_keys

    assert tuple(motion_keys(ModelConfig(**keys), footage).values()) == decided


def test_evaluate_scores_a_videos_windows_and_predict_writes_an_mp4(footage_run, video, tmp_path, capsys):
    code = main(["evaluate", "--checkpoint", str(footage_run / "best.ckpt"), "--data", str(video), "--stride", "5",
                 "--context", "4", "--horizon", "4", "--out", str(tmp_path / "ev")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "scoring 11 windows of 8 frames (every 5 frames) of 1 recording" in err
    assert "| shift |" in out and "| flow |" in out
    report = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert report["evaluated"]["sequences"] == 11
    assert set(report["baselines"]) == {"zeros", "copy_last", "shift", "flow"}
    code = main(["predict", "--checkpoint", str(footage_run / "best.ckpt"), "--input", str(video), "--context", "4",
                 "--horizon", "6", "--out", str(tmp_path / "next.mp4")])
    assert code == 0, capsys.readouterr().err
    info = probe_video(tmp_path / "next.mp4")  # context, then truth | prediction: small frames scaled 4x, captioned
    assert (info.frames, info.width) == (10, 4 * (2 * 24 + 4)) and info.height > 4 * 16


def test_data_show_looks_at_a_video(video, tmp_path, capsys):
    assert main(["data", "show", str(video), "--out", str(tmp_path / "look"), "--size", "8,12"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["kind"] == "video" and summary["frames"] == [60] and (summary["height"], summary["width"]) == (8, 12)
    assert {p.name for p in (tmp_path / "look").iterdir()} == {"grid.png", "sequences.gif", "summary.json"}


@pytest.mark.parametrize("overrides, problem", [
    ({"crop": 20}, "crop=20 is larger than .* 24x16 frames"),
    ({"crop": 10}, "patch=4 does not divide the training frame size 10"),
    # 60 frames: windows shrink to fit a training and 1.5 validation windows, down to context + 1 = 31 frames
    ({"frames": 40, "context": 30}, "60 frames; training on one recording needs at least 77 "),
])
def test_footage_it_cannot_learn_from_is_refused_before_training(video, tmp_path, overrides, problem):
    with pytest.raises(UserError, match=problem):
        framecast.train(tmp_path / "run", preset="tiny", overrides={**SHORT, "data": str(video), **overrides},
                        progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("val, train, says", [
    ([900, 850], [0.6, 0.5], "only 2 validation(s) ran"),
    ([900, 850, 800, 760, 730], [0.6, 0.5], "still falling (850.0 -> 730.0"),
    ([900, 800, 731, 768, 770], [0.6, 0.5], "reached its best (731.0) in the last 3 validations, then rose to 770.0"),
    ([900, 700, 710, 720, 760], [0.6, 0.5, 0.4], "rose from its best (700.0) to 760.0 while the training loss fell"),
    ([900, 700, 705, 701, 702], [0.6, 0.6], "has flattened (best 700.0)"),
])
def test_the_advice_reads_the_validation_curve(val, train, says):
    from framecast.training.verdict import advice

    assert says in advice((val, train))


@pytest.mark.parametrize("difference, error, windows, shown", [
    (-30.0, 1.0, 10, True),     # better by 30 standard errors
    (-93.3, 77.4, 11, False),   # better on average, within the noise: the start is kept
    (-30.0, 1.0, 4, False),     # too few windows to show anything
    (5.0, 1.0, 10, False),      # worse
])
def test_a_run_ships_what_it_learnt_only_where_validation_shows_a_gain_over_its_start(difference, error, windows,
                                                                                     shown):
    from framecast.training.verdict import beats

    assert beats({"baseline": "flow", "difference": difference, "standard_error": error}, windows) is shown


def test_a_run_that_never_beats_its_start_keeps_the_start(tmp_path, capfd):
    """A still clip: the flow baseline (no motion: copy-last), where footage's model starts, is all but perfect;
    training can only lose there, and the run then ships its start rather than something worse."""
    from test_media import moving_square

    from framecast.data.media import write_video
    from framecast.model.baselines import baseline

    write_video(moving_square(60, h=16, w=24, step=0), tmp_path / "still.mp4", fps=10)
    run = tmp_path / "run"
    framecast.train(run, preset="tiny", overrides={**SHORT, "data": str(tmp_path / "still.mp4"), "lr": 0.05},
                    progress=False)
    out = capfd.readouterr().out
    verdict = json.loads((run / "metrics.json").read_text())["verdict"]
    assert verdict["kept_start"] == "flow" and "the run did not beat its start, flow" in out
    assert verdict["against_start"]["baseline"] == "flow"
    assert verdict["model"] == verdict["baselines"]["flow"]
    model = framecast.load(run / "best.ckpt")
    clip = torch.rand(1, 6, 3, 16, 24)
    with torch.no_grad():
        torch.testing.assert_close(model(clip, 3), baseline("flow", clip, 3), atol=1e-3, rtol=0)
