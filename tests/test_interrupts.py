"""A real training process, stopped by SIGKILL, SIGINT (Ctrl-C) or SIGTERM, resumes from an intact checkpoint."""

import csv
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from framecast.model.checkpoint import read_checkpoint
from framecast.training.checkpoint_io import AtomicCheckpointIO

TRAIN = [sys.executable, "-m", "framecast", "train", "--preset", "tiny", "--set", "val_sequences=4",
         "--no-progress"]


def _default_ctrl_c() -> None:
    # A shell without job control (a script's `cmd &`) starts background jobs with SIGINT ignored, and Python
    # keeps an ignored SIGINT ignored: then Ctrl-C would not reach the trainer, which would train on.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(run, *extra):
    return subprocess.Popen(TRAIN + ["--out", str(run), *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_default_ctrl_c)


def wait_for_checkpoint(run, proc, timeout=180):
    deadline = time.monotonic() + timeout
    while not (run / "last.ckpt").exists():
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.1)


def resume(run, epochs):
    result = subprocess.run(TRAIN[:4] + ["--out", str(run), "--resume", "--epochs", str(epochs), "--no-progress"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_sigkill_at_random_moments_then_resume(tmp_path):
    run = tmp_path / "run"
    proc = start(run, "--epochs", "1000")
    wait_for_checkpoint(run, proc)
    for delay in (0.05, 0.4, 0.9):  # steps and checkpoint writes happen every few hundredths of a second
        time.sleep(delay)
        read_checkpoint(run / "last.ckpt")  # intact while training goes on
    proc.kill()
    proc.wait()
    step = read_checkpoint(run / "last.ckpt")["global_step"]
    assert step >= 4
    resume(run, step // 4 + 1)
    assert read_checkpoint(run / "last.ckpt")["global_step"] == (step // 4 + 1) * 4
    assert_one_row_per_step_and_value(run)


def assert_one_row_per_step_and_value(run):
    """metrics.csv after a resume: each value logged once per step (no row of the killed run left twice)."""
    with open(run / "metrics.csv", newline="") as f:
        logged = [(row["step"], key) for row in csv.DictReader(f) for key, value in row.items()
                  if value and key not in ("step", "epoch")]
    assert logged and len(logged) == len(set(logged)), sorted(logged)


def test_last_checkpoint_is_saved_on_a_clock_between_validations(tmp_path):
    run = tmp_path / "run"
    proc = start(run, "--epochs", "1", "--set", "steps_per_epoch=40", "--set", "checkpoint_minutes=0.002")
    wait_for_checkpoint(run, proc)  # 0.12 s of training, long before the first validation at step 40
    proc.kill()
    proc.wait()
    step = read_checkpoint(run / "last.ckpt")["global_step"]
    assert 0 < step < 40 and not (run / "best.ckpt").exists()
    resume(run, 1)  # the rest of the epoch, then its validation
    assert read_checkpoint(run / "last.ckpt")["global_step"] == 40 and (run / "best.ckpt").exists()
    assert_one_row_per_step_and_value(run)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_cleanly_with_a_resumable_checkpoint(tmp_path, sig):
    run = tmp_path / "run"
    proc = start(run, "--epochs", "1000")
    wait_for_checkpoint(run, proc)
    first = read_checkpoint(run / "last.ckpt")["global_step"]
    time.sleep(1.0)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == (130 if sig == signal.SIGINT else 143), err[-2000:]  # 128 + the signal
    assert "--resume" in err.strip().splitlines()[-1] and "Traceback" not in err
    step = read_checkpoint(run / "last.ckpt")["global_step"]
    assert step >= first
    assert (run / "metrics.csv").is_file() and (run / "loss_curve.png").is_file()
    resume(run, step // 4 + 2)


def test_failed_checkpoint_write_leaves_the_previous_one(tmp_path):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"w": torch.ones(2)}, path)
    with pytest.raises(Exception):  # noqa: B017 - torch cannot pickle a lambda; the write fails midway
        io.save_checkpoint({"w": torch.zeros(2), "bad": lambda: 0}, path)
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(2))
    assert os.listdir(tmp_path) == ["last.ckpt"]


def test_a_report_interrupted_while_moving_in_has_no_summary_file(tmp_path, monkeypatch):
    from framecast.atomic import atomic_files

    for name in ("a.png", "summary.json"):
        (tmp_path / name).write_text("old")
    moves = []

    def replace_then_stop(src, dst):  # stopped after the first file has moved in
        if moves:
            raise KeyboardInterrupt
        moves.append(dst)
        real_replace(src, dst)
    real_replace = os.replace
    with pytest.raises(KeyboardInterrupt):
        with atomic_files(tmp_path, last="summary.json") as stage:
            for name in ("a.png", "b.gif", "summary.json"):
                (stage / name).write_text("new")
            monkeypatch.setattr(os, "replace", replace_then_stop)
    # The summary, moved last, is missing: readers see an incomplete report, not old figures as new ones.
    assert "summary.json" not in {p.name for p in tmp_path.iterdir()} and moves[0].read_text() == "new"
    assert not list(tmp_path.glob(".framecast-staging-*"))


def test_a_resume_forgets_the_log_rows_after_its_checkpoint(tmp_path):
    from framecast.training.callbacks import RunLogger, drop_rows_after

    log = RunLogger(tmp_path)
    log.log_metrics({"val_mse": 140.0}, step=7)  # the last batch the checkpoint at global step 8 holds
    log.after_save_checkpoint(None)              # written with the checkpoint
    log.log_metrics({"lr-Adam": 0.002}, step=8)  # the next epoch's first row, after the checkpoint
    log.log_metrics({"train_loss_step": 0.2}, step=9)
    log.save()
    drop_rows_after(tmp_path / "metrics.csv", 8)
    with open(tmp_path / "metrics.csv", newline="") as f:
        assert [(row["step"], row["val_mse"]) for row in csv.DictReader(f)] == [("7", "140.0")]
