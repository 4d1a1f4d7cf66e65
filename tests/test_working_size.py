"""Footage as people record it: read at a working size unless asked, the reading recorded by a run and reused by
evaluate, predict and read_video, batches that fit the memory, validation on a clock, a verdict that knows its
noise. The working size is lowered here (WORKING_SIDE) so that tiny clips stand in for 720p ones."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from test_own_footage import SHORT

import framecast
from framecast.cli.main import main
from framecast.data import media
from framecast.data.media import WORKING, Reading, read_footage
from framecast.errors import UserError
from framecast.inference import memory
from framecast.model.checkpoint import read_checkpoint
from framecast.training.verdict import paired, verdict_lines


@pytest.fixture
def small_working_size(monkeypatch):
    monkeypatch.setattr(media, "WORKING_SIDE", 8)


def test_footage_is_read_at_the_working_size_and_says_so(video, tmp_path, small_working_size, capsys):
    assert read_footage(video, WORKING).frame_shape == (8, 12, 3)
    assert "note: reading clip.mp4 (24x16) at 12x8; --size to choose" in capsys.readouterr().err
    assert read_footage(video, Reading(size="full")).frame_shape == (16, 24, 3)
    assert read_footage(video, Reading(size=(4, 6))).frame_shape == (4, 6, 3)
    assert capsys.readouterr().err == ""  # asked for: nothing to say
    np.save(tmp_path / "s.npy", np.zeros((2, 10, 16, 24), np.uint8))  # memory-mapped: as stored unless asked
    assert read_footage(tmp_path / "s.npy", WORKING).frame_shape == (16, 24, 1)
    with pytest.raises(UserError, match="size should be HEIGHT,WIDTH, the shorter side .* or 'full'"):
        Reading(size="half")


def test_a_run_records_its_reading_and_evaluate_and_predict_read_footage_so(video, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(media, "WORKING_SIDE", 8)
    run = tmp_path / "run"
    framecast.train(run, preset="tiny", overrides={**SHORT, "data": str(video)}, progress=False)
    stored = json.loads((run / "config.json").read_text())["data"]
    assert stored["resize"] == [8]  # the shorter side it read, recorded
    monkeypatch.setattr(media, "WORKING_SIDE", 256)  # now the clip would be read as it is, but for the model
    model = framecast.load(run / "best.ckpt")
    assert framecast.read_video(video, model=model).shape == (60, 8, 12, 3)
    assert framecast.read_video(video).shape == (60, 16, 24, 3)
    assert framecast.read_video(video, model=model, size=4, frame_step=3).shape == (20, 4, 6, 3)
    pred = framecast.predict(model, input=video, out=tmp_path / "next.npy", context=4, horizon=3, progress=False)
    assert pred.shape == (3, 8, 12, 3)
    full = framecast.predict(model, input=video, out=tmp_path / "full.npy", context=4, horizon=3,
                             reading=Reading(size="full"), progress=False)
    assert full.shape == (3, 16, 24, 3)  # predicted at 8x12, written at the footage's own size
    # Upsampled, the prediction keeps what the model predicted: close to the model's frames scaled up.
    assert np.abs(full.astype(int)[:, ::2, ::2] - pred.astype(int)).mean() < 20
    code = main(["evaluate", "--checkpoint", str(run / "best.ckpt"), "--data", str(video), "--context", "4",
                 "--horizon", "4", "--size", "full", "--stride", "10"])
    assert code == 0, capsys.readouterr().err


def test_batches_fit_the_memory_and_a_window_that_cannot_is_refused(video, tmp_path, monkeypatch, capsys):
    cfg = framecast.load().config
    one = memory.window_bytes(cfg, 20, 256, 456)
    assert 100e6 < one < 400e6  # about 150 MB measured for 20 frames of 456x256 (memory.py)
    monkeypatch.setattr(memory, "batch_budget", lambda: int(2.5 * one))
    assert memory.fitting_batch(32, cfg, 20, 256, 456, "evaluate") == 2
    assert memory.fitting_batch(1, cfg, 20, 256, 456, "evaluate") == 1
    monkeypatch.setattr(memory, "batch_budget", lambda: 1000)
    code = main(["evaluate", "--data", str(video), "--color", "gray", "--out", str(tmp_path / "ev")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "framecast: error: one window of 20 frames of 24x16 needs" in err
    assert "read smaller frames with --size" in err and not (tmp_path / "ev").exists()


def test_footage_validates_on_a_clock_as_well_as_every_steps_per_epoch(video, tmp_path):
    def steps_and_validations(val_minutes: float) -> tuple[int, int]:
        run = tmp_path / f"run{val_minutes}"
        framecast.train(run, preset="tiny", progress=False,
                        overrides={**SHORT, "data": str(video), "epochs": 2, "steps_per_epoch": 4,
                                   "val_minutes": val_minutes})
        with open(run / "metrics.csv", newline="") as f:
            validations = sum(1 for r in csv.DictReader(f) if r["val_mse"])
        return read_checkpoint(run / "last.ckpt")["global_step"], validations

    assert steps_and_validations(100.0) == (8, 2)  # the clock never due: 4 steps an epoch, then a validation
    steps, validations = steps_and_validations(1e-6)  # due after every step: an epoch is one step
    assert validations == 2 and steps <= 3


def test_the_verdict_says_when_its_windows_are_too_few_to_tell():
    base = {"context": 10, "horizon": 10, "model": {"mse": 90.0, "ssim": 0.8}, "beaten_by": {}, "advice": "",
            "baselines": {"copy_last": {"mse": 100.0, "ssim": 0.7}}}
    clear = {**base, "windows": 10, "against_best": paired([90.0 + i % 2 for i in range(10)], [100.0] * 10,
                                                           "copy_last")}
    noisy = {**base, "windows": 10, "against_best": paired([60.0, 120.0] * 5, [100.0] * 10, "copy_last")}
    few = {**base, "windows": 3, "against_best": paired([90.0, 91.0, 90.0], [100.0] * 3, "copy_last")}
    assert "model - copy_last = -9.5 +- 0.2" in "\n".join(verdict_lines(clear))
    assert "the model is better, beyond the noise" in "\n".join(verdict_lines(clear))
    for verdict in (noisy, few):
        assert "too few windows to tell the two apart" in "\n".join(verdict_lines(verdict))
