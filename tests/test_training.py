import dataclasses
import json
import logging
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

import framecast
from framecast.errors import UserError
from framecast.model.checkpoint import read_checkpoint
from framecast.plots import read_metrics_csv
from framecast.training.run_config import resolve_config

TINY = {"val_sequences": 4}


def test_train_writes_the_run_directory(tmp_path, capsys):
    best = framecast.train(tmp_path / "run", preset="tiny", overrides=TINY)  # output not a terminal: lines, no bar
    run = tmp_path / "run"
    for name in ("best.ckpt", "last.ckpt", "metrics.csv", "loss_curve.png", "config.json", "metrics.json",
                 "lightning.log"):  # every file the announcement names
        assert (run / name).is_file(), name
    out, err = capsys.readouterr()
    assert "epoch 1 step 8: train_loss" in out and "Epoch 0/" not in out + err and "it/s" not in out + err
    assert best == run / "best.ckpt"
    rows = read_metrics_csv(run / "metrics.csv")
    assert any(r["train_loss_step"] for r in rows) and any(r["val_loss"] for r in rows)
    assert json.loads((run / "config.json").read_text())["preset"] == "tiny"
    ckpt = read_checkpoint(run / "last.ckpt")
    assert ckpt["global_step"] == 2 * 4  # 2 epochs of 4 steps
    model = framecast.load(best, device="cpu")  # the default may be a GPU, and the input is on the CPU
    assert model(torch.rand(1, 10, 1, 64, 64), 3).shape == (1, 3, 1, 64, 64)


def test_resume_continues_steps_and_metrics(tmp_path):
    run = tmp_path / "run"
    framecast.train(run, preset="tiny", overrides={**TINY, "epochs": 1}, progress=False)
    first_rows = read_metrics_csv(run / "metrics.csv")
    framecast.train(run, resume=True, overrides={"epochs": 3}, progress=False)
    assert read_checkpoint(run / "last.ckpt")["global_step"] == 3 * 4
    rows = read_metrics_csv(run / "metrics.csv")
    epochs = {r["epoch"] for r in rows if r["val_loss"]}
    assert epochs == {"0", "1", "2"}, epochs
    assert rows[: len(first_rows)] == [{k: r.get(k, "") for k in rows[0]} for r in first_rows]
    # Wall minutes sit beside every validation MSE and keep counting across the resume (time-to-quality x axis).
    minutes = [float(r["minutes"]) for r in rows if r["val_mse"]]
    assert len(minutes) == 3 and 0 < minutes[0] < minutes[1] < minutes[2], minutes


def test_train_refuses_to_overwrite_or_resume_nothing(tmp_path):
    with pytest.raises(UserError, match="nothing to resume"):
        framecast.train(tmp_path / "empty", resume=True)
    framecast.train(tmp_path / "run", preset="tiny", overrides={**TINY, "epochs": 1}, progress=False)
    with pytest.raises(UserError, match="already holds a run"):
        framecast.train(tmp_path / "run", preset="tiny")


def test_resume_with_another_preset_is_refused(tmp_path):
    framecast.train(tmp_path / "run", preset="tiny", overrides={**TINY, "epochs": 1}, progress=False)
    with pytest.raises(UserError, match="trained with preset 'tiny', not 'keras-example'"):
        framecast.train(tmp_path / "run", preset="keras-example", resume=True)
    with pytest.raises(UserError, match="hidden cannot change on --resume"):
        framecast.train(tmp_path / "run", resume=True, overrides={"hidden": "16,16"})


def test_max_minutes_stops_cleanly_and_writes_everything(tmp_path):
    run = tmp_path / "run"
    framecast.train(run, preset="tiny", overrides={**TINY, "epochs": 1000, "max_minutes": 0.05}, progress=False)
    for name in ("best.ckpt", "last.ckpt", "metrics.csv", "loss_curve.png", "config.json"):
        assert (run / name).is_file(), name
    step = read_checkpoint(run / "last.ckpt")["global_step"]
    assert 0 < step < 1000 * 4
    # The budget is per invocation: a resumed run with the same budget trains on instead of stopping at once.
    framecast.train(run, resume=True, overrides={"max_minutes": 0.1}, progress=False)
    assert read_checkpoint(run / "last.ckpt")["global_step"] > step
    # ... and a resume without --max-minutes has no budget, rather than the stored one.
    assert resolve_config(run, None, None, {}, resume=True).train.max_minutes is None
    assert resolve_config(run, None, None, {"max_minutes": 2}, resume=True).train.max_minutes == 2


def test_a_refused_train_leaves_the_folder_as_it_was(tmp_path):
    """A folder with best.ckpt and a log but no last.ckpt is reused, but only once every check has passed."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "best.ckpt").write_bytes(b"mine")
    (out / "metrics.csv").write_text("step\n")
    np.save(tmp_path / "one.npy", np.zeros((1, 20, 16, 16), np.uint8))  # refused when the data is split
    with pytest.raises(UserError, match="needs at least 2"):
        framecast.train(out, preset="tiny", overrides={**TINY, "data": str(tmp_path / "one.npy")}, progress=False)
    assert (out / "best.ckpt").read_bytes() == b"mine" and (out / "metrics.csv").read_text() == "step\n"


def test_a_refused_train_leaves_no_empty_parent_folders(tmp_path):
    with pytest.raises(UserError, match="lr should be > 0"):
        framecast.train(tmp_path / "a" / "b" / "run", preset="tiny", overrides={"lr": -1}, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_resume_mid_epoch_continues_the_data_position(tmp_path, monkeypatch, recwarn):
    from framecast.data.dataset import MovingMNISTStream
    from framecast.errors import Interrupted

    original = MovingMNISTStream.batch

    def interrupt_at_6(self, step, rank=0):  # Ctrl-C while the data loader fetches batch 6 of a 1000-step epoch
        if step == 6:
            raise KeyboardInterrupt
        return original(self, step, rank)

    run = tmp_path / "run"
    monkeypatch.setattr(MovingMNISTStream, "batch", interrupt_at_6)
    with pytest.raises(Interrupted):
        framecast.train(run, preset="tiny", overrides={**TINY, "epochs": 2, "steps_per_epoch": 1000}, progress=False)
    ckpt = read_checkpoint(run / "last.ckpt")
    step = ckpt["global_step"]
    assert 0 < step <= 6 and ckpt["epoch"] == 0  # a mid-epoch checkpoint
    # The stream's loader is resumable: Lightning keeps its position in the checkpoint and warns of nothing.
    assert ckpt["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [{"step": step}]
    drawn = []

    def record_then_stop(self, s, rank=0):  # a stop after 2 batches, not a time budget: CI machines may be slow
        drawn.append(s)
        if len(drawn) > 2:
            raise KeyboardInterrupt
        return original(self, s, rank)

    monkeypatch.setattr(MovingMNISTStream, "batch", record_then_stop)
    with pytest.raises(Interrupted):
        framecast.train(run, resume=True, progress=False)
    assert drawn[:2] == [step, step + 1]
    assert not [w for w in recwarn if "resumable" in str(w.message)]


def test_resume_refuses_changes_it_would_ignore(tmp_path):
    framecast.train(tmp_path / "run", preset="tiny", overrides={**TINY, "epochs": 1}, progress=False)
    with pytest.raises(UserError, match="lr cannot change on --resume"):
        framecast.train(tmp_path / "run", resume=True, overrides={"lr": 0.1})
    with pytest.raises(UserError, match="max_minutes should be > 0"):
        framecast.train(tmp_path / "run", resume=True, overrides={"max_minutes": 0})
    with pytest.raises(UserError, match="exclude each other"):
        framecast.train(tmp_path / "run", resume=True, init=tmp_path / "run" / "best.ckpt")


def test_resume_refuses_a_checkpoint_of_an_older_framecast(tmp_path):
    # Its callbacks and plateau schedule tracked val_loss; resuming would compare BCE values with val_mse.
    run = tmp_path / "run"
    framecast.train(run, preset="tiny", overrides={**TINY, "epochs": 1}, progress=False)
    ckpt = torch.load(run / "last.ckpt", weights_only=True)
    del ckpt["framecast_train"]["wall_seconds"]
    torch.save(ckpt, run / "last.ckpt")
    with pytest.raises(UserError, match="older framecast and cannot be resumed; continue its weights with --init"):
        framecast.train(run, resume=True)
    framecast.train(tmp_path / "next", preset="tiny", init=run / "last.ckpt", overrides={**TINY, "epochs": 1},
                    progress=False)


def test_train_on_a_user_file_with_other_frame_size(tmp_path, monkeypatch):
    from framecast import plots

    frames = np.random.default_rng(0).integers(0, 255, size=(6, 8, 16, 16, 3), dtype=np.uint8)
    np.save(tmp_path / "colour.npy", frames)
    curves, plot = [], plots.plot_loss_curve
    monkeypatch.setattr(plots, "plot_loss_curve", lambda *a: curves.append(a[2]) or plot(*a))
    framecast.train(tmp_path / "run", preset="tiny", overrides={"data": str(tmp_path / "colour.npy"), "context": 4,
                                                                "frames": 7, "epochs": 1}, progress=False)
    assert curves == ["4 -> 3"]  # the loss curve names the rollout validation scored
    model = framecast.load(tmp_path / "run" / "best.ckpt")
    assert model.config.frame_size == 16 and model.config.channels == 3
    assert model.predict(frames[0, :4], horizon=5).shape == (5, 16, 16, 3)


@pytest.mark.parametrize("shape, problem", [((4, 8, 16, 2), "2x16 frames; framecast needs frames of at least 4x4"),
                                            ((4, 3, 16, 16), "3 frames per recording; need at least")])
def test_train_refuses_a_user_file_it_cannot_learn_from(tmp_path, shape, problem):
    np.save(tmp_path / "frames.npy", np.zeros(shape, dtype=np.uint8))
    with pytest.raises(UserError, match=problem):
        framecast.train(tmp_path / "run", preset="tiny",
                        overrides={"data": str(tmp_path / "frames.npy"), "context": 4}, progress=False)
    assert not (tmp_path / "run" / "last.ckpt").exists()


def test_bce_loss_and_onecycle_schedule_train(tmp_path):
    framecast.train(tmp_path / "run", preset="tiny",
                    overrides={**TINY, "loss": "bce", "schedule": "onecycle", "epochs": 1}, progress=False)
    assert (tmp_path / "run" / "best.ckpt").is_file()


def test_a_one_cycle_run_ends_annealed_when_its_time_budget_does(tmp_path, monkeypatch, capsys):
    from framecast.training.schedule import FittedOneCycleLR

    # Planned for 10,000 steps, with time for far fewer: the cycle is re-fitted to the budget as it runs.
    # The time limit's clock says a second per learning-rate step, so the test does not depend on the machine.
    rates, get_lr = [], FittedOneCycleLR.get_lr

    def spy(self):
        rates.append(get_lr(self)[0])
        return rates[-1:]

    from framecast.training.callbacks import BudgetTimer

    monkeypatch.setattr(BudgetTimer, "clock", staticmethod(lambda: float(len(rates))))
    monkeypatch.setattr(FittedOneCycleLR, "get_lr", spy)
    run, peak = tmp_path / "run", 1e-2
    framecast.train(run, preset="tiny", overrides={**TINY, "schedule": "onecycle", "lr": peak, "epochs": 1000,
                                                   "steps_per_epoch": 5, "max_minutes": 0.5}, progress=False)
    steps = read_checkpoint(run / "last.ckpt")["global_step"]
    assert 20 < steps < 1000 * 10
    assert max(rates) > 0.8 * peak  # it warmed up to the peak...
    assert rates[-1] < 0.01 * peak  # ...and annealed by the end
    capsys.readouterr()
    # A cycle that ended stays ended: another budget does not start it again, and the user is told.
    rates.clear()
    framecast.train(run, resume=True, overrides={"max_minutes": 0.05}, progress=False)
    assert "one-cycle schedule has ended" in capsys.readouterr().err
    assert read_checkpoint(run / "last.ckpt")["global_step"] > steps
    assert max(rates[1:]) < 1e-4 * peak  # (the first: the new scheduler's, before the checkpoint restores it)


def test_an_interrupted_one_cycle_run_resumes_along_its_planned_cycle(tmp_path, monkeypatch):
    """A cycle longer than one sitting: Ctrl-C, then --resume without a budget, gives the rates of one run."""
    import signal

    from framecast.errors import Interrupted
    from framecast.training.module import FramecastModule
    from framecast.training.schedule import FittedOneCycleLR

    rates, get_lr, batch_end = {}, FittedOneCycleLR.get_lr, FramecastModule.on_train_batch_end

    def spy(self):
        rates[self.last_epoch] = get_lr(self)[0]
        return [rates[self.last_epoch]]

    def ctrl_c_at_step_7(self, *args):
        if self.global_step == 7:
            raise KeyboardInterrupt
        batch_end(self, *args)

    monkeypatch.setattr(FittedOneCycleLR, "get_lr", spy)
    plan = {**TINY, "schedule": "onecycle", "lr": 1e-2, "epochs": 3, "steps_per_epoch": 5}
    framecast.train(tmp_path / "whole", preset="tiny", overrides=plan, progress=False)
    whole = dict(rates)
    rates.clear()
    sigint = signal.getsignal(signal.SIGINT)
    try:
        monkeypatch.setattr(FramecastModule, "on_train_batch_end", ctrl_c_at_step_7)
        with pytest.raises(Interrupted):
            framecast.train(tmp_path / "split", preset="tiny", overrides=plan, progress=False)
    finally:
        signal.signal(signal.SIGINT, sigint)  # Lightning ignores Ctrl-C once it has seen one
    assert read_checkpoint(tmp_path / "split" / "last.ckpt")["global_step"] == 7
    monkeypatch.setattr(FramecastModule, "on_train_batch_end", batch_end)
    framecast.train(tmp_path / "split", resume=True, progress=False)
    assert len(whole) == 16 and rates == pytest.approx(whole)  # the first rate, then one after each of 15 steps


@pytest.mark.parametrize("schedule, stops_early", [("plateau", True), ("onecycle", False)])
def test_only_the_plateau_schedule_stops_early(tmp_path, schedule, stops_early):
    from lightning.pytorch.callbacks import EarlyStopping

    from framecast.config import build_config
    from framecast.training.run import make_trainer

    trainer = make_trainer(build_config("tiny", None, {"schedule": schedule}), tmp_path, progress=False)
    assert any(isinstance(c, EarlyStopping) for c in trainer.callbacks) == stops_early


def test_ddp_on_two_cpu_processes(tmp_path):
    run = tmp_path / "ddp"
    result = subprocess.run(
        [sys.executable, "-m", "framecast", "train", "--out", str(run), "--preset", "tiny", "--devices", "2",
         "--epochs", "6", "--set", "accelerator=cpu", "--set", "val_sequences=4", "--no-progress",
         "--set", "schedule=onecycle", "--max-minutes", "5"],  # re-fitted at step 20 to rank 0's clock
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    ckpt = read_checkpoint(run / "last.ckpt")
    assert ckpt["global_step"] == 24  # each of the 2 processes ran the 4 steps of each epoch in lockstep
    assert ckpt["lr_schedulers"][0]["anchor"][0] == 20  # the re-fit (and its broadcast) ran on both ranks
    assert " x 2 (DDP)" in result.stdout  # framecast's words; Lightning's in the run's log
    assert "distributed_backend=gloo" in (run / "lightning.log").read_text() and "gloo" not in result.stderr


def test_warm_start_from_weights(tiny_checkpoint, tmp_path):
    from framecast.model.checkpoint import export

    weights = export(tiny_checkpoint, tmp_path / "w.safetensors")
    framecast.train(tmp_path / "run", preset="tiny", init=weights, overrides={**TINY, "epochs": 1, "lr": 1e-12},
                    progress=False)
    a, b = framecast.load(weights, device="cpu"), framecast.load(tmp_path / "run" / "last.ckpt", device="cpu")
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0, msg=name)  # lr ~ 0: the weights are where they started
    from framecast.model.checkpoint import training_summary

    before, after = training_summary(weights), training_summary(tmp_path / "run" / "last.ckpt")
    assert after["init_steps"] == before["steps"] > 0 and "init_steps" not in before
    assert after["steps"] == before["steps"] + 4  # the stages add up: 1 epoch of the tiny preset's 4 steps
    # The weights decide the architecture: a preset with another model trains this one, with its own settings.
    framecast.train(tmp_path / "run2", preset="default", init=weights,
                    overrides={**TINY, "epochs": 1, "steps_per_epoch": 1, "batch_size": 2}, progress=False)
    assert framecast.load(tmp_path / "run2" / "last.ckpt").config == framecast.load(weights).config
    with pytest.raises(UserError, match=r"--init weights have kernel=\(3, 3\), but the run sets kernel=\(5, 5\)"):
        framecast.train(tmp_path / "run3", preset="tiny", init=weights, overrides={"kernel": "5,5"})


def test_epoch_lines_show_unmeasured_values_as_a_dash_and_no_lightning_noise(tmp_path, capfd, caplog, recwarn):
    caplog.set_level(logging.INFO)  # under pytest, Lightning's info lines go to logging, not to stderr
    framecast.train(tmp_path / "run", preset="tiny", overrides={**TINY, "epochs": 2, "steps_per_epoch": 1},
                    progress=False)
    out, err = capfd.readouterr()
    assert "epoch 0 step 1:" in out and "(– seq/s)" in out and "nan" not in out  # one step: no speed yet
    said = caplog.text + out + err
    assert "Trainer" not in said and "litlogger" not in said and "lightning/" not in said
    assert "`Trainer.fit` stopped: `max_epochs=2` reached" in (tmp_path / "run" / "lightning.log").read_text()
    assert not [w for w in recwarn if "LeafSpec" in str(w.message)]


def test_training_says_what_a_user_needs_and_nothing_else(tmp_path):
    run = tmp_path / "run"
    with_bar = subprocess.run([sys.executable, "-m", "framecast", "train", "--preset", "tiny", "--out", str(run),
                               "--set", "val_sequences=4", "--set", "steps_per_epoch=1", "--epochs", "1"],
                              capture_output=True, text=True, timeout=300)
    said = with_bar.stdout + with_bar.stderr
    assert with_bar.returncode == 0, said[-2000:]
    for chatter in ("GPU available", "TPU available", "Total Flops", "model summary", "| Name", "Trainable params"):
        assert chatter not in said, chatter
    # The command runs on the real CPU: float32 or bf16, with why.
    assert re.search(r"precision (fp32|bf16) \((bf16 not supported on this CPU|(measured|cached): [^)]+)\)", said)
    for needed in (f"training preset 'tiny': {11_728:,} parameters, on cpu",
                   f"run folder {run}", f"continue with: framecast train --out {run} --resume"):
        assert needed in said, needed


@pytest.mark.parametrize("steps, seconds, lines", [(3, 1e9, ["step 3 ", "step 6 "]), (10**6, 0, [
    f"step {i} " for i in range(1, 9)])])
def test_no_progress_prints_a_line_every_n_steps_or_seconds(tmp_path, capsys, monkeypatch, steps, seconds, lines):
    import framecast.training.callbacks as callbacks

    monkeypatch.setattr(callbacks, "LINE_EVERY_STEPS", steps)
    monkeypatch.setattr(callbacks, "LINE_EVERY_SECONDS", seconds)
    framecast.train(tmp_path / "run", preset="tiny", overrides=TINY, progress=False)  # 2 epochs of 4 steps
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("step ")]
    assert [line.split("(")[0] for line in printed] == lines
    assert all("train_loss 0." in line and "seq/s)" in line for line in printed)


def test_the_readme_python_api_runs_twice_in_a_row(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "runs" / "demo"
    for _ in range(2):  # as the README's snippet: a second run continues the first instead of failing
        best = framecast.train(run, preset="tiny", overrides={**TINY, "max_minutes": 5},
                               resume=(run / "last.ckpt").exists(), progress=False)
    assert best.is_file() and read_checkpoint(run / "last.ckpt")["global_step"] == 2 * 4


def test_warm_start_grows_the_weights_into_a_wider_model(tiny_checkpoint, tmp_path, capsys):
    small = framecast.load(tiny_checkpoint, device="cpu")
    # No preset: the default preset's 3 layers must not stand in the way of the 2-layer weights.
    framecast.train(tmp_path / "run", init=tiny_checkpoint,
                    overrides={**TINY, "epochs": 1, "steps_per_epoch": 2, "batch_size": 2, "lr": 1e-12,
                               "hidden": "12,8"}, progress=False)
    assert "growing the --init model from hidden=(8, 8) to (12, 8)" in capsys.readouterr().err
    wide = framecast.load(tmp_path / "run" / "last.ckpt", device="cpu")
    assert wide.config == dataclasses.replace(small.config, hidden=(12, 8))
    x = torch.rand(2, 10, 1, 64, 64)
    with torch.no_grad():  # lr ~ 0: the grown model still predicts what the small one did
        torch.testing.assert_close(wide(x, 3), small(x, 3), atol=1e-5, rtol=0)
    with pytest.raises(UserError, match=r"hidden=\(8, 8\) and cannot grow into hidden=\(4, 8\) \(.* not narrower"):
        framecast.train(tmp_path / "run2", preset="tiny", init=tiny_checkpoint, overrides={"hidden": "4,8"})


def test_auto_precision_on_every_cpu_kind(tmp_path, capfd, cpu_kind):
    framecast.train(tmp_path / "run", preset="tiny", overrides={**TINY, "epochs": 1, "steps_per_epoch": 1},
                    progress=False)
    chosen, why = cpu_kind.auto
    said = "".join(capfd.readouterr())
    assert f"precision {chosen} ({why})" in said
    # Lightning's word on the precision goes to the run's log, on every kind: the announcement has said it.
    assert "Automatic Mixed Precision" not in said and "Trainer" not in said
    amp = "Using bfloat16 Automatic Mixed Precision (AMP)" in (tmp_path / "run" / "lightning.log").read_text()
    assert amp == (chosen == "bf16")
    record = read_checkpoint(tmp_path / "run" / "last.ckpt")["framecast_train"]["precision"]
    assert record == {"precision": chosen, "reason": why}


def test_the_precision_and_why_are_logged_and_recorded(tiny_checkpoint, tmp_path, capfd):
    from framecast.model.checkpoint import export, training_summary

    auto = read_checkpoint(tiny_checkpoint)["framecast_train"]["precision"]
    assert auto["precision"] in ("fp32", "bf16")
    assert auto["reason"].startswith(("measured: ", "cached: ", "bf16 not supported"))
    framecast.train(tmp_path / "run", preset="tiny", progress=False,
                    overrides={**TINY, "epochs": 1, "steps_per_epoch": 1, "precision": "fp32"})
    assert "precision fp32 (set by user)" in "".join(capfd.readouterr())
    record = {"precision": "fp32", "reason": "set by user"}
    assert read_checkpoint(tmp_path / "run" / "last.ckpt")["framecast_train"]["precision"] == record
    # ...and in the training summary that an exported weights file carries.
    assert training_summary(export(tmp_path / "run" / "last.ckpt", tmp_path / "w.safetensors"))["precision"] == record


def test_warm_start_from_weights_written_before_the_residual_key(tiny_checkpoint, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    from framecast.model.checkpoint import export

    weights = export(tiny_checkpoint, tmp_path / "w.safetensors")
    with safe_open(weights, "pt") as f:  # as the shipped weights were written: no "residual" in the config
        meta, state = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    config = json.loads(meta["config"])
    del config["model"]["residual"]
    save_file(state, tmp_path / "old.safetensors", {**meta, "config": json.dumps(config)})
    assert framecast.load(tmp_path / "old.safetensors").config.residual is False  # a direct model
    framecast.train(tmp_path / "run", preset="tiny", init=tmp_path / "old.safetensors",
                    overrides={**TINY, "epochs": 1, "steps_per_epoch": 1}, progress=False)
    assert (tmp_path / "run" / "last.ckpt").is_file()


def test_ema_weights_are_validated_saved_and_resumed(tmp_path):
    run = tmp_path / "run"
    framecast.train(run, preset="tiny", overrides={**TINY, "epochs": 1, "ema": 0.5}, progress=False)
    ckpt = read_checkpoint(run / "last.ckpt")
    assert int(ckpt["averaging_state"]["n_averaged"]) == 4  # one update per step of the tiny preset's epoch
    raw, average = ckpt["current_model_state"], ckpt["state_dict"]
    assert set(raw) == set(average) and any(not torch.equal(raw[k], average[k]) for k in raw)
    loaded = framecast.load(run / "last.ckpt").state_dict()  # users get the average
    assert all(torch.equal(loaded[k.removeprefix("model.")], v) for k, v in average.items() if k.startswith("model."))
    framecast.train(run, resume=True, overrides={"epochs": 2}, progress=False)
    assert int(read_checkpoint(run / "last.ckpt")["averaging_state"]["n_averaged"]) == 8  # the average went on
    with pytest.raises(UserError, match=r"ema should be in \[0, 1\), but got 1.0"):
        framecast.train(tmp_path / "bad", preset="tiny", overrides={"ema": 1.0}, progress=False)


def test_warm_start_on_other_frames_names_what_differs(tiny_checkpoint, tmp_path):
    data = tmp_path / "small.npy"
    np.save(data, np.random.default_rng(0).integers(0, 255, (6, 20, 32, 32), dtype=np.uint8))
    with pytest.raises(UserError) as err:
        framecast.train(tmp_path / "run", preset="tiny", init=tiny_checkpoint,
                        overrides={**TINY, "data": str(data), "epochs": 1}, progress=False)
    assert "frame_size=64 (the run: 32)" in str(err.value) and "needs 32x32x1" in str(err.value)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_lightning_speaks_to_the_run_log_not_the_terminal(tmp_path):
    """A resumed run and a warning from inside Lightning (one-step epochs, shorter than the logging interval):
    the terminal has framecast's lines only, the run's lightning.log has Lightning's."""
    run = tmp_path / "run"
    said = ""
    for extra in ([], ["--resume", "--epochs", "2"]):
        result = subprocess.run([sys.executable, "-m", "framecast", "train", "--out", str(run), "--no-progress",
                                 *(["--preset", "tiny", "--set", "val_sequences=4", "--epochs", "1"] if not extra
                                   else extra)], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        said += result.stdout + result.stderr
    for chatter in ("Trainer", "Restoring states", "site-packages", "lightning/", "Signaling"):
        assert chatter not in said, chatter
    assert "resuming preset 'tiny'" in said
    log = (run / "lightning.log").read_text()
    assert "Restoring states from the checkpoint path" in log and "`Trainer.fit` stopped" in log


def test_max_minutes_keeps_room_for_the_last_validation(tmp_path, monkeypatch, capsys):
    """The budget's arithmetic on a simulated clock, so that no machine's speed or load changes it: 10 s of
    start-up before train() (imports, as on the command line), a first training step of 4 s (warm-up), then 1 s a
    step, a validation of 2 s (4 batches of 16 at 0.5 s). The last validation, whose checkpoint is the last, ends
    inside the 60 s counted from the start, with room for the saving and the verdict; and the budget is used."""
    from framecast.training.callbacks import BudgetTimer
    from framecast.training.module import FramecastModule

    now, validations_end = [0.0], []
    monkeypatch.setattr(BudgetTimer, "clock", staticmethod(lambda: now[0]))
    step, validate, validated = (FramecastModule.training_step, FramecastModule.validation_step,
                                 BudgetTimer.on_validation_end)

    def training_step(self, batch, batch_idx):
        now[0] += 4.0 if self.global_step == 0 else 1.0
        return step(self, batch, batch_idx)

    def validation_step(self, batch, batch_idx):
        now[0] += 0.5
        return validate(self, batch, batch_idx)

    def on_validation_end(self, trainer, pl_module):
        validations_end.append(now[0])
        return validated(self, trainer, pl_module)

    monkeypatch.setattr(FramecastModule, "training_step", training_step)
    monkeypatch.setattr(FramecastModule, "validation_step", validation_step)
    monkeypatch.setattr(BudgetTimer, "on_validation_end", on_validation_end)
    framecast.train(tmp_path / "run", preset="tiny", overrides={"val_sequences": 64, "steps_per_epoch": 10,
                                                                 "epochs": 1000, "max_minutes": 1},
                    progress=False, started=-10.0)
    budget, saving, validation = 60.0, min(BudgetTimer.SAVING_SECONDS, 0.05 * 60), 2.0
    last = 10.0 + validations_end[-1]  # seconds since the start
    assert last + saving + BudgetTimer.VERDICT_SHARE * validation <= budget, validations_end
    assert last >= 0.85 * budget, validations_end  # not timid: a step of 1 s, so the budget is used
    said = capsys.readouterr().out
    assert re.search(r"time budget: stopping at step 3\d after 0\.\d of 1 minutes, leaving \d+ s", said), said
