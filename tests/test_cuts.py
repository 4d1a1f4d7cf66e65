"""Cuts: a frame unlike the one before it (a scene cut, an edit) splits a recording into shots; fast motion, pans and
flashes do not; no training, validation or evaluation window straddles a cut; `data show` lists the cuts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_media import moving_square

from framecast.cli.data_commands import show_file
from framecast.config import Config, apply_overrides
from framecast.data.cuts import find_cuts
from framecast.data.media import Footage, write_video
from framecast.data.windows import shots, split_in_time
from framecast.errors import UserError
from framecast.quality.evaluation import scored_windows
from framecast.training.datamodule import FramecastData

H, W = 36, 48


def scene(seed: int, width: int) -> np.ndarray:
    """A smooth random grey-level landscape, uint8 `[H, width, 3]`: texture a camera can pan over."""
    coarse = np.random.default_rng(seed).random((H // 12 + 1, width // 12 + 1))
    fine = np.kron(coarse, np.ones((12, 12)))[:H, :width]  # blocks of 12 px, then blurred into hills
    kernel = np.ones(9) / 9
    fine = np.apply_along_axis(np.convolve, 0, np.apply_along_axis(np.convolve, 1, fine, kernel, "same"),
                               kernel, "same")
    return np.repeat((40 + 180 * fine).astype(np.uint8)[..., None], 3, axis=-1)


def pan(seed: int, frames: int, step: int = 1) -> np.ndarray:
    """uint8 `[frames, H, W, 3]`: a camera panning right `step` px a frame over scene `seed`."""
    land = scene(seed, W + frames * step)
    return np.stack([land[:, t * step:t * step + W] for t in range(frames)])


def cut_clip(first: int = 30, second: int = 26) -> np.ndarray:
    """Two shots panning over different scenes, cut together: the second starts at frame `first`."""
    return np.concatenate([pan(1, first), pan(2, second)])


def straddles(start: int, stop: int, cut: int) -> bool:
    return start < cut < stop


def test_a_hard_cut_is_found_at_the_frame_the_new_shot_starts():
    assert find_cuts(cut_clip(30, 26)) == [30]
    assert find_cuts(np.concatenate([pan(1, 12), pan(2, 7), pan(3, 20)])) == [12, 19]  # a short shot between
    assert find_cuts(cut_clip(30, 26).astype(np.float32) / 255) == [30]  # float in [0, 1] alike


@pytest.mark.parametrize("step", [1, 4, 8])
def test_a_pan_is_not_a_cut_however_fast(step):
    clip = pan(5, 40, step)
    assert find_cuts(clip) == []
    assert find_cuts(clip[:2]) == [] and find_cuts(clip[:1]) == []


def test_a_moving_square_and_a_flash_are_not_cuts():
    # The square moves 3 px a frame, and jumps back to the left edge every few frames
    assert find_cuts(moving_square(60, h=16, w=24, step=3)) == []
    assert find_cuts(moving_square(40, h=48, w=64, step=6, colour=False)) == []
    flash = pan(3, 40)
    flash[20] = 255  # one white frame: the picture comes back after it
    assert find_cuts(flash) == []
    assert find_cuts(np.zeros((30, H, W, 1), np.uint8)) == []  # a still, black shot


def test_training_and_validation_windows_stay_within_shots_and_hold_out_the_end_of_each():
    clip = cut_clip(60, 50)
    cuts = [find_cuts(clip)]
    train, val, words = split_in_time([clip], 10, 0.2, cuts=cuts)
    assert cuts == [[60]] and "of 2 shots" in words
    for span in train + val:
        assert not straddles(span.start, span.stop, 60), span
    # Each shot long enough gives its last 20% (at least 1.5 windows) to validation: the future held out
    assert sorted((s.start, s.stop) for s in val) == [(45, 60), (95, 110)]
    assert sorted((s.start, s.stop) for s in train) == [(0, 45), (60, 95)]
    # Without cuts the same recording would have been split once, across the cut
    assert len(split_in_time([clip], 10, 0.2)[1]) == 1


def test_the_training_data_module_splits_footage_at_its_cuts():
    clip = cut_clip(60, 50)
    config = apply_overrides(Config(), {"data": "clip.mp4", "context": 6, "frames": 10, "val_fraction": 0.2,
                                        "frame_size": 32, "batch_size": 16, "val_sequences": 4})
    data = FramecastData(config, Footage([clip], "clip.mp4", "video"))
    data.setup("fit")
    for span in data.stream.spans:
        assert not straddles(span.start, span.stop, 60)
    for _, start in data.val_set.starts:
        assert not straddles(start, start + 10, 60)
    drawn = data.stream.batch(0)  # (B, T, C, crop, crop): frames of one shot's scene throughout each window
    assert drawn.shape[:2] == (16, 10)


def test_shots_shorter_than_a_window_are_left_out_and_said(capsys):
    clip = np.concatenate([pan(1, 6), pan(2, 40)])
    spans = shots([clip], [find_cuts(clip)], window=10)
    assert [(s.start, s.stop) for s in spans] == [(6, 46)]
    assert "1 shot between cuts is shorter than a window of 10 frames: 6 frames not used" in capsys.readouterr().err
    with pytest.raises(UserError, match="longest shot \\(between cuts\\) has 6 frames"):
        split_in_time([np.concatenate([pan(1, 6), pan(2, 6)])], 10, 0.2, cuts=[[6]])


def test_evaluation_windows_never_straddle_a_cut(capsys):
    clip = cut_clip(30, 26)
    windows, how = scored_windows(Footage([clip], "clip.mp4", "video"), 10, stride=1, limit=None)
    assert len(windows) == (30 - 10 + 1) + (26 - 10 + 1)
    assert not any(straddles(s, s + 10, 30) for _, s in windows.starts)
    assert "of 1 recording (2 shots between cuts)" in how
    assert "1 cut in clip.mp4 (at frame 30)" in capsys.readouterr().err
    # Sequence files are sequences, not footage: nothing is looked for in them
    sequences = Footage(np.stack([clip, clip]), "s.npy", "sequences")
    assert len(scored_windows(sequences, 10, stride=1, limit=None)[0]) == 2 * (56 - 10 + 1)
    with pytest.raises(UserError, match="longest shot between cuts has 30 frames; .* = 40"):
        scored_windows(Footage([clip], "clip.mp4", "video"), 40, stride=None, limit=None)


def test_data_show_lists_the_cuts_of_a_video(tmp_path, capsys):
    write_video(cut_clip(30, 26), tmp_path / "edit.mp4", fps=10)  # through H.264, as a user's video comes
    summary = show_file(tmp_path / "edit.mp4", tmp_path / "show")
    assert summary["cuts"] == [[30]] and summary["frames"] == [56]
    assert json.loads((tmp_path / "show" / "summary.json").read_text())["cuts"] == [[30]]
    assert "1 cut in" in capsys.readouterr().err
    write_video(pan(4, 30), tmp_path / "one.mp4", fps=10)
    assert show_file(tmp_path / "one.mp4", tmp_path / "show1")["cuts"] == [[]]
